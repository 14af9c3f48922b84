/**
 * docs/cli.md lists every flag of every command: walking the real commander program, each visible
 * flag must appear in the row of its command (or, for the shared connection flags, in the
 * shared table).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main.js";

const doc = readFileSync(new URL("../../docs/cli.md", import.meta.url), "utf8");
const shared = doc.slice(doc.indexOf("## Shared flags"), doc.indexOf("## Commands"));
const rows = doc
  .slice(doc.indexOf("## Commands"))
  .split("\n")
  .filter((l) => l.startsWith("| `"));

/** The row whose first cell names the command (e.g. `runs create <workflow>`, `workers status\|drain\|stop`). */
function rowOf(path: string[]): string | undefined {
  const [group, leaf] = path.length > 1 ? [path[0]!, path[1]!] : [path[0]!, undefined];
  return rows.find((r) => {
    const cell = r.split(" | ")[0]!.replace(/^\| `/, "").replace(/`.*$/, "").replaceAll("\\|", "|");
    const words = cell.split(" ");
    return (
      words[0] === group && (leaf === undefined ? words.length === 1 || words[1]!.startsWith("<") : words[1]?.split("|").includes(leaf))
    );
  });
}

test("every visible flag of every command is in docs/cli.md", async () => {
  const missing: string[] = [];
  const walk = (cmd: Command, path: string[]) => {
    for (const sub of cmd.commands) {
      const p = [...path, sub.name()];
      if (sub.commands.length > 0) {
        walk(sub, p);
        continue;
      }
      const row = rowOf(p);
      if (!row) {
        missing.push(`${p.join(" ")}: no row`);
        continue;
      }
      for (const o of sub.options.filter((o) => !o.hidden)) {
        const flag = o.long!;
        if (!row.includes(flag) && !shared.includes(`\`${o.flags}\``) && !shared.includes(`\`${flag}`))
          missing.push(`${p.join(" ")} ${flag}`);
      }
    }
  };
  walk(await buildProgram(), []);
  assert.equal(missing, []);
});

test.run();
