import { env as rawEnv } from 'cloudflare:workers';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { AccountObject } from '../../durable-objects/runtime/account-object.ts';
import { MARKET_SNAPSHOT_EVERY, MarketObject } from '../../durable-objects/runtime/market-object.ts';
import type { MarketCommand } from '../../durable-objects/domain/market/index.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;
const meta = (commandId: string, actor = 'tester') => ({ commandId, actor, now: Date.now() });
const market = (name: string) => env.MARKETS.get(env.MARKETS.idFromName(name));
const account = (name: string) => env.ACCOUNTS.get(env.ACCOUNTS.idFromName(name));

function asks(n: number, prefix: string): MarketCommand[] {
  return Array.from({ length: n }, (_, i) => ({
    type: 'PlaceAsk',
    askId: `ask_cpu_${prefix}${i.toString(16).padStart(24 - prefix.length, '0')}`,
    owner: `provider${i % 7}`,
    price: BigInt(100 + (i % 50)),
    capacity: 1 + (i % 3),
    attributes: { accelerator: 'cpu' },
    expiresAt: hour(),
  }));
}

describe('an object event log', () => {
  it('appends, reloads from storage and replays to the same state hash', async () => {
    const stub = market('log-reload');
    const results = (await stub.placeMany('log-reload', asks(50, 'a'), meta('batch-1'))) as unknown as { ok: boolean }[];
    expect(results.every((r) => r.ok)).toBe(true);
    const first = await stub.integrity();
    expect(first.seq).toBe(50);
    expect(first.replay).toEqual({ seq: 50, hash: first.hash });
    // A fresh instance over the same storage (what a restart or eviction gives) rebuilds the same state.
    const reloaded = await runInDurableObject(stub, (_instance, state) => new MarketObject(state, env).integrity());
    expect(reloaded.hash).toBe(first.hash);
    expect(reloaded.seq).toBe(50);
  });

  it('snapshots a busy object and loads from snapshot + tail to the replay-from-zero hash', async () => {
    const stub = market('log-snapshot');
    for (let b = 0; b < 21; b++) await stub.placeMany('log-snapshot', asks(250, `s${b.toString(16).padStart(2, '0')}`), meta(`batch-${b}`));
    const check = await stub.integrity();
    expect(check.seq).toBe(5250);
    expect(check.snapshot?.seq).toBe(MARKET_SNAPSHOT_EVERY);
    expect(check.replay.hash).toBe(check.hash);
    const reloaded = await runInDurableObject(stub, (_instance, state) => new MarketObject(state, env).integrity());
    expect(reloaded.hash).toBe(check.hash);
  });

  it('answers a repeated command id with the first result and appends nothing', async () => {
    const stub = market('log-idempotent');
    const [cmd] = asks(1, 'i');
    const first = await stub.place('log-idempotent', cmd!, meta('same'));
    const again = await stub.place('log-idempotent', cmd!, meta('same'));
    expect(first.ok && again.ok).toBe(true);
    if (again.ok) expect(again.value.repeated).toBe(true);
    expect((await stub.integrity()).seq).toBe(1);
  });
});

describe('outbox delivery', () => {
  it('applies a message once when it is delivered twice or out of order', async () => {
    const stub = account('receiver-1');
    const envelope = (id: string, ref: string, amount: string) => ({
      id,
      from: 'account:payer',
      to: 'receiver-1',
      body: JSON.stringify({ type: 'ReceivePayout', ref, from: 'payer', amount, holdId: 'h1' }),
    });
    const m1 = envelope('account:payer:7:0', 'h1:receiver-1', '300');
    const m2 = envelope('account:payer:9:0', 'h2:receiver-1', '500');
    expect((await stub.receive(m2)).ok).toBe(true);
    expect((await stub.receive(m1)).ok).toBe(true);
    const repeat = await stub.receive(m1);
    expect(repeat.ok).toBe(true);
    if (repeat.ok) expect(repeat.value.repeated).toBe(true);
    await stub.receive(m2);
    const balance = await stub.balance();
    expect(balance.available).toBe(800n);
    expect(balance.payoutsReceived).toBe(800n);
  });

  it('delivers a cancelled bid\'s release to the buyer exactly once, however often the alarm runs', async () => {
    const buyer = 'buyer-outbox';
    const acct = account(buyer);
    await acct.execute(buyer, { type: 'Credit', ref: 'seed', amount: 10_000n, source: 'faucet' }, meta('seed', buyer));
    const bidId = 'bid_cpu_0000000000000000000000aa';
    await acct.execute(buyer, { type: 'Hold', holdId: bidId, amount: 6_000n }, meta('hold', buyer));
    const stub = market('outbox-market');
    const placed = await stub.place(
      'outbox-market',
      { type: 'PlaceBid', bidId, owner: buyer, maxPrice: 1000n, units: 2, replicas: 3, requirements: [], expiresAt: hour(), ioc: false, spec: { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 1, tolerance: null } },
      meta(bidId, buyer),
    );
    expect(placed.ok).toBe(true);
    const cancelled = await stub.place('outbox-market', { type: 'CancelOrder', orderId: bidId }, meta('cancel', buyer));
    expect(cancelled.ok).toBe(true);
    for (let i = 0; i < 4; i++) await runDurableObjectAlarm(stub);
    const deadline = Date.now() + 5000;
    while ((await acct.balance()).held !== 0n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const balance = await acct.balance();
    expect(balance.held).toBe(0n);
    expect(balance.available).toBe(10_000n);
    const releases = (await acct.history(0, 100)).filter((e) => e.type === 'HoldReleased');
    expect(releases).toHaveLength(1);
    expect(await stub.deadLetters()).toEqual([]);
  });
});
