import { env as rawEnv } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { jobObject } from '../../durable-objects/runtime/objects.ts';
import type { PlacementObject } from '../../durable-objects/runtime/placement-object.ts';
import { tensorsDigest, toWire } from '../../durable-objects/contracts/tensors.ts';
import { DougApiError } from '../../sdk/client.ts';
import { DOUG, SPEC, refusal, until, wallet } from './helpers.ts';
import { LIMITS } from '../../durable-objects/domain/market/validate.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;

/**
 * Makes the next `times` calls that placement processes make to a market or job fail, as when
 * that object does not answer (the RPC throws at the caller). The object behind is untouched and
 * answers every later call. The fault wraps the placement class's one calling method.
 */
async function failNextPlacements(times: number): Promise<{ calls: () => number }> {
  let calls = 0;
  await runInDurableObject(env.PLACEMENTS.get(env.PLACEMENTS.idFromName('fault-injection')), (instance: PlacementObject) => {
    const proto = Object.getPrototypeOf(instance) as { call: (step: { type: string }) => Promise<unknown> };
    const real = proto.call;
    proto.call = function (this: unknown, step: { type: string }) {
      if (step.type === 'place' && ++calls <= times) return Promise.reject(new Error('injected: the call got no answer'));
      return real.call(this, step);
    };
  });
  return { calls: () => calls };
}

describe('a bid whose market does not answer', () => {
  // The placement process warns on each failed step; the expected warnings stay out of the output.
  afterEach(() => vi.restoreAllMocks());

  it('is placed by the placement process without any retry by the client', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const market = 'gpu-24gb';
    const buyer = await wallet(10n * DOUG);
    const fault = await failNextPlacements(2);
    const e = await refusal(buyer.client.placeBid({ market, clientId: 'lost-answer-1', maxPrice: '1000', units: 2, replicas: 1, expiresAt: hour(), job: SPEC }));
    expect([e.status, e.code]).toEqual([503, 'API__UNAVAILABLE']);
    // The escrow is held while the process retries; then the bid rests in the book.
    expect((await buyer.client.account()).held).toBe('2000');
    const bids = await until(async () => {
      const page = await buyer.client.bids({ market, owner: buyer.key });
      return page.items.length === 1 ? page : undefined;
    }, 'the bid placed by the process', 15_000);
    expect(fault.calls()).toBeGreaterThanOrEqual(3);
    expect((await buyer.client.account()).held).toBe('2000');
    // A repeat of the request now answers the placed bid, once, with the same escrow.
    const again = await buyer.client.placeBid({ market, clientId: 'lost-answer-1', maxPrice: '1000', units: 2, replicas: 1, expiresAt: bids.items[0]!.expiresAt as number, job: SPEC }).catch((x: DougApiError) => x);
    if (again instanceof DougApiError) expect(again.code).toBe('API__IDEMPOTENCY_CONFLICT');
    else expect(again.order.id).toBe(bids.items[0]!.id);
    expect((await buyer.client.account()).held).toBe('2000');
  });

  it('has its escrow released by the process when the market, once it answers, refuses the bid', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const market = 'gpu-24gb';
    const buyer = await wallet(10n * DOUG);
    // The market stays silent until the bid has expired; then it refuses it.
    await failNextPlacements(3);
    const e = await refusal(buyer.client.placeBid({ market, clientId: 'lost-answer-2', maxPrice: '1000', units: 3, replicas: 1, expiresAt: Date.now() + 400, job: SPEC }));
    expect(e.code).toBe('API__UNAVAILABLE');
    await until(async () => {
      const b = await buyer.client.account();
      return b.held === '0' && b.available === (10n * DOUG).toString() ? b : undefined;
    }, 'the escrow of the refused bid to come back', 15_000);
    const holds = await buyer.client.holds();
    expect(holds.items.map((h) => [h.status, h.amount])).toEqual([['released', '3000']]);
  });
});

