import { existsSync } from 'node:fs';
import { CHROMIUM } from './browser.ts';

/**
 * Before any stack starts: without a Chromium the browser tests fail at once, with one line saying
 * how to get one (playwright-core never downloads a browser).
 */
export default function checkChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const hint = process.env.CHROMIUM
    ? `CHROMIUM=${CHROMIUM} names no file; point it at a Chromium or Chrome binary, or unset it to use Debian's (sudo apt-get install chromium)`
    : `the browser tests need Chromium at ${CHROMIUM}: sudo apt-get install chromium (or CHROMIUM=/path/to/chromium npm run test:browser to use another)`;
  process.stderr.write(`${hint}\n`);
  process.exit(1);
}
