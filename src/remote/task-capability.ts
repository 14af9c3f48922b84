/**
 * The broker's proof-of-delivery rules. A task's capability is a random secret carried only in
 * its task message, which JetStream delivers only to workers of the task's queue; lease tokens
 * are secrets the broker issues per attempt. Both are compared in constant time.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

/** Where a worker's request arrived: the queue named by its subject (which permissions scope per queue). */
export interface Via {
  queue: string;
}

/** A fresh 192-bit secret, base64url (capabilities and lease tokens). */
export function newSecret(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Whether `presented` proves delivery of a task whose capability is `expected`. Tasks created
 * before capabilities existed (`expected` null) accept any start, as they did then.
 */
export function capabilityMatches(expected: string | null, presented: string | undefined): boolean {
  if (expected === null) return true;
  if (presented === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * How close to its end a lease may be and still be taken over by a newer attempt. JetStream
 * redelivers once the holder's in-progress acks stop; the broker's deadline follows the same
 * beats a moment later, so a strict comparison would refuse the genuine redelivery.
 */
export function takeoverGraceMs(leaseMs: number): number {
  return Math.max(500, Math.floor(leaseMs / 4));
}
