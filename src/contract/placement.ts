/**
 * Placement of projects across worker services (docs/worker-service.md, "Placement"): the desired
 * state an operator writes (`jetflow projects set`) and the leases services take on project
 * replicas, both in NATS KV buckets.
 *
 * | bucket            | key                        | value                    | written by              |
 * | ----------------- | -------------------------- | ------------------------ | ----------------------- |
 * | `<p>_projects`    | `<project>`                | {@link ProjectPlacement} | the operator (CLI)      |
 * | `<p>_placement`   | `claim.<project>.<replica>` | {@link PlacementClaim}   | the holding service     |
 * | `<p>_placement`   | `svc.<serviceId>`          | {@link PlacementService} | each placing service    |
 *
 * A lease is an entry its holder rewrites (compare-and-set on its revision) every `leaseMs / 3`;
 * an entry whose revision has not moved for `leaseMs` has lapsed and may be taken over, again by
 * compare-and-set, so exactly one service wins it.
 */
import { z } from "zod";

/** Default lease of a claim: renewed every third of it, taken over once it has lapsed. */
export const DEFAULT_PLACEMENT_LEASE_MS = 15_000;

const name = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - (at most 64)");
const labels = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "label keys: letters, digits, _ and -"), z.string().max(200));

/** The desired-state bucket: `<prefix>_projects`. */
export function projectsBucket(prefix: string): string {
  return `${prefix.replaceAll(".", "_")}_projects`;
}

/** The lease bucket: `<prefix>_placement`. */
export function placementBucket(prefix: string): string {
  return `${prefix.replaceAll(".", "_")}_placement`;
}

/** Lease key of one replica of a project. */
export function claimKey(project: string, replica: number): string {
  return `claim.${project}.${replica}`;
}

/** Presence key of one placing service. */
export function serviceKey(serviceId: string): string {
  return `svc.${serviceId}`;
}

/** What an operator wants run: a project's start request (as `workersvc.<id>.start` takes it), its replica count and placement constraint. */
export const ProjectPlacement = z
  .object({
    v: z.literal(1).default(1),
    project: name,
    queue: z.string().min(1).max(200),
    /** A path or package name on the services' machines. Exactly one of module / fromStore. */
    module: z.string().min(1).optional(),
    /** Load the queue's deployed bundle (docs/deploy.md), `codeVersion` or the current one. */
    fromStore: z.boolean().optional(),
    codeVersion: z.string().min(1).max(200).optional(),
    concurrency: z.number().int().min(1).max(100_000).optional(),
    /** Worker labels, as the start request takes them (label routing of tasks). */
    labels: labels.optional(),
    watch: z.boolean().optional(),
    /** How many services run the project, at most one replica per service. */
    replicas: z.number().int().min(0).max(64).default(1),
    /** Labels a service must have (every key with this value) to run the project. */
    requires: labels.default({}),
  })
  .strict()
  .refine((r) => (r.module === undefined) === (r.fromStore === true), {
    message: "give exactly one of module and fromStore: true",
    path: ["module"],
  });
/** What an operator wants run. */
export type ProjectPlacement = z.output<typeof ProjectPlacement>;

/** A service's lease on one replica of a project. */
export const PlacementClaim = z.object({
  project: name,
  replica: z.number().int().min(0),
  serviceId: name,
  /** Revision of the desired-state entry the holder runs. */
  specRevision: z.number().int().min(0),
  /** The project's status on the holder (`running`, `restarting`, `failed` …) at the last renewal. */
  status: z.string(),
  error: z.string().nullable().default(null),
  leaseMs: z.number().int().positive(),
  renewedAt: z.string(),
});
/** A service's lease on one replica of a project. */
export type PlacementClaim = z.output<typeof PlacementClaim>;

/** A placing service's presence: who may be chosen for a free replica. */
export const PlacementService = z.object({
  serviceId: name,
  labels,
  leaseMs: z.number().int().positive(),
  renewedAt: z.string(),
});
/** A placing service's presence. */
export type PlacementService = z.output<typeof PlacementService>;

/** True when `have` carries every label of `required` with the same value. */
export function satisfies(have: Record<string, string>, required: Record<string, string>): boolean {
  return Object.entries(required).every(([k, v]) => have[k] === v);
}
