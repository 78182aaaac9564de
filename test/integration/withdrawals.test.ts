import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDelegation, generateKeypair, signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { DougApiError, DougClient } from '../../sdk/client.ts';
import worker from '../../workers/index.ts';
import { BASE, DOUG, rawRequest, wallet } from './helpers.ts';

/*
 * Withdrawals inside workerd without a chain: the routes, the signing scope, and the debit the
 * withdrawal object takes at once. The chain side (signing, sending, confirming) is tested end to
 * end in test/e2e/withdrawals.test.ts against the local chain.
 */

/** Chain settings that pass the route's configuration check; the objects' own env has no chain. */
async function chainEnv(): Promise<Record<string, string>> {
  const authority = await generateKeypair();
  const key = (await generateKeypair()).publicKey;
  return { SOLANA_RPC_URL: 'http://127.0.0.1:9', DOUG_MINT: key, CUSTODY_TOKEN_ACCOUNT: key, CUSTODY_AUTHORITY: authority.publicKey, CUSTODY_AUTHORITY_KEY: encodeBase58(authority.secretKey) };
}

/** POST /v1/withdrawals straight into the Worker with extra env. */
async function postWithdrawal(signer: Keypair, body: unknown, extra: Record<string, string>) {
  const text = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', ...(await signRequest(signer, { method: 'POST', path: '/v1/withdrawals', body: text })) };
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${BASE}/v1/withdrawals`, { method: 'POST', headers, body: text }), { ...env, ...extra } as never, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as { withdrawal?: Record<string, unknown>; error?: { code: string; context: Record<string, unknown> } } };
}

/*
 * The withdrawal objects here have no chain (their env lacks it), so each withdrawal's driver warns
 * on every try that signing failed with CUSTODY__NOT_CONFIGURED and tries again later: expected, and
 * kept out of the output. Any other warning is passed on.
 */
const expectedWarning = /^withdrawal wd_[0-9a-f]+: sign failed \(\d+ in a row, next try in \d+ ms\): ChainFailure: CUSTODY__NOT_CONFIGURED: /;
const driverWarnings: string[] = [];
let quiet: { mockRestore: () => void } | undefined;
beforeAll(() => {
  const warn = console.warn.bind(console);
  quiet = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && expectedWarning.test(args[0])) driverWarnings.push(args[0]);
    else warn(...args);
  });
});
afterAll(() => {
  quiet?.mockRestore();
});

describe('withdrawals on a Worker without a chain', () => {
  it('are refused with CUSTODY__NOT_CONFIGURED before anything is recorded', async () => {
    const w = await wallet(5n * DOUG);
    const err = await w.client.withdraw({ amount: DOUG }).catch((e: unknown) => e as DougApiError);
    expect(err).toBeInstanceOf(DougApiError);
    expect((err as DougApiError).status).toBe(409);
    expect((err as DougApiError).code).toBe('CUSTODY__NOT_CONFIGURED');
    expect((await w.client.account()).available).toBe((5n * DOUG).toString());
  });
});

describe('requesting a withdrawal', () => {
  it('takes the amount from the ledger at once and answers 202; a repeat answers the same withdrawal', async () => {
    const chain = await chainEnv();
    const w = await wallet(5n * DOUG);
    const destination = (await generateKeypair()).publicKey;
    const body = { clientId: 'w-1', amount: (2n * DOUG).toString(), destination };
    const first = await postWithdrawal(w.keypair, body, chain);
    expect(first.status).toBe(202);
    expect(first.body.withdrawal).toMatchObject({ account: w.key, destination, amount: (2n * DOUG).toString(), status: 'funded', attempts: [], rejection: null });
    const id = first.body.withdrawal!.withdrawalId as string;
    expect(id).toMatch(/^wd_[0-9a-f]{24}$/);
    const again = await postWithdrawal(w.keypair, body, chain);
    expect(again.status).toBe(202);
    expect(again.body.withdrawal?.withdrawalId).toBe(id);
    expect((await w.client.account()).available).toBe((3n * DOUG).toString());
    expect((await w.client.account()).withdrawn).toBe((2n * DOUG).toString());
    // The same clientId with other terms is refused.
    const other = await postWithdrawal(w.keypair, { ...body, amount: DOUG.toString() }, chain);
    expect(other.status).toBe(409);
    // Readable by id; this Worker's objects have no chain, so it stays funded (nothing signed).
    const view = await w.client.withdrawal(id);
    expect(view).toMatchObject({ withdrawalId: id, status: 'funded', signature: null });
  });

  it('is refused with ACCOUNT__INSUFFICIENT_FUNDS (402) beyond the balance, nothing taken, the same on a repeat', async () => {
    const chain = await chainEnv();
    const w = await wallet(DOUG);
    const body = { clientId: 'too-much', amount: (2n * DOUG).toString(), destination: w.key };
    for (let i = 0; i < 2; i++) {
      const r = await postWithdrawal(w.keypair, body, chain);
      expect(r.status).toBe(402);
      expect(r.body.error?.code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
      expect(r.body.error?.context.withdrawalId).toMatch(/^wd_/);
    }
    expect((await w.client.account()).available).toBe(DOUG.toString());
    const id = (await postWithdrawal(w.keypair, body, chain)).body.error!.context.withdrawalId as string;
    expect(await w.client.withdrawal(id)).toMatchObject({ status: 'rejected', rejection: { code: 'ACCOUNT__INSUFFICIENT_FUNDS' }, attempts: [] });
  });

  it('is never accepted from a delegated key, whatever its scopes', async () => {
    const chain = await chainEnv();
    const owner = await wallet(5n * DOUG);
    const session = await generateKeypair();
    const delegation = await createDelegation(owner.keypair, { delegate: session.publicKey, scopes: ['orders', 'asks', 'work'], expiresAt: Date.now() + 3600_000 });
    const text = JSON.stringify({ clientId: 'stolen', amount: DOUG.toString(), destination: session.publicKey });
    const headers = { 'content-type': 'application/json', ...(await signRequest(session, { method: 'POST', path: '/v1/withdrawals', body: text, delegation })) };
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}/v1/withdrawals`, { method: 'POST', headers, body: text }), { ...env, ...chain } as never, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AUTH__FORBIDDEN');
    expect((await owner.client.account()).available).toBe((5n * DOUG).toString());
  });

  it('refuses a bad amount, destination or clientId', async () => {
    const chain = await chainEnv();
    const w = await wallet(DOUG);
    for (const [field, body] of [
      ['amount', { clientId: 'a', amount: 5, destination: w.key }],
      ['amount', { clientId: 'a', amount: '0', destination: w.key }],
      ['destination', { clientId: 'a', amount: '5', destination: 'not-a-wallet' }],
      ['clientId', { clientId: 'no spaces', amount: '5', destination: w.key }],
      ['extra', { clientId: 'a', amount: '5', destination: w.key, extra: 1 }],
    ] as const) {
      const r = await postWithdrawal(w.keypair, body, chain);
      expect(r.status, field).toBe(400);
      expect(r.body.error?.code, field).toBe('API__INVALID_INPUT');
    }
  });
});

describe('reading withdrawals', () => {
  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expect((await rawRequest({ method: 'GET', path: `/v1/withdrawals/wd_${'0'.repeat(24)}` })).body.error?.code).toBe('CUSTODY__WITHDRAWAL_NOT_FOUND');
    expect((await rawRequest({ method: 'GET', path: '/v1/withdrawals/nope' })).status).toBe(400);
  });

  it("lists an account's withdrawals once projected", async () => {
    const chain = await chainEnv();
    const w = await wallet(5n * DOUG);
    const r = await postWithdrawal(w.keypair, { clientId: 'listed', amount: '7', destination: w.key }, chain);
    const id = r.body.withdrawal!.withdrawalId;
    const reader = new DougClient({ baseUrl: BASE, fetch: (u, i) => worker.fetch(new Request(u, i), env as never, createExecutionContext()) });
    const deadline = Date.now() + 10_000;
    let items: { withdrawalId: string; status: string }[] = [];
    while (Date.now() < deadline) {
      items = (await reader.withdrawals(w.key)).items;
      if (items.length > 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(items).toMatchObject([{ withdrawalId: id, status: 'funded', amount: '7' }]);
  });
});
