/**
 * `npm install` on the Node versions README names prints no EBADENGINE warning: every package in
 * the lockfile (dev tools included, as a clone installs them) accepts the lowest release of each
 * named line, and package.json's own "engines" says the same.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import semver from "semver";

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { engines?: unknown; dev?: boolean }> };
const pkg = JSON.parse(read("package.json")) as { engines: { node: string } };

/** "Node.js 20.19+, 22.13+ or 24+" in README's quick start → ["20.19.0", "22.13.0", "24.0.0"]. */
function readmeVersions(): string[] {
  const line = read("README.md").match(/^Node\.js (\d[^(\n]*)/m);
  assert.ok(line, "README names the supported Node versions on a line starting with 'Node.js'");
  return [...line[1]!.matchAll(/(\d+)(?:\.(\d+))?\+/g)].map((m) => `${m[1]}.${m[2] ?? 0}.0`);
}

test("README names the Node lines this repository supports", () => {
  assert.equal(readmeVersions(), ["20.19.0", "22.13.0", "24.0.0"]);
});

test("every locked package accepts each Node version README names", () => {
  const refusals: string[] = [];
  for (const version of readmeVersions()) {
    for (const [path, meta] of Object.entries(lock.packages)) {
      const range = (meta.engines as { node?: string } | undefined)?.node;
      if (typeof range === "string" && !semver.satisfies(version, range))
        refusals.push(`${path || "root"} wants node ${range} (not ${version})`);
    }
  }
  assert.equal(refusals, []);
});

test("package.json engines admits exactly the named lines' releases", () => {
  for (const version of readmeVersions()) assert.ok(semver.satisfies(version, pkg.engines.node), `${version} vs ${pkg.engines.node}`);
  for (const older of ["20.18.0", "22.12.0", "18.20.0"]) assert.not.ok(semver.satisfies(older, pkg.engines.node), older);
});

test.run();
