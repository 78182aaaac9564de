import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createDelegation, generateKeypair, signRequest, type DelegationScope, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { encodeBase58 } from '../../programs/client/base58.ts';
import worker from '../../workers/index.ts';
import { BASE, DOUG, rawRequest, wallet } from './helpers.ts';

/*
 * Deposits inside workerd: configuration, signing scope and failures of the chain. Crediting real
 * transfers is tested end to end in test/e2e/deposits.test.ts against the local chain.
 */

const signature = () => encodeBase58(crypto.getRandomValues(new Uint8Array(64)));

/** Chain settings whose RPC answers nothing (port 9: connection refused). */
async function unreachableChain(): Promise<Record<string, string>> {
  const key = (await generateKeypair()).publicKey;
  return { SOLANA_RPC_URL: 'http://127.0.0.1:9', DOUG_MINT: key, CUSTODY_TOKEN_ACCOUNT: key, CUSTODY_AUTHORITY: key };
}

/** A request straight into the Worker with extra env, signed by `signer` (with a delegation when given). */
async function call(o: { method: string; path: string; body?: unknown; signer?: Keypair; scopes?: DelegationScope[]; extra?: Record<string, string> }) {
  const text = o.body === undefined ? '' : JSON.stringify(o.body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.signer) {
    let signer = o.signer;
    let delegation;
    if (o.scopes) {
      const session = await generateKeypair();
      delegation = await createDelegation(o.signer, { delegate: session.publicKey, scopes: o.scopes, expiresAt: Date.now() + 600_000 });
      signer = session;
    }
    Object.assign(headers, await signRequest(signer, { method: o.method, path: o.path, body: text, delegation }));
  }
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${BASE}${o.path}`, { method: o.method, headers, body: o.method === 'GET' ? undefined : text }), { ...env, ...(o.extra ?? {}) } as never, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; context: Record<string, unknown> } } };
}

describe('a Worker without a chain', () => {
  it('refuses deposits and GET /v1/chain with CUSTODY__NOT_CONFIGURED (409), and its faucet credits the ledger', async () => {
    const w = await wallet(2n * DOUG);
    const res = await rawRequest({ method: 'POST', path: '/v1/deposits', body: JSON.stringify({ signature: signature() }), signer: w.keypair });
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe('CUSTODY__NOT_CONFIGURED');
    expect(res.body.error?.context.missing).toContain('SOLANA_RPC_URL');
    const chain = await rawRequest({ method: 'GET', path: '/v1/chain' });
    expect(chain).toMatchObject({ status: 409, body: { error: { code: 'CUSTODY__NOT_CONFIGURED' } } });
    expect((await w.client.account()).available).toBe((2n * DOUG).toString());
    expect((await w.client.audit()).custody).toBeUndefined();
  });

  it('counts an incomplete configuration as none, naming what is missing', async () => {
    const w = await generateKeypair();
    const res = await call({ method: 'POST', path: '/v1/deposits', body: { signature: signature() }, signer: w, extra: { SOLANA_RPC_URL: 'http://127.0.0.1:9' } });
    expect(res.status).toBe(409);
    expect(res.body.error?.context.missing).toBe('DOUG_MINT, CUSTODY_TOKEN_ACCOUNT, CUSTODY_AUTHORITY');
  });
});

describe('a Worker whose chain does not answer', () => {
  it('answers CUSTODY__CHAIN_UNAVAILABLE (503) to a deposit, signed by the wallet or a session with scope orders', async () => {
    const extra = await unreachableChain();
    const w = await generateKeypair();
    const byWallet = await call({ method: 'POST', path: '/v1/deposits', body: { signature: signature() }, signer: w, extra });
    expect(byWallet.status).toBe(503);
    expect(byWallet.body.error).toMatchObject({ code: 'CUSTODY__CHAIN_UNAVAILABLE', context: { method: 'getTransaction', kind: 'network' } });
    const bySession = await call({ method: 'POST', path: '/v1/deposits', body: { signature: signature() }, signer: w, scopes: ['orders'], extra });
    expect(bySession.body.error?.code).toBe('CUSTODY__CHAIN_UNAVAILABLE');
    const wrongScope = await call({ method: 'POST', path: '/v1/deposits', body: { signature: signature() }, signer: w, scopes: ['asks'], extra });
    expect(wrongScope).toMatchObject({ status: 403, body: { error: { code: 'AUTH__FORBIDDEN' } } });
  });

  it('checks the body before the chain', async () => {
    const extra = await unreachableChain();
    const w = await generateKeypair();
    for (const body of [{}, { signature: 'abc' }, { signature: signature(), amount: '1' }]) {
      const res = await call({ method: 'POST', path: '/v1/deposits', body, signer: w, extra });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error?.code).toBe('API__INVALID_INPUT');
    }
    expect((await call({ method: 'POST', path: '/v1/deposits', body: { signature: signature() }, extra })).status).toBe(401);
  });

  it('serves GET /v1/chain, with the public RPC URL when one is set', async () => {
    const extra = await unreachableChain();
    expect((await call({ method: 'GET', path: '/v1/chain', extra })).body).toEqual({ rpcUrl: 'http://127.0.0.1:9', mint: extra.DOUG_MINT, decimals: 9, custodyTokenAccount: extra.CUSTODY_TOKEN_ACCOUNT, custodyAuthority: extra.CUSTODY_AUTHORITY });
    const pub = await call({ method: 'GET', path: '/v1/chain', extra: { ...extra, SOLANA_PUBLIC_RPC_URL: 'https://rpc.example' } });
    expect(pub.body.rpcUrl).toBe('https://rpc.example');
  });

  it('fails the audit with 503 rather than guess custody', async () => {
    const res = await call({ method: 'GET', path: '/v1/audit', extra: await unreachableChain() });
    expect(res.status).toBe(503);
    expect(res.body.error?.code).toBe('CUSTODY__CHAIN_UNAVAILABLE');
  });

  it('the faucet answers CUSTODY__NOT_CONFIGURED without a mint authority key, before spending the nonce', async () => {
    const w = await generateKeypair();
    const res = await call({ method: 'POST', path: '/v1/faucet', body: { amount: '5' }, signer: w, extra: { ...(await unreachableChain()), LOCAL_MODE: 'true' } });
    expect(res.status).toBe(409);
    expect(res.body.error?.context.missing).toBe('MINT_AUTHORITY_KEY');
  });
});
