import { describe, expect, it } from 'vitest';
import { createDelegation, generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { DougClient } from '../../sdk/client.ts';
import { SELF } from 'cloudflare:test';
import { BASE, DOUG, SPEC, refusal, wallet } from './helpers.ts';

const hour = () => Date.now() + 3600_000;

/** A wallet authorises a session key once; the key then acts for the wallet within its scopes. */
describe('a delegated session key', () => {
  it('bids with the wallet\'s funds, within its scopes only, until it expires', async () => {
    const owner = await wallet(5n * DOUG);
    const session = await generateKeypair();
    const delegation = await createDelegation(owner.keypair, { delegate: session.publicKey, scopes: ['orders'], expiresAt: hour() });
    const client = new DougClient({ baseUrl: BASE, keypair: session, delegation, fetch: (u, i) => SELF.fetch(u, i) });

    const bid = await client.placeBid({ market: 'gpu-80gb', maxPrice: '1000', units: 2, replicas: 1, expiresAt: hour(), job: SPEC });
    expect(bid.order.owner).toBe(owner.key);
    expect((await owner.client.account()).held).toBe('2000');
    expect((await client.cancelBid(bid.order.id)).order.status).toBe('cancelled');

    const ask = await refusal(client.placeAsk({ market: 'cpu', price: '5', capacity: 1, attributes: {}, expiresAt: hour() }));
    expect([ask.status, ask.code]).toEqual([403, 'AUTH__FORBIDDEN']);
    const faucet = await refusal(client.faucet('1'));
    expect([faucet.status, faucet.code]).toEqual([403, 'AUTH__FORBIDDEN']);

    const expired = await createDelegation(owner.keypair, { delegate: session.publicKey, scopes: ['orders'], expiresAt: Date.now() - 1 });
    const late = new DougClient({ baseUrl: BASE, keypair: session, delegation: expired, fetch: (u, i) => SELF.fetch(u, i) });
    const e = await refusal(late.placeBid({ market: 'cpu', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC }));
    expect([e.status, e.code]).toEqual([401, 'AUTH__DELEGATION_INVALID']);
  });

  it('is refused when the wallet did not sign it', async () => {
    const owner = await wallet(5n * DOUG);
    const thief = await wallet();
    const session = await generateKeypair();
    // The thief signs a delegation that names the owner's wallet.
    const forged = { ...(await createDelegation(thief.keypair, { delegate: session.publicKey, scopes: ['orders'], expiresAt: hour() })), wallet: owner.key };
    const client = new DougClient({ baseUrl: BASE, keypair: session, delegation: forged, fetch: (u, i) => SELF.fetch(u, i) });
    const e = await refusal(client.placeBid({ market: 'cpu', maxPrice: '1', units: 1, expiresAt: hour(), job: SPEC }));
    expect([e.status, e.code]).toEqual([401, 'AUTH__DELEGATION_INVALID']);
    expect((await owner.client.account()).held).toBe('0');
  });
});
