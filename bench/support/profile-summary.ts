/**
 * Where a `.cpuprofile` spent its time: self time per function and per source file (node_modules
 * packages grouped by package), the top entries as % of all samples, idle and GC included.
 *
 *   npx tsx bench/support/profile-summary.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [top]");
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[] };
const hits = new Map<number, number>();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const total = profile.samples.length;

/** The package (node_modules/<pkg>) or the project-relative file a frame belongs to. */
function place(url: string): string {
  if (!url) return "(native/vm)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `pkg ${nm[1]}`;
  if (url.startsWith("node:")) return url;
  const i = url.search(/\/(src|adapters|worker-sdk|orchestrator|bench|otel)\//);
  return i >= 0 ? url.slice(i + 1) : url;
}
const byFn = new Map<string, number>();
const byPlace = new Map<string, number>();
for (const n of profile.nodes) {
  const h = hits.get(n.id) ?? 0;
  if (h === 0) continue;
  const p = place(n.callFrame.url);
  const fn = `${n.callFrame.functionName || "(anonymous)"}  ${p}:${n.callFrame.lineNumber + 1}`;
  byFn.set(fn, (byFn.get(fn) ?? 0) + h);
  byPlace.set(p, (byPlace.get(p) ?? 0) + h);
}
// Inclusive time of the project's own functions (a function counted once per sample even when
// it recurses): what each of its entry points costs with everything it calls.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, h] of hits) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    const p = place(n.callFrame.url);
    if (p.startsWith("pkg ") || p.startsWith("node:") || p.startsWith("(")) continue;
    const fn = `${n.callFrame.functionName || "(anonymous)"}  ${p}:${n.callFrame.lineNumber + 1}`;
    if (seen.has(fn)) continue;
    seen.add(fn);
    inclusive.set(fn, (inclusive.get(fn) ?? 0) + h);
  }
}
const print = (title: string, m: Map<string, number>): void => {
  console.log(`${title} (of ${total} samples)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
};
print("self time by function", byFn);
print("self time by file or package", byPlace);
print("inclusive time of the project's functions", inclusive);
