/**
 * jetflow beside its peers on one workload: N jobs with a ~200-byte JSON payload and a no-op
 * handler, enqueued by 16 concurrent producers while the consumers run, timed from the first
 * enqueue to the last job reported done; once as 1 worker x 16 in flight and once as 4 workers x 4.
 * Systems: raw JetStream (the floor: publish, pull, ack), jetflow's JetStream JobTransport,
 * a jetflow remote activity end to end (outcome committed to Postgres), BullMQ (Redis),
 * graphile-worker and pg-boss (Postgres). Every system is warmed up first, then rounds run
 * interleaved (the order rotates each round); medians and bests of the rounds are printed, with
 * ratios against raw JetStream and against each other, and the idle enqueue→handler-start latency
 * (one job at a time). All consumers run in this process; a system whose server is missing is skipped.
 *
 *   npx tsx bench/peers.ts [jobs=500] [rounds=3] [--idle 20] [--only raw,remote,bullmq] [--redis redis://127.0.0.1:6379]
 *
 * NATS and Postgres come from the integration harness (see bench/support/servers.ts for why
 * Postgres is never an fsync=off container); Redis from --redis / JETFLOW_BENCH_REDIS_URL.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { useNats } from "../integration/harness/index.js";
import { benchPostgres, natsSettings, NATS_CLIENT } from "./support/servers.js";
import { countdown, int, lanes, load, median, pct } from "./support/stats.js";
import { bullmq } from "./support/peers/bullmq.js";
import { graphileWorker } from "./support/peers/graphile.js";
import { jetflowRemote } from "./support/peers/jetflow-remote.js";
import { jetflowTransport } from "./support/peers/jetflow-transport.js";
import { pgBoss } from "./support/peers/pg-boss.js";
import { rawJetStream } from "./support/peers/raw-jetstream.js";
import type { Peer, Skipped } from "./support/peers/types.js";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    idle: { type: "string", default: "20" },
    only: { type: "string" },
    redis: { type: "string", default: process.env.JETFLOW_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379" },
  },
});
const N = Number(positionals[0] ?? 500);
const ROUNDS = Number(positionals[1] ?? 3);
const IDLE = Number(flags.idle);
const ONLY = flags.only?.split(",").map((s) => s.trim());
const PRODUCERS = 16;
const CONFIGS = [
  { label: "1 worker x 16", workers: 1, inflight: 16 },
  { label: "4 workers x 4", workers: 4, inflight: 4 },
] as const;

interface Entry {
  key: string;
  peer: Peer;
  /** Per config: elapsed ms of each round. */
  ms: number[][];
  idle: number[];
}

/** Jobs/s of one measurement: a fresh queue, consumers started, N jobs enqueued by 16 producers. */
async function throughput(peer: Peer, workers: number, inflight: number, n: number): Promise<number> {
  const s = await peer.open();
  try {
    const done = countdown(n, 60_000 + n * 100, `${peer.name} ${workers}x${inflight}`);
    await s.start(workers, inflight, { started: () => {}, completed: () => done.tick() });
    const t0 = performance.now();
    await lanes(n, PRODUCERS, (i) => s.enqueue(i));
    await done.done;
    return performance.now() - t0;
  } finally {
    await s.close();
  }
}

/** Enqueue→handler-start latencies, one job in flight at a time, 1 worker x 16. */
async function idle(peer: Peer, samples: number): Promise<number[]> {
  const s = await peer.open();
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  let waiter: { i: number; tick(): void } | undefined;
  try {
    await s.start(1, 16, {
      started: (i) => {
        const t = sentAt.get(i);
        if (t !== undefined && sentAt.delete(i)) lat.push(performance.now() - t);
      },
      completed: (i) => {
        if (waiter?.i === i) waiter.tick();
      },
    });
    for (let i = 0; i < samples; i++) {
      const done = countdown(1, 30_000, `${peer.name} idle job ${i}`);
      waiter = { i, tick: done.tick };
      sentAt.set(i, performance.now());
      await s.enqueue(i);
      await done.done;
    }
    return lat;
  } finally {
    await s.close();
  }
}

const rate = (ms: number): number => (N / ms) * 1000;

