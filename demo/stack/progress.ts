/**
 * Live progress of one run, per stage: a table redrawn in place on a terminal, plain lines
 * otherwise (CI, a pipe, a log file), so output stays readable wherever it goes.
 */
export type StageState = "waiting" | "running" | "suspended" | "retrying" | "completed" | "failed";

interface Row {
  stageId: string;
  group: number;
  kind: string;
  state: StageState;
  startedAt?: number;
  endedAt?: number;
  note: string;
}

const ICON: Record<StageState, string> = {
  waiting: "·",
  running: "▶",
  suspended: "⏸",
  retrying: "↻",
  completed: "✔",
  failed: "✖",
};

export interface ProgressView {
  update(stageId: string, state: StageState, note?: string): void;
  /** A line that is not about one stage (chaos steps); printed above the table. */
  event(line: string): void;
  /** Final redraw; stops rewriting the terminal. */
  close(): void;
}

export function createProgressView(
  stages: { stageId: string; group: number; kind: string }[],
  out: NodeJS.WriteStream = process.stdout,
): ProgressView {
  const live = out.isTTY === true && !process.env.CI;
  const t0 = Date.now();
  const rows: Row[] = stages.map((s) => ({ ...s, state: "waiting", note: "" }));
  let drawn = 0;
  const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
  const render = (): string[] =>
    rows.map((r) => {
      const ms = r.startedAt !== undefined ? (r.endedAt ?? Date.now()) - r.startedAt : undefined;
      const time = ms !== undefined ? `${(ms / 1000).toFixed(1)}s` : "";
      return `  ${ICON[r.state]} ${String(r.group).padEnd(2)} ${r.stageId.padEnd(16)} ${r.kind.padEnd(22)} ${r.state.padEnd(10)} ${time.padStart(6)}  ${r.note}`;
    });
  const redraw = () => {
    if (!live) return;
    if (drawn > 0) out.write(`\x1b[${drawn}A`);
    const lines = render();
    for (const l of lines) out.write(`\x1b[2K${l}\n`);
    drawn = lines.length;
  };
  const timer = live ? setInterval(redraw, 200) : undefined;
  timer?.unref();
  redraw();
  return {
    update(stageId, state, note) {
      const r = rows.find((x) => x.stageId === stageId);
      if (!r) return;
      if (state === "running" && r.startedAt === undefined) r.startedAt = Date.now();
      if (state === "completed" || state === "failed") r.endedAt = Date.now();
      r.state = state;
      if (note !== undefined) r.note = note;
      if (live) redraw();
      else out.write(`${stamp()}  ${ICON[state]} ${stageId} ${state}${note ? ` — ${note}` : ""}\n`);
    },
    event(line) {
      if (live && drawn > 0) {
        out.write(`\x1b[${drawn}A\x1b[2K${line}\n`);
        drawn = 0;
        redraw();
      } else out.write(`${stamp()}  ${line}\n`);
    },
    close() {
      if (timer) clearInterval(timer);
      redraw();
    },
  };
}
