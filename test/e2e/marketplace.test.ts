import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildGatherModel, buildMlpModel } from '../../gpu-agent/models/build.ts';
import { DougClient } from '../../sdk/client.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { eventually, startAgent, type AgentProcess } from './agents.ts';
import { startStack, type Stack } from './stack.ts';

/**
 * The marketplace end to end: `npm start`'s stack (wrangler dev, real workerd), real `doug-agent`
 * processes running real onnxruntime, a buyer through the SDK. Leases are short (4 s) in these
 * markets so that lapses happen within a test.
 */
const MARKETS = JSON.stringify([
  ...['cpu', 'gpu-24gb', 'gpu-80gb', 'cpu-fail'].map((id) => ({ id, description: id, params: { leaseMs: 4_000, replicaBidTtlMs: 30_000, challengeWindowMs: 5_000 } })),
  // Leases long enough to outlive a server restart.
  { id: 'cpu-long', description: 'cpu-long', params: { leaseMs: 90_000 } },
]);
const PRICE = '0.001';
const PRICE_UNITS = UNITS_PER_DOUG / 1000n;
const net = (gross: bigint) => gross - (gross * 250n) / 10_000n;

let stack: Stack;
const agents: AgentProcess[] = [];
let buyer: DougClient;
let spec: { modelSha256: string; inputSha256: string; inputBytes: number; tolerance: null };

async function agentsOn(market: string, names: string[], o: { fault?: string } = {}): Promise<AgentProcess[]> {
  const started: AgentProcess[] = [];
  for (const name of names) {
    // One at a time, so that their asks queue in this order at equal prices.
    const agent = await startAgent({ url: stack.url, dir: stack.dir, name, market, price: PRICE, fault: o.fault === name });
    agents.push(agent);
    started.push(agent);
    await eventually(async () => (await buyer.asks({ market, owner: agent.key.publicKey })).items.length === 1, `${name}'s ask`, 30_000, agent.log);
  }
  return started;
}

async function settled(jobId: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const job = await buyer.job(jobId);
    return job.status === 'settled' || job.status === 'refunded' ? job : null;
  }, `job ${jobId} to end`, timeoutMs, () => agents.map((a) => a.log()).join('\n'));
}

async function balance(key: string): Promise<bigint> {
  return BigInt((await buyer.account(key)).available);
}

beforeAll(async () => {
  stack = await startStack({ markets: MARKETS, custody: 'token-account' });
  const buyerKey = await generateKeypair();
  buyer = new DougClient({ baseUrl: stack.url, keypair: buyerKey });
  // The faucet mints on the stack's local chain; the deposit credits the ledger.
  await faucetAndDeposit(buyer, buyerKey, 100n * UNITS_PER_DOUG);
  const model = await buyer.uploadModel(buildMlpModel({ inputSize: 8, hidden: 32, outputSize: 3, seed: 5 }));
  const x = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5, 1, 0]);
  const input = await buyer.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(x.buffer))]);
  spec = { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null };
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await stack?.stop();
}, 60_000);