async function main(): Promise<void> {
  const nats = await useNats();
  const pg = await benchPostgres();
  const nc = await connect({ servers: nats.url, ...NATS_CLIENT });
  const entries: Entry[] = [];
  const want = (key: string): boolean => !ONLY || ONLY.includes(key);
  try {
    const candidates: [string, () => Promise<Peer | Skipped>][] = [
      ["raw", async () => rawJetStream(nats.url, nc)],
      ["transport", async () => jetflowTransport(nats.url, nc)],
      ["remote", async () => jetflowRemote(nats.url, nc, pg.url)],
      ["bullmq", () => bullmq(flags.redis!)],
      ["graphile", () => graphileWorker(pg.url)],
      ["pg-boss", () => pgBoss(pg.url)],
    ];
    const unknown = ONLY?.filter((k) => !candidates.some(([key]) => key === k)) ?? [];
    if (unknown.length) throw new Error(`--only: unknown ${unknown.join(", ")} (known: ${candidates.map(([k]) => k).join(", ")})`);
    console.log(
      `peers bench: ${N} jobs (~200-byte payload, no-op handler), ${PRODUCERS} producers, ${ROUNDS} rounds, ${IDLE} idle samples per round`,
    );
    console.log(`  ${natsSettings(nc)} (${nats.source})`);
    console.log(`  ${pg.settings}`);
    for (const [key, make] of candidates) {
      if (!want(key)) continue;
      const p = await make();
      if ("skipped" in p) console.log(`  skipped ${p.name}: ${p.skipped}`);
      else {
        entries.push({ key, peer: p, ms: CONFIGS.map(() => []), idle: [] });
        if (p.version) console.log(`  ${p.name}: ${p.version}`);
      }
    }
    console.log(`  start ${load()}`);
    if (entries.length === 0) {
      console.log("  no system to measure");
      return;
    }

    // Warm-up (JIT, pools, prepared statements) of every system on both shapes; not reported.
    const warm = Math.max(50, Math.round(N / 10));
    for (const e of entries) {
      for (const c of CONFIGS) await throughput(e.peer, c.workers, c.inflight, warm);
      await idle(e.peer, Math.min(3, IDLE));
    }

    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round so no system always runs first (or right after the slowest).
      const order = entries.map((_, k) => entries[(k + r) % entries.length]!);
      for (const [ci, c] of CONFIGS.entries()) for (const e of order) e.ms[ci]!.push(await throughput(e.peer, c.workers, c.inflight, N));
      for (const e of order) if (IDLE > 0) e.idle.push(...(await idle(e.peer, IDLE)));
      console.log(
        `  round ${r + 1}: ` +
          entries.map((e) => `${e.key} ${CONFIGS.map((_, ci) => int(rate(e.ms[ci]!.at(-1)!))).join("/")}`).join(", ") +
          ` jobs/s; ${load()}`,
      );
    }
    report(entries);
    console.log(`  end ${load()}`);
  } finally {
    for (const e of entries) await e.peer.close();
    await nc.close();
    await pg.stop();
    await nats.stop();
  }
}

function report(entries: Entry[]): void {
  const w = Math.max(...entries.map((e) => e.peer.name.length));
  console.log(`\n  jobs/s, median (best) of ${ROUNDS} rounds; idle enqueue→start over ${ROUNDS} x ${IDLE} jobs`);
  console.log(`  ${"system".padEnd(w)} | ${CONFIGS.map((c) => c.label.padEnd(16)).join(" | ")} | idle p50 / p99 ms`);
  for (const e of entries) {
    const cells = CONFIGS.map((_, ci) => `${int(rate(median(e.ms[ci]!)))} (${int(rate(Math.min(...e.ms[ci]!)))})`.padEnd(16));
    const lat = [...e.idle].sort((a, b) => a - b);
    console.log(`  ${e.peer.name.padEnd(w)} | ${cells.join(" | ")} | ${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)}`);
  }
  // Ratios of medians: row system / column system (> 1: the row is faster).
  for (const [ci, c] of CONFIGS.entries()) {
    console.log(`\n  ratio row/column, median jobs/s, ${c.label}`);
    console.log(`  ${"".padEnd(10)} ${entries.map((e) => e.key.padStart(9)).join(" ")}`);
    for (const a of entries) {
      const ra = rate(median(a.ms[ci]!));
      console.log(`  ${a.key.padEnd(10)} ${entries.map((b) => (ra / rate(median(b.ms[ci]!))).toFixed(2).padStart(9)).join(" ")}`);
    }
  }
}

await main();
