/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentProcess } from '../../test/e2e/agents.ts';
import { startStack, type Stack } from '../../test/e2e/stack.ts';
import { connectDevWallet, launch, openPage, PHONE } from './browser.ts';

/**
 * The Chat page in Debian's Chromium against the `npm start` stack (no chain: the faucet credits
 * the ledger), with three `doug-agent` processes each holding one stage of the shipped model.
 */
let stack: Stack;
let browser: Browser;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ chain: false });
  for (const hold of [0, 1, 2]) {
    agents.push(await startAgent({ url: stack.url, dir: stack.dir, name: `chat-${hold}`, market: 'cpu', price: '0.001', args: ['--chat-model', 'examples/chat', '--stages', '3', '--hold', String(hold)] }));
  }
  await eventually(async () => {
    const body = (await (await fetch(`${stack.url}/v1/models`)).json()) as { data: { id: string }[] };
    return body.data.some((m) => m.id === 'doug-austen');
  }, 'the model to be servable', 60_000, () => agents.map((a) => a.log()).join('\n'));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await stack?.stop();
});

describe('the Chat page', () => {
  it('makes a chat key, streams a reply through three agents, and shows the route and the cost, on a desktop and a phone', async () => {
    for (const viewport of [undefined, PHONE]) {
      const w = await openPage(browser, stack.url, viewport);
      const { page } = w;
      await page.goto('/account');
      await connectDevWallet(page);
      await page.getByTestId('faucet-amount').fill('5');
      await page.getByTestId('faucet-submit').click();
      await expect.poll(async () => page.getByTestId('balance-available').innerText(), { timeout: 20_000 }).toMatch(/5/);
      await page.goto('/chat');
      await page.getByTestId('chat-make-key').click();
      await page.getByTestId('chat-input').fill('It is a truth universally acknowledged');
      await page.getByTestId('chat-send').click();
      await expect.poll(async () => page.getByTestId('chat-cost').innerText().catch(() => ''), { timeout: 20_000 }).toMatch(/prompt \+ \d+ completion tokens · cost [0-9.]+ DOUG/);
      const reply = await page.locator('.turn.assistant').innerText();
      expect(reply.split(/\s+/).length).toBeGreaterThan(5);
      const rows = await page.getByTestId('chat-route').locator('tbody tr').allInnerTexts();
      expect(rows.map((r) => r.split('\t')[1])).toEqual(['0–1', '2–3', '4–5']);
      if (viewport) expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
      // The key the page made is listed with what it spent; revoking it asks for a new one.
      const row = page.getByTestId('chat-keys').locator('tbody tr').first();
      await expect.poll(async () => row.innerText()).toMatch(/portal chat\s+0\.0\d+ of 1 DOUG/);
      await w.shot(viewport ? 'phone-chat' : 'chat');
      await row.getByTestId('chat-revoke').click();
      await page.getByTestId('chat-make-key').waitFor();
      await expect.poll(async () => row.innerText()).toMatch(/revoked/);
      expect(w.problems()).toEqual([]);
      await w.close();
    }
  });
});
