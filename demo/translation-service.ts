/**
 * A stand-in for an external batch API (think OpenAI/Anthropic batch, a transcoding farm): jobs
 * are submitted, finish after `latencyMs`, and are polled by id. It "translates" to Pig Latin so
 * the demo output is deterministic and easy to check. A real deployment swaps this for an HTTP
 * client; the async-batch stage does not change.
 */
export interface TranslationService {
  submit(texts: string[], language: string): Promise<string>;
  status(batchId: string): Promise<{ state: "running" } | { state: "done"; translations: string[] } | { state: "unknown" }>;
}

export function createTranslationService(opts: { latencyMs?: number; now?: () => number } = {}): TranslationService {
  const latencyMs = opts.latencyMs ?? 150;
  const now = opts.now ?? Date.now;
  const batches = new Map<string, { readyAt: number; translations: string[] }>();
  let n = 0;
  return {
    async submit(texts, language) {
      if (language !== "pig-latin") throw new Error(`unsupported language "${language}"`);
      const id = `batch-${++n}`;
      batches.set(id, { readyAt: now() + latencyMs, translations: texts.map(toPigLatin) });
      return id;
    },
    async status(batchId) {
      const b = batches.get(batchId);
      if (!b) return { state: "unknown" };
      return now() >= b.readyAt ? { state: "done", translations: b.translations } : { state: "running" };
    },
  };
}

function toPigLatin(text: string): string {
  return text.replace(/[A-Za-z]+/g, (word) => {
    const lower = word.toLowerCase();
    const m = /^([^aeiou]*)(.*)$/.exec(lower)!;
    const out = m[1] === "" ? `${lower}way` : `${m[2]}${m[1]}ay`;
    return word[0] === word[0]!.toUpperCase() ? out[0]!.toUpperCase() + out.slice(1) : out;
  });
}
