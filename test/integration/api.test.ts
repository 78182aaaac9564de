import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../durable-objects/runtime/env.ts';
import worker from '../../workers/index.ts';
import { BASE, DOUG, SPEC, refusal, until, wallet } from './helpers.ts';

const hour = () => Date.now() + 3600_000;

describe('a buyer bids against two providers', () => {
  it('matches two replicas, creates the job, keeps only the cost in escrow and conserves funds', async () => {
    const buyer = await wallet(100n * DOUG);
    const p1 = await wallet();
    const p2 = await wallet();
    const a1 = await p1.client.placeAsk({ market: 'cpu', price: '2000000', capacity: 2, attributes: { accelerator: 'cpu', memoryGb: 16, region: 'eu' }, expiresAt: hour() });
    const a2 = await p2.client.placeAsk({ market: 'cpu', price: '3000000', capacity: 1, attributes: { accelerator: 'cpu', memoryGb: 32, region: 'us' }, expiresAt: hour() });
    expect(a1.order.status).toBe('open');
    expect(a2.order.status).toBe('open');

    const bid = await buyer.client.placeBid({ market: 'cpu', maxPrice: '5000000', units: 10, replicas: 2, expiresAt: hour(), job: SPEC });
    expect(bid.escrow).toBe((5_000_000n * 10n * 2n).toString());
    expect(bid.jobId).toBe(bid.order.id);
    const jobId = bid.jobId!;

    // The market's outbox creates the job and releases the unused escrow: cost = (2M + 3M) * 10.
    const job = await until(async () => {
      try {
        return await buyer.client.job(jobId);
      } catch {
        return undefined;
      }
    }, 'the job object');
    expect(job.buyer).toBe(buyer.key);
    const cost = (2_000_000n + 3_000_000n) * 10n;
    const balance = await until(async () => {
      const b = await buyer.client.account();
      return b.held === cost.toString() ? b : undefined;
    }, 'the unused escrow to be released');
    expect(BigInt(balance.available)).toBe(100n * DOUG - cost);

    // Read models catch up: both asks listed, one trade pair, audit balanced.
    const asks = await until(async () => {
      const page = await buyer.client.asks({ market: 'cpu', status: 'all' });
      return page.items.length >= 2 ? page : undefined;
    }, 'asks in the read model');
    expect(asks.items.map((o) => o.id).sort()).toEqual([a1.order.id, a2.order.id].sort());
    const trades = await until(async () => {
      const t = await buyer.client.trades('cpu');
      return t.items.length >= 2 ? t : undefined;
    }, 'trades');
    expect(trades.items.map((t) => String(t.provider)).sort()).toEqual([p1.key, p2.key].sort());
    // A bid matched on arrival never rested, yet its owner still finds it among their bids.
    const bids = await buyer.client.bids({ owner: buyer.key, status: 'all' });
    expect(bids.items.map((b) => [b.id, b.status, b.units, b.replicas])).toEqual([[job.jobId, 'matched', 10, 2]]);
    const audit = await until(async () => {
      const a = await buyer.client.audit();
      return a.accounts >= 1 && a.held === cost.toString() ? a : undefined;
    }, 'audit to see the hold');
    expect(audit.ok).toBe(true);
    expect(audit.violations).toEqual([]);
  });

  it('filters offers by accelerator, region and memory, and sorts by price', async () => {
    const p = await wallet();
    const region = `r${Date.now() % 100000}`;
    await p.client.placeAsk({ market: 'gpu-24gb', price: '900', capacity: 1, attributes: { accelerator: 'RTX4090', memoryGb: 24, region }, expiresAt: hour() });
    await p.client.placeAsk({ market: 'gpu-24gb', price: '700', capacity: 1, attributes: { accelerator: 'A100', memoryGb: 40, region }, expiresAt: hour() });
    const page = await until(async () => {
      const r = await p.client.asks({ market: 'gpu-24gb', region });
      return r.items.length === 2 ? r : undefined;
    }, 'two asks');
    expect(page.items.map((o) => o.price)).toEqual(['700', '900']);
    const big = await p.client.asks({ market: 'gpu-24gb', region, minMemoryGb: 32 } as never);
    expect(big.items.map((o) => (o.attributes as { accelerator: string }).accelerator)).toEqual(['A100']);
    const a100 = await p.client.asks({ market: 'gpu-24gb', accelerator: 'RTX4090' } as never);
    expect(a100.items.every((o) => (o.attributes as { accelerator: string }).accelerator === 'RTX4090')).toBe(true);
  });
});

