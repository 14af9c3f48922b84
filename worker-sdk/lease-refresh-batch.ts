/**
 * Sends the lease refreshes that fall due together as one request (contract/heartbeat-batch.ts):
 * refreshes asked for in the same turn of the event loop (the heartbeat clock's tick calls every
 * due lease in one loop) leave together once it ends, in chunks of at most MAX_BEATS_PER_BATCH
 * beats and MAX_BEAT_BATCH_BYTES. A single refresh goes as a plain beat, as before.
 *
 * An orchestrator from before batches refuses the body as malformed; the first such refusal turns
 * batching off for this transport and the refused beats go again one by one, so a worker upgraded
 * ahead of its orchestrators keeps its leases.
 */
import { type HeartbeatReply, HeartbeatRequest, encodeTaskBody } from "../src/contract/tasks.js";
import { MAX_BEATS_PER_BATCH, MAX_BEAT_BATCH_BYTES } from "../src/contract/heartbeat-batch.js";
import type { WorkerLogger } from "./logger.js";

interface Pending {
  beat: HeartbeatRequest;
  json: string;
  resolve: (r: HeartbeatReply) => void;
  reject: (err: unknown) => void;
}

/** How the batcher reaches the broker: `batch` sends a body, `single` one beat the old way. */
export interface LeaseRefreshSenders {
  batch(body: Uint8Array): Promise<HeartbeatReply[]>;
  single(beat: HeartbeatRequest): Promise<HeartbeatReply>;
  /** True for the error an orchestrator without batches answers a batch with (a malformed request). */
  refusedAsMalformed(err: unknown): boolean;
}

const dec = new TextDecoder();
const enc = new TextEncoder();

export class LeaseRefreshBatcher {
  private pending: Pending[] = [];
  private batches = true;

  constructor(
    private readonly send: LeaseRefreshSenders,
    private readonly logger: WorkerLogger,
  ) {}

  /** Refreshes one lease; resolves with its own reply, rejects when the beat is invalid or its request failed. */
  refresh(beat: HeartbeatRequest): Promise<HeartbeatReply> {
    if (!this.batches) return this.send.single(beat);
    // Validated now, so a bad beat fails alone instead of spoiling its batch.
    let json: string;
    try {
      json = dec.decode(encodeTaskBody(HeartbeatRequest, "heartbeat request", beat));
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ beat, json, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const all = this.pending;
    this.pending = [];
    let chunk: Pending[] = [];
    let bytes = 0;
    for (const p of all) {
      if (chunk.length > 0 && (chunk.length >= MAX_BEATS_PER_BATCH || bytes + p.json.length + 1 > MAX_BEAT_BATCH_BYTES - 16)) {
        void this.sendChunk(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(p);
      bytes += p.json.length + 1;
    }
    if (chunk.length > 0) void this.sendChunk(chunk);
  }

  /** Settles every beat of `chunk`; never rejects. */
  private async sendChunk(chunk: Pending[]): Promise<void> {
    if (chunk.length === 1 || !this.batches) return this.oneByOne(chunk);
    try {
      const replies = await this.send.batch(enc.encode(`{"beats":[${chunk.map((p) => p.json).join(",")}]}`));
      if (replies.length !== chunk.length) throw new Error(`heartbeat batch of ${chunk.length} answered with ${replies.length} replies`);
      chunk.forEach((p, i) => p.resolve(replies[i]!));
    } catch (err) {
      if (this.batches && this.send.refusedAsMalformed(err)) {
        this.batches = false;
        this.logger.info({ err: String(err) }, "the orchestrator does not take heartbeat batches; lease refreshes go one by one");
        return this.oneByOne(chunk);
      }
      for (const p of chunk) p.reject(err);
    }
  }

  private async oneByOne(chunk: Pending[]): Promise<void> {
    await Promise.all(chunk.map((p) => this.send.single(p.beat).then(p.resolve, p.reject)));
  }
}