describe('three agents and 2-replica bids', () => {
  it('verifies and pays every job, with exact balances and conserved funds', async () => {
    const providers = await agentsOn('cpu', ['a1', 'a2', 'a3']);
    const buyerBefore = await balance(buyer.accountKey!);
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const bid = await buyer.placeBid({ market: 'cpu', maxPrice: (2n * PRICE_UNITS).toString(), units: 2, replicas: 2, expiresAt: Date.now() + 120_000, job: spec });
      jobs.push(bid.order.id);
    }
    const done = await Promise.all(jobs.map((id) => settled(id)));
    expect(done.map((j) => j.status)).toEqual(['settled', 'settled', 'settled']);
    const digests = new Set(done.flatMap((j) => (j.replicas as { digest: string }[]).map((r) => r.digest)));
    expect(digests.size).toBe(1); // same model, same inputs, same runtime: bit-identical outputs

    const gross = PRICE_UNITS * 2n;
    const paidTimes = new Map<string, number>();
    for (const j of done) for (const p of j.payouts as { provider: string }[]) paidTimes.set(p.provider, (paidTimes.get(p.provider) ?? 0) + 1);
    for (const p of providers) {
      const times = BigInt(paidTimes.get(p.key.publicKey) ?? 0);
      await eventually(async () => (await balance(p.key.publicKey)) === net(gross) * times, 'provider payouts');
    }
    await eventually(async () => (await buyer.account()).held === '0', 'escrow closed');
    expect(await balance(buyer.accountKey!)).toBe(buyerBefore - 6n * gross);
    // The audit reads the read models, which catch up a moment later.
    const fees = 6n * (gross - net(gross));
    const audit = await eventually(async () => {
      const a = await buyer.audit();
      return a.inFlight === '0' && a.held === '0' && BigInt(a.feePool) === fees ? a : null;
    }, 'an audit with every fee in the pool');
    expect(audit.ok).toBe(true);
    expect(audit.violations).toEqual([]);

    // A provider takes its earnings out to its wallet on chain; afterwards the ledger and custody
    // still agree (a mixed run of deposits, jobs and withdrawals).
    const earner = providers.find((p) => (paidTimes.get(p.key.publicKey) ?? 0) > 0)!;
    const earned = await balance(earner.key.publicKey);
    const wallet = new DougClient({ baseUrl: stack.url, keypair: earner.key });
    const requested = await wallet.withdraw({ amount: earned });
    const paid = await eventually(async () => {
      const w = await wallet.withdrawal(requested.withdrawalId);
      return w.status === 'paid' || w.status === 'refunded' ? w : null;
    }, 'the withdrawal to be paid', 60_000);
    expect(paid.status).toBe('paid');
    expect(await balance(earner.key.publicKey)).toBe(0n);
    const after = await eventually(async () => {
      const a = await buyer.audit();
      return a.custody && a.custody.withdrawalsInFlight === '0' && BigInt(a.withdrawn) >= earned ? a : null;
    }, 'an audit that counts the withdrawal');
    expect(after.ok).toBe(true);
    expect(after.custody?.ok).toBe(true);
    expect(after.custody?.onChain).toBe(after.custody?.expected);
  });

  it('refunds in full a bid that cannot be filled once it expires', async () => {
    const before = await buyer.account();
    const bid = await buyer.placeBid({ market: 'cpu', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 4, expiresAt: Date.now() + 2_000, job: spec });
    expect(bid.order.status).toBe('open');
    await eventually(async () => (await buyer.account()).held === before.held && (await buyer.account()).available === before.available, 'the refund', 20_000);
  });
});

describe('an agent that returns wrong outputs', () => {
  it('is outvoted by a tie-breaker: the honest majority is paid, the faulty agent is not and is marked down', async () => {
    const [faulty, honest, breaker] = await agentsOn('gpu-24gb', ['f1', 'h1', 'h2'], { fault: 'f1' });
    const bid = await buyer.placeBid({ market: 'gpu-24gb', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 2, expiresAt: Date.now() + 120_000, job: spec });
    const job = await settled(bid.order.id);
    expect(job.status).toBe('settled');
    const paid = (job.payouts as { provider: string }[]).map((p) => p.provider).sort();
    expect(paid).toEqual([honest!.key.publicKey, breaker!.key.publicKey].sort());
    expect(await balance(faulty!.key.publicKey)).toBe(0n);
    const offers = await eventually(async () => {
      const page = await buyer.asks({ market: 'gpu-24gb', owner: faulty!.key.publicKey });
      const rep = page.items[0]?.reputation as { rejected: number } | undefined;
      return rep && rep.rejected === 1 ? page : null;
    }, 'the faulty provider marked down');
    expect(offers.items).toHaveLength(1);
  });
});

