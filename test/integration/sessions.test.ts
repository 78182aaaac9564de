import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createDelegation, generateKeypair, signRequest, type Delegation, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { DougClient } from '../../sdk/client.ts';
import { BASE, DOUG, SPEC, refusal, wallet } from './helpers.ts';

const hour = () => Date.now() + 3600_000;

/** A wallet, a session key it delegated to, and a client signing with that key. */
async function session(scopes: Delegation['scopes'] = ['orders']) {
  const owner = await wallet(5n * DOUG);
  const key = await generateKeypair();
  const delegation = await createDelegation(owner.keypair, { delegate: key.publicKey, scopes, expiresAt: hour() });
  const client = new DougClient({ baseUrl: BASE, keypair: key, delegation, fetch: (u, i) => SELF.fetch(u, i) });
  return { owner, key, delegation, client };
}

/** POST /v1/sessions/revoke with a raw body, signed by `signer` (with `delegation` when given). */
async function revokeRaw(signer: Keypair, body: string, delegation?: Delegation) {
  const path = '/v1/sessions/revoke';
  const headers = { 'content-type': 'application/json', ...(await signRequest(signer, { method: 'POST', path, body, delegation })) };
  const res = await SELF.fetch(BASE + path, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string; context: Record<string, unknown> } } & Record<string, unknown> };
}

describe('a session key that disconnects', () => {
  it('acts for the wallet until revoked, then can never sign again; the wallet still can', async () => {
    const { owner, key, client } = await session();
    const bid = await client.placeBid({ market: 'cpu', maxPrice: '1000', units: 2, expiresAt: hour(), job: SPEC });
    expect(bid.order.owner).toBe(owner.key);
    expect((await owner.client.account()).held).toBe('2000');

    const before = Date.now();
    const revoked = await client.revokeSession();
    expect(revoked.revoked).toBe(key.publicKey);
    expect(revoked.at).toBeGreaterThanOrEqual(before);
    expect(revoked.at).toBeLessThanOrEqual(Date.now());

    // Nothing it signs goes through any more: no bid, no cancel, and the balance stays as it was.
    const placed = await refusal(client.placeBid({ market: 'cpu', maxPrice: '1000', units: 3, expiresAt: hour(), job: SPEC }));
    expect([placed.status, placed.code, placed.context]).toEqual([401, 'AUTH__KEY_REVOKED', { key: key.publicKey }]);
    const cancel = await refusal(client.cancelBid(bid.order.id));
    expect([cancel.status, cancel.code]).toEqual([401, 'AUTH__KEY_REVOKED']);
    expect(await owner.client.account()).toMatchObject({ available: String(5n * DOUG - 2000n), held: '2000' });
    expect((await owner.client.holds()).items).toHaveLength(1);

    // Revoking again with a fresh signature is refused the same way: the key is already revoked.
    const again = await refusal(client.revokeSession());
    expect([again.status, again.code]).toEqual([401, 'AUTH__KEY_REVOKED']);

    // The wallet's own key is untouched, and so is another session of the same wallet.
    expect((await owner.client.cancelBid(bid.order.id)).order.status).toBe('cancelled');
    const other = await generateKeypair();
    const otherClient = new DougClient({
      baseUrl: BASE,
      keypair: other,
      delegation: await createDelegation(owner.keypair, { delegate: other.publicKey, scopes: ['orders'], expiresAt: hour() }),
      fetch: (u, i) => SELF.fetch(u, i),
    });
    expect((await otherClient.placeBid({ market: 'cpu', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC })).order.owner).toBe(owner.key);
  });

  it('works whatever the delegation\'s scopes', async () => {
    const { key, client } = await session(['asks']);
    expect((await client.revokeSession()).revoked).toBe(key.publicKey);
    const e = await refusal(client.placeAsk({ market: 'cpu', price: '5', capacity: 1, expiresAt: hour() }));
    expect([e.status, e.code]).toEqual([401, 'AUTH__KEY_REVOKED']);
  });

  it('answers the exact same request replayed as a replay, not as a new revocation', async () => {
    const { key, delegation } = await session();
    const path = '/v1/sessions/revoke';
    const headers = { 'content-type': 'application/json', ...(await signRequest(key, { method: 'POST', path, body: '{}', delegation })) };
    const first = await SELF.fetch(BASE + path, { method: 'POST', headers, body: '{}' });
    expect(first.status).toBe(200);
    const replay = await SELF.fetch(BASE + path, { method: 'POST', headers, body: '{}' });
    expect([replay.status, ((await replay.json()) as { error: { code: string } }).error.code]).toEqual([401, 'AUTH__NONCE_REPLAYED']);
  });
});

describe('a revocation that is refused', () => {
  it('is refused when signed by a bare wallet key, which keeps working', async () => {
    const owner = await wallet(5n * DOUG);
    const res = await revokeRaw(owner.keypair, '{}');
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('AUTH__FORBIDDEN');
    expect(res.body.error?.message).toMatch(/sign with the session key to revoke it/);
    expect((await owner.client.placeBid({ market: 'cpu', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC })).order.owner).toBe(owner.key);
  });

  it('is refused for an unknown field or a missing body, and the key stays usable', async () => {
    const { key, delegation, client } = await session();
    const unknown = await revokeRaw(key, '{"reason":"bye"}', delegation);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'API__INVALID_INPUT', context: { field: 'reason', problem: 'is not a known field' } });
    const empty = await revokeRaw(key, '', delegation);
    expect([empty.status, empty.body.error?.code]).toEqual([400, 'API__MALFORMED_JSON']);
    expect((await client.placeBid({ market: 'cpu', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC })).order.status).toBeDefined();
  });

  it('is refused unsigned', async () => {
    const res = await SELF.fetch(BASE + '/v1/sessions/revoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AUTH__MISSING');
  });
});
