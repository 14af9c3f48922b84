/**
 * Placement agent of a worker service (`serve --placement`): watches the desired state in
 * `<p>_projects`, takes leases on project replicas in `<p>_placement` and runs what it holds.
 *
 * Leases: a held claim is rewritten (compare-and-set on its revision) every `leaseMs / 3`; a claim
 * whose revision has not moved for `leaseMs`, as this service observes it on its own clock, has
 * lapsed and is taken over by compare-and-set. A holder that loses its claim (the compare-and-set
 * fails: someone took it over) or cannot renew it for `leaseMs` (partitioned: others take it now)
 * stops that project. KV watches make it react at once; the renewal tick reconciles as well, so a
 * missed watch event costs at most one tick.
 */
import { Kvm, KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import {
  DEFAULT_PLACEMENT_LEASE_MS,
  PlacementClaim,
  PlacementService,
  ProjectPlacement,
  claimKey,
  placementBucket,
  projectsBucket,
  serviceKey,
} from "../src/contract/placement.js";
import { callback, parseOptions, withMethods } from "../src/contract/options.js";
import type { WsProjectStatus, WsStartRequest } from "../src/contract/worker-service.js";
import type { WorkerLogger } from "./logger.js";
import { planPlacement, type ClaimView, type ServiceView, type SpecView } from "./placement-plan.js";

/** Defaults of the placement agent. */
export const PLACEMENT_DEFAULTS = Object.freeze({ leaseMs: DEFAULT_PLACEMENT_LEASE_MS, labels: {}, requestTimeoutMs: 5_000 });

/** What the agent needs of its worker service. */
export interface PlacementHost {
  /** Starts (or keeps) a project; rejects when the request is refused. */
  start(req: WsStartRequest): Promise<void>;
  stop(project: string): Promise<void>;
  status(project: string): WsProjectStatus | null;
}

const Options = z.object({
  nc: withMethods<NatsConnection>("a NatsConnection", "request", "subscribe"),
  prefix: z.string().min(1),
  serviceId: z.string().min(1),
  labels: z.record(z.string(), z.string()).default(PLACEMENT_DEFAULTS.labels),
  leaseMs: z.number().int().min(300).default(PLACEMENT_DEFAULTS.leaseMs),
  requestTimeoutMs: z.number().int().positive().default(PLACEMENT_DEFAULTS.requestTimeoutMs),
  host: withMethods<PlacementHost>("a placement host", "start", "stop", "status"),
  logger: withMethods<WorkerLogger>("a logger", "info", "warn", "error"),
  onChange: callback<() => void>().optional(),
});
/** Options of {@link startPlacement}; defaults in {@link PLACEMENT_DEFAULTS}. */
export interface PlacementOptions {
  nc: NatsConnection;
  /** Subject prefix: the buckets are `<prefix>_projects` and `<prefix>_placement`. */
  prefix: string;
  serviceId: string;
  /** This service's labels: it only takes projects whose `requires` they satisfy. */
  labels?: Record<string, string>;
  /** Claims are renewed every third of it and taken over by others once lapsed. */
  leaseMs?: number;
  /** Bound on each renewal. */
  requestTimeoutMs?: number;
  host: PlacementHost;
  logger: WorkerLogger;
  /** Called after a placed project was started or stopped. */
  onChange?: () => void;
}

/** A running placement agent. */
export interface PlacementAgent {
  /** Keys of the claims this service holds. */
  held(): string[];
  /** Releases every claim at once (others take the projects now), then stops the placed projects. */
  stop(): Promise<void>;
}

interface Held {
  project: string;
  replica: number;
  revision: number;
  lastRenewed: number;
}

const isCasFailure = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** A start request with its defaults spelt out, so records that differ only in spelling compare equal. */
function startKey(r: WsStartRequest): string {
  const labels = Object.fromEntries(Object.entries(r.labels ?? {}).sort(([a], [b]) => a.localeCompare(b)));
  const { project, queue, module, fromStore, codeVersion } = r;
  return JSON.stringify({
    project,
    queue,
    module,
    fromStore: fromStore ?? false,
    codeVersion,
    concurrency: r.concurrency ?? 1,
    labels,
    watch: r.watch ?? true,
  });
}

/** Opens (creating when missing) the two placement buckets. */
export async function openPlacementBuckets(nc: NatsConnection, prefix: string): Promise<{ projects: KV; placement: KV }> {
  const kvm = new Kvm(nc);
  return {
    projects: await kvm.create(projectsBucket(prefix), { history: 1 }),
    placement: await kvm.create(placementBucket(prefix), { history: 1 }),
  };
}

/** Every live entry of a bucket (deleted keys left out), each read once. */
export async function readBucket(kv: KV): Promise<KvEntry[]> {
  // A key rewritten while the listing runs (a service renewing its claim) comes back a second
  // time; listed twice, one running replica showed as two (`0:pb(running) 0:pb(running)`, 3/2).
  const keys = new Set<string>();
  for await (const k of await kv.keys()) keys.add(k);
  const entries = await Promise.all([...keys].map((k) => kv.get(k)));
  return entries.filter((e): e is KvEntry => e !== null && e.operation === "PUT");
}

/** Starts placing: presence, watches, the renewal tick. */
export async function startPlacement(options: PlacementOptions): Promise<PlacementAgent> {
  const o = parseOptions("placement", Options, options);
  const log = o.logger;
  const { projects, placement } = await openPlacementBuckets(o.nc, o.prefix);
  const held = new Map<string, Held>();
  /** Placed projects running here, with the desired-state revision they were started from. */
  const running = new Map<string, { specRevision: number; start: string; error: string | null }>();
  const specs = new Map<string, SpecView>();
  /** Local observation of every lease key: its revision and when that revision was first seen. */
  const seen = new Map<string, { revision: number; at: number }>();
  const freeSince = new Map<string, number>();
  const tasks = new Set<Promise<unknown>>();
  const holderOf = new Map<string, string>();
  let stopped = false;
  let reconciling: Promise<void> | null = null;
  let again = false;
  const now = () => performance.now();
  /** Start/stop of one project run one after another, so a stop never overtakes a start in progress. */
  const lanes = new Map<string, Promise<void>>();
  const inLane = (project: string, fn: () => Promise<void>): Promise<void> => {
    const next = (lanes.get(project) ?? Promise.resolve()).then(fn);
    lanes.set(project, next);
    void next.finally(() => lanes.get(project) === next && lanes.delete(project));
    return track(next);
  };
  const holds = (project: string) => [...held.values()].some((h) => h.project === project);
  const track = <T>(p: Promise<T>): Promise<T> => {
    tasks.add(p);
    void p.finally(() => tasks.delete(p)).catch(() => undefined);
    return p;
  };

  const claimValue = (h: Held): string => {
    const st = o.host.status(h.project);
    const r = running.get(h.project);
    return JSON.stringify(
      PlacementClaim.parse({
        project: h.project,
        replica: h.replica,
        serviceId: o.serviceId,
        specRevision: r?.specRevision ?? specs.get(h.project)?.revision ?? 0,
        status: r?.error ? "refused" : (st?.status ?? "starting"),
        error: r?.error ?? st?.lastError?.message ?? null,
        leaseMs: o.leaseMs,
        renewedAt: new Date().toISOString(),
      }),
    );
  };
  const presence = () =>
    JSON.stringify(
      PlacementService.parse({ serviceId: o.serviceId, labels: o.labels, leaseMs: o.leaseMs, renewedAt: new Date().toISOString() }),
    );

  /** Forgets a claim; stops its project unless another held claim still wants it. */
  const drop = (key: string, why: string): void => {
    const h = held.get(key);
    if (!h) return;
    held.delete(key);
    log.warn({ project: h.project, replica: h.replica, key }, `placement: ${why}; stopping the project here`);
    if (!holds(h.project)) void stopProject(h.project);
  };

  const stopProject = (project: string): Promise<void> =>
    inLane(project, async () => {
      if (holds(project) || !running.has(project)) return;
      running.delete(project);
      await o.host.stop(project).catch((err: unknown) => log.error({ project, err: String(err) }, "placement: stopping a project failed"));
      o.onChange?.();
    });

  /** Starts a held project, or restarts it when its desired state changed. */
  const ensureRunning = (project: string): Promise<void> => inLane(project, () => startHeld(project));
  const startHeld = async (project: string): Promise<void> => {
    const s = specs.get(project);
    if (!s || stopped || !holds(project)) return;
    const r = running.get(project);
    const { v: _v, replicas: _r, requires: _q, ...start } = s.spec;
    const same = r?.start === startKey(start);
    // Only a changed start request restarts a running project (not replicas or requires). One stopped by a
    // `worker-service stop` request is started again: the desired state says it runs here.
    // A refused start is retried only on a new record.
    if (r && same && (r.error !== null ? r.specRevision === s.revision : o.host.status(project) !== null)) {
      r.specRevision = s.revision;
      return;
    }
    if (r && o.host.status(project)) await o.host.stop(project);
    running.set(project, { specRevision: s.revision, start: startKey(start), error: null });
    try {
      await o.host.start(start);
      log.info({ project, specRevision: s.revision }, "placement: project started here");
    } catch (err) {
      // Kept (the spec is wrong everywhere, moving it would not help): the claim shows why.
      const cur = running.get(project);
      if (cur?.specRevision === s.revision) cur.error = (err as Error).message;
      log.error({ project, err: (err as Error).message }, "placement: the project's start was refused");
    }
    o.onChange?.();
  };

  let renewing = false;
  /** One renewal at a time: two would race on the same revision and the loser would think its claim taken. */
  const renew = async (): Promise<void> => {
    if (renewing) return;
    renewing = true;
    try {
      await renewOnce();
    } finally {
      renewing = false;
    }
  };
  const renewOnce = async (): Promise<void> => {
    await placement
      .put(serviceKey(o.serviceId), presence(), { timeout: o.requestTimeoutMs })
      .catch((err: unknown) => log.warn({ err: String(err) }, "placement: presence not renewed"));
    await Promise.all(
      [...held].map(async ([key, h]) => {
        try {
          h.revision = await placement.update(key, claimValue(h), h.revision, o.requestTimeoutMs);
          h.lastRenewed = now();
        } catch (err) {
          if (stopped || held.get(key) !== h) return;
          if (isCasFailure(err)) return drop(key, "the claim was taken over");
          // Partitioned: after a whole lease the others may have taken it, so this copy must stop.
          if (now() - h.lastRenewed >= o.leaseMs) return drop(key, `the claim could not be renewed for ${o.leaseMs} ms`);
          log.warn({ key, err: String(err) }, "placement: claim not renewed; retrying at the next tick");
        }
      }),
    );
  };

  const reconcileOnce = async (): Promise<void> => {
    const t = now();
    specs.clear();
    for (const e of await readBucket(projects)) {
      const r = ProjectPlacement.safeParse(e.json());
      if (r.success && r.data.project === e.key) specs.set(e.key, { spec: r.data, revision: e.revision });
      else log.error({ key: e.key }, "placement: ignoring an invalid desired-state entry");
    }
    const claims: ClaimView[] = [];
    const services: ServiceView[] = [];
    const live = new Set<string>();
    for (const e of await readBucket(placement)) {
      live.add(e.key);
      const prev = seen.get(e.key);
      if (!prev || prev.revision !== e.revision) seen.set(e.key, { revision: e.revision, at: t });
      const lapsed = t - seen.get(e.key)!.at >= o.leaseMs;
      if (e.key.startsWith("claim.")) {
        const c = PlacementClaim.safeParse(e.json());
        if (!c.success) continue;
        const mine = held.get(e.key);
        // Revisions only grow: a newer one is another writer's; an older one is a read that a renewal overtook.
        if (mine && e.revision > mine.revision) drop(e.key, "the claim was taken over");
        claims.push({ key: e.key, ...c.data, revision: e.revision, lapsed: mine ? false : lapsed });
      } else if (e.key.startsWith("svc.")) {
        const s = PlacementService.safeParse(e.json());
        if (s.success && (!lapsed || s.data.serviceId === o.serviceId)) services.push(s.data);
      }
    }
    for (const key of [...seen.keys()]) if (!live.has(key)) seen.delete(key);
    for (const key of [...held.keys()]) if (!live.has(key)) drop(key, "the claim was deleted");

    const freeForMs = new Map<string, number>();
    for (const [project, { spec }] of specs)
      for (let i = 0; i < spec.replicas; i++) {
        const key = claimKey(project, i);
        const c = claims.find((x) => x.key === key);
        if (c && !c.lapsed) freeSince.delete(key);
        else {
          if (!freeSince.has(key)) freeSince.set(key, t);
          freeForMs.set(key, t - freeSince.get(key)!);
        }
      }

    const plan = planPlacement({
      self: { serviceId: o.serviceId, labels: o.labels },
      specs,
      services,
      claims,
      freeForMs,
      leaseMs: o.leaseMs,
    });
    for (const r of plan.release) {
      const h = held.get(r.key);
      held.delete(r.key);
      await placement
        .delete(r.key, { previousSeq: h?.revision ?? r.revision })
        .catch((err: unknown) => log.warn({ key: r.key, err: String(err) }, "placement: release failed"));
      if (h) await stopProject(h.project);
    }
    for (const p of plan.purge)
      await placement
        .delete(p.key, { previousSeq: p.revision })
        .catch((err: unknown) => log.debug({ key: p.key, err: String(err) }, "placement: stale claim already gone"));
    for (const c of plan.claim) {
      if (stopped) return;
      const h: Held = { project: c.project, replica: c.replica, revision: 0, lastRenewed: now() };
      try {
        h.revision =
          c.revision === 0 ? await placement.create(c.key, claimValue(h)) : await placement.update(c.key, claimValue(h), c.revision);
      } catch (err) {
        if (!isCasFailure(err)) log.warn({ key: c.key, err: String(err) }, "placement: claim failed");
        continue; // another service was faster: the watch brings its claim
      }
      held.set(c.key, h);
      freeSince.delete(c.key);
      log.info({ project: c.project, replica: c.replica }, "placement: claimed");
    }
    // Held projects run here on their current desired state; anything else placed here stops.
    for (const project of new Set([...held.values()].map((h) => h.project))) void ensureRunning(project);
    for (const project of [...running.keys()]) void stopProject(project);
  };

  /** Runs a reconcile now, or once more after the one in progress. */
  const reconcile = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (reconciling) {
      again = true;
      return reconciling;
    }
    reconciling = (async () => {
      do {
        again = false;
        await reconcileOnce().catch((err: unknown) =>
          log.warn({ err: String(err) }, "placement: reconcile failed; retrying at the next tick"),
        );
      } while (again && !stopped);
    })().finally(() => (reconciling = null));
    return reconciling;
  };

  const watchers = await Promise.all([
    projects.watch({ include: KvWatchInclude.UpdatesOnly }),
    placement.watch({ include: KvWatchInclude.UpdatesOnly }),
  ]);
  const watching = watchers.map((w, i) =>
    (async () => {
      for await (const e of w) {
        if (stopped) break;
        // Renewals rewrite claims constantly: only a new holder, a deletion or any desired-state change matters.
        const holder = e.operation === "PUT" ? ((e.json() as { serviceId?: string }).serviceId ?? "") : "";
        if (i === 1 && e.operation === "PUT" && holderOf.get(e.key) === holder) continue;
        holderOf.set(e.key, holder);
        void reconcile();
      }
    })().catch((err: unknown) => log.warn({ err: String(err) }, "placement: a watch ended; the tick keeps reconciling")),
  );

  await renew();
  await reconcile();
  const timer = setInterval(() => void track(renew().then(reconcile)), Math.floor(o.leaseMs / 3));
  log.info({ leaseMs: o.leaseMs, labels: o.labels }, "placement: placing projects");

  return {
    held: () => [...held.keys()],
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      for (const w of watchers) w.stop();
      await Promise.all(watching);
      await reconciling;
      await Promise.allSettled([...tasks]);
      // Released first, so other services start the projects while these drain.
      const mine = [...held];
      held.clear();
      await Promise.all([
        ...mine.map(([key, h]) =>
          placement
            .delete(key, { previousSeq: h.revision })
            .catch((err: unknown) => log.warn({ key, err: String(err) }, "placement: release failed")),
        ),
        placement
          .delete(serviceKey(o.serviceId))
          .catch((err: unknown) => log.warn({ err: String(err) }, "placement: presence not removed; it lapses")),
      ]);
      await Promise.all([...running.keys()].map((p) => stopProject(p)));
      await Promise.allSettled([...tasks]);
      log.info({ released: mine.length }, "placement: stopped; claims released");
    },
  };
}
