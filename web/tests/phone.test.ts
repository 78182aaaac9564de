/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { DougClient, type JobView } from '../../sdk/client.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { eventually, startAgent, type AgentProcess } from '../../test/e2e/agents.ts';
import { startStack, type Stack } from '../../test/e2e/stack.ts';
import { launch, openPage } from './browser.ts';

/**
 * The portal on a phone (390 × 844) with a job that lost an agent on the way: a 2-replica job matched
 * to an agent that went silent (SIGSTOP) is re-matched to a third and settles. Its page shows the
 * lapse and the re-match under Running, and no table there or on the market's page is cut off:
 * nothing pushes the page sideways, and every table either fits or scrolls inside its own box.
 */
const PHONE_390 = { width: 390, height: 844 };
const MARKETS = JSON.stringify([{ id: 'cpu', description: 'General-purpose CPU inference', params: { leaseMs: 6_000, replicaBidTtlMs: 30_000, challengeWindowMs: 5_000 } }]);
const PRICE = '0.001';

let stack: Stack;
let browser: Browser;
let buyer: DougClient;
const agents: AgentProcess[] = [];
let jobId = '';

async function agent(name: string): Promise<AgentProcess> {
  const a = await startAgent({ url: stack.url, dir: stack.dir, name, market: 'cpu', price: PRICE });
  agents.push(a);
  await eventually(async () => (await buyer.asks({ market: 'cpu', owner: a.key.publicKey })).items.length === 1, `${name}'s ask`, 60_000, a.log);
  return a;
}

beforeAll(async () => {
  stack = await startStack({ markets: MARKETS, chain: false });
  browser = await launch();
  const key = await generateKeypair();
  buyer = new DougClient({ baseUrl: stack.url, keypair: key });
  await faucetAndDeposit(buyer, key, 10n * UNITS_PER_DOUG);
  const model = await buyer.uploadModel(buildMlpModel({ inputSize: 8, hidden: 16, outputSize: 3, seed: 7 }));
  const x = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5, 1, 0]);
  const input = await buyer.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(x.buffer))]);

  // Two agents; the first goes silent (stopped, its socket still open) just before the bid matches both.
  const silent = await agent('silent');
  await agent('steady');
  process.kill(-silent.child.pid!, 'SIGSTOP');
  const bid = await buyer.placeBid({
    market: 'cpu',
    maxPrice: (2n * (UNITS_PER_DOUG / 1000n)).toString(),
    units: 1,
    replicas: 2,
    expiresAt: Date.now() + 120_000,
    job: { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null },
  });
  jobId = bid.order.id;
  await eventually(() => buyer.job(jobId).catch(() => null), 'the job', 30_000, stack.log);
  // The replacement provider arrives after the match: the lapsed replica can only go to it.
  await agent('spare');
  const events = (j: JobView) => ((j.timeline ?? []) as { event: string }[]).map((e) => e.event);
  const done = await eventually(
    async () => {
      const j = await buyer.job(jobId);
      return j.status === 'settled' || j.status === 'refunded' ? j : null;
    },
    'the job to end',
    90_000,
    () => agents.map((a) => a.log()).join('\n'),
  );
  expect(done.status, JSON.stringify({ refundReason: done.refundReason, timeline: done.timeline })).toBe('settled');
  expect(events(done)).toEqual(expect.arrayContaining(['LeaseExpired', 'ReplicaRematchRequested', 'ReplicaReassigned']));
}, 240_000);

afterAll(async () => {
  try {
    await browser?.close();
    for (const a of agents) {
      // The stopped agent cannot take a SIGINT; it goes with a SIGKILL.
      if (a.child.exitCode === null) process.kill(-a.child.pid!, 'SIGKILL');
    }
  } finally {
    await stack?.stop();
  }
}, 60_000);

/** For each table: whether it sits in a box that scrolls sideways, whether it fits that box unscrolled, and whether it or its box sticks out of the screen. */
function tableFit(): { testid: string; scrollBox: boolean; fits: boolean; pastViewport: boolean }[] {
  return Array.from(document.querySelectorAll('main table')).map((table) => {
    let box: Element | null = table.parentElement;
    while (box && box !== document.body && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
    const scrollBox = !!box && box !== document.body;
    const outer = (scrollBox ? box! : table).getBoundingClientRect();
    return {
      testid: table.getAttribute('data-testid') ?? '',
      scrollBox,
      fits: scrollBox ? box!.scrollWidth <= box!.clientWidth : true,
      pastViewport: outer.left < 0 || outer.right > document.documentElement.clientWidth + 0.5,
    };
  });
}

describe('the portal at 390 px', () => {
  it('shows the market and a re-matched job without cutting a table off', async () => {
    const w = await openPage(browser, stack.url, PHONE_390);
    const { page } = w;
    const pages = [
      { path: '/markets/cpu', ready: '[data-testid="trades-table"] tbody tr', key: 'trades-table', name: 'phone390-market' },
      { path: `/jobs/${jobId}`, ready: '[data-testid="job-replicas"] tbody tr', key: 'job-replicas', name: 'phone390-job' },
      { path: '/jobs', ready: 'main h1', key: '', name: 'phone390-jobs' },
    ];
    for (const p of pages) {
      await page.goto(p.path);
      await page.locator(p.ready).first().waitFor();
      const fit = await page.evaluate(tableFit);
      await w.shot(p.name);
      // Nothing pushes the page sideways,
      expect(await page.evaluate(() => document.documentElement.scrollWidth), p.path).toBeLessThanOrEqual(PHONE_390.width);
      // every table sits in the screen or in a box that scrolls inside it,
      for (const t of fit) expect(t.pastViewport, `${p.path} ${t.testid}`).toBe(false);
      // and the table the page is about shows all its columns without scrolling.
      if (p.key) expect(fit.find((t) => t.testid === p.key), `${p.path} ${p.key}`).toMatchObject({ scrollBox: true, fits: true });
    }

    // The job page tells the lapse and the re-match under Running, each with its time.
    await page.goto(`/jobs/${jobId}`);
    const running = page.locator('[data-testid="timeline-step"][data-step="running"]');
    await expect.poll(() => running.getByTestId('step-detail').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    const details = await running.getByTestId('step-detail').evaluateAll((els) => els.map((e) => ({ kind: e.getAttribute('data-kind'), text: (e as HTMLElement).innerText })));
    expect(details.map((d) => d.kind)).toEqual(expect.arrayContaining([expect.stringMatching(/^(lapsed|not-started)$/), 'rematched']));
    expect(details.find((d) => d.kind === 'rematched')?.text).toMatch(/^\d{1,2}:\d{2}:\d{2}.*Replica #\d was re-matched to \w{4}…\w{4}\.$/s);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE_390.width);
    await w.shot('phone390-job-timeline');
    expect(w.problems()).toEqual([]);
    await w.close();
  });
});
