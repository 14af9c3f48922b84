/**
 * The part URLs of one multipart upload, asked of the broker a page at a time. A reply carries
 * at most a page of URLs (so it stays far below NATS's max_payload however many parts there are),
 * the next page is asked for while the current one uploads, and a URL near its expiry is never
 * used: its page is asked for again, so an upload may run far longer than one URL lives.
 */
import { ArtifactTransferError } from "./errors.js";

/** One part's URL, signed for exactly `size` bytes until `expiresAt` (epoch ms). */
export interface PartUrl {
  partNumber: number;
  url: string;
  size: number;
  expiresAt: number;
  /** Not started once fewer than this many ms of its life are left. */
  marginMs: number;
}

/** A page of part URLs as the broker answered it. */
export interface PartPage {
  parts: { partNumber: number; url: string; size?: number | undefined }[];
  /** ISO instant the page's URLs stop working. */
  expiresAt?: string | undefined;
}

/** Longest margin before expiry at which a URL is no longer started (S3 checks expiry when a request starts). */
export const REFRESH_MARGIN_MAX_MS = 60_000;
/** Fraction of a URL's lifetime kept as margin when the lifetime is short. */
const REFRESH_MARGIN_FRACTION = 0.2;

export interface PartUrlsOptions {
  /** Parts in the whole upload. */
  partCount: number;
  /** Part URLs to ask for per page. */
  pageSize: number;
  /** Asks the broker for URLs of parts `from`, `from + 1`, … (it may answer fewer than `count`). */
  fetchPage: (from: number, count: number) => Promise<PartPage>;
  /** Epoch ms; a fake clock in tests. */
  now: () => number;
}

/** Hands out fresh part URLs in any order, fetching pages ahead of need. */
export class PartUrls {
  private readonly cache = new Map<number, PartUrl>();
  /** Pages being fetched, by first part number, with the last part number they cover. */
  private readonly loading = new Map<number, { last: number; done: Promise<void> }>();
  /** Highest part number fetched or being fetched: where the next prefetch starts. */
  private ahead = 0;
  /** Pages asked for so far (for tests and logs). */
  pagesFetched = 0;

  constructor(private readonly o: PartUrlsOptions) {}

  /** Stores the first page (the multipart reply's). */
  seed(page: PartPage): void {
    this.store(page, this.o.now());
  }

  /**
   * A URL for `partNumber` that is not near its expiry, fetching (again) when needed, and starts
   * fetching the next page once the parts held ahead run short. `fresh` refuses the cached URL
   * (the store answered it as expired).
   */
  async take(partNumber: number, fresh = false): Promise<PartUrl> {
    if (fresh) this.cache.delete(partNumber);
    for (let tries = 0; tries < 3; tries++) {
      const got = this.cache.get(partNumber);
      if (got && this.usable(got)) {
        this.cache.delete(partNumber);
        this.prefetch(partNumber);
        return got;
      }
      if (got) this.cache.delete(partNumber);
      await this.load(partNumber);
    }
    throw new ArtifactTransferError(`the broker answered no usable URL for part ${partNumber} after 3 page requests`);
  }

  private usable(p: PartUrl): boolean {
    return p.expiresAt - this.o.now() > p.marginMs;
  }

  private load(from: number): Promise<void> {
    for (const [first, l] of this.loading) if (from >= first && from <= l.last) return l.done;
    const count = Math.min(this.o.pageSize, this.o.partCount - from + 1);
    const asked = this.o.now();
    const done = this.o.fetchPage(from, count).then(
      (page) => {
        this.loading.delete(from);
        this.pagesFetched++;
        this.store(page, asked);
        // A page cut short (the broker keeps replies small): the rest is fetched as the next page.
        const answered = Math.max(0, ...page.parts.map((p) => p.partNumber));
        if (answered < from + count - 1) {
          this.ahead = Math.max(answered, ...[...this.loading.values()].map((l) => l.last), ...this.cache.keys());
        }
        if (!page.parts.some((p) => p.partNumber === from)) {
          throw new ArtifactTransferError(`the broker's page of part URLs from part ${from} does not hold part ${from}`);
        }
      },
      (err: unknown) => {
        this.loading.delete(from);
        throw err;
      },
    );
    this.loading.set(from, { last: from + count - 1, done });
    this.ahead = Math.max(this.ahead, from + count - 1);
    return done;
  }

  /** Starts the next page once at most half a page of parts lies ahead of `partNumber`. */
  private prefetch(partNumber: number): void {
    const next = this.ahead + 1;
    if (next > this.o.partCount || this.ahead - partNumber > this.o.pageSize / 2) return;
    // A failed prefetch is not lost: take() asks for the page again and sees the error itself.
    this.load(next).catch(() => {});
  }

  private store(page: PartPage, askedAt: number): void {
    const expiresAt = page.expiresAt ? Date.parse(page.expiresAt) : Number.POSITIVE_INFINITY;
    // The margin scales with the lifetime the broker grants, so a short test expiry still leaves most of it usable.
    const lifetime = expiresAt - askedAt;
    const marginMs = Math.min(REFRESH_MARGIN_MAX_MS, Number.isFinite(lifetime) ? Math.max(0, lifetime) * REFRESH_MARGIN_FRACTION : 0);
    for (const p of page.parts) {
      if (p.partNumber < 1 || p.partNumber > this.o.partCount) {
        throw new ArtifactTransferError(`the broker signed part ${p.partNumber} of an upload of ${this.o.partCount} parts`);
      }
      this.cache.set(p.partNumber, { partNumber: p.partNumber, url: p.url, size: p.size ?? -1, expiresAt, marginMs });
      this.ahead = Math.max(this.ahead, p.partNumber);
    }
  }
}