describe('a batch of asks', () => {
  it('is placed in one request; each ask gets its own outcome, and a repeat returns the same orders', async () => {
    const p = await wallet();
    const asks: { clientId: string; price: string; capacity: number; attributes: Record<string, string | number>; expiresAt: number }[] = [
      { clientId: 'b-1', price: '500', capacity: 2, attributes: { accelerator: 'L4', memoryGb: 24 }, expiresAt: hour() },
      { clientId: 'b-2', price: '600', capacity: 1, attributes: { accelerator: 'L4', memoryGb: 24 }, expiresAt: hour() },
      { clientId: 'b-3', price: '700', capacity: 1, attributes: { accelerator: 'L4', price: 3 }, expiresAt: hour() },
    ];
    const first = await p.client.placeAskBatch('gpu-24gb', asks);
    expect(first.results).toHaveLength(3);
    const [a, b, c] = first.results as ({ order?: { id: string; status: string }; error?: { code: string } })[];
    expect([a!.order?.status, b!.order?.status]).toEqual(['open', 'open']);
    expect(c!.error?.code).toBe('MARKET__INVALID_ATTRIBUTE');
    const again = await p.client.placeAskBatch('gpu-24gb', asks.slice(0, 2));
    expect(again.results.map((r) => ('order' in r ? r.order.id : null))).toEqual([a!.order!.id, b!.order!.id]);
    const depth = await p.client.market('gpu-24gb', { depth: 50 });
    expect(depth.book.asks.filter((l) => l.price === '500' || l.price === '600').length).toBe(2);
  });

  it('over 100 asks is refused whole', async () => {
    const p = await wallet();
    const asks = Array.from({ length: 101 }, (_, i) => ({ clientId: `x${i}`, price: '1', capacity: 1, attributes: {}, expiresAt: hour() }));
    const e = await refusal(p.client.placeAskBatch('cpu', asks));
    expect([e.status, e.code]).toEqual([400, 'API__INVALID_INPUT']);
  });
});

