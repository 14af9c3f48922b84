/**
 * The operator side of placement (docs/worker-service.md, "Placement"): writes a project's desired
 * state to `<p>_projects` and reads it back next to the leases in `<p>_placement`, so `jetflow
 * projects list` shows the replicas asked for against the ones running, and where.
 */
import { openPlacementBuckets, readBucket } from "../../../worker-sdk/placement.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { ValidationError } from "../../../src/contract/errors.js";
import { issuesFromZod } from "../../../src/contract/validation.js";
import { PlacementClaim, PlacementService, ProjectPlacement } from "../../../src/contract/placement.js";

/** One replica of a project as the leases show it. */
export interface PlacedReplica {
  replica: number;
  serviceId: string;
  status: string;
  error: string | null;
  /** Not renewed for its lease period (by the server's write time): its holder is gone or cut off. */
  lapsed: boolean;
}

/** A project's desired state next to what runs. */
export interface ProjectPlacementStatus {
  spec: ProjectPlacement;
  revision: number;
  /** Replicas whose holder is live and reports the project `running`. */
  running: number;
  replicas: PlacedReplica[];
}

/** Everything `jetflow projects list` shows. */
export interface PlacementListing {
  projects: ProjectPlacementStatus[];
  services: { serviceId: string; labels: Record<string, string>; lapsed: boolean }[];
}

/**
 * Validates a project's desired state.
 * @throws ValidationError naming each bad field.
 */
export function parseProjectPlacement(input: unknown): ProjectPlacement {
  const r = ProjectPlacement.safeParse(input);
  if (!r.success) throw new ValidationError("invalid project placement", issuesFromZod(r.error));
  return r.data;
}

/**
 * Writes (creates or replaces) a project's desired state; returns the stored record.
 * @throws ValidationError naming each bad field.
 */
export async function setProjectPlacement(nc: NatsConnection, prefix: string, input: unknown): Promise<ProjectPlacement> {
  const spec = parseProjectPlacement(input);
  const { projects } = await openPlacementBuckets(nc, prefix);
  await projects.put(spec.project, JSON.stringify(spec));
  return spec;
}

/**
 * Removes a project's desired state: its holders stop it and release their claims.
 * @throws ValidationError when no such project is in the desired state.
 */
export async function removeProjectPlacement(nc: NatsConnection, prefix: string, project: string): Promise<void> {
  const { projects } = await openPlacementBuckets(nc, prefix);
  const e = await projects.get(project);
  if (!e || e.operation !== "PUT")
    throw new ValidationError("project removal", [{ path: "project", message: `no project "${project}" in the desired state` }]);
  await projects.delete(project, { previousSeq: e.revision });
}

/** The desired state and the leases, read once. */
export async function listPlacement(nc: NatsConnection, prefix: string, now = Date.now()): Promise<PlacementListing> {
  const { projects, placement } = await openPlacementBuckets(nc, prefix);
  const claims = new Map<string, PlacedReplica[]>();
  const services: PlacementListing["services"] = [];
  for (const e of await readBucket(placement)) {
    const age = now - e.created.getTime();
    if (e.key.startsWith("claim.")) {
      const c = PlacementClaim.safeParse(e.json());
      if (!c.success) continue;
      const list = claims.get(c.data.project) ?? [];
      list.push({
        replica: c.data.replica,
        serviceId: c.data.serviceId,
        status: c.data.status,
        error: c.data.error,
        lapsed: age > c.data.leaseMs,
      });
      claims.set(c.data.project, list);
    } else {
      const s = PlacementService.safeParse(e.json());
      if (s.success) services.push({ serviceId: s.data.serviceId, labels: s.data.labels, lapsed: age > s.data.leaseMs });
    }
  }
  const out: ProjectPlacementStatus[] = [];
  for (const e of await readBucket(projects)) {
    const r = ProjectPlacement.safeParse(e.json());
    if (!r.success) continue;
    const replicas = (claims.get(e.key) ?? []).sort((a, b) => a.replica - b.replica);
    out.push({ spec: r.data, revision: e.revision, running: replicas.filter((x) => !x.lapsed && x.status === "running").length, replicas });
  }
  out.sort((a, b) => a.spec.project.localeCompare(b.spec.project));
  services.sort((a, b) => a.serviceId.localeCompare(b.serviceId));
  return { projects: out, services };
}
