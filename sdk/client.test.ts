import { afterEach, describe, expect, it } from 'vitest';

import { CLIENT_ID } from '../durable-objects/contracts/api.ts';
import { AUTH_HEADERS, base64UrlDecode, canonicalRequest, createDelegation, generateKeypair, sha256Hex, verifyText } from '../durable-objects/contracts/auth.ts';
import type { BalanceView } from '../durable-objects/contracts/api.ts';
import { DougApiError, DougClient, balanceAmounts, newClientId, toAmount } from './client.ts';
import { startTestServer } from '../test/support/http-server.ts';
import type { RecordedRequest, TestServer } from '../test/support/http-server.ts';

/** What the real Worker does with a signed request: recompute the canonical string and verify. */
async function signatureValid(req: RecordedRequest): Promise<boolean> {
  const h = req.headers;
  const key = h[AUTH_HEADERS.key];
  const signature = h[AUTH_HEADERS.signature];
  const timestamp = h[AUTH_HEADERS.timestamp];
  const nonce = h[AUTH_HEADERS.nonce];
  if (!key || !signature || !timestamp || !nonce) return false;
  const text = canonicalRequest({ method: req.method, path: req.path, timestamp, nonce, bodySha256: await sha256Hex(req.body) });
  return verifyText(key, signature, text);
}

const ORDER = { id: 'ask_cpu_0123456789abcdef01234567', kind: 'ask', market: 'cpu', owner: 'x', status: 'open' };
const JOB = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 10 };

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('a signed request built by the client', () => {
  it('verifies against the canonical request over the exact body sent', async () => {
    const verdicts: boolean[] = [];
    server = await startTestServer(async (req) => {
      verdicts.push(await signatureValid(req));
      return { body: { order: ORDER } };
    });
    const keypair = await generateKeypair();
    const client = new DougClient({ baseUrl: server.url + '/', keypair });
    const res = await client.placeAsk({ market: 'cpu', price: 250_000_000n, capacity: 2, expiresAt: 123 });

    expect(res.order.id).toBe(ORDER.id);
    expect(verdicts).toEqual([true]);
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/asks');
    expect(req.headers[AUTH_HEADERS.key]).toBe(keypair.publicKey);
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({ market: 'cpu', price: '250000000', capacity: 2, attributes: {}, expiresAt: 123 });
    expect(body.clientId).toMatch(CLIENT_ID);
  });

  it('would not verify if the body were changed in transit', async () => {
    server = await startTestServer(() => ({ body: { order: ORDER } }));
    const client = new DougClient({ baseUrl: server.url, keypair: await generateKeypair() });
    await client.faucet(5n);
    const req = server.requests[0]!;
    expect(await signatureValid(req)).toBe(true);
    expect(await signatureValid({ ...req, body: req.body.replace('5', '6') })).toBe(false);
    expect(await signatureValid({ ...req, path: '/v1/faucet?x=1' })).toBe(false);
  });

  it('signs a DELETE over the empty body and routes cancels by kind', async () => {
    const verdicts: boolean[] = [];
    server = await startTestServer(async (req) => {
      verdicts.push(await signatureValid(req));
      return { body: { order: { ...ORDER, status: 'cancelled' } } };
    });
    const client = new DougClient({ baseUrl: server.url, keypair: await generateKeypair() });
    await client.cancelBid('bid_cpu_0123456789abcdef01234567');
    await client.cancelAsk('ask_cpu_0123456789abcdef01234567');
    expect(verdicts).toEqual([true, true]);
    expect(server.requests.map((r) => `${r.method} ${r.path} [${r.body}]`)).toEqual([
      'DELETE /v1/bids/bid_cpu_0123456789abcdef01234567 []',
      'DELETE /v1/asks/ask_cpu_0123456789abcdef01234567 []',
    ]);
  });

  it('carries the delegation and acts for the wallet', async () => {
    const verdicts: boolean[] = [];
    server = await startTestServer(async (req) => {
      verdicts.push(await signatureValid(req));
      return req.method === 'GET' ? { body: { account: 'w' } } : { body: { order: ORDER } };
    });
    const wallet = await generateKeypair();
    const agent = await generateKeypair();
    const delegation = await createDelegation(wallet, { delegate: agent.publicKey, scopes: ['asks'], expiresAt: 9e12 });
    const client = new DougClient({ baseUrl: server.url, keypair: agent, delegation });
    await client.placeAsk({ market: 'cpu', price: '1', capacity: 1, expiresAt: 1, clientId: 'mine' });
    await client.account();

    const [post, get] = server.requests as [RecordedRequest, RecordedRequest];
    expect(verdicts[0]).toBe(true);
    expect(post.headers[AUTH_HEADERS.key]).toBe(agent.publicKey);
    expect(JSON.parse(new TextDecoder().decode(base64UrlDecode(post.headers[AUTH_HEADERS.delegation]!)))).toEqual(delegation);
    expect(JSON.parse(post.body).clientId).toBe('mine');
    expect(get.path).toBe(`/v1/accounts/${wallet.publicKey}`);
  });
});

