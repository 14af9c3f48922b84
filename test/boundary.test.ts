/**
 * The import boundaries of DESIGN §1 hold in the real tree, and the checker really catches
 * violations (planted in test/fixtures/boundary), so a green run means something.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { checkBoundaries, type BoundaryViolation } from "./boundary-rules.js";

const fmt = (vs: BoundaryViolation[]): string => vs.map((v) => `  ${v.rule}: ${v.from} -> ${v.to}`).join("\n");

test("the repository has no import-boundary violations", async () => {
  const violations = await checkBoundaries();
  assert.equal(violations, [], `import boundaries broken (see CONTRIBUTING.md "Layout and import rules"):\n${fmt(violations)}`);
});

test("planted violations are reported, and allowed imports are not", async () => {
  const violations = await checkBoundaries({ baseDir: join(import.meta.dirname, "fixtures", "boundary") });
  const found = new Set(violations.map((v) => `${v.rule} ${v.from} -> ${v.to.replace(/^.*node_modules\//, "")}`));
  const has = (rule: string, from: string, to: RegExp): boolean =>
    [...found].some((f) => f.startsWith(`${rule} ${from} -> `) && to.test(f.split(" -> ")[1]!));
  const report = `\nreported:\n${fmt(violations)}`;

  assert.ok(has("src-no-infra-packages", "src/uses-postgres.ts", /^postgres\//), `src -> postgres${report}`);
  assert.ok(has("worker-sdk-credential-free", "worker-sdk/uploads.ts", /^@aws-sdk\/client-s3/), `worker-sdk -> @aws-sdk${report}`);
  assert.ok(has("src-no-outer-folders", "src/uses-adapter.ts", /^adapters\/postgres\/store\.ts$/), `src -> adapters${report}`);
  assert.ok(
    has("src-no-otel-sdk", "src/uses-otel-sdk.ts", /^@opentelemetry\/sdk-jetflow-fixture-never-installed$/),
    `src -> otel sdk (unresolved)${report}`,
  );
  assert.ok(has("adapters-jetstream-only-nats", "adapters/jetstream/leaks-db.ts", /^postgres\//), `jetstream -> postgres${report}`);
  assert.ok(has("orchestrator-no-cli", "orchestrator/uses-cli.ts", /^cli\/print\.ts$/), `orchestrator -> cli${report}`);
  assert.ok(has("src-no-outer-folders", "src/uses-orchestrator.ts", /^orchestrator\/uses-cli\.ts$/), `src -> orchestrator${report}`);
  assert.ok(has("adapters-independent", "adapters/jetstream/leaks-db.ts", /^adapters\/postgres\//), `adapter -> adapter${report}`);

  assert.ok(
    has("worker-sdk-allow-list", "worker-sdk/uses-kernel.ts", /^src\/clean\.ts$/),
    `worker-sdk -> src outside the contract${report}`,
  );
  assert.ok(has("worker-sdk-allow-list", "worker-sdk/uses-kernel.ts", /^pino\//), `worker-sdk -> a package off the allow-list${report}`);
  assert.ok(has("contract-self-contained", "src/contract/uses-core.ts", /^src\/clean\.ts$/), `contract -> the rest of src${report}`);

  const offenders = new Set(violations.map((v) => v.from));
  assert.not.ok(offenders.has("src/clean.ts"), `zod/@opentelemetry/api are allowed in src/${report}`);
  assert.not.ok(
    offenders.has("worker-sdk/allowed.ts"),
    `the contract, NATS, zod, the OTel API and builtins are allowed in worker-sdk/${report}`,
  );
  assert.not.ok(offenders.has("src/contract/wire.ts"), `zod, the OTel API and builtins are allowed in src/contract${report}`);
  assert.not.ok(offenders.has("cli/print.ts"), `cli/ may import anything${report}`);
  assert.not.ok(offenders.has("adapters/postgres/store.ts"), `postgres is allowed in adapters/postgres${report}`);
});

test.run();
