import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeypair, signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { SELF } from 'cloudflare:test';
import { BASE, DOUG, SPEC, rawRequest, refusal, until, wallet } from './helpers.ts';

/**
 * The bad-input matrix: every malformed, forged, replayed or unauthorised request is answered with
 * a coded 4xx in the one error format, and leaves balances, ledgers and the book exactly as they were.
 */
let buyer: { keypair: Keypair; key: string };
let stranger: Keypair;
let restingBidId: string;

const hour = () => Date.now() + 3600_000;
const bidBody = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ market: 'cpu', clientId: `c${Math.random().toString(36).slice(2)}`, maxPrice: '1000', units: 2, replicas: 1, requirements: [], expiresAt: hour(), ioc: false, job: SPEC, ...over });
const askBody = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ market: 'cpu', clientId: `c${Math.random().toString(36).slice(2)}`, price: '100', capacity: 1, attributes: { accelerator: 'cpu' }, expiresAt: hour(), ...over });

async function observe(): Promise<string> {
  const get = async (path: string) => (await SELF.fetch(BASE + path)).text();
  return JSON.stringify([
    await get(`/v1/accounts/${buyer.key}`),
    await get(`/v1/accounts/${buyer.key}/ledger?limit=500`),
    await get(`/v1/markets/cpu?depth=50`),
  ]);
}

beforeAll(async () => {
  const w = await wallet(10n * DOUG);
  buyer = { keypair: w.keypair, key: w.key };
  stranger = await generateKeypair();
  const placed = await w.client.placeBid({ market: 'cpu', maxPrice: '10', units: 1, replicas: 5, expiresAt: hour(), job: SPEC });
  restingBidId = placed.order.id;
  await readModelsShowBids(1);
});

/** Lets the read models catch up, so that what is observed moves only if a request changes it. */
async function readModelsShowBids(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = (await (await SELF.fetch(`${BASE}/v1/markets/cpu`)).json()) as { summary: { openBids: number } };
    if (m.summary.openBids >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Case = [name: string, run: () => Promise<{ status: number; body: { error?: { code: string } } }>, status: number, code: string];

const cases: Case[] = [
  ['malformed JSON', () => rawRequest({ method: 'POST', path: '/v1/bids', body: '{"market":', signer: buyer.keypair }), 400, 'API__MALFORMED_JSON'],
  ['a JSON array body', () => rawRequest({ method: 'POST', path: '/v1/bids', body: '[]', signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an unknown field', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ colour: 'red' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a price as a JSON number', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: 1000 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a negative amount', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: '-5' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a fractional amount', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: '1.5' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a zero amount', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: '0' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an amount beyond u64', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: '18446744073709551616' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an escrow beyond u64', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ maxPrice: '18446744073709551615', units: 2 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['units as a string', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ units: '2' }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['fractional units', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ units: 2.5 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['six replicas', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ replicas: 6 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an expiry in the past', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ expiresAt: Date.now() - 1000 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a model hash that is not hex', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ job: { ...SPEC, modelSha256: 'zz' } }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['a bad requirement op', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ requirements: [{ key: 'memoryGb', op: 'like', value: 3 }] }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['inline inputs whose bytes do not fit their dims', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ job: { modelSha256: SPEC.modelSha256, inputs: [{ name: 'x', dtype: 'float32', dims: [4], data: 'AAAA' }], tolerance: null } }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an unknown market', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ market: 'tpu' }), signer: buyer.keypair }), 404, 'API__UNKNOWN_MARKET'],
  ['an oversize body', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ pad: 'x'.repeat(70_000) }), signer: buyer.keypair }), 413, 'API__BODY_TOO_LARGE'],
  ['a capacity of zero', () => rawRequest({ method: 'POST', path: '/v1/asks', body: askBody({ capacity: 0 }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['too many attributes', () => rawRequest({ method: 'POST', path: '/v1/asks', body: askBody({ attributes: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) }), signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['no signature at all', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody() }), 401, 'AUTH__MISSING'],
  [
    'a forged signature (signed by another key, claiming the buyer)',
    async () => {
      const body = bidBody();
      const h = await signRequest(stranger, { method: 'POST', path: '/v1/bids', body });
      return rawRequest({ method: 'POST', path: '/v1/bids', body, headers: { ...h, 'x-doug-key': buyer.key } });
    },
    401,
    'AUTH__SIGNATURE_INVALID',
  ],
  ['a body changed after signing', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody({ units: 3 }), signer: buyer.keypair, sign: { body: bidBody() } }), 401, 'AUTH__SIGNATURE_INVALID'],
  ['a malformed key', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody(), headers: { 'x-doug-key': 'not-a-key', 'x-doug-timestamp': String(Date.now()), 'x-doug-nonce': 'abcdefgh12', 'x-doug-signature': '1' } }), 401, 'AUTH__KEY_INVALID'],
  ['a stale timestamp', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody(), signer: buyer.keypair, sign: { timestamp: Date.now() - 120_000 } }), 401, 'AUTH__TIMESTAMP_STALE'],
  ['a future timestamp', () => rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody(), signer: buyer.keypair, sign: { timestamp: Date.now() + 120_000 } }), 401, 'AUTH__TIMESTAMP_STALE'],
  ['cancelling another key\'s order', () => rawRequest({ method: 'DELETE', path: `/v1/bids/${restingBidId}`, signer: stranger }), 403, 'MARKET__NOT_ORDER_OWNER'],
  ['cancelling an order id of the wrong kind', () => rawRequest({ method: 'DELETE', path: `/v1/asks/${restingBidId}`, signer: buyer.keypair }), 400, 'API__INVALID_INPUT'],
  ['an unknown route', () => rawRequest({ method: 'GET', path: '/v1/nothing' }), 404, 'API__NOT_FOUND'],
  ['an unknown job', () => rawRequest({ method: 'GET', path: '/v1/jobs/bid_cpu_000000000000000000000000' }), 404, 'API__UNKNOWN_JOB'],
  ['an account path that is not a key', () => rawRequest({ method: 'GET', path: '/v1/accounts/xyz' }), 400, 'API__INVALID_INPUT'],
  ['a bad cursor', () => rawRequest({ method: 'GET', path: '/v1/asks?cursor=zzz' }), 400, 'API__INVALID_INPUT'],
  ['an unknown filter', () => rawRequest({ method: 'GET', path: '/v1/asks?colour=red' }), 400, 'API__INVALID_INPUT'],
  ['a limit out of range', () => rawRequest({ method: 'GET', path: '/v1/asks?limit=100000' }), 400, 'API__INVALID_INPUT'],
];

