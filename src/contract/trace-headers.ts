/**
 * W3C trace context (`traceparent`, `tracestate`, `baggage`) on message headers, through the
 * global propagator of `@opentelemetry/api` (a no-op until an SDK is started). Works on any
 * header object with `get`/`set` (NATS `MsgHdrs` fits) so src/ needs no NATS import, and on
 * plain `TraceCarrier` records persisted with runs and tasks.
 */
import { type Context, type TextMapGetter, type TextMapSetter, context, propagation } from "@opentelemetry/api";
import { TRACE_HEADERS } from "./headers.js";

/** W3C trace-context carrier (traceparent, tracestate, baggage) persisted across suspend/resume. */
export type TraceCarrier = Record<string, string>;

/** The part of a header map this module needs (NATS headers answer "" for a missing name). */
export interface HeaderAccess {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
}

const headerSetter: TextMapSetter<Pick<HeaderAccess, "set">> = { set: (h, k, v) => h.set(k, v) };
const headerGetter: TextMapGetter<Pick<HeaderAccess, "get">> = {
  get: (h, k) => h.get(k) || undefined,
  keys: () => [...TRACE_HEADERS],
};

/** Writes `ctx` (default: the active context) into `headers`. */
export function injectTraceHeaders(headers: Pick<HeaderAccess, "set">, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, headerSetter);
}

/** The context carried by `headers` on top of `base` (default: the active context). */
export function extractTraceHeaders(headers: Pick<HeaderAccess, "get"> | undefined, base: Context = context.active()): Context {
  return headers ? propagation.extract(base, headers, headerGetter) : base;
}

/** `ctx` as a carrier to persist or to put in a body; null when there is nothing to carry (no SDK, no span). */
export function carrierFromContext(ctx: Context = context.active()): TraceCarrier | null {
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length > 0 ? carrier : null;
}

/** The trace headers of `headers` as a carrier; null when none is present. */
export function carrierFromHeaders(headers: Pick<HeaderAccess, "get"> | undefined): TraceCarrier | null {
  if (!headers) return null;
  const carrier: TraceCarrier = {};
  for (const name of TRACE_HEADERS) {
    const v = headers.get(name);
    if (v) carrier[name] = v;
  }
  return Object.keys(carrier).length > 0 ? carrier : null;
}

/** The context a persisted carrier stands for, on top of `base` (default: the active context). */
export function contextFromCarrier(carrier: TraceCarrier | null | undefined, base: Context = context.active()): Context {
  return carrier ? propagation.extract(base, carrier) : base;
}
