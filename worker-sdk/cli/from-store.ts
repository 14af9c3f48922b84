/**
 * `jetflow worker --from-store`: the flags that make a worker load its activity module from the
 * bundle store instead of `--module` (docs/deploy.md). Kept apart from worker-command.ts: these
 * flags are split off first, the rest are the ordinary worker flags, parsed as usual.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { WorkerError } from "../errors.js";
import { parseTrustedKeys } from "../bundle-signature.js";
import { type FlagSpec, helpText, parseFlags } from "./flags.js";
import { parseWorkerArgs, WORKER_FLAGS, type WorkerOptions } from "./worker-command.js";

/** The flags only `--from-store` has. */
export const FROM_STORE_FLAGS: readonly FlagSpec[] = [
  { name: "from-store", type: "boolean", help: "load the activity bundle deployed with `jetflow deploy` instead of --module" },
  {
    name: "trusted-keys",
    type: "string",
    help: "operator public keys (O...) whose bundle signatures are accepted, comma separated (required)",
    env: "JETFLOW_TRUSTED_DEPLOY_KEYS",
  },
  {
    name: "bundle-dir",
    type: "string",
    help: "where verified bundles are written before loading (default <tmp>/jetflow-bundles)",
    env: "JETFLOW_BUNDLE_DIR",
  },
];

const FromStoreFlags = z
  .object({
    fromStore: z.literal(true),
    trustedKeys: z
      .string({ error: "is required: the operator public key(s) a bundle must be signed by" })
      .min(1)
      .transform((s, ctx) => {
        try {
          return parseTrustedKeys(s);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      }),
    bundleDir: z.string().min(1).default(join(tmpdir(), "jetflow-bundles")),
  })
  .strict();

/** Validated options of a worker that loads its code from the store. */
export interface FromStoreOptions {
  /** The ordinary worker options; `module` is filled in once the bundle is verified. */
  worker: WorkerOptions;
  /** The version asked for with --code-version; null = the queue's current one. */
  version: string | null;
  trustedKeys: string[];
  bundleDir: string;
}

/** Whether `argv` asks for a worker loaded from the store. */
export function isFromStore(argv: readonly string[]): boolean {
  return argv.includes("--from-store");
}

const PLACEHOLDER = "<from-store>";

/**
 * Splits the from-store flags off `argv`, validates them, and parses the rest as worker flags
 * (without --module, which the store replaces; --code-version optional).
 * @throws WorkerError CONFIG naming each bad flag.
 */
export function parseFromStoreArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { help: true } | { help: false; options: FromStoreOptions } {
  const own: string[] = [];
  const rest: string[] = [];
  const names = new Set(FROM_STORE_FLAGS.map((f) => `--${f.name}`));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.split("=")[0]!;
    if (!names.has(name)) {
      rest.push(arg);
      continue;
    }
    own.push(arg);
    if (name !== "--from-store" && !arg.includes("=") && i + 1 < argv.length) own.push(argv[++i]!);
  }
  if (rest.includes("-h") || rest.includes("--help")) return { help: true };
  if (rest.some((a) => a === "-m" || a === "--module" || a.startsWith("--module=")))
    throw new WorkerError("CONFIG", "--module and --from-store exclude each other: the store supplies the module", false);
  const versionGiven = rest.some((a) => a === "--code-version" || a.startsWith("--code-version="));
  const mine = parseFlags(own, FROM_STORE_FLAGS, FromStoreFlags, env);
  const worker = parseWorkerArgs([...rest, "--module", PLACEHOLDER, ...(versionGiven ? [] : ["--code-version", PLACEHOLDER])], env);
  if (mine.help || worker.help) return { help: true };
  return {
    help: false,
    options: {
      worker: worker.options,
      version: versionGiven ? worker.options.codeVersion : null,
      trustedKeys: mine.options.trustedKeys,
      bundleDir: mine.options.bundleDir,
    },
  };
}

export const fromStoreHelp = (): string =>
  helpText("jetflow-worker --from-store --queue <q> [--code-version <v>] --trusted-keys <O...> [options]", [
    ...FROM_STORE_FLAGS,
    ...WORKER_FLAGS.filter((f) => f.name !== "module"),
  ]) + "\nWithout --code-version the worker loads the queue's current version (`jetflow deploy rollback` moves it).\n";