describe('revoking a session', () => {
  it('posts an empty object signed by the session key with its delegation', async () => {
    const verdicts: boolean[] = [];
    const wallet = await generateKeypair();
    const session = await generateKeypair();
    server = await startTestServer(async (req) => {
      verdicts.push(await signatureValid(req));
      return { body: { revoked: session.publicKey, at: 42 } };
    });
    const delegation = await createDelegation(wallet, { delegate: session.publicKey, scopes: ['orders'], expiresAt: 9e12 });
    const client = new DougClient({ baseUrl: server.url, keypair: session, delegation });
    expect(await client.revokeSession()).toEqual({ revoked: session.publicKey, at: 42 });

    const req = server.requests[0]!;
    expect(verdicts).toEqual([true]);
    expect(`${req.method} ${req.path} ${req.body}`).toBe('POST /v1/sessions/revoke {}');
    expect(req.headers[AUTH_HEADERS.key]).toBe(session.publicKey);
    expect(JSON.parse(new TextDecoder().decode(base64UrlDecode(req.headers[AUTH_HEADERS.delegation]!)))).toEqual(delegation);
  });
});

describe('reads', () => {
  it('are unsigned and carry filters and paging in the query string', async () => {
    server = await startTestServer(() => ({ body: { items: [], nextCursor: null } }));
    const client = new DougClient({ baseUrl: server.url, keypair: await generateKeypair() });
    await client.asks({ market: 'cpu', maxPrice: 250_000_000n, owner: undefined, cursor: 'abc', limit: 10 });
    await client.market('gpu-24gb', { depth: 5 });
    await client.ledger('Key1', { limit: 2 });
    await client.jobHistory('job/1');
    expect(server.requests.map((r) => r.path)).toEqual([
      '/v1/asks?market=cpu&maxPrice=250000000&cursor=abc&limit=10',
      '/v1/markets/gpu-24gb?depth=5',
      '/v1/accounts/Key1/ledger?limit=2',
      '/v1/jobs/job%2F1/history',
    ]);
    expect(server.requests[0]!.headers[AUTH_HEADERS.signature]).toBeUndefined();
  });

  it('unwrap a job from its envelope, and refuse an answer without one', async () => {
    server = await startTestServer((req) => ({ body: req.path.endsWith('/bid_cpu_0123456789abcdef01234567') ? { job: { jobId: 'j', buyer: 'B' } } : { nope: 1 } }));
    const client = new DougClient({ baseUrl: server.url });
    expect(await client.job('bid_cpu_0123456789abcdef01234567')).toEqual({ jobId: 'j', buyer: 'B' });
    await expect(client.job('other')).rejects.toMatchObject({ code: 'CLIENT__BAD_RESPONSE' });
  });

  it('go through a fetch-like function given in the options, called without a `this`', async () => {
    const seen: string[] = [];
    const fetchLike = function (this: unknown, url: string, init: RequestInit): Promise<Response> {
      expect(this).toBeUndefined();
      seen.push(`${init.method} ${url}`);
      return Promise.resolve(Response.json({ ok: true }));
    };
    const client = new DougClient({ baseUrl: 'http://example.test', fetch: fetchLike });
    expect(await client.health()).toEqual({ ok: true });
    expect(seen).toEqual(['GET http://example.test/v1/health']);
  });
});

