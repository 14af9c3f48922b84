/**
 * A batch of lease refreshes on the heartbeat subject: the beats a worker's heartbeat clock found
 * due at one tick travel as one request, `{ beats: [HeartbeatRequest, ...] }`, answered with
 * `{ replies: [HeartbeatReply, ...] }` in the same order. Each beat is checked exactly as a single
 * one (attempt and broker-issued lease token), so a batch grants nothing a worker could not get
 * by sending its beats one by one; it only saves a request, a reply and a parse per beat.
 */
import { z } from "zod";
import { HeartbeatReply, HeartbeatRequest, parseWith } from "./tasks.js";
import type { ParseResult } from "./protocol-error.js";

/** Most beats in one batch: bounds the broker's work per request. */
export const MAX_BEATS_PER_BATCH = 500;
/** Most bytes of a batch body a worker builds (NATS refuses payloads over its max_payload, 1 MiB by default). */
export const MAX_BEAT_BATCH_BYTES = 512 * 1024;

/** Lease refreshes due together. */
export const HeartbeatBatchRequest = z.object({ beats: z.array(HeartbeatRequest).min(1).max(MAX_BEATS_PER_BATCH) });
/** Lease refreshes due together. */
export type HeartbeatBatchRequest = z.output<typeof HeartbeatBatchRequest>;

/** The answers to a batch, one per beat, in the batch's order. */
export const HeartbeatBatchReply = z.object({ replies: z.array(HeartbeatReply) });
/** The answers to a batch, one per beat, in the batch's order. */
export type HeartbeatBatchReply = z.output<typeof HeartbeatBatchReply>;

/** True when a parsed body has the shape of a batch (`beats` is an array): then it is parsed as one. */
export const looksLikeBeatBatch = (json: unknown): boolean =>
  typeof json === "object" && json !== null && Array.isArray((json as { beats?: unknown }).beats);

/** Parses a batch request; never throws. */
export const parseHeartbeatBatch = (body: unknown): ParseResult<HeartbeatBatchRequest> =>
  parseWith(HeartbeatBatchRequest, "heartbeat batch", body);
/** Parses a batch reply; never throws. */
export const parseHeartbeatBatchReply = (body: unknown): ParseResult<HeartbeatBatchReply> =>
  parseWith(HeartbeatBatchReply, "heartbeat batch reply", body);
