/**
 * A tiny HTTP health endpoint for process supervisors (systemd, Kubernetes probes, Nomad):
 * `GET /healthz` (or `/`) answers the process's own JSON report, 200 when healthy and 503 when
 * not, so a supervisor can restart a wedged worker or orchestrator without SSH.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What a process says about itself; `healthy` decides the status code. */
export interface HealthReport {
  healthy: boolean;
  /** A short word for humans and dashboards: running, draining, stopping, degraded, ... */
  status: string;
  [detail: string]: unknown;
}

/** A running health endpoint. */
export interface HealthServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting connections and closes idle keep-alive sockets. */
  close(): Promise<void>;
}

/**
 * Serves `report()` on `host:port` (default 127.0.0.1: health is for the local supervisor,
 * not the internet). A report that throws is answered 503 with the error message, never a crash.
 */
export async function startHealthServer(opts: {
  port: number;
  host?: string;
  report: () => HealthReport | Promise<HealthReport>;
}): Promise<HealthServer> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65_535)
    throw new RangeError(`health port must be an integer in 0..65535, got ${opts.port}`);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || (path !== "/" && path !== "/healthz")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "GET /healthz" }));
      return;
    }
    Promise.resolve()
      .then(opts.report)
      .then(
        (r) => res.writeHead(r.healthy ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(r)),
        (err: unknown) =>
          res
            .writeHead(503, { "content-type": "application/json" })
            .end(JSON.stringify({ healthy: false, status: "error", error: err instanceof Error ? err.message : String(err) })),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
