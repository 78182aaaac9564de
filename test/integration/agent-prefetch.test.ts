import { SELF } from 'cloudflare:test';
import { env as rawEnv } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { helloMessage, type AssignMessage, type ServerMessage } from '../../durable-objects/contracts/agent.ts';
import { signText, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { MAX_PREFETCH } from '../../durable-objects/domain/dispatch/index.ts';
import type { JobView } from '../../durable-objects/domain/job/view.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { anyShapeModel } from '../support/onnx-model.ts';
import { BASE, DOUG, until, wallet } from './helpers.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;

/** The server side of the prefetch window (issue 11), driven by an agent speaking the protocol from the test. */
class SocketAgent {
  private readonly inbox: ServerMessage[] = [];
  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      this.inbox.push(JSON.parse(String(e.data)) as ServerMessage);
    });
  }

  static async connect(): Promise<SocketAgent> {
    const res = await SELF.fetch(`${BASE}/v1/markets/cpu/agent`, { headers: { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    return new SocketAgent(res.webSocket!);
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next message of a type (earlier messages of other types are kept). */
  async next<T extends ServerMessage['type']>(type: T, timeoutMs = 5000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms (inbox: ${JSON.stringify(this.inbox).slice(0, 300)})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  unread(type: ServerMessage['type']): ServerMessage[] {
    return this.inbox.filter((m) => m.type === type);
  }

  async hello(keypair: Keypair, askId: string): Promise<void> {
    const { nonce } = await this.next('challenge');
    const signature = await signText(keypair, helloMessage({ market: 'cpu', nonce, agentKey: keypair.publicKey }));
    const runtime = { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2'] };
    this.send({ type: 'hello', v: 1, agentKey: keypair.publicKey, signature, askId, hardware: { cpuModel: 'test', cores: 2, memoryGb: 4, gpus: [] }, runtime });
    await this.next('welcome');
  }
}

const replicaStatus = async (jobId: string) => ((await env.JOBS.get(env.JOBS.idFromName(jobId)).view()) as JobView | null)?.replicas[0]?.status;

describe('an agent with a prefetch window', () => {
  it('gets work beyond its free slot marked prefetch, with no lease until it says start; unstarted work is re-matched at once when its socket closes', async () => {
    const region = `r${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await wallet(10n * DOUG);
    const [prefetching, other] = [await wallet(), await wallet()];
    // One slot running and two prefetched: the ask lists three (as doug-agent --capacity 1 --prefetch 2 does); it is older, so matches prefer it.
    const ask = await prefetching.client.placeAsk({ market: 'cpu', price: '1', capacity: 3, attributes: { region }, expiresAt: hour() });
    const otherAsk = await other.client.placeAsk({ market: 'cpu', price: '1', capacity: 3, attributes: { region }, expiresAt: hour() });
    const agent = await SocketAgent.connect();
    await agent.hello(prefetching.keypair, ask.order.id);
    const live = await SocketAgent.connect();
    await live.hello(other.keypair, otherAsk.order.id);
    live.send({ type: 'ready', slots: 3 });

    // A window over the protocol's limit is refused with a coded frame, and opens nothing.
    agent.send({ type: 'ready', slots: 1, prefetch: MAX_PREFETCH + 1 });
    expect(await agent.next('error')).toMatchObject({ code: 'AGENT__MALFORMED_MESSAGE', ref: 'ready' });
    agent.send({ type: 'ready', slots: 1, prefetch: 2 });

    const body = anyShapeModel(`prefetch-${region}`);
    const model = await buyer.client.uploadModel(body);
    const placeBid = () =>
      buyer.client.placeBid({
        market: 'cpu',
        maxPrice: '2',
        units: 1,
        replicas: 1,
        expiresAt: hour(),
        requirements: [{ key: 'region', op: 'eq', value: region }],
        job: { modelSha256: model.sha256, inputs: [toWire('x', 'float32', [1], new Uint8Array(new Float32Array([1]).buffer))], tolerance: null },
      });
    const bids = [await placeBid(), await placeBid(), await placeBid()];
    const assigns: AssignMessage[] = [await agent.next('assign'), await agent.next('assign'), await agent.next('assign')];
    expect(assigns.map((a) => a.jobId).sort()).toEqual(bids.map((b) => b.jobId!).sort());
    const direct = assigns.filter((a) => !a.prefetch);
    const [early, late] = assigns.filter((a) => a.prefetch);
    expect([direct.length, early && late ? 2 : 0]).toEqual([1, 2]);
    // The free slot's work has its lease; prefetched work is assigned at the job, its lease not started.
    expect(await replicaStatus(direct[0]!.jobId)).toBe('leased');
    expect([await replicaStatus(early!.jobId), await replicaStatus(late!.jobId)]).toEqual(['assigned', 'assigned']);

    // The agent starts one: its lease starts now. A heartbeat naming the other, unstarted, keeps nothing and cancels nothing.
    agent.send({ type: 'start', jobId: early!.jobId, leaseId: early!.leaseId });
    await until(async () => ((await replicaStatus(early!.jobId)) === 'leased' ? true : undefined), 'the started lease');
    agent.send({ type: 'heartbeat', leases: [direct[0]!.leaseId, early!.leaseId, late!.leaseId] });
    agent.send({ type: 'start', jobId: 'nope', leaseId: 'lease_nope' });
    expect(await agent.next('error')).toMatchObject({ code: 'AGENT__LEASE_UNKNOWN', ref: 'start' });
    expect(agent.unread('cancel')).toEqual([]);
    expect(await replicaStatus(late!.jobId)).toBe('assigned');

    // The agent dies holding `late` unstarted: it goes to the other agent at once (well inside a lease);
    // the leases it acknowledged (the direct one and the started one) stay for its return.
    agent.ws.close(1001, 'killed with prefetched work');
    const again = await live.next('assign', 5000);
    expect(again.jobId).toBe(late!.jobId);
    await new Promise((r) => setTimeout(r, 300));
    expect(live.unread('assign')).toEqual([]);
  });
});
