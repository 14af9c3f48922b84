/**
 * The placement decision on its own: services running the same plan over the same snapshot claim
 * disjoint replicas that spread one per service, least loaded first; labels restrict who may
 * claim; a lapsed claim is taken over; unwanted own claims are released.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ProjectPlacement, claimKey } from "../../src/contract/placement.js";
import { planPlacement, type ClaimView, type PlanInput, type ServiceView, type SpecView } from "../../worker-sdk/placement-plan.js";

const LEASE = 1_000;
const spec = (project: string, replicas: number, requires: Record<string, string> = {}): [string, SpecView] => [
  project,
  { spec: ProjectPlacement.parse({ project, queue: "q", module: "/m.js", replicas, requires }), revision: 1 },
];
const A: ServiceView = { serviceId: "a", labels: {} };
const B: ServiceView = { serviceId: "b", labels: { gpu: "true" } };
const claim = (project: string, replica: number, serviceId: string, lapsed = false): ClaimView => ({
  key: claimKey(project, replica),
  project,
  replica,
  serviceId,
  revision: 7,
  lapsed,
});

function plans(specs: [string, SpecView][], claims: ClaimView[] = [], freeForMs = new Map<string, number>()) {
  const input = (self: ServiceView): PlanInput => ({ self, specs: new Map(specs), services: [A, B], claims, freeForMs, leaseMs: LEASE });
  return { a: planPlacement(input(A)), b: planPlacement(input(B)) };
}
const keys = (p: { claim: { key: string }[] }) => p.claim.map((c) => c.key).sort();

test("two services split three projects and spread a two-replica one, without overlap", () => {
  const { a, b } = plans([spec("p1", 1), spec("p2", 2), spec("p3", 1)]);
  const all = [...keys(a), ...keys(b)].sort();
  assert.equal(all, ["claim.p1.0", "claim.p2.0", "claim.p2.1", "claim.p3.0"], "every replica claimed exactly once");
  assert.ok(keys(a).includes("claim.p2.0") !== keys(a).includes("claim.p2.1"), "one replica of p2 per service");
  assert.is(Math.abs(keys(a).length - keys(b).length), 0, "two each: least loaded first");
});

test("a project requiring gpu=true goes to the gpu service only; a second replica waits for another", () => {
  const { a, b } = plans([spec("g", 2, { gpu: "true" })]);
  assert.equal(keys(a), []);
  assert.equal(keys(b), ["claim.g.0"]);
});

test("a lapsed claim is taken over by compare-and-set on its revision; a live one is left alone", () => {
  const { a } = plans([spec("p1", 1), spec("p2", 1)], [claim("p1", 0, "b", true), claim("p2", 0, "b")]);
  assert.equal(a.claim, [{ key: "claim.p1.0", project: "p1", replica: 0, revision: 7 }]);
});

test("the chosen service takes a free replica; another eligible one only after it stayed free a lease", () => {
  // b holds p1, so a is chosen for p2 (least loaded); b would only step in after a whole lease.
  const claims = [claim("p1", 0, "b")];
  assert.equal(keys(plans([spec("p1", 1), spec("p2", 1)], claims).b), []);
  const late = plans([spec("p1", 1), spec("p2", 1)], claims, new Map([["claim.p2.0", LEASE]]));
  assert.equal(keys(late.b), ["claim.p2.0"], "a may be dead with its presence not lapsed yet");
});

test("own claims of a removed project, a dropped replica or a second replica are released; lapsed leftovers purged", () => {
  const { a } = plans(
    [spec("p1", 1), spec("p2", 2)],
    [claim("gone", 0, "a"), claim("p1", 0, "a"), claim("p1", 1, "a"), claim("p2", 0, "a"), claim("p2", 1, "a"), claim("old", 0, "b", true)],
  );
  assert.equal(a.release.map((r) => r.key).sort(), ["claim.gone.0", "claim.p1.1", "claim.p2.1"]);
  assert.equal(
    a.purge.map((r) => r.key),
    ["claim.old.0"],
  );
});

test.run();
