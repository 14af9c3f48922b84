/**
 * A timeline of one run for the latency benches: every statement sent on the instrumented
 * postgres.js clients (their `debug` hook) and every NATS publish and request (with its reply)
 * on the instrumented connections, timestamped from `start()`. Used to find where an idle run
 * waits, not to time it: the hooks themselves cost a little.
 */
import type { NatsConnection } from "@nats-io/transport-node";

interface Event {
  t: number;
  who: string;
  what: string;
}

export class Timeline {
  private events: Event[] = [];
  private t0 = 0;
  private on = false;

  start(): void {
    this.events = [];
    this.t0 = performance.now();
    this.on = true;
  }

  stop(): void {
    this.on = false;
  }

  mark(who: string, what: string): void {
    if (this.on) this.events.push({ t: performance.now() - this.t0, who, what });
  }

  /** A postgres.js `debug` option that marks each statement as it is sent, by connection. */
  pgDebug(who: string): (connection: number, query: string) => void {
    return (connection, query) => this.mark(`${who}#${connection}`, query.replace(/\s+/g, " ").trim().slice(0, 110));
  }

  /** Marks every publish and request of `nc` (a request also when its reply arrives). */
  wrapNats(nc: NatsConnection, who: string): void {
    const publish = nc.publish.bind(nc);
    const request = nc.request.bind(nc);
    nc.publish = (subject, ...rest) => {
      this.mark(who, `publish ${subject}`);
      return publish(subject, ...rest);
    };
    nc.request = async (subject, ...rest) => {
      this.mark(who, `request ${subject}`);
      try {
        return await request(subject, ...rest);
      } finally {
        this.mark(who, `  reply to ${subject}`);
      }
    };
  }

  /** One line per event: ms since start, ms since the previous event, who, what. */
  print(title: string): void {
    console.log(`  timeline: ${title}`);
    let prev = 0;
    for (const e of this.events) {
      console.log(`  ${e.t.toFixed(2).padStart(7)} ms  +${(e.t - prev).toFixed(2).padStart(5)}  ${e.who.padEnd(14)} ${e.what}`);
      prev = e.t;
    }
  }
}