describe('bad input', () => {
  it.each(cases)('%s is refused with a coded 4xx and changes nothing', async (_name, run, status, code) => {
    const before = await observe();
    const res = await run();
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
    expect(typeof (res.body.error as { message?: unknown } | undefined)?.message).toBe('string');
    expect(await observe()).toBe(before);
  });

  it('a replayed nonce is refused the second time and the first request counts once', async () => {
    const body = bidBody();
    const nonce = `replay${Date.now()}`;
    const timestamp = Date.now();
    const first = await rawRequest({ method: 'POST', path: '/v1/bids', body, signer: buyer.keypair, sign: { nonce, timestamp } });
    expect(first.status).toBe(201);
    await readModelsShowBids(2);
    const before = await observe();
    const again = await rawRequest({ method: 'POST', path: '/v1/bids', body, signer: buyer.keypair, sign: { nonce, timestamp } });
    expect(again.status).toBe(401);
    expect(again.body.error?.code).toBe('AUTH__NONCE_REPLAYED');
    expect(await observe()).toBe(before);
  });
});

describe('an API key id in the path', () => {
  it('is taken as written: a percent-escape in it (well formed or not) is refused before anything is revoked', async () => {
    const w = await wallet();
    const created = await w.client.createApiKey({ name: 'k', limit: '10', expiresAt: hour(), id: 'abcd12345' });
    // The first names the key once decoded: it used to revoke it and answer 500; the others used to throw on decoding.
    for (const path of ['/v1/api-keys/abcd1234%35', '/v1/api-keys/%zz', '/v1/api-keys/%E0%A4%A']) {
      const res = await rawRequest({ method: 'DELETE', path, body: '{}', signer: w.keypair });
      expect([path, res.status, res.body.error?.code]).toEqual([path, 400, 'API__INVALID_INPUT']);
    }
    expect((await w.client.apiKeys()).items.map((k) => [k.id, k.revokedAt])).toEqual([[created.id, null]]);
    const revoked = await rawRequest({ method: 'DELETE', path: `/v1/api-keys/${created.id}`, body: '{}', signer: w.keypair });
    expect([revoked.status, revoked.body.id, typeof revoked.body.revokedAt]).toEqual([200, created.id, 'number']);
  });
});

describe("a cancel by someone else after the owner's own", () => {
  it("is refused, not answered with the owner's outcome; the owner's repeat still is", async () => {
    const owner = await wallet(10n * DOUG);
    const provider = await wallet();
    const stranger = await wallet();
    const bid = await owner.client.placeBid({ market: 'gpu-24gb', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC });
    const ask = await owner.client.placeAsk({ market: 'gpu-24gb', price: '987654321', capacity: 1, attributes: {}, expiresAt: hour() });
    await provider.client.placeAsk({ market: 'gpu-80gb', price: '7', capacity: 1, attributes: { region: 'cancel-after' }, expiresAt: hour() });
    const job = await owner.client.placeBid({ market: 'gpu-80gb', maxPrice: '7', units: 1, requirements: [{ key: 'region', op: 'eq', value: 'cancel-after' }], expiresAt: hour(), job: SPEC });
    await until(async () => (await owner.client.job(job.jobId!).catch(() => undefined)) ?? undefined, 'the job');
    await owner.client.cancelBid(bid.order.id);
    await owner.client.cancelAsk(ask.order.id);
    await owner.client.cancelJob(job.jobId!);
    // The cancel's command id was the order's (the job's) alone: the stranger got the owner's 200.
    const codes = [await refusal(stranger.client.cancelBid(bid.order.id)), await refusal(stranger.client.cancelAsk(ask.order.id)), await refusal(stranger.client.cancelJob(job.jobId!))];
    expect(codes.map((e) => [e.status, e.code])).toEqual([
      [403, 'MARKET__NOT_ORDER_OWNER'],
      [403, 'MARKET__NOT_ORDER_OWNER'],
      [422, 'JOB__CLOSED'],
    ]);
    expect([(await owner.client.cancelBid(bid.order.id)).order.status, (await owner.client.cancelJob(job.jobId!)).job.status]).toEqual(['cancelled', 'refunded']);
  });
});
