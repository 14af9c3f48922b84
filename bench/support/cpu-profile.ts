/**
 * A CPU profile of a bench child over the measured window only (start-up and leasing excluded):
 * with BENCH_CPU_PROF_DIR set, the first SIGUSR2 starts the V8 profiler and the second writes
 * `<dir>/<name>-<pid>.cpuprofile` (open it in Chrome DevTools, or summarise it with
 * `npx tsx bench/support/profile-summary.ts <file>`). `node --cpu-prof` cannot do this: it writes
 * only on a clean exit and covers the whole life of the process.
 */
import { Session } from "node:inspector/promises";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

export function profileOnSignal(name: string): void {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  if (!dir) return;
  const session = new Session();
  session.connect();
  let running = false;
  process.on("SIGUSR2", () => {
    const toggle = async (): Promise<void> => {
      if (!running) {
        await session.post("Profiler.enable");
        await session.post("Profiler.start");
        running = true;
        return;
      }
      const { profile } = await session.post("Profiler.stop");
      running = false;
      await writeFile(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(profile));
    };
    toggle().catch((err: unknown) => console.error(`cpu profile of ${name}: ${String(err)}`));
  });
}
