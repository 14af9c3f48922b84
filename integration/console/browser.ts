/** A real Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for integration/console. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/** Where Debian installs Chromium (`apt-get install chromium`; .ci/run installs it when missing). */
export const CHROMIUM = process.env.JETFLOW_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Flags that keep a headless run offline, quiet and deterministic on a shared CI machine. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  downloads: string;
  close(): Promise<void>;
}

/** Launches Chromium on a fresh profile directory (removed on close). */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "jetflow-chromium-"));
  const downloads = join(profile, "downloads");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    downloadsPath: downloads,
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
  });
  return {
    context,
    downloads,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
