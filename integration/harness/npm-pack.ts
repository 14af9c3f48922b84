/**
 * `npm pack` of a package of this repository, reused across test runs while nothing it is built
 * from changed. Packing the root package runs its prepack (a full `tsc` build, ~20 s of CPU),
 * which is most of what the install tests spend on a 2-core machine.
 *
 * The cache is content-addressed: the key hashes every file the tarball is built from (the
 * package.json, its `files` sources, the tsconfig chain's `include` roots, the lockfile and the
 * TypeScript version), so an edit anywhere in those inputs packs afresh. A fresh tarball is only
 * stored when each file it holds comes from a hashed input, which catches a build that pulled in
 * a file from outside them (the key would not see that file change). A missing or pruned cache
 * only means a fresh `npm pack`; a test never depends on another having run.
 * JETFLOW_TEST_PACK_CACHE=0 always packs afresh.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..", "..");
const CACHE_ROOT = join(tmpdir(), "jetflow-test-npm-pack");
/** Bumped when what a key covers changes, so older entries stop matching. */
const FORMAT = "1";
/** Entries kept (newest first); each is one tarball of ~1 MB. */
const KEEP = 6;

const PackJson = z.array(z.object({ filename: z.string(), files: z.array(z.object({ path: z.string() })) })).min(1);
const PackageJson = z.object({ files: z.array(z.string()).default([]) }).passthrough();
const TsConfig = z
  .object({
    extends: z.string().optional(),
    include: z.array(z.string()).optional(),
    compilerOptions: z.object({ rootDir: z.string().optional(), outDir: z.string().optional() }).passthrough().default({}),
  })
  .passthrough();

export interface PackedTarball {
  /** The tarball, copied into `destDir`. */
  path: string;
  /** True when it came from the cache (no `npm pack` ran). */
  reused: boolean;
}

/**
 * The tarball `npm pack <packArgs>` (run in the repository root) makes of the package in
 * `packageDir`, in `destDir`: from the cache when its inputs are unchanged, else packed now.
 * @throws Error when `npm pack` fails.
 */
export async function packedTarball(opts: { packageDir: string; packArgs?: string[]; destDir: string }): Promise<PackedTarball> {
  const packArgs = opts.packArgs ?? [];
  const inputs = packInputs(opts.packageDir);
  const key = cacheKey(inputs, packArgs);
  const entry = join(CACHE_ROOT, key);
  const useCache = process.env.JETFLOW_TEST_PACK_CACHE !== "0";
  const cached = useCache && existsSync(entry) ? readdirSync(entry).find((f) => f.endsWith(".tgz")) : undefined;
  if (cached) {
    const path = join(opts.destDir, cached);
    copyFileSync(join(entry, cached), path);
    const now = new Date();
    utimesSync(entry, now, now); // recently used: pruned last
    return { path, reused: true };
  }

  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", opts.destDir, ...packArgs], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  // npm may print lifecycle output (prepack) before the JSON.
  const packed = PackJson.parse(JSON.parse(stdout.slice(stdout.indexOf("["))))[0]!;
  const path = join(opts.destDir, packed.filename);
  const outside = packed.files.map((f) => f.path).filter((p) => !inputs.covers(resolve(opts.packageDir, p)));
  if (!useCache) return { path, reused: false };
  if (outside.length > 0) {
    console.warn(
      `npm pack of ${relative(root, opts.packageDir) || "."}: not cached, built from unhashed files: ${outside.slice(0, 5).join(", ")}`,
    );
    return { path, reused: false };
  }
  store(entry, path);
  return { path, reused: false };
}

interface Inputs {
  /** Files and directories (absolute) whose content the key hashes. */
  paths: string[];
  /** Whether a packed file (absolute, in the package) is built from or is one of the hashed inputs. */
  covers(packedFile: string): boolean;
}

/** What the tarball of `packageDir` is built from, read from its package.json and tsconfig.build.json. */
function packInputs(packageDir: string): Inputs {
  const pkg = PackageJson.parse(JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")));
  const configs = tsconfigChain(join(packageDir, "tsconfig.build.json"));
  const option = (name: "rootDir" | "outDir") => {
    for (const c of configs) if (c.json.compilerOptions[name]) return resolve(c.dir, c.json.compilerOptions[name]!);
    throw new Error(`${packageDir}/tsconfig.build.json: no compilerOptions.${name} in its chain`);
  };
  const outDir = option("outDir");
  const rootDir = option("rootDir");
  // The first config in the chain that lists include decides it (tsc does not merge includes).
  const include = configs.find((c) => c.json.include)!;
  // A pattern's static part ("../src/contract/**/*.ts" -> ../src/contract) is the root hashed.
  const sourceRoots = include.json.include!.map((p) => resolve(include.dir, p.split(/[*?{]/)[0]!.replace(/\/$/, "") || "."));
  const packed = pkg.files.map((f) => resolve(packageDir, f)).filter((p) => p !== outDir && existsSync(p));
  const docs = readdirSync(packageDir)
    .filter((f) => /^(readme|license|licence|changelog)/i.test(f) || f === ".npmignore")
    .map((f) => join(packageDir, f));
  const paths = [
    join(packageDir, "package.json"),
    join(root, "package-lock.json"),
    join(root, "node_modules", "typescript", "package.json"),
    ...configs.map((c) => c.file),
    ...sourceRoots,
    ...packed,
    ...docs,
  ];
  const under = (file: string, dir: string) => file === dir || file.startsWith(dir + sep);
  return {
    paths: [...new Set(paths)].sort(),
    covers(file) {
      // A build output maps back to its source by path: dist/src/x.js <- src/x.ts.
      const source = under(file, outDir) ? resolve(rootDir, relative(outDir, file)) : file;
      return paths.some((p) => under(source, p));
    },
  };
}

function tsconfigChain(file: string): { file: string; dir: string; json: z.output<typeof TsConfig> }[] {
  const json = TsConfig.parse(JSON.parse(readFileSync(file, "utf8")));
  const here = { file, dir: dirname(file), json };
  return json.extends ? [here, ...tsconfigChain(resolve(dirname(file), json.extends))] : [here];
}

/** sha256 over every input file's path (relative to the repository) and content. */
function cacheKey(inputs: Inputs, packArgs: string[]): string {
  const h = createHash("sha256");
  h.update(`${FORMAT}\0${process.version}\0${packArgs.join(" ")}\0`);
  for (const file of inputs.paths.flatMap(filesUnder)) {
    h.update(`${relative(root, file)}\0`);
    h.update(readFileSync(file));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 32);
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name !== "node_modules" && name !== "dist")
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/** Moves a finished entry into place in one rename, so a concurrent reader sees it whole or not at all. */
function store(entry: string, tarball: string): void {
  const staging = `${entry}.${process.pid}.tmp`;
  mkdirSync(staging, { recursive: true });
  copyFileSync(tarball, join(staging, basename(tarball)));
  try {
    renameSync(staging, entry);
  } catch (err) {
    // Another run stored the same key first: its entry has the same content.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(entry)) throw err;
  }
  prune();
}

/** Keeps the newest KEEP entries: a key per source state would otherwise pile up in tmp. */
function prune(): void {
  const entries = readdirSync(CACHE_ROOT)
    .filter((name) => !name.endsWith(".tmp"))
    .map((name) => ({ name, at: statSync(join(CACHE_ROOT, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of entries.slice(KEEP)) rmSync(join(CACHE_ROOT, old.name), { recursive: true, force: true });
}
