/**
 * Forbidden ways in: tampered, expired, revoked or foreign credentials (`jetflow creds`), and
 * wrong passwords or no credentials at all (shipped nats-server.conf). The server must refuse
 * the connection.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";
import { createAccount, createUser, encodeUser, fmtCreds } from "@nats-io/jwt";
import { REPO_NATS_PASSWORDS } from "../harness/index.js";
import { type AttackContext, type ForbiddenOperation, WentThrough } from "./refusals.js";

const KIND = "tampered/expired/revoked credentials";

/** A connection the server must refuse. */
async function refusedConnect(c: AttackContext, opts: Partial<ConnectionOptions>): Promise<string> {
  const err = await connect({ servers: c.env.nats.url, reconnect: false, timeout: 20_000, ...opts }).then(
    async (nc) => {
      await nc.close();
      return null;
    },
    (e: Error) => e,
  );
  if (!err) throw new WentThrough("the server accepted the connection");
  if (!/authorization violation|authentication|expired|revoked/i.test(err.message))
    throw new WentThrough(`refused, but not by auth: ${err.message}`);
  return `connection refused: ${err.message}`;
}

const withCreds = (c: AttackContext, text: string) =>
  refusedConnect(c, { authenticator: credsAuthenticator(new TextEncoder().encode(text)) });

/** The spare credential with its JWT claims edited by `edit` (signature kept). */
function tampered(c: AttackContext, edit: (claims: { nats: Record<string, unknown>; exp?: number }) => void): string {
  const text = readFileSync(c.creds!.spare, "utf8");
  const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(text)![1]!;
  const [h, p, s] = jwt.split(".");
  const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
  edit(claims);
  return text.replace(jwt, `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`);
}

const credsOp = (name: string, run: (c: AttackContext) => Promise<string>): ForbiddenOperation => ({
  kind: KIND,
  name,
  only: "creds",
  run,
});
const staticOp = (name: string, run: (c: AttackContext) => Promise<string>): ForbiddenOperation => ({
  kind: KIND,
  name,
  only: "static",
  run,
});

export const credsOperations: ForbiddenOperation[] = [
  credsOp("connect with publish permissions widened to > in the JWT", (c) =>
    withCreds(
      c,
      tampered(c, (cl) => void (cl.nats.pub = { allow: [">"] })),
    ),
  ),
  credsOp("connect with the JWT rewritten for queue b", (c) =>
    withCreds(
      c,
      tampered(
        c,
        (cl) => void (cl.nats.pub = JSON.parse(JSON.stringify(cl.nats.pub).replaceAll("~~v1", "~~v1x").replaceAll(".a.", ".b."))),
      ),
    ),
  ),
  credsOp("connect with the expiry removed from the JWT", (c) =>
    withCreds(
      c,
      tampered(c, (cl) => delete cl.exp),
    ),
  ),
  credsOp("connect with an expired credential", async (c) => {
    const wait = c.creds!.expiresAt * 1000 + 1_100 - Date.now(); // the server compares whole seconds
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return withCreds(c, readFileSync(c.creds!.expired, "utf8"));
  }),
  credsOp("connect with a revoked credential", (c) => withCreds(c, readFileSync(c.creds!.revoked, "utf8"))),
  credsOp("connect with a user signed by a foreign account key", async (c) => {
    const user = createUser();
    const jwt = await encodeUser("forged", user, createAccount(), { pub: { allow: [">"] }, sub: { allow: [">"] } });
    return withCreds(c, new TextDecoder().decode(fmtCreds(jwt, user)));
  }),
  credsOp("connect with its JWT but another user's seed", async (c) => {
    const text = readFileSync(c.creds!.spare, "utf8");
    const other = new TextDecoder().decode(createUser().getSeed());
    return withCreds(c, text.replace(/(-----BEGIN USER NKEY SEED-----\n)(.+)(\n)/, `$1${other}$3`));
  }),
  credsOp("connect with no credential", (c) => refusedConnect(c, {})),
  staticOp("connect as the worker with a wrong password", (c) => refusedConnect(c, { user: "worker-default", pass: "guess" })),
  staticOp("connect as the orchestrator with the worker's password", (c) =>
    refusedConnect(c, { user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD }),
  ),
  staticOp("connect as the operator with the worker's password", (c) =>
    refusedConnect(c, { user: "operator", pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD }),
  ),
  staticOp("connect with no credential", (c) => refusedConnect(c, {})),
];
