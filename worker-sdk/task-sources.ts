/**
 * The task consumers one worker pulls from: for each priority band (src/contract/priority.ts),
 * the unlabelled consumer of its (queue, version) and one per label set its labels satisfy
 * (src/contract/label-routing.ts). Bands are asked highest first (the {@link BandPicker} guards
 * against starvation); within a band label sets are taken in round-robin order so a backlog on one
 * label set cannot starve another.
 *
 * A label set nobody has required yet has no consumer, and nats-server 2.9 does not answer a
 * pull on a missing consumer at all (its JetStream API subscription swallows it, so there is no
 * "no responders" either): the pull just times out. Such a source is skipped for a while
 * (5 s, doubling up to 60 s) and then tried again, since the orchestrator creates the consumer
 * with the first task of the set.
 */
import { labelSubsets, taskConsumerName, type Labels } from "../src/contract/label-routing.js";
import { labelsSatisfy } from "../src/contract/tasks.js";
import type { Topology } from "../src/contract/topology.js";
import { BandPicker, PRIORITY_BANDS, type PriorityBand } from "../src/contract/priority.js";

/** One consumer a worker may pull from. */
export interface TaskSource {
  /** The label set its tasks require (`{}`: the unlabelled consumer). */
  readonly labels: Labels;
  readonly band: PriorityBand;
  readonly consumer: string;
  /** `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`. */
  readonly nextSubject: string;
}

interface State {
  source: TaskSource;
  /** performance.now() before which the source is skipped (it did not answer: no consumer yet). */
  skipUntil: number;
  /** Current skip after a missing answer; doubles each time, reset by an answer. */
  backoffMs: number;
  /** It answered a pull once: its consumer exists, so a slow answer is load, not absence. */
  answered: boolean;
  /** The worker's credential may not pull it: never asked again by this transport. */
  denied: boolean;
}

const FIRST_SKIP_MS = 5_000;
const MAX_SKIP_MS = 60_000;

/** Round-robin over the consumers of one worker's label sets, per priority band. */
export class TaskSources {
  private readonly states: State[];
  /** Per band: the label set whose consumer is asked first next time. */
  private readonly turns = new Map<PriorityBand, number>();
  /** Which band to ask first (highest, unless a lower one is starved). */
  readonly picker: BandPicker;

  /**
   * @param labelSets the label sets served; default every subset of `labels`.
   * @throws ProtocolError when `labels` has too many subsets, or RangeError when a listed set is not satisfied by `labels`.
   */
  constructor(
    topology: Topology,
    queue: string,
    codeVersion: string,
    labels: Labels,
    labelSets?: readonly Labels[],
    starvationLimit?: number,
  ) {
    this.picker = new BandPicker(starvationLimit);
    const sets = labelSets ? [{}, ...labelSets.filter((s) => Object.keys(s).length > 0)] : labelSubsets(labels);
    const unsatisfied = sets.find((s) => !labelsSatisfy(s, labels));
    if (unsatisfied) throw new RangeError(`label set ${JSON.stringify(unsatisfied)} is not satisfied by the worker's labels`);
    const byName = new Map<string, TaskSource>();
    for (const band of PRIORITY_BANDS) {
      for (const s of sets) {
        const consumer = taskConsumerName(queue, codeVersion, s, band);
        byName.set(consumer, {
          labels: s,
          band,
          consumer,
          nextSubject: `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${consumer}`,
        });
      }
    }
    this.states = [...byName.values()].map((source) => ({
      source,
      skipUntil: 0,
      backoffMs: FIRST_SKIP_MS,
      answered: false,
      denied: false,
    }));
  }

  /** More than one consumer: pulls are sliced and a silent one is skipped rather than an error. */
  get multiple(): boolean {
    return this.states.length > 1;
  }

  get all(): TaskSource[] {
    return this.states.map((s) => s.source);
  }

  /** Sources never heard from, not denied and not being skipped: first contact is still to be made. */
  unknown(now = performance.now()): TaskSource[] {
    return this.states.filter((s) => !s.answered && !s.denied && s.skipUntil <= now).map((s) => s.source);
  }

  /** Whether some permitted source has never answered (its consumer may be created any time). */
  get unsettled(): boolean {
    return this.states.some((s) => !s.answered && !s.denied);
  }

  /** Every source the credential has not been refused. */
  get permitted(): TaskSource[] {
    return this.states.filter((s) => !s.denied).map((s) => s.source);
  }

  /**
   * The credential may not pull `source` (issued for other label sets, or before priority bands):
   * it is skipped from now on. @returns whether every source is now denied (nothing left to pull).
   */
  denied(source: TaskSource): boolean {
    const s = this.state(source);
    s.denied = true;
    s.skipUntil = Number.POSITIVE_INFINITY;
    return this.states.every((x) => x.denied);
  }

  /** Sources of `band` not being skipped, starting at the band's current turn (which advances by one). */
  round(band: PriorityBand, now = performance.now()): TaskSource[] {
    const of = this.states.filter((s) => s.source.band === band);
    const turn = this.turns.get(band) ?? 0;
    this.turns.set(band, (turn + 1) % Math.max(1, of.length));
    return [...of.slice(turn), ...of.slice(0, turn)].filter((s) => s.skipUntil <= now).map((s) => s.source);
  }

  /** The source a delivery's consumer name belongs to. */
  byConsumer(consumer: string): TaskSource | undefined {
    return this.states.find((s) => s.source.consumer === consumer)?.source;
  }

  /** Milliseconds until a skipped source may be tried again (0 when one is ready now). */
  msUntilReady(now = performance.now()): number {
    return Math.max(0, Math.min(...this.states.map((s) => s.skipUntil)) - now);
  }

  /** The source answered: its consumer exists. */
  answered(source: TaskSource): void {
    const s = this.state(source);
    s.skipUntil = 0;
    s.backoffMs = FIRST_SKIP_MS;
    s.answered = true;
  }

  /** Whether `source` has answered a pull before (then the patient bound applies to its pulls). */
  known(source: TaskSource): boolean {
    return this.state(source).answered;
  }

  /**
   * The source did not answer a pull: skip it for a while (its label set has no consumer yet).
   * The other bands of its label set are skipped too unless known: they are created together.
   */
  silent(source: TaskSource, now = performance.now()): void {
    for (const s of this.states) {
      if (s.source !== source && (s.answered || labelSetId(s.source.labels) !== labelSetId(source.labels))) continue;
      if (s.skipUntil > now) continue; // already skipped by a silent sibling of the same round
      s.skipUntil = now + s.backoffMs;
      s.backoffMs = Math.min(MAX_SKIP_MS, s.backoffMs * 2);
    }
  }

  private state(source: TaskSource): State {
    return this.states.find((s) => s.source === source)!;
  }
}

function labelSetId(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}
