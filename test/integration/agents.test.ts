import { SELF } from 'cloudflare:test';
import { env as rawEnv } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, helloMessage, type RuntimeFingerprint, type ServerMessage } from '../../durable-objects/contracts/agent.ts';
import { signRequest, signText, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import type { JobView } from '../../durable-objects/domain/job/view.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { PROTOCOL } from '../../durable-objects/domain/params.ts';
import { AGENT_MESSAGE_RATE, HELLO_TIMEOUT_MS, MAX_AGENT_FRAME_BYTES, MAX_PENDING_SOCKETS, MAX_RESULT_BYTES } from '../../durable-objects/domain/dispatch/index.ts';
import { BASE, DOUG, until, wallet } from './helpers.ts';
import { anyShapeModel } from '../support/onnx-model.ts';
import { DougApiError } from '../../sdk/client.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;
const RUNTIME: RuntimeFingerprint = { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2', 'fma'] };

/**
 * An agent speaking the protocol from inside the test (the real agent process is tested in Node;
 * this drives the server side: handshake, pull, dispatch, results, hostile input).
 */
class SocketAgent {
  private readonly inbox: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      this.inbox.push(JSON.parse(String(e.data)) as ServerMessage);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(market: string): Promise<SocketAgent> {
    const res = await SELF.fetch(`${BASE}/v1/markets/${market}/agent`, { headers: { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    return new SocketAgent(ws);
  }

  /** How many messages of a type wait unread. */
  count(type: ServerMessage['type']): number {
    return this.inbox.filter((m) => m.type === type).length;
  }

  /** Takes every unread message of a type. */
  drain<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }>[] {
    const taken = this.inbox.filter((m) => m.type === type) as Extract<ServerMessage, { type: T }>[];
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((m) => m.type !== type));
    return taken;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message of a type (earlier messages of other types are kept). */
  async next<T extends ServerMessage['type']>(type: T, timeoutMs = 5000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms (inbox: ${JSON.stringify(this.inbox).slice(0, 300)})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async hello(keypair: Keypair, askId: string, market = 'cpu', runtime: RuntimeFingerprint = RUNTIME): Promise<void> {
    const { nonce } = await this.next('challenge');
    const signature = await signText(keypair, helloMessage({ market, nonce, agentKey: keypair.publicKey }));
    this.send({ type: 'hello', v: 1, agentKey: keypair.publicKey, signature, askId, hardware: { cpuModel: 'test', cores: 2, memoryGb: 4, gpus: [] }, runtime });
  }
}

async function upload(keypair: Keypair, path: string, body: string | Uint8Array): Promise<Record<string, unknown>> {
  const headers = { 'content-type': typeof body === 'string' ? 'application/json' : 'application/octet-stream', ...(await signRequest(keypair, { method: 'PUT', path, body })) };
  const res = await SELF.fetch(BASE + path, { method: "PUT", headers, body: body as BodyInit });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, unknown>;
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

describe('agents on the market socket', () => {
  it('pull matched replicas, return results, and the verified job pays both providers', async () => {
    const buyer = await wallet(20n * DOUG);
    const providers = [await wallet(), await wallet()];
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-1`));
    const inputs: WireTensor[] = [toWire('x', 'float32', [1, 3], f32([1, 2, 3]))];
    const input = await upload(buyer.keypair, '/v1/inputs', JSON.stringify({ tensors: inputs }));

    const agents: SocketAgent[] = [];
    for (const p of providers) {
      const ask = await p.client.placeAsk({ market: 'cpu', price: '1000000', capacity: 1, attributes: { accelerator: 'cpu', fingerprint: fingerprintOf(RUNTIME) }, expiresAt: hour() });
      const agent = await SocketAgent.connect('cpu');
      await agent.hello(p.keypair, ask.order.id);
      const welcome = await agent.next('welcome');
      expect(welcome.leases).toEqual([]);
      agent.send({ type: 'ready', slots: 1 });
      agents.push(agent);
    }

    const bid = await buyer.client.placeBid({
      market: 'cpu',
      maxPrice: '2000000',
      units: 5,
      replicas: 2,
      expiresAt: hour(),
      job: { modelSha256: String(model.sha256), inputSha256: String(input.inputSha256), inputBytes: Number(input.inputBytes), tolerance: null },
    });
    const jobId = bid.jobId!;

    const outputs: WireTensor[] = [toWire('y', 'float32', [1, 3], f32([2, 3, 4]))];
    const digest = await tensorsDigest(outputs);
    for (const agent of agents) {
      const assign = await agent.next('assign');
      expect(assign.jobId).toBe(jobId);
      expect(assign.model).toMatchObject({ sha256: model.sha256, bytes: Number(model.bytes) });
      expect(assign.inputs).toEqual(inputs);
      agent.send({ type: 'heartbeat', leases: [assign.leaseId] });
      agent.send({ type: 'result', jobId, leaseId: assign.leaseId, outputs, outputDigest: digest, timings: { loadMs: 1, runMs: 1 } });
    }

    const job = env.JOBS.get(env.JOBS.idFromName(jobId));
    const settled = await until(async () => {
      const v = (await job.view()) as JobView | null;
      return v?.status === 'settled' ? v : undefined;
    }, 'the job to settle');
    expect(settled.replicas.map((r) => r.digest)).toEqual([digest, digest]);
    const gross = 1_000_000n * 5n;
    const net = gross - (gross * 250n) / 10_000n;
    for (const p of providers) {
      await until(async () => ((await p.client.account()).available === net.toString() ? true : undefined), 'a provider payout');
    }
    // The buyer fetches the verified result once; then the stored payloads are gone.
    const stranger = await wallet();
    const refused = await stranger.client.jobResult(jobId).catch((e: DougApiError) => e);
    expect(refused instanceof DougApiError && [refused.status, refused.code]).toEqual([403, 'AUTH__FORBIDDEN']);
    const fetched = await buyer.client.jobResult(jobId);
    expect(fetched).toEqual({ replica: expect.any(Number), outputDigest: digest, outputs });
    const again = await buyer.client.jobResult(jobId).catch((e: DougApiError) => e);
    expect(again instanceof DougApiError && [again.status, again.code]).toEqual([410, 'API__RESULT_GONE']);
    expect((await env.BLOBS.list({ prefix: `results/${jobId}/` })).objects).toEqual([]);

    // Reputation: both providers have one verified job in the offers read model.
    const offers = await until(async () => {
      const page = await buyer.client.asks({ market: 'cpu', status: 'all' });
      const mine = page.items.filter((o) => providers.some((p) => p.key === o.owner));
      return mine.length === 2 && mine.every((o) => (o.reputation as { completed: number }).completed === 1) ? mine : undefined;
    }, 'reputation in the offers list');
    expect(offers).toHaveLength(2);

    // Payload bytes never enter an event log: the job's history holds the digest, not the outputs.
    const history = JSON.stringify(await job.history(0, 1000));
    expect(history).toContain(digest);
    const logs = [
      history,
      JSON.stringify(await env.MARKETS.get(env.MARKETS.idFromName('cpu')).history(0, 10_000)),
      ...(await Promise.all([buyer.key, ...providers.map((p) => p.key), 'fee-pool'].map(async (k) => JSON.stringify(await env.ACCOUNTS.get(env.ACCOUNTS.idFromName(k)).history(0, 10_000))))),
    ];
    for (const log of logs) {
      expect(log).not.toContain(outputs[0]!.data);
      expect(log).not.toContain(inputs[0]!.data);
    }
  });

  it('re-matches a replica whose lease lapsed to another provider, pays nothing twice, and tells the silent agent', async () => {
    const buyer = await wallet(20n * DOUG);
    const [silent, steady, spare] = [await wallet(), await wallet(), await wallet()];
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-2`));
    const input = await upload(buyer.keypair, '/v1/inputs', JSON.stringify({ tensors: [toWire('x', 'float32', [1], f32([7]))] }));
    const connect = async (p: typeof silent, price: string) => {
      const ask = await p.client.placeAsk({ market: 'gpu-24gb', price, capacity: 1, attributes: {}, expiresAt: hour() });
      const agent = await SocketAgent.connect('gpu-24gb');
      await agent.hello(p.keypair, ask.order.id, 'gpu-24gb');
      await agent.next('welcome');
      agent.send({ type: 'ready', slots: 1 });
      return agent;
    };
    const silentAgent = await connect(silent, '1000');
    const steadyAgent = await connect(steady, '1500');
    const bid = await buyer.client.placeBid({
      market: 'gpu-24gb',
      maxPrice: '2000',
      units: 10,
      replicas: 2,
      expiresAt: hour(),
      job: { modelSha256: String(model.sha256), inputSha256: String(input.inputSha256), inputBytes: 4, tolerance: null },
    });
    const jobId = bid.jobId!;
    const outputs: WireTensor[] = [toWire('y', 'float32', [1], f32([8]))];
    const digest = await tensorsDigest(outputs);
    const lapsing = await silentAgent.next('assign');
    const working = await steadyAgent.next('assign');
    steadyAgent.send({ type: 'result', jobId, leaseId: working.leaseId, outputs, outputDigest: digest, timings: { loadMs: 0, runMs: 1 } });
    const spareAgent = await connect(spare, '1000');

    // The lease runs out: the job's timer is driven with a time past its deadline.
    const job = env.JOBS.get(env.JOBS.idFromName(jobId));
    await until(async () => ((await job.view()) as JobView).replicas.some((r) => r.status === 'submitted') || undefined, 'the steady result');
    const lapsed = (await job.execute(jobId, { type: 'ExpireLeases' }, { commandId: 'lapse-test', actor: 'system:timer', now: Date.now() + 120_000 })) as { ok: boolean };
    expect(lapsed.ok).toBe(true);
    expect((await silentAgent.next('cancel')).leaseId).toBe(lapsing.leaseId);

    const rerun = await spareAgent.next('assign');
    expect(rerun.replica).toBe(lapsing.replica);
    spareAgent.send({ type: 'result', jobId, leaseId: rerun.leaseId, outputs, outputDigest: digest, timings: { loadMs: 0, runMs: 1 } });
    // A late result from the lapsed lease is refused.
    silentAgent.send({ type: 'result', jobId, leaseId: lapsing.leaseId, outputs, outputDigest: digest, timings: { loadMs: 0, runMs: 1 } });
    expect((await silentAgent.next('error')).code).toBe('AGENT__LEASE_UNKNOWN');

    const settled = await until(async () => {
      const v = (await job.view()) as JobView;
      return v.status === 'settled' ? v : undefined;
    }, 'settlement after the re-match');
    expect(settled.payouts.map((p) => p.provider).sort()).toEqual([steady.key, spare.key].sort());
    const net = (gross: bigint) => gross - (gross * 250n) / 10_000n;
    await until(async () => ((await spare.client.account()).available === net(10_000n).toString() ? true : undefined), 'the spare provider paid');
    expect((await steady.client.account()).available).toBe(net(15_000n).toString());
    expect((await silent.client.account()).available).toBe('0');
    const audit = await until(async () => {
      const a = await buyer.client.audit();
      return a.ok && a.inFlight === '0' && a.held === '0' ? a : undefined;
    }, 'a balanced audit');
    expect(audit.violations).toEqual([]);
    // The re-matched replica is a trade of the same bid: same buyer, same units.
    const trades = await until(async () => {
      const t = (await buyer.client.trades('gpu-24gb')).items.filter((x) => x.jobId === jobId);
      return t.length === 3 ? t : undefined;
    }, 'three trades of the job');
    expect(trades.map((t) => [t.provider, t.buyer, t.units]).sort()).toEqual([silent.key, steady.key, spare.key].map((k) => [k, buyer.key, 10]).sort());
    // Only the two paid fills count as the market's trades: the lapsed one was matched, never traded.
    const paid = await until(async () => {
      const t = (await buyer.client.trades('gpu-24gb')).items.filter((x) => x.jobId === jobId && x.paid === true);
      return t.length === 2 ? t : undefined;
    }, 'the paid fills');
    expect(paid.map((t) => t.provider).sort()).toEqual([steady.key, spare.key].sort());
    expect((await buyer.client.trades('gpu-24gb')).items.find((x) => x.jobId === jobId && x.provider === silent.key)?.paid).toBe(false);
    const summary = (await buyer.client.markets()).items.find((m) => m.market === 'gpu-24gb')!;
    const paidHere = (await buyer.client.trades('gpu-24gb')).items.filter((x) => x.paid === true);
    expect(summary.trades24h).toBe(paidHere.length);
  });

  it('compares replicas on different runtimes within the tolerance, breaks a tie, and leaves the minority unpaid', async () => {
    const buyer = await wallet(20n * DOUG);
    const [honest, faulty, breaker] = [await wallet(), await wallet(), await wallet()];
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-3`));
    const input = await upload(buyer.keypair, '/v1/inputs', JSON.stringify({ tensors: [toWire('x', 'float32', [1], f32([1]))] }));
    const avx512: RuntimeFingerprint = { ...RUNTIME, cpuFeatures: ['avx512f'] };
    const connect = async (p: typeof honest, price: string, runtime: RuntimeFingerprint) => {
      const ask = await p.client.placeAsk({ market: 'gpu-80gb', price, capacity: 1, attributes: {}, expiresAt: hour() });
      const agent = await SocketAgent.connect('gpu-80gb');
      await agent.hello(p.keypair, ask.order.id, 'gpu-80gb', runtime);
      await agent.next('welcome');
      agent.send({ type: 'ready', slots: 1 });
      return agent;
    };
    const honestAgent = await connect(honest, '100', RUNTIME);
    const faultyAgent = await connect(faulty, '100', avx512);
    const bid = await buyer.client.placeBid({
      market: 'gpu-80gb',
      maxPrice: '100',
      units: 10,
      replicas: 2,
      expiresAt: hour(),
      job: { modelSha256: String(model.sha256), inputSha256: String(input.inputSha256), inputBytes: 4, tolerance: 0.01 },
    });
    const jobId = bid.jobId!;
    const answer = async (agent: SocketAgent, value: number) => {
      const assign = await agent.next('assign');
      const outputs = [toWire('y', 'float32', [1], f32([value]))];
      agent.send({ type: 'result', jobId, leaseId: assign.leaseId, outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 1 } });
    };
    await answer(honestAgent, 1.0);
    await answer(faultyAgent, 1.5);
    // The two disagree beyond 0.01: a tie-breaker goes to a third provider, on the faulty one's runtime.
    const breakerAgent = await connect(breaker, '100', avx512);
    await answer(breakerAgent, 1.004);

    const job = env.JOBS.get(env.JOBS.idFromName(jobId));
    const settled = await until(async () => {
      const v = (await job.view()) as JobView;
      return v.status === 'settled' ? v : undefined;
    }, 'settlement after the tie-breaker');
    expect(settled.payouts.map((p) => p.provider).sort()).toEqual([honest.key, breaker.key].sort());
    expect(settled.replicas.find((r) => r.provider === faulty.key)?.status).toBe('rejected');
    await until(async () => ((await breaker.client.account()).available !== '0' ? true : undefined), 'the tie-breaker paid');
    expect((await faulty.client.account()).available).toBe('0');
  });

  it('resumes a lease after the agent reconnects: the welcome lists it and the late result counts', async () => {
    const buyer = await wallet(5n * DOUG);
    const p = await wallet();
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-4`));
    const inline = [toWire('x', 'float32', [1], f32([3]))];
    const ask = await p.client.placeAsk({ market: 'cpu', price: '10', capacity: 1, attributes: {}, expiresAt: hour() });
    const first = await SocketAgent.connect('cpu');
    await first.hello(p.keypair, ask.order.id);
    await first.next('welcome');
    first.send({ type: 'ready', slots: 1 });
    const bid = await buyer.client.placeBid({
      market: 'cpu',
      maxPrice: '10',
      units: 1,
      replicas: 1,
      expiresAt: hour(),
      // Small inputs travel inline with the bid.
      job: { modelSha256: String(model.sha256), inputs: inline, tolerance: null },
    });
    const assign = await first.next('assign');
    expect(assign.inputs).toEqual(inline);
    // A heartbeat naming the lease acknowledges it: an acknowledged lease outlives its socket.
    first.send({ type: 'heartbeat', leases: [assign.leaseId] });
    // Frames are handled in order: the answer to a later bad frame means the heartbeat was taken.
    first.send({ type: 'ready', slots: -1 });
    await first.next('error');
    first.ws.close(1001, 'network blip');

    const second = await SocketAgent.connect('cpu');
    await second.hello(p.keypair, ask.order.id);
    const welcome = await second.next('welcome');
    // The job renews the lease on the agent's return: its expiry is the job's, not a copy kept here.
    expect(welcome.leases).toEqual([{ jobId: bid.jobId, replica: assign.replica, leaseId: assign.leaseId, expiresAt: expect.any(Number) }]);
    expect(welcome.leases[0]!.expiresAt).toBeGreaterThanOrEqual(assign.expiresAt);
    const outputs = [toWire('y', 'float32', [1], f32([4]))];
    second.send({ type: 'result', jobId: bid.jobId, leaseId: assign.leaseId, outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 1 } });
    const job = env.JOBS.get(env.JOBS.idFromName(bid.jobId!));
    // One replica: the result opens the buyer's challenge window.
    const view = await until(async () => {
      const v = (await job.view()) as JobView;
      return v.status === 'challengeable' ? v : undefined;
    }, 'the resumed result to count');
    expect(view.replicas[0]?.digest).toBe(await tensorsDigest(outputs));
  });

  it('lets the buyer challenge a single-replica result: the re-run agrees, so the buyer pays both runs', async () => {
    const buyer = await wallet(5n * DOUG);
    const [first, second] = [await wallet(), await wallet()];
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-5`));
    const connect = async (p: typeof first) => {
      // Asks of earlier tests still rest in this market: a region keeps this job to these two.
      const ask = await p.client.placeAsk({ market: 'gpu-80gb', price: '300', capacity: 1, attributes: { region: 'challenge-test' }, expiresAt: hour() });
      const agent = await SocketAgent.connect('gpu-80gb');
      await agent.hello(p.keypair, ask.order.id, 'gpu-80gb');
      await agent.next('welcome');
      agent.send({ type: 'ready', slots: 1 });
      return agent;
    };
    const a = await connect(first);
    const bid = await buyer.client.placeBid({ market: 'gpu-80gb', maxPrice: '300', units: 2, replicas: 1, requirements: [{ key: 'region', op: 'eq', value: 'challenge-test' }], expiresAt: hour(), job: { modelSha256: String(model.sha256), inputs: [toWire('x', 'float32', [1], f32([1]))], tolerance: null } });
    const jobId = bid.jobId!;
    const outputs = [toWire('y', 'float32', [1], f32([2]))];
    const answer = async (agent: SocketAgent) => {
      const assign = await agent.next('assign');
      agent.send({ type: 'result', jobId, leaseId: assign.leaseId, outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 1 } });
    };
    await answer(a);
    await until(async () => ((await buyer.client.job(jobId)).status === 'challengeable' ? true : undefined), 'the challenge window');
    const stranger = await wallet(DOUG);
    const refused = await stranger.client.challengeJob(jobId).catch((e: DougApiError) => e);
    expect(refused instanceof DougApiError && refused.code).toBe('JOB__NOT_BUYER');
    expect((await stranger.client.account()).held).toBe('0');

    const challenged = await buyer.client.challengeJob(jobId);
    expect(challenged.held).toBe('600');
    const b = await connect(second);
    await answer(b);
    const settled = await until(async () => {
      const v = await buyer.client.job(jobId);
      return v.status === 'settled' ? v : undefined;
    }, 'settlement after the challenge');
    expect((settled.payouts as { provider: string }[]).map((p) => p.provider).sort()).toEqual([first.key, second.key].sort());
    const balance = await until(async () => {
      const v = await buyer.client.account();
      return v.held === '0' ? v : undefined;
    }, 'both holds closed');
    expect(BigInt(balance.available)).toBe(5n * DOUG - 1200n);
  });

  it('lets the buyer cancel a job before any result, refunded in full', async () => {
    const buyer = await wallet(DOUG);
    const p = await wallet();
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-6`));
    await p.client.placeAsk({ market: 'gpu-24gb', price: '50', capacity: 1, attributes: { region: 'cancel-test' }, expiresAt: hour() });
    const bid = await buyer.client.placeBid({ market: 'gpu-24gb', maxPrice: '50', units: 4, replicas: 1, requirements: [{ key: 'region', op: 'eq', value: 'cancel-test' }], expiresAt: hour(), job: { modelSha256: String(model.sha256), inputs: [toWire('x', 'float32', [1], f32([1]))], tolerance: null } });
    await until(async () => (await buyer.client.job(bid.jobId!).catch(() => undefined)) ?? undefined, 'the job');
    const cancelled = await buyer.client.cancelJob(bid.jobId!);
    expect(cancelled.job.status).toBe('refunded');
    await until(async () => ((await buyer.client.account()).held === '0' ? true : undefined), 'the refund');
    expect((await buyer.client.account()).available).toBe(DOUG.toString());
  });

  it('refuses hostile agent input with a coded error and changes nothing', async () => {
    const p = await wallet();
    const stranger = await wallet();
    const ask = await p.client.placeAsk({ market: 'cpu', price: '5', capacity: 1, attributes: {}, expiresAt: hour() });

    const impostor = await SocketAgent.connect('cpu');
    await impostor.hello(stranger.keypair, ask.order.id);
    expect((await impostor.next('error')).code).toBe('AGENT__ASK_NOT_OWNED');

    const forged = await SocketAgent.connect('cpu');
    const { nonce } = await forged.next('challenge');
    const signature = await signText(stranger.keypair, helloMessage({ market: 'cpu', nonce, agentKey: p.key }));
    forged.send({ type: 'hello', v: 1, agentKey: p.key, signature, askId: ask.order.id, hardware: {}, runtime: RUNTIME });
    expect((await forged.next('error')).code).toBe('AUTH__SIGNATURE_INVALID');

    const agent = await SocketAgent.connect('cpu');
    agent.send('{not json');
    expect((await agent.next('error')).code).toBe('AGENT__MALFORMED_MESSAGE');
    agent.send({ type: 'ready', slots: 1 });
    expect((await agent.next('error')).code).toBe('AGENT__NOT_AUTHENTICATED');
    await agent.hello(p.keypair, ask.order.id);
    await agent.next('welcome');
    const outputs: WireTensor[] = [toWire('y', 'float32', [1], f32([1]))];
    agent.send({ type: 'result', jobId: 'bid_cpu_000000000000000000000000', leaseId: 'lease_nope', outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 0 } });
    expect((await agent.next('error')).code).toBe('AGENT__LEASE_UNKNOWN');
    agent.send({ type: 'ready', slots: -1 });
    expect((await agent.next('error')).code).toBe('AGENT__MALFORMED_MESSAGE');

    // A real lease, then a forged digest and an oversize result for it: both refused, the lease kept.
    const buyer = await wallet(DOUG);
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-7`));
    agent.send({ type: 'ready', slots: 1 });
    const bid = await buyer.client.placeBid({ market: 'cpu', maxPrice: '5', units: 1, replicas: 1, expiresAt: hour(), job: { modelSha256: String(model.sha256), inputs: [toWire('x', 'float32', [1], f32([0]))], tolerance: null } });
    const assign = await agent.next('assign');
    agent.send({ type: 'result', jobId: bid.jobId, leaseId: assign.leaseId, outputs, outputDigest: 'f'.repeat(64), timings: { loadMs: 0, runMs: 0 } });
    expect((await agent.next('error')).code).toBe('AGENT__DIGEST_MISMATCH');
    // Just over the result limit (a frame much larger is closed before it is read: the socket limits below).
    const over = MAX_RESULT_BYTES + 1024;
    const huge = [toWire('y', 'uint8', [over], new Uint8Array(over))];
    agent.send({ type: 'result', jobId: bid.jobId, leaseId: assign.leaseId, outputs: huge, outputDigest: await tensorsDigest(huge), timings: { loadMs: 0, runMs: 0 } });
    expect((await agent.next('error', 15_000)).code).toBe('AGENT__RESULT_TOO_LARGE');
    const job = env.JOBS.get(env.JOBS.idFromName(bid.jobId!));
    expect(((await job.view()) as JobView).replicas[0]?.status).toBe('leased');
    expect((await p.client.account()).available).toBe('0');
  });
});

describe('an agent frame the schemas refuse', () => {
  it('gets a coded error frame, never an exception in the object, and the socket goes on working', async () => {
    const p = await wallet();
    const ask = await p.client.placeAsk({ market: 'cpu', price: '5', capacity: 1, attributes: {}, expiresAt: hour() });
    const agent = await SocketAgent.connect('cpu');
    await agent.hello(p.keypair, ask.order.id);
    await agent.next('welcome');

    const hostile: [frame: string, code: string, ref: string | undefined][] = [
      ['{"type":"error","leaseId":{"toString":1}}', 'AGENT__MALFORMED_MESSAGE', 'error'],
      ['{"type":"error","jobId":"j","leaseId":"l","code":"AGENT__RUN_FAILED","message":{"toString":1}}', 'AGENT__MALFORMED_MESSAGE', 'error'],
      ['{"type":"heartbeat","leases":[{"toString":1}]}', 'AGENT__MALFORMED_MESSAGE', 'heartbeat'],
      ['{"type":"result","jobId":"j","leaseId":"l","outputs":[{"name":{"toString":1}}],"outputDigest":"x","timings":{}}', 'AGENT__RESULT_INVALID', 'result'],
      ['{"type":{"toString":1}}', 'AGENT__MALFORMED_MESSAGE', undefined],
      ['null', 'AGENT__MALFORMED_MESSAGE', undefined],
    ];
    for (const [frame, code, ref] of hostile) {
      agent.send(frame);
      const error = await agent.next('error');
      expect([frame, error.code, error.ref]).toEqual([frame, code, ref]);
    }

    const buyer = await wallet(DOUG);
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-8`));
    agent.send({ type: 'ready', slots: 1 });
    const bid = await buyer.client.placeBid({ market: 'cpu', maxPrice: '5', units: 1, replicas: 1, expiresAt: hour(), job: { modelSha256: String(model.sha256), inputs: [toWire('x', 'float32', [1], f32([0]))], tolerance: null } });
    expect((await agent.next('assign')).jobId).toBe(bid.jobId);
  });
});

