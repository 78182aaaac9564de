/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); CHROMIUM overrides the path. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(process.cwd(), 'test-output', 'browser');

// Without the background-networking flags Chromium keeps dialling Google's hosts, which this
// offline machine refuses.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 375, height: 780 };

/** A page that records every console error and uncaught exception, for `problems()`. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  problems: () => string[];
  shot: (name: string) => Promise<string>;
  close: () => Promise<void>;
}

export async function openPage(browser: Browser, baseURL: string, viewport = DESKTOP): Promise<WatchedPage> {
  const context = await browser.newContext({ baseURL, viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const seen: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') seen.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.push(`pageerror: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });
  return {
    page,
    context,
    // A 4xx the page asked for on purpose is shown to the user, but Chromium also logs the failed
    // fetch ("Failed to load resource"); those are expected, everything else is a defect.
    problems: () => seen.filter((s) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(s)),
    shot: async (name) => {
      const path = join(SHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    close: () => context.close(),
  };
}

/** Connects the local development wallet through the wallet dialog; returns the account key. */
export async function connectDevWallet(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  await page.locator('[data-wallet="development"]').click();
  await page.getByTestId('wallet-key').waitFor();
  const stored = await page.evaluate(() => localStorage.getItem('doug.session'));
  return (JSON.parse(stored ?? '{}') as { delegation?: { wallet?: string } }).delegation?.wallet ?? '';
}
