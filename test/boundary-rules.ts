/**
 * The import boundaries of DESIGN §1 / CONTRIBUTING ("who may import what") as
 * dependency-cruiser rules, plus a checker that runs them over any tree. Used by
 * test/boundary.test.ts against the real repo and against planted violations; reusable
 * from a script or a pre-commit hook (`checkBoundaries({ baseDir })`).
 */
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Folders that hold code subject to the rules (the ones that exist are cruised). */
export const CODE_FOLDERS = [
  "src",
  "adapters",
  "worker-sdk",
  "otel",
  "orchestrator",
  "console",
  "cli",
  "integration",
  "bench",
  "demo",
] as const;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Matches npm packages whose name starts with `namePrefix` (`"@nats-io/"` = the whole scope),
 * whether the import resolved into some node_modules (path relative to baseDir, possibly
 * `../../node_modules/...`) or could not be resolved (then the bare specifier is kept).
 */
function pkgPrefix(namePrefix: string): string {
  return `(^|/)node_modules/${escape(namePrefix)}|^${escape(namePrefix)}`;
}

/** Matches exactly the npm package `name` (and its subpaths), resolved or not. */
function pkg(name: string): string {
  return `(^|/)node_modules/${escape(name)}(/|$)|^${escape(name)}(/|$)`;
}

const POSTGRES = pkg("postgres");
const NATS = pkgPrefix("@nats-io/");
const AWS = pkgPrefix("@aws-sdk/");
const OTEL_SDK = pkgPrefix("@opentelemetry/sdk-");

/** One rule per line of the table; `name` is what a violation report shows. */
export const boundaryRules: IForbiddenRuleType[] = [
  {
    name: "src-no-infra-packages",
    comment: "src/ is the portable core: no database, broker, cloud SDK (adapters/ wrap them)",
    severity: "error",
    from: { path: "^src/" },
    to: { path: [POSTGRES, NATS, AWS].join("|") },
  },
  {
    name: "src-no-otel-sdk",
    comment: "src/ may use @opentelemetry/api only; the SDK is started by otel/",
    severity: "error",
    from: { path: "^src/" },
    to: { path: OTEL_SDK },
  },
  {
    name: "src-no-outer-folders",
    comment: "dependencies point inwards: src/ never imports the folders built around it",
    severity: "error",
    from: { path: "^src/" },
    to: { path: "^(adapters|worker-sdk|otel|orchestrator|console|cli|integration|bench)/" },
  },
  {
    name: "worker-sdk-credential-free",
    comment: "workers hold no database or cloud credentials: no postgres, no @aws-sdk, no adapters/",
    severity: "error",
    from: { path: "^worker-sdk/" },
    to: { path: [POSTGRES, AWS, "^adapters/"].join("|") },
  },
  {
    name: "worker-sdk-allow-list",
    comment:
      "the worker package ships alone: it may import itself, src/contract, @nats-io/*, zod, @opentelemetry/api, smol-toml (its config file) and node builtins, nothing else",
    severity: "error",
    from: { path: "^worker-sdk/" },
    to: {
      dependencyTypesNot: ["core"],
      pathNot: ["^worker-sdk/", "^src/contract/", NATS, pkg("zod"), pkg("@opentelemetry/api"), pkg("smol-toml")].join("|"),
    },
  },
  {
    name: "contract-self-contained",
    comment: "src/contract is what both sides share: it imports only itself, zod, @opentelemetry/api and node builtins",
    severity: "error",
    from: { path: "^src/contract/" },
    to: { dependencyTypesNot: ["core"], pathNot: ["^src/contract/", pkg("zod"), pkg("@opentelemetry/api")].join("|") },
  },
  {
    name: "adapters-postgres-only-postgres",
    severity: "error",
    from: { path: "^adapters/postgres/" },
    to: { path: [NATS, AWS].join("|") },
  },
  {
    name: "adapters-jetstream-only-nats",
    severity: "error",
    from: { path: "^adapters/jetstream/" },
    to: { path: [POSTGRES, AWS].join("|") },
  },
  {
    name: "adapters-s3-only-aws",
    severity: "error",
    from: { path: "^adapters/s3/" },
    to: { path: [POSTGRES, NATS].join("|") },
  },
  {
    name: "adapters-independent",
    comment: "an adapter may import src/ but not another adapter",
    severity: "error",
    from: { path: "^adapters/([^/]+)/" },
    to: { path: "^adapters/", pathNot: "^adapters/$1/" },
  },
  {
    name: "otel-only-opentelemetry",
    comment: "otel/ sets up telemetry (@opentelemetry/*) and nothing else",
    severity: "error",
    from: { path: "^otel/" },
    to: { path: [POSTGRES, NATS, AWS, "^(adapters|worker-sdk|orchestrator|cli|integration|bench)/"].join("|") },
  },
  {
    name: "orchestrator-no-cli",
    comment: "orchestrator/ is the library the CLI calls (it may import src, adapters, otel, worker-sdk, console): it never imports cli/",
    severity: "error",
    from: { path: "^orchestrator/" },
    to: { path: "^(cli|integration|bench)/" },
  },
  {
    name: "adapters-no-orchestrator",
    comment: "the orchestrator is assembled from adapters, not the other way round",
    severity: "error",
    from: { path: "^(adapters|worker-sdk)/" },
    to: { path: "^(orchestrator|console|cli)/" },
  },
  {
    name: "console-api-only",
    comment: "the web console reads and steers only through the NATS API: no database or object-store client, no orchestrator internals",
    severity: "error",
    from: { path: "^console/" },
    to: { path: [POSTGRES, AWS, "^adapters/(postgres|s3)/", "^(orchestrator|cli|integration|bench)/"].join("|") },
  },
];

/** One broken rule: `from` imports `to`. Paths are relative to the cruised baseDir. */
export interface BoundaryViolation {
  rule: string;
  from: string;
  to: string;
}

/**
 * Cruises the code folders under `baseDir` (default: the repo root) with {@link boundaryRules}
 * and returns every violation. Type-only imports count: a type from `postgres` in src/ still
 * couples the core to the driver.
 */
export async function checkBoundaries(opts: { baseDir?: string; folders?: readonly string[] } = {}): Promise<BoundaryViolation[]> {
  const baseDir = opts.baseDir ?? join(import.meta.dirname, "..");
  const folders = (opts.folders ?? CODE_FOLDERS).filter((f) => existsSync(join(baseDir, f)));
  if (folders.length === 0) throw new Error(`no code folders under ${baseDir}`);
  const tsconfig = join(import.meta.dirname, "..", "tsconfig.json");
  const { output } = await cruise(
    folders,
    {
      baseDir,
      validate: true,
      ruleSet: { forbidden: boundaryRules },
      tsPreCompilationDeps: true,
      tsConfig: { fileName: tsconfig },
      // Never exclude node_modules: excluded modules drop out of the graph together with the
      // edges to them, and the package rules would silently pass. Not following is enough.
      exclude: { path: "(^|/)(dist|fixtures)/" },
      doNotFollow: { path: "(^|/)node_modules/" },
    },
    { extensionAlias: { ".js": [".ts", ".js"] } },
  );
  const result = output as ICruiseResult;
  return (result.summary.violations ?? []).map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}