describe('an agent socket’s limits (whoever is on the other end)', () => {
  const closedOf = (ws: WebSocket) => new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));

  it('closes a socket whose frame is larger than the largest result, telling it why', async () => {
    const agent = await SocketAgent.connect('gpu-24gb');
    await agent.next('challenge');
    const closed = closedOf(agent.ws);
    agent.send('x'.repeat(MAX_AGENT_FRAME_BYTES + 1));
    expect((await agent.next('error')).code).toBe('AGENT__FRAME_TOO_LARGE');
    expect(await closed).toBe(1009);
  });

  it('drops messages past an agent’s rate, says so once, and serves it again once it slows down', async () => {
    const p = await wallet();
    const ask = await p.client.placeAsk({ market: 'gpu-24gb', price: '5', capacity: 1, attributes: {}, expiresAt: hour() });
    const agent = await SocketAgent.connect('gpu-24gb');
    await agent.hello(p.keypair, ask.order.id, 'gpu-24gb');
    await agent.next('welcome');
    // Unknown leases are refused one by one: past the burst, the rest are dropped unanswered.
    const flood = 2 * AGENT_MESSAGE_RATE.burst;
    for (let i = 0; i < flood; i++) agent.send({ type: 'start', leaseId: `l${i}` });
    await until(async () => agent.count('error') >= AGENT_MESSAGE_RATE.burst, 'the burst answered', 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    const answered = agent.drain('error');
    const limited = answered.filter((e) => e.code === 'AGENT__RATE_LIMITED');
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeLessThanOrEqual(5);
    expect(answered.length - limited.length).toBeLessThan(flood);
    // A second later the budget has refilled: the next message is answered.
    agent.send({ type: 'start', leaseId: 'after' });
    expect((await agent.next('error')).code).not.toBe('AGENT__RATE_LIMITED');
  });

  it('refuses new sockets with a 429 while MAX_PENDING_SOCKETS owe their hello, and closes one that never says it', async () => {
    const waiting: SocketAgent[] = [];
    for (let i = 0; i < MAX_PENDING_SOCKETS; i++) waiting.push(await SocketAgent.connect('gpu-80gb'));
    const res = await SELF.fetch(`${BASE}/v1/markets/gpu-80gb/agent`, { headers: { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AGENT__TOO_MANY_PENDING');
    // Past HELLO_TIMEOUT_MS the market's alarm closes them, each told why; new sockets are taken again.
    const closed = closedOf(waiting[0]!.ws);
    expect(await closed).toBe(1008);
    expect(waiting[0]!.drain('error').map((e) => e.code)).toContain('AGENT__HELLO_TIMEOUT');
    for (const w of waiting.slice(1)) w.ws.close(1000, 'done');
    const again = await SocketAgent.connect('gpu-80gb');
    await again.next('challenge');
    again.ws.close(1000, 'done');
  }, HELLO_TIMEOUT_MS + 20_000);
});

describe('agents that go away', () => {
  const market = () => env.MARKETS.get(env.MARKETS.idFromName('cpu'));
  const statusOf = async (id: string) => (await market().order(id))?.status;
  /** Two providers' asks at one price in a region of their own: the dead one older, so a match would prefer it (a re-match may not cost more). */
  async function twoAgents(capacity = 1) {
    const region = `r${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await wallet(5n * DOUG);
    const [dead, live] = [await wallet(), await wallet()];
    const model = await upload(buyer.keypair, '/v1/models', anyShapeModel(`agents-9-${Math.random()}`));
    const deadAsk = await dead.client.placeAsk({ market: 'cpu', price: '1', capacity, attributes: { region }, expiresAt: hour() });
    const liveAsk = await live.client.placeAsk({ market: 'cpu', price: '1', capacity: 1, attributes: { region }, expiresAt: hour() });
    const sockets = [];
    for (const [w, ask] of [[dead, deadAsk], [live, liveAsk]] as const) {
      const s = await SocketAgent.connect('cpu');
      await s.hello(w.keypair, ask.order.id);
      await s.next('welcome');
      s.send({ type: 'ready', slots: capacity });
      sockets.push(s);
    }
    const placeBid = () =>
      buyer.client.placeBid({
        market: 'cpu',
        maxPrice: '2',
        units: 1,
        replicas: 1,
        expiresAt: hour(),
        requirements: [{ key: 'region', op: 'eq', value: region }],
        job: { modelSha256: String(model.sha256), inputs: [toWire('x', 'float32', [1], f32([1]))], tolerance: null },
      });
    return { dead, deadAsk, deadSocket: sockets[0]!, liveSocket: sockets[1]!, placeBid };
  }

  it('suspends the ask of an agent whose socket closed, so a new bid goes to another agent at once; the agent coming back resumes it', async () => {
    const { dead, deadAsk, deadSocket, liveSocket, placeBid } = await twoAgents(2);
    deadSocket.ws.close(1001, 'killed');
    await until(async () => ((await statusOf(deadAsk.order.id)) === 'suspended' ? true : undefined), 'the ask to be suspended');
    const bid = await placeBid();
    // Well inside one lease (30 s): the work went straight to the live agent.
    const assign = await liveSocket.next('assign', 3000);
    expect(assign.jobId).toBe(bid.jobId);

    const back = await SocketAgent.connect('cpu');
    await back.hello(dead.keypair, deadAsk.order.id);
    await back.next('welcome');
    expect(await statusOf(deadAsk.order.id)).toBe('open');
  });

  it('re-matches at once an assignment the agent never acknowledged when its socket closes', async () => {
    const { deadSocket, liveSocket, placeBid } = await twoAgents();
    const bid = await placeBid();
    const first = await deadSocket.next('assign');
    expect(first.jobId).toBe(bid.jobId);
    deadSocket.ws.close(1001, 'killed before the first heartbeat');
    const again = await liveSocket.next('assign', 5000);
    expect(again).toMatchObject({ jobId: bid.jobId, replica: first.replica });
  });

  it('re-matches at once work still queued for an agent with no free slot when its socket closes', async () => {
    const { deadSocket, liveSocket, placeBid } = await twoAgents();
    // The dead agent has no free slot: work matched to its (older) ask waits in the queue.
    deadSocket.send({ type: 'ready', slots: 0 });
    deadSocket.send({ type: 'ready', slots: -1 });
    await deadSocket.next('error');
    const bid = await placeBid();
    await until(async () => ((await market().history(0, 100_000)).some((e) => e.type === 'ReplicaDispatched' && JSON.parse(e.data).jobId === bid.jobId) ? true : undefined), 'the replica queued for the dead agent');
    deadSocket.ws.close(1001, 'killed with work queued');
    const again = await liveSocket.next('assign', 5000);
    expect(again.jobId).toBe(bid.jobId);
  });

  it('withdraws the ask ("agent gone") by the market alarm once no agent came back within the market grace period', async () => {
    const { deadAsk, deadSocket } = await twoAgents();
    // A short grace through the market's parameters (a deployment sets agentGraceMs in MARKET_LIST).
    const configure = (agentGraceMs: number) =>
      market().place('cpu', { type: 'ConfigureMarket', params: { ...PROTOCOL, agentGraceMs } }, { commandId: `grace:${agentGraceMs}:${Date.now()}`, actor: 'system:config', now: Date.now() });
    expect((await configure(1_500)).ok).toBe(true);
    try {
      deadSocket.ws.close(1001, 'killed');
      await until(async () => ((await statusOf(deadAsk.order.id)) === 'suspended' ? true : undefined), 'the ask to be suspended');
      await until(async () => ((await statusOf(deadAsk.order.id)) === 'cancelled' ? true : undefined), 'the market alarm to withdraw the ask');
      const history = await market().history(0, 100_000);
      const withdrawn = history.find((e) => e.type === 'AskCancelled' && JSON.parse(e.data).askId === deadAsk.order.id)!;
      expect([withdrawn.actor, JSON.parse(withdrawn.data).reason]).toEqual(['system:timer', 'agent gone']);
      const suspended = history.find((e) => e.type === 'AskSuspended' && JSON.parse(e.data).askId === deadAsk.order.id)!;
      expect(withdrawn.at).toBeGreaterThanOrEqual(suspended.at + 1_500);
    } finally {
      await configure(PROTOCOL.agentGraceMs);
    }
  });
});