describe('a failed request', () => {
  it('throws DougApiError with the code, message and context of the error body', async () => {
    const body = { error: { code: 'API__UNKNOWN_MARKET', message: 'there is no market named zzz', context: { market: 'zzz' } } };
    server = await startTestServer(() => ({ status: 404, body }));
    const err = await new DougClient({ baseUrl: server.url }).market('zzz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DougApiError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ status: 404, code: 'API__UNKNOWN_MARKET', message: 'there is no market named zzz', context: { market: 'zzz' } });
  });

  it('past the account’s request budget is sent again, signed anew, after Retry-After; or thrown when told not to wait', async () => {
    const limited = { error: { code: 'API__RATE_LIMITED', message: 'too many requests', context: { periodS: 10 } } };
    const nonces: string[] = [];
    let calls = 0;
    const fetchLike = (_url: string, init: RequestInit): Promise<Response> => {
      nonces.push((init.headers as Record<string, string>)[AUTH_HEADERS.nonce]!);
      calls++;
      return Promise.resolve(calls === 1 ? Response.json(limited, { status: 429, headers: { 'retry-after': '1' } }) : Response.json({ keys: [] }));
    };
    const keypair = await generateKeypair();
    expect(await new DougClient({ baseUrl: 'http://example.test', keypair, fetch: fetchLike }).apiKeys()).toEqual({ keys: [] });
    expect(calls).toBe(2);
    expect(new Set(nonces).size).toBe(2);
    calls = 0;
    const err = await new DougClient({ baseUrl: 'http://example.test', keypair, fetch: fetchLike, rateLimitWaitMs: 0 }).apiKeys().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, code: 'API__RATE_LIMITED', context: { periodS: 10, retryAfterS: 1 } });
    expect(calls).toBe(1);
  });

  it('is CLIENT__BAD_RESPONSE when the error body is not an API error', async () => {
    server = await startTestServer(() => ({ status: 502, body: '<html>bad gateway</html>' }));
    const err = await new DougClient({ baseUrl: server.url }).health().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'CLIENT__BAD_RESPONSE' });
  });

  it('is CLIENT__BAD_RESPONSE when a 2xx body is not JSON', async () => {
    server = await startTestServer(() => ({ body: 'ok' }));
    const err = await new DougClient({ baseUrl: server.url }).health().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 200, code: 'CLIENT__BAD_RESPONSE' });
  });

  it('is CLIENT__NETWORK when nothing listens', async () => {
    const s = await startTestServer(() => ({ body: {} }));
    await s.close();
    const err = await new DougClient({ baseUrl: s.url }).health().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, code: 'CLIENT__NETWORK' });
  });

  it('is CLIENT__NO_KEY for a mutation without a keypair, before anything is sent', async () => {
    server = await startTestServer(() => ({ body: {} }));
    const err = await new DougClient({ baseUrl: server.url }).faucet(1n).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLIENT__NO_KEY' });
    expect(server.requests).toHaveLength(0);
  });
});

describe('helpers', () => {
  it('newClientId fits CLIENT_ID and does not repeat', () => {
    const ids = new Set(Array.from({ length: 100 }, newClientId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(CLIENT_ID);
  });

  it('toAmount reads amount strings as bigint and refuses malformed ones', () => {
    expect(toAmount('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(() => toAmount('1.5')).toThrow(DougApiError);
    expect(() => toAmount('-1')).toThrow(/not an amount/);
  });

  it('balanceAmounts converts every amount of a balance', () => {
    const view: BalanceView = {
      account: 'k',
      available: '1500000000',
      held: '1',
      credited: '2',
      withdrawn: '0',
      payoutsSent: '3',
      payoutsReceived: '4',
      payoutsOnChain: '5',
      escrow: true,
      holds: [],
    };
    expect(balanceAmounts(view)).toEqual({ available: 1_500_000_000n, held: 1n, credited: 2n, withdrawn: 0n, payoutsSent: 3n, payoutsReceived: 4n, payoutsOnChain: 5n });
  });
});
