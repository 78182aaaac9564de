import { env as rawEnv } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../durable-objects/runtime/env.ts';
import type { Result } from '../../durable-objects/domain/result.ts';
import type { JobView } from '../../durable-objects/domain/job/view.ts';
import { DOUG, SPEC, until, wallet } from './helpers.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;

/**
 * The whole money path across objects: hold (account) → match (market) → job created (job) →
 * results agree → hold settled into payouts and fee (account) → payouts received (accounts) and
 * slots returned (market). Agents arrive with the next issue; here the providers act on the job
 * object directly, through the same RPC the agent socket will use.
 */
describe('a verified two-replica job', () => {
  it('pays each provider once, the fee pool its fee, returns the slots and conserves funds', async () => {
    const buyer = await wallet(50n * DOUG);
    const p1 = await wallet();
    const p2 = await wallet();
    const price1 = 2_000_000n;
    const price2 = 3_000_000n;
    await p1.client.placeAsk({ market: 'cpu', price: price1.toString(), capacity: 1, attributes: { accelerator: 'cpu' }, expiresAt: hour() });
    await p2.client.placeAsk({ market: 'cpu', price: price2.toString(), capacity: 1, attributes: { accelerator: 'cpu' }, expiresAt: hour() });
    const bid = await buyer.client.placeBid({ market: 'cpu', maxPrice: '4000000', units: 10, replicas: 2, expiresAt: hour(), job: SPEC });
    const jobId = bid.jobId!;
    expect(jobId).toBeTruthy();

    const job = env.JOBS.get(env.JOBS.idFromName(jobId));
    const created = await until(async () => ((await job.view()) as JobView | null) ?? undefined, 'the job to be created');
    expect(created.replicas.map((r) => r.provider).sort()).toEqual([p1.key, p2.key].sort());

    for (const r of created.replicas) {
      const actor = r.provider!;
      const meta = (id: string) => ({ commandId: `${id}:${r.replica}`, actor, now: Date.now() });
      const leaseId = `lease-${r.replica}`;
      const started = (await job.execute(jobId, { type: 'StartLease', replica: r.replica, leaseId, agentKey: actor }, meta('start'))) as Result<unknown>;
      expect(started.ok).toBe(true);
      const submitted = (await job.execute(jobId, { type: 'SubmitResult', leaseId, outputDigest: 'c'.repeat(64), outputBytes: 64, fingerprint: 'ort-1.20-cpu' }, meta('result'))) as Result<unknown>;
      expect(submitted.ok).toBe(true);
    }

    const settled = await until(async () => {
      const v = (await job.view()) as JobView;
      return v.status === 'settled' ? v : undefined;
    }, 'settlement');
    const gross = [price1 * 10n, price2 * 10n];
    const fees = gross.map((g) => (g * 250n) / 10_000n);
    expect(settled.fee).toBe(fees[0]! + fees[1]!);

    // Payouts travel account → account through outboxes; each arrives exactly once.
    const [b1, b2] = await until(async () => {
      const a = await p1.client.account();
      const b = await p2.client.account();
      return a.available !== '0' && b.available !== '0' ? [a, b] : undefined;
    }, 'payouts');
    expect(BigInt(b1.available)).toBe(gross[0]! - fees[0]!);
    expect(BigInt(b2.available)).toBe(gross[1]! - fees[1]!);
    const buyerBalance = await until(async () => {
      const b = await buyer.client.account();
      return b.held === '0' ? b : undefined;
    }, 'the buyer hold to close');
    expect(BigInt(buyerBalance.available)).toBe(50n * DOUG - gross[0]! - gross[1]!);

    // Both slots went back to their asks.
    const depth = await until(async () => {
      const m = await buyer.client.market('cpu', { depth: 50 });
      const free = m.book.asks.filter((l) => l.price === price1.toString() || l.price === price2.toString());
      return free.length === 2 ? m : undefined;
    }, 'slots to return');
    expect(depth.book.asks.length).toBeGreaterThanOrEqual(2);

    const audit = await until(async () => {
      const a = await buyer.client.audit();
      return a.ok && a.inFlight === '0' && BigInt(a.feePool) === fees[0]! + fees[1]! ? a : undefined;
    }, 'a balanced audit with the fee in the pool');
    expect(audit.violations).toEqual([]);
  });
});