describe('a challenge', () => {
  afterEach(() => vi.restoreAllMocks());

  async function challengeableJob() {
    const buyer = await wallet(DOUG);
    const provider = await wallet();
    const region = `challenge-${crypto.randomUUID().slice(0, 8)}`;
    const ask = await provider.client.placeAsk({ market: 'gpu-80gb', price: '300', capacity: 1, attributes: { region }, expiresAt: hour() });
    const bid = await buyer.client.placeBid({ market: 'gpu-80gb', maxPrice: '300', units: 2, replicas: 1, requirements: [{ key: 'region', op: 'eq', value: region }], expiresAt: hour(), job: SPEC });
    const jobId = bid.jobId!;
    const job = jobObject(env, jobId);
    await until(async () => ((await job.view()) ? true : undefined), 'the job');
    // The provider runs the replica through the job's own commands, as its agent's gateway would.
    const meta = (commandId: string) => ({ commandId, actor: provider.key, now: Date.now() });
    const started = await job.execute(jobId, { type: 'StartLease', replica: 0, leaseId: 'L0', agentKey: provider.key }, meta('start'));
    expect(started.ok).toBe(true);
    const outputs = [toWire('y', 'float32', [1], new Uint8Array(new Float32Array([2]).buffer))];
    await env.BLOBS.put(`results/${jobId}/0`, JSON.stringify(outputs));
    const submitted = await job.submitResult(jobId, { replica: 0, leaseId: 'L0', outputDigest: await tensorsDigest(outputs), outputBytes: 4, fingerprint: 'cpu' }, meta('result'));
    expect(submitted.ok).toBe(true);
    expect((await job.view())?.status).toBe('challengeable');
    return { buyer, provider, jobId, ask };
  }

  it('by a stranger is refused with 403 before anything is written, even without funds', async () => {
    const { jobId } = await challengeableJob();
    const stranger = await wallet();
    const e = await refusal(stranger.client.challengeJob(jobId));
    expect([e.status, e.code]).toEqual([403, 'JOB__NOT_BUYER']);
    const ledger = await stranger.client.ledger();
    expect(ledger.items).toEqual([]);
    const rich = await wallet(DOUG);
    const before = (await rich.client.ledger()).items.length;
    expect((await refusal(rich.client.challengeJob(jobId))).code).toBe('JOB__NOT_BUYER');
    expect((await rich.client.ledger()).items.length).toBe(before);
  });

  it('whose job does not answer is raised by the placement process without any retry by the client', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { buyer, jobId } = await challengeableJob();
    await failNextPlacements(1);
    const e = await refusal(buyer.client.challengeJob(jobId));
    expect(e.code).toBe('API__UNAVAILABLE');
    const job = await until(async () => {
      const v = await buyer.client.job(jobId);
      return v.challenged ? v : undefined;
    }, 'the challenge raised by the process', 15_000);
    expect(job).toBeTruthy();
    expect((await buyer.client.holds()).items.find((h) => h.holdId === `challenge_${jobId}`)?.status).toBe('open');
  });
});

describe('the open bids of one key', () => {
  it('stop at LIMITS.openBidsPerOwner per market: the next bid is a 429 and holds nothing; a cancel makes room', async () => {
    const market = 'gpu-80gb';
    const buyer = await wallet(10n * DOUG);
    // Paced by the account's request budget: the SDK waits out API__RATE_LIMITED (rate-limit.test.ts).
    const place = (clientId: string) => buyer.client.placeBid({ market, clientId, maxPrice: '1', units: 1, replicas: 1, expiresAt: hour(), job: SPEC });
    const placed: string[] = [];
    for (let i = 0; i < LIMITS.openBidsPerOwner; i += 25) placed.push(...(await Promise.all(Array.from({ length: Math.min(25, LIMITS.openBidsPerOwner - i) }, (_, k) => place(`open-${i + k}`)))).map((b) => b.order!.id));
    const held = (await buyer.client.account()).held;
    expect(held).toBe(String(LIMITS.openBidsPerOwner));
    const e = await refusal(place('one-more'));
    expect([e.status, e.code]).toEqual([429, 'MARKET__TOO_MANY_OPEN_BIDS']);
    // Its escrow was released by the placement process: the hold is what it was.
    await until(async () => (await buyer.client.account()).held === held, 'the refused bid’s escrow released');
    // Another key is not held back by this one.
    const other = await wallet(DOUG);
    expect((await other.client.placeBid({ market, clientId: 'theirs', maxPrice: '1', units: 1, replicas: 1, expiresAt: hour(), job: SPEC })).order!.status).toBe('open');
    await buyer.client.cancelBid(placed[0]!);
    expect((await place('after-cancel')).order!.status).toBe('open');
  }, 120_000);
});
