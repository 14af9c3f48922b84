import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { connectNats } from "../../worker-sdk/connect.js";

/** NATS connection options every networked subcommand accepts (flags win over env). */
export const ConnectionOptions = z.object({
  servers: z
    .string()
    .min(1)
    .default(process.env.JETFLOW_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222"),
  creds: z
    .string()
    .min(1)
    .optional()
    .default(process.env.JETFLOW_NATS_CREDS ?? ""),
  user: z
    .string()
    .optional()
    .default(process.env.JETFLOW_NATS_USER ?? ""),
  password: z
    .string()
    .optional()
    .default(process.env.JETFLOW_NATS_PASSWORD ?? ""),
  /** Reply inbox prefix; a scoped user may only subscribe to its own (`_INBOX_<name>`, docs/security.md). */
  inboxPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "must be one subject token")
    .optional()
    .default(process.env.JETFLOW_NATS_INBOX_PREFIX ?? ""),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "prefix must be a single subject token")
    .default(process.env.JETFLOW_PREFIX ?? "jetflow"),
  timeout: z.coerce.number().int().positive().default(10_000),
});
export type ConnectionOptions = z.output<typeof ConnectionOptions>;

/** Adds the shared connection flags to a command. */
export function withConnectionFlags<T extends { option: (...a: string[]) => T }>(cmd: T): T {
  return cmd
    .option("-s, --servers <urls>", "NATS server URL(s), comma separated (env JETFLOW_NATS_URL)")
    .option("--creds <file>", "NATS credentials file (env JETFLOW_NATS_CREDS)")
    .option("--user <user>", "NATS user (env JETFLOW_NATS_USER)")
    .option("--password <password>", "NATS password (env JETFLOW_NATS_PASSWORD)")
    .option(
      "--inbox-prefix <token>",
      "reply inbox prefix of a scoped user (env JETFLOW_NATS_INBOX_PREFIX; read from --creds when issued by jetflow creds)",
    )
    .option("--prefix <prefix>", "subject prefix (env JETFLOW_PREFIX)")
    .option("--timeout <ms>", "bound on each request in milliseconds");
}

/** Connects with the validated options; the caller closes the connection. */
export function openConnection(opts: ConnectionOptions, name = "jetflow-cli"): Promise<NatsConnection> {
  return connectNats({ ...opts, name });
}