describe('an input that fits the model but fails when run', () => {
  it("ends the job failed with the agents' reason: the buyer refunded less the failed-run fee, both providers paid it and not marked lapsed", async () => {
    const [a, b] = await agentsOn('cpu-fail', ['g1', 'g2']);
    const model = await buyer.uploadModel(buildGatherModel());
    // Index 9 into a table of 4: the interface fits (int64 [n]); Gather's bounds check fails at run time.
    const input = await buyer.uploadInputs([toWire('i', 'int64', [1], new Uint8Array(new BigInt64Array([9n]).buffer))]);
    const before = await balance(buyer.accountKey!);
    const bid = await buyer.placeBid({
      market: 'cpu-fail',
      maxPrice: PRICE_UNITS.toString(),
      units: 10,
      replicas: 2,
      expiresAt: Date.now() + 120_000,
      job: { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null },
    });
    const job = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      return j.status === 'failed' || j.status === 'settled' || j.status === 'refunded' ? j : null;
    }, 'the job to end', 30_000, () => agents.map((x) => x.log()).join('\n'));
    expect(job.status).toBe('failed');
    const failure = job.failure as { kind: string; reason: string };
    expect(failure.kind).toBe('runtime');
    expect(failure.reason).toMatch(/indices|out of (data )?bounds/i);
    const timeline = job.timeline as { at: number; event: string }[];
    const matchedAt = timeline.find((e) => e.event === 'JobCreated')!.at;
    const failedAt = timeline.find((e) => e.event === 'JobFailed')!.at;
    expect(failedAt - matchedAt).toBeLessThan(10_000);
    // The fee: one work unit at the matched price per failing replica (gross), from the escrow of 2 x 10 units.
    const payouts = job.payouts as { provider: string; gross: string; net: string }[];
    expect(payouts.map((p) => p.provider).sort()).toEqual([a!.key.publicKey, b!.key.publicKey].sort());
    expect(payouts.every((p) => BigInt(p.gross) === PRICE_UNITS)).toBe(true);
    await eventually(async () => (await balance(buyer.accountKey!)) === before - 2n * PRICE_UNITS, 'the buyer refunded less the fee');
    expect(await balance(a!.key.publicKey)).toBe(net(PRICE_UNITS));
    expect(await balance(b!.key.publicKey)).toBe(net(PRICE_UNITS));
    for (const agent of [a!, b!]) {
      const page = await buyer.asks({ market: 'cpu-fail', owner: agent.key.publicKey });
      expect(page.items[0]?.reputation).toMatchObject({ lapsed: 0, rejected: 0 });
    }
    const audit = await eventually(async () => {
      const r = await buyer.audit();
      return r.ok && !r.stale && r.inFlight === '0' ? r : null;
    }, 'a clean audit');
    expect(audit.violations).toEqual([]);
  });
});

describe('an agent killed mid-job', () => {
  it('lets its lease lapse; another agent completes the replica and nothing is paid twice', async () => {
    const [frozen, steady, spare] = await agentsOn('gpu-80gb', ['k1', 'k2', 'k3']);
    // Frozen: its socket stays open but it answers nothing, as a hung or dying machine would.
    frozen!.child.kill('SIGSTOP');
    const bid = await buyer.placeBid({ market: 'gpu-80gb', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 2, expiresAt: Date.now() + 120_000, job: spec });
    const job = await settled(bid.order.id, 90_000);
    frozen!.child.kill('SIGKILL');
    expect(job.status).toBe('settled');
    const paid = (job.payouts as { provider: string }[]).map((p) => p.provider).sort();
    expect(paid).toEqual([steady!.key.publicKey, spare!.key.publicKey].sort());
    await eventually(async () => (await balance(spare!.key.publicKey)) === net(PRICE_UNITS), 'the spare paid once', 30_000, () =>
      JSON.stringify({ job, spare: spare!.key.publicKey }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    expect(await balance(steady!.key.publicKey)).toBe(net(PRICE_UNITS));
    expect(await balance(frozen!.key.publicKey)).toBe(0n);
  });
});

describe('agents whose connection drops', () => {
  it('reconnect, resume their leases and deliver the results they finished while offline', async () => {
    const pair = await agentsOn('cpu-long', ['r1', 'r2']);
    for (const a of pair) a.child.kill('SIGSTOP');
    const bid = await buyer.placeBid({ market: 'cpu-long', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 2, expiresAt: Date.now() + 120_000, job: spec });
    // Both assignments are on their way to the frozen agents; now the server goes away and comes back.
    await eventually(async () => ((await buyer.job(bid.order.id)).replicas as { status: string }[]).every((r) => r.status === 'leased'), 'both leases granted');
    await stack.restart();
    for (const a of pair) a.child.kill('SIGCONT');
    const job = await settled(bid.order.id, 120_000);
    expect(job.status).toBe('settled');
    expect((job.payouts as { provider: string }[]).map((p) => p.provider).sort()).toEqual(pair.map((a) => a.key.publicKey).sort());
    // Each agent saw its socket drop and delivered through the new one (resumed, or resent).
    for (const a of pair) {
      expect(a.log()).toMatch(/offline \(/);
      expect(a.log()).toMatch(/resumed|answer sent again|answer held/);
    }
    // What the restart dropped from the local queue is sent again: the read models converge, and the
    // audit says so only then.
    const audit = await eventually(async () => {
      const r = await buyer.audit();
      return r.ok && !r.stale ? r : null;
    }, 'the read models to converge after the restart', 60_000);
    expect(audit.readModel).toEqual({ objectsBehind: 0, eventsBehind: 0, byKind: {} });
  });
});
