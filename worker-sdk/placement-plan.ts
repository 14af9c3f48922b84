/**
 * The placement decision, free of I/O: given the desired state and the leases one service sees,
 * which replicas it should claim and which of its claims it should release.
 *
 * Every service runs the same deterministic assignment over the same snapshot (free replicas in
 * project/replica order, each to the eligible live service holding no replica of that project
 * with the fewest claims, ties by service id) and claims only what falls to itself; so services
 * agree without talking, and the compare-and-set on the lease settles the rare disagreement of
 * two stale snapshots.
 */
import { claimKey, satisfies, type ProjectPlacement } from "../src/contract/placement.js";

/** A desired-state entry with its KV revision. */
export interface SpecView {
  spec: ProjectPlacement;
  revision: number;
}

/** A lease as a service sees it. */
export interface ClaimView {
  key: string;
  project: string;
  replica: number;
  serviceId: string;
  revision: number;
  /** Its revision has not moved for a lease period: its holder is gone. */
  lapsed: boolean;
}

/** A live placing service. */
export interface ServiceView {
  serviceId: string;
  labels: Record<string, string>;
}

export interface PlanInput {
  self: ServiceView;
  specs: ReadonlyMap<string, SpecView>;
  /** Live services (self included or not: it is added). */
  services: readonly ServiceView[];
  claims: readonly ClaimView[];
  /** How long each free replica key has been seen free, in ms (absent: just now). */
  freeForMs: ReadonlyMap<string, number>;
  leaseMs: number;
}

/** What this service should do. */
export interface Plan {
  /** Free or lapsed replicas to take: `revision` 0 means create, else compare-and-set on it. */
  claim: { key: string; project: string; replica: number; revision: number }[];
  /** Own claims that are no longer wanted here (project removed, replica dropped, labels not met, a second replica). */
  release: { key: string; revision: number }[];
  /** Lapsed claims nobody wants any more (a removed project, a dropped replica): deleted, compare-and-set. */
  purge: { key: string; revision: number }[];
}

/** Decides what `input.self` claims and releases. */
export function planPlacement(input: PlanInput): Plan {
  const self = input.self.serviceId;
  const plan: Plan = { claim: [], release: [], purge: [] };
  const services = new Map(input.services.map((s) => [s.serviceId, s]));
  services.set(self, input.self);
  const load = new Map<string, number>([...services.keys()].map((id) => [id, 0]));
  const holders = new Map<string, Set<string>>();
  const byKey = new Map<string, ClaimView>();

  const wanted = (c: ClaimView): boolean => {
    const s = input.specs.get(c.project);
    return s !== undefined && c.replica < s.spec.replicas;
  };
  for (const c of [...input.claims].sort((a, b) => a.key.localeCompare(b.key))) {
    byKey.set(c.key, c);
    if (c.lapsed) {
      if (!wanted(c)) plan.purge.push({ key: c.key, revision: c.revision });
      continue;
    }
    const held = holders.get(c.project) ?? new Set<string>();
    const spec = input.specs.get(c.project)?.spec;
    if (c.serviceId === self && (!wanted(c) || held.has(self) || !satisfies(input.self.labels, spec?.requires ?? {}))) {
      plan.release.push({ key: c.key, revision: c.revision });
      continue;
    }
    held.add(c.serviceId);
    holders.set(c.project, held);
    load.set(c.serviceId, (load.get(c.serviceId) ?? 0) + 1);
  }

  for (const [project, { spec }] of [...input.specs].sort(([a], [b]) => a.localeCompare(b))) {
    const held = holders.get(project) ?? new Set<string>();
    holders.set(project, held);
    for (let replica = 0; replica < spec.replicas; replica++) {
      const key = claimKey(project, replica);
      const existing = byKey.get(key);
      if (existing && !existing.lapsed) continue;
      const candidates = [...services.values()]
        .filter((s) => !held.has(s.serviceId) && satisfies(s.labels, spec.requires))
        .sort((a, b) => load.get(a.serviceId)! - load.get(b.serviceId)! || a.serviceId.localeCompare(b.serviceId));
      const best = candidates[0];
      if (!best) continue; // more replicas than eligible services: the rest waits for one to join
      // The chosen service takes it; any eligible one does once it has stayed free a whole lease
      // (the chosen one may be dead with its presence not lapsed yet).
      const taker =
        best.serviceId === self || ((input.freeForMs.get(key) ?? 0) >= input.leaseMs && candidates.some((s) => s.serviceId === self))
          ? self
          : best.serviceId;
      if (taker === self) plan.claim.push({ key, project, replica, revision: existing?.revision ?? 0 });
      held.add(taker);
      load.set(taker, load.get(taker)! + 1);
    }
  }
  return plan;
}
