/**
 * The published entry points (package.json "exports") stay curated: each lists its names
 * explicitly (no `export *`, so a new helper in a sub-module never becomes public by accident)
 * and every declaration they export carries TSDoc.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const root = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }> };
/** Source file of each subpath: ./dist/x/index.d.ts -> x/index.ts. */
const entries = Object.entries(pkg.exports).map(
  ([sub, e]) => [sub, join(root, e.types.replace(/^\.\/dist\//, "").replace(/\.d\.ts$/, ".ts"))] as const,
);
// The worker package's own entry is owned by worker-sdk/ (documented there); it is still checked for `export *`.
const TSDOC_EXEMPT = new Set(["./worker"]);

test("every entry point lists its exports by name (no export *)", () => {
  const offenders = entries.filter(([, file]) => /^\s*export\s+(type\s+)?\*/m.test(readFileSync(file, "utf8"))).map(([sub]) => sub);
  assert.equal(offenders, [], `entry points with export *: ${offenders.join(", ")}`);
});

test("every declaration an entry point exports has TSDoc", () => {
  const files = entries.filter(([sub]) => !TSDOC_EXEMPT.has(sub)).map(([, f]) => f);
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  const program = ts.createProgram(files, parsed!.options);
  const checker = program.getTypeChecker();
  const missing = new Set<string>();
  for (const file of files) {
    const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      for (const decl of target.declarations ?? []) {
        const node = ts.isVariableDeclaration(decl) ? decl.parent.parent : decl;
        if (ts.getJSDocCommentsAndTags(node).length > 0) continue;
        const sf = decl.getSourceFile();
        missing.add(`${sf.fileName.slice(root.length + 1)}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${exported.name}`);
      }
    }
  }
  assert.equal([...missing], [], `exported without TSDoc:\n  ${[...missing].join("\n  ")}`);
});

test.run();