describe('a resting bid', () => {
  it('is cancelled only by its owner, and its escrow comes back in full', async () => {
    const buyer = await wallet(10n * DOUG);
    const other = await wallet();
    const bid = await buyer.client.placeBid({ market: 'gpu-80gb', maxPrice: '1000', units: 5, replicas: 3, expiresAt: hour(), job: SPEC });
    expect(bid.order.status).toBe('open');
    expect((await buyer.client.account()).held).toBe('15000');

    const refused = await refusal(other.client.cancelBid(bid.order.id));
    expect(refused.status).toBe(403);
    expect(refused.code).toBe('MARKET__NOT_ORDER_OWNER');

    const cancelled = await buyer.client.cancelBid(bid.order.id);
    expect(cancelled.order.status).toBe('cancelled');
    const b = await until(async () => {
      const v = await buyer.client.account();
      return v.held === '0' ? v : undefined;
    }, 'the hold to be released');
    expect(b.available).toBe((10n * DOUG).toString());
  });

  it('placed twice with one client id is one order with one hold', async () => {
    const buyer = await wallet(10n * DOUG);
    const input = { market: 'gpu-80gb', clientId: 'same-id-1', maxPrice: '1000', units: 5, replicas: 1, expiresAt: hour(), job: SPEC };
    const first = await buyer.client.placeBid(input);
    const second = await buyer.client.placeBid(input);
    expect(second.order.id).toBe(first.order.id);
    expect((await buyer.client.account()).held).toBe('5000');
    const changed = await refusal(buyer.client.placeBid({ ...input, units: 6 }));
    expect(changed.status).toBe(409);
    expect(changed.code).toBe('API__IDEMPOTENCY_CONFLICT');
    expect((await buyer.client.account()).held).toBe('5000');
  });

  it('expires unfilled at its expiry time, and its escrow comes back in full', async () => {
    const buyer = await wallet(10n * DOUG);
    const bid = await buyer.client.placeBid({ market: 'gpu-80gb', maxPrice: '1000', units: 3, replicas: 4, expiresAt: Date.now() + 1500, job: SPEC });
    expect((await buyer.client.account()).held).toBe('12000');
    const b = await until(async () => {
      const v = await buyer.client.account();
      return v.held === '0' ? v : undefined;
    }, 'the expiry alarm to release the hold', 15_000);
    expect(b.available).toBe((10n * DOUG).toString());
    const bids = await until(async () => {
      const page = await buyer.client.bids({ market: 'gpu-80gb', owner: buyer.key, status: 'expired' });
      return page.items.length === 1 ? page : undefined;
    }, 'the read model to show the expiry');
    expect(bids.items[0]!.id).toBe(bid.order.id);
  });

  it('once closed, a repeat under its clientId answers the closed bid and holds nothing again', async () => {
    const buyer = await wallet(10n * DOUG);
    const input = { market: 'gpu-80gb', clientId: 'spent-1', maxPrice: '1000', units: 2, replicas: 5, expiresAt: hour(), job: SPEC };
    const bid = await buyer.client.placeBid(input);
    await buyer.client.cancelBid(bid.order.id);
    await until(async () => ((await buyer.client.account()).held === '0' ? true : undefined), 'the release');
    const again = await buyer.client.placeBid(input);
    expect([again.order.id, again.order.status]).toEqual([bid.order.id, 'cancelled']);
    const b = await buyer.client.account();
    expect([b.available, b.held]).toEqual([(10n * DOUG).toString(), '0']);
  });

  it('refused for want of funds, may be placed under the same clientId once funded', async () => {
    const buyer = await wallet(1000n);
    const input = { market: 'gpu-80gb', clientId: 'unfunded-1', maxPrice: '1000', units: 2, replicas: 1, expiresAt: hour(), job: SPEC };
    expect((await refusal(buyer.client.placeBid(input))).code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
    await buyer.client.faucet('1000');
    const placed = await buyer.client.placeBid(input);
    expect(placed.order.status).toBe('open');
    expect((await buyer.client.account()).held).toBe('2000');
  });

  it('cannot be funded beyond the balance', async () => {
    const buyer = await wallet(1000n);
    const e = await refusal(buyer.client.placeBid({ market: 'cpu', maxPrice: '1000', units: 5, replicas: 1, expiresAt: hour(), job: SPEC }));
    expect(e.status).toBe(402);
    expect(e.code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
    const b = await buyer.client.account();
    expect([b.available, b.held]).toEqual(['1000', '0']);
  });
});

describe('the faucet', () => {
  it('exists in local mode and credits the signer', async () => {
    const w = await wallet(5n * DOUG);
    expect((await w.client.account()).available).toBe((5n * DOUG).toString());
  });

  it('does not exist when the Worker is not in local mode', async () => {
    const w = await wallet();
    const { signRequest } = await import('../../durable-objects/contracts/auth.ts');
    const body = JSON.stringify({ amount: '1000' });
    const headers = { 'content-type': 'application/json', ...(await signRequest(w.keypair, { method: 'POST', path: '/v1/faucet', body })) };
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}/v1/faucet`, { method: 'POST', headers, body }), { ...env, LOCAL_MODE: undefined } as never, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('API__NOT_FOUND');
    expect((await w.client.account()).available).toBe('0');
  });
});

describe('the integrity check (GET /v1/objects/:kind/:id/integrity)', () => {
  const check = async (path: string, e: unknown = env) => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}${path}`), e as never, ctx);
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as { consistent?: boolean; seq?: number; replay?: { seq: number }; error?: { code: string } } };
  };

  it("answers an object's live state against its replay, and tells when they differ", async () => {
    const w = await wallet(5n * DOUG);
    const path = `/v1/objects/account/${w.key}/integrity`;
    const before = await check(path);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ kind: 'account', id: w.key, consistent: true });
    expect(before.body.seq).toBeGreaterThan(0);
    expect(before.body.replay!.seq).toBe(before.body.seq);
    // The log loses its last event under the live object: its state no longer follows from the log.
    const { runInDurableObject } = await import('cloudflare:test');
    const stub = (env as unknown as Env).ACCOUNTS.get((env as unknown as Env).ACCOUNTS.idFromName(w.key));
    await runInDurableObject(stub, (_instance, state) => void state.storage.sql.exec('DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)'));
    const after = await check(path);
    expect(after.body.consistent).toBe(false);
    expect(after.body.replay!.seq).toBe(before.body.seq! - 1);
  });

  it('refuses an unknown kind or a malformed name, and does not exist outside local mode', async () => {
    expect((await check('/v1/objects/ledger/x/integrity')).body.error!.code).toBe('API__INVALID_INPUT');
    expect((await check('/v1/objects/job/a%20b/integrity')).body.error!.code).toBe('API__INVALID_INPUT');
    const outside = await check('/v1/objects/market/cpu/integrity', { ...env, LOCAL_MODE: undefined });
    expect(outside).toMatchObject({ status: 404, body: { error: { code: 'API__NOT_FOUND' } } });
  });
});

describe('the offers list sorted by reputation', () => {
  it('puts providers in the order of the domain score, the unrated at zero', async () => {
    const region = `rep-${crypto.randomUUID().slice(0, 8)}`;
    const [good, bad, fresh] = await Promise.all([wallet(), wallet(), wallet()]);
    for (const p of [good, bad, fresh]) await p.client.placeAsk({ market: 'cpu', price: '1000', capacity: 1, attributes: { region }, expiresAt: hour() });
    const db = (env as unknown as Env).DB;
    await db.batch([
      db.prepare('INSERT OR REPLACE INTO providers (provider, completed, lapsed, rejected) VALUES (?, 3, 0, 0)').bind(good.key),
      db.prepare('INSERT OR REPLACE INTO providers (provider, completed, lapsed, rejected) VALUES (?, 4, 1, 0)').bind(bad.key),
    ]);
    const page = await until(async () => {
      const p = await good.client.asks({ market: 'cpu', region, sort: 'reputation' });
      return p.items.length === 3 ? p : undefined;
    }, 'the three asks in the read model');
    // Scores: good 3, fresh 0, bad 4 - 5 = -1.
    expect(page.items.map((o) => o.owner)).toEqual([good.key, fresh.key, bad.key]);
  });
});
