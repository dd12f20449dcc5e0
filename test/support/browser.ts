// Headless Chromium for tests that look at a page as a person would: Debian's Chromium (make
// chromium) driven by playwright-core, which downloads no browser of its own, with a fresh profile
// folder each time; the browser is always closed and the folder removed, whatever the test did.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * With no network but loopback, Chromium's own background connections (updates, sync, field
 * trials, QUIC probes) are refused many at a time and slow its start; these flags keep it to the
 * page. As root, Chromium refuses to start without --no-sandbox; there is no GPU.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserOptions {
  executablePath?: string;
  viewport?: { width: number; height: number };
}

/** Why a browser test cannot run here, or undefined when it can. */
export function browserMissing(executablePath = CHROMIUM): string | undefined {
  return existsSync(executablePath) ? undefined : `${executablePath} is not installed ('make chromium' installs it)`;
}

/** Runs `use` with a page of a freshly started Chromium; closes the browser and removes its profile after. */
export async function withBrowser<T>(use: (page: Page) => Promise<T>, options: BrowserOptions = {}): Promise<T> {
  const profile = await mkdtemp(path.join(tmpdir(), 'cortex-s2i-chromium-'));
  try {
    // A persistent context is how playwright takes a profile folder of ours (it refuses
    // --user-data-dir among the arguments); the folder is new and empty, so nothing persists.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: options.executablePath ?? CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: CHROMIUM_FLAGS,
      viewport: options.viewport ?? { width: 800, height: 600 },
      timeout: 60_000,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      return await use(page);
    } finally {
      await context.close();
    }
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
