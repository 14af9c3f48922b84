/**
 * Label routing by subject. A task requiring labels is published on its own subject
 * `<p>.tasks.<queue>.<codeVersion>.<labelKey>` and pulled through its own durable consumer
 * `tasks-<queue>~~<codeVersion>~~<labelKey>`, so it is only ever delivered to workers that can run
 * it: a worker pulls from the consumers of the label sets its own labels satisfy (every subset of
 * them, the empty set being the unlabelled consumer `tasks-<queue>~~<codeVersion>`). No delivery
 * is spent on a refusal, so the delivery count (the attempt number) counts executions.
 *
 * `labelKey` is canonical and injective: the required labels sorted by key, each key and value
 * {@link encodeToken}-encoded, joined as `k~~v~~k~~v`. An encoded token never holds `~~` (every
 * `~` is followed by two hex digits), so splitting on `~~` recovers queue, version and the pairs.
 * Unlabelled tasks keep the subject and consumer they always had.
 *
 * Priority bands (priority.ts) split each label set once more: a high or low task gets the suffix
 * `.high` / `.low` on its subject and `~~high` / `~~low` on its consumer name; the normal band keeps
 * the names above. A band token holds no `~~` and a label key always does (`k~~v`), and a consumer
 * name has an even number of `~~`-separated parts without a band and an odd one with it, so the
 * names stay injective.
 *
 * Shared by the adapters and the worker SDK (which may not import adapters).
 */
import { ProtocolError } from "./protocol-error.js";
import { encodeToken } from "./tokens.js";
import type { PriorityBand } from "./priority.js";

/** Labels a task requires or a worker has. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Most label subsets a worker pulls from by default: a worker with n labels serves 2^n label sets,
 * so more than 6 labels (64 consumers) needs an explicit list of the label sets it serves.
 */
export const MAX_LABEL_SUBSETS = 64;

/**
 * The canonical token of a required label set, or null for none (the unlabelled subject).
 * @throws ProtocolError for an empty key or value (a subject token cannot be empty).
 */
export function labelKey(labels: Labels | undefined): string | null {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return null;
  return keys.map((k) => `${encodeToken(k, "label key")}~~${encodeToken(labels![k]!, `label ${k}`)}`).join("~~");
}

/** Durable name of the task consumer of (queue, codeVersion, required labels, priority band). */
export function taskConsumerName(queue: string, codeVersion: string, requiredLabels?: Labels, band: PriorityBand = "normal"): string {
  const base = `tasks-${encodeToken(queue, "queue")}~~${encodeToken(codeVersion, "codeVersion")}`;
  const key = labelKey(requiredLabels);
  const labelled = key === null ? base : `${base}~~${key}`;
  return band === "normal" ? labelled : `${labelled}~~${band}`;
}

/** Suffix of the task subject for `requiredLabels` and `band`: `""` for none and normal, else `.<labelKey>` then `.<band>`. */
export function labelSubjectSuffix(requiredLabels: Labels | undefined, band: PriorityBand = "normal"): string {
  const key = labelKey(requiredLabels);
  return `${key === null ? "" : `.${key}`}${band === "normal" ? "" : `.${band}`}`;
}

/**
 * Every label set `labels` satisfies (all its subsets, the empty one first, then by size), i.e.
 * the label sets whose tasks a worker with these labels may run.
 * @throws ProtocolError when there are more than {@link MAX_LABEL_SUBSETS}.
 */
export function labelSubsets(labels: Labels): Record<string, string>[] {
  const keys = Object.keys(labels).sort();
  const n = 2 ** keys.length;
  if (n > MAX_LABEL_SUBSETS) {
    throw new ProtocolError(
      `a worker with ${keys.length} labels would pull from ${n} label sets (at most ${MAX_LABEL_SUBSETS}); list the label sets it serves explicitly`,
      [{ path: "labels", message: `more than ${Math.log2(MAX_LABEL_SUBSETS)} labels` }],
    );
  }
  const sets: Record<string, string>[] = [];
  for (let mask = 0; mask < n; mask++) {
    sets.push(Object.fromEntries(keys.filter((_, i) => mask & (1 << i)).map((k) => [k, labels[k]!])));
  }
  return sets.sort((a, b) => Object.keys(a).length - Object.keys(b).length);
}
