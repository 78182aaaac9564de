import { afterEach, describe, expect, it } from 'vitest';

import type { AssignMessage, Hardware, RuntimeFingerprint } from '../../durable-objects/contracts/agent.ts';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, wireBytes } from '../../durable-objects/contracts/tensors.ts';
import type { WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { Agent, ExecutionError, corruptOutputs, faultFromEnv, lineLogger, runnerExecutor, stageDelayFromEnv } from './agent.ts';
import type { ExecutionResult, Executor, Fault } from './agent.ts';
import { startPeer } from '../../test/support/agent-peer.ts';
import type { Peer, PeerOptions } from '../../test/support/agent-peer.ts';

const HARDWARE: Hardware = { cpuModel: 'Test CPU', cores: 4, memoryGb: 16, gpus: [] };
const RUNTIME: RuntimeFingerprint = { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2'] };
const MODEL = 'a'.repeat(64);
const WRONG_MODEL = 'b'.repeat(64);

/** A small executor: y = 2·x over float32, after the test releases it (or at once when `auto`). */
class DoublingExecutor implements Executor {
  readonly calls: AssignMessage[] = [];
  readonly aborted: string[] = [];
  private gates = new Map<string, () => void>();
  constructor(private readonly auto: boolean) {}

  async run(assign: AssignMessage, o: { signal: AbortSignal }): Promise<ExecutionResult> {
    this.calls.push(assign);
    o.signal.addEventListener('abort', () => this.aborted.push(assign.leaseId));
    if (!this.auto) await new Promise<void>((resolve) => this.gates.set(assign.leaseId, resolve));
    if (assign.model.sha256 === WRONG_MODEL) throw new ExecutionError('AGENT__MODEL_HASH_MISMATCH', `model bytes do not hash to ${WRONG_MODEL}`);
    const x = assign.inputs[0];
    if (!x) throw new Error('no input');
    const values = new Float32Array(wireBytes(x).buffer).map((v) => v * 2);
    const outputs = [toWire('y', 'float32', x.dims, new Uint8Array(values.buffer))];
    return { outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 1, runMs: 2 } };
  }

  /** Lets the run of that lease finish. */
  release(leaseId: string): void {
    const gate = this.gates.get(leaseId);
    if (!gate) throw new Error(`no run waiting on ${leaseId}`);
    this.gates.delete(leaseId);
    gate();
  }

  waiting(): string[] {
    return [...this.gates.keys()];
  }
}

function input(values: number[]): WireTensor {
  return toWire('x', 'float32', [values.length], new Uint8Array(Float32Array.from(values).buffer));
}

function assign(n: number, o: { model?: string; jobId?: string } = {}): AssignMessage {
  return {
    type: 'assign',
    jobId: o.jobId ?? `bid_cpu_${n}`,
    replica: 0,
    leaseId: `lease-${n}`,
    expiresAt: Date.now() + 60_000,
    model: { sha256: o.model ?? MODEL, bytes: 10, url: `/v1/models/${MODEL}` },
    inputs: [input([1, 2, 3])],
    outputs: [],
  };
}

let peer: Peer | null = null;
let agent: Agent | null = null;

afterEach(async () => {
  await agent?.stop();
  agent = null;
  await peer?.close();
  peer = null;
});

async function setup<X extends Executor = DoublingExecutor>(o: { capacity: number; prefetch?: number; auto?: boolean; fault?: Fault; peer?: PeerOptions; executor?: X }) {
  peer = await startPeer({ welcome: () => ({ leases: [], heartbeatMs: 60_000 }), ...o.peer });
  const executor = (o.executor ?? new DoublingExecutor(o.auto ?? true)) as X;
  const lines: string[] = [];
  agent = new Agent({
    capacity: o.capacity,
    ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
    executor,
    fault: o.fault ?? null,
    log: lineLogger({ write: (t) => lines.push(t) }),
    connection: {
      server: peer.url,
      market: 'cpu',
      keypair: await generateKeypair(),
      hello: () => ({ askId: 'ask_cpu_1', hardware: HARDWARE, runtime: RUNTIME }),
      backoff: { baseMs: 20, capMs: 50 },
    },
  });
  agent.start();
  return { peer, agent, executor, lines };
}

async function until(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('an agent that has just been welcomed', () => {
  it('pulls: announces its free slots before any work, and sends nothing else', async () => {
    const { peer } = await setup({ capacity: 3 });
    const s = await peer.socket(0);
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 3 });
    expect(s.received.map((m) => m.type)).toEqual(['ready']);
  });
});

describe('an agent given work', () => {
  it('runs an assign and answers with the result, then frees the slot', async () => {
    const { peer, executor, lines } = await setup({ capacity: 2, auto: false });
    const s = await peer.socket(0);
    expect((await s.next('ready')).slots).toBe(2);
    s.send(assign(1));
    await until(() => executor.waiting().length === 1);
    executor.release('lease-1');
    const result = await s.next('result');
    expect(result).toMatchObject({ type: 'result', jobId: 'bid_cpu_1', leaseId: 'lease-1', timings: { loadMs: 1, runMs: 2 } });
    expect(Array.from(new Float32Array(wireBytes(result.outputs[0]!).buffer))).toEqual([2, 4, 6]);
    expect(result.outputDigest).toBe(await tensorsDigest(result.outputs));
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 2 });
    expect(lines.some((l) => /job bid_cpu_1 replica 0: ran in 2 ms .*digest [0-9a-f]{12}…/.test(l))).toBe(true);
  });

  it('counts its slots: ready reports what is free after each job ends', async () => {
    const { peer, executor } = await setup({ capacity: 2, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(assign(2));
    await until(() => executor.waiting().length === 2);
    executor.release('lease-2');
    await s.next('result');
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1 });
    executor.release('lease-1');
    await s.next('result');
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 2 });
  });

  it('refuses an assign beyond its capacity instead of oversubscribing', async () => {
    const { peer, executor } = await setup({ capacity: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(assign(2));
    const refusal = await s.next('error');
    expect(refusal).toMatchObject({ leaseId: 'lease-2', code: 'AGENT__RUN_FAILED' });
    expect(executor.calls.map((c) => c.leaseId)).toEqual(['lease-1']);
  });

  it('answers error AGENT__MODEL_HASH_MISMATCH when the model hash is wrong, and frees the slot', async () => {
    const { peer } = await setup({ capacity: 1 });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1, { model: WRONG_MODEL }));
    expect(await s.next('error')).toMatchObject({ type: 'error', jobId: 'bid_cpu_1', leaseId: 'lease-1', code: 'AGENT__MODEL_HASH_MISMATCH' });
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1 });
  });

  it('answers error AGENT__RUN_FAILED when the run throws', async () => {
    const { peer } = await setup({ capacity: 1 });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send({ ...assign(1), inputs: [] });
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-1', code: 'AGENT__RUN_FAILED', message: 'no input' });
  });

  it('refuses an assign whose payload is malformed, naming the lease', async () => {
    const { peer, executor } = await setup({ capacity: 1 });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send({ ...assign(1), inputs: [{ name: 'x', dtype: 'float32', dims: [3], data: 'AA' }] });
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-1', code: 'AGENT__RUN_FAILED', message: expect.stringMatching(/malformed assign/) });
    expect(executor.calls).toHaveLength(0);
  });

  it('drops the work on cancel and sends no answer for it', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    await until(() => executor.waiting().length === 1);
    s.send({ type: 'cancel', jobId: 'bid_cpu_1', leaseId: 'lease-1', reason: 'buyer cancelled' });
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1 });
    expect(executor.aborted).toEqual(['lease-1']);
    expect(agent.heldLeases()).toEqual([]);
    executor.release('lease-1');
    await new Promise((r) => setTimeout(r, 50));
    expect(s.received.some((m) => m.type === 'result' || m.type === 'error')).toBe(false);
  });

  it('ignores malformed server messages and goes on working', async () => {
    const { peer } = await setup({ capacity: 1 });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send('{"type":');
    s.send({ type: 'assign', replica: 'x' });
    s.send({ type: 'cancel' });
    s.send({ type: 'error', code: 'MARKET__SOMETHING', message: 'server-side trouble' });
    s.send(assign(1));
    expect(await s.next('result')).toMatchObject({ leaseId: 'lease-1' });
    expect(peer.sockets).toHaveLength(1);
  });

  it('heartbeats the leases it holds', async () => {
    const { peer, executor } = await setup({ capacity: 2, auto: false, peer: { welcome: () => ({ leases: [], heartbeatMs: 25 }) } });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    await until(() => executor.waiting().length === 1);
    expect(await s.take((m) => m.type === 'heartbeat' && m.leases.includes('lease-1'))).toEqual({ type: 'heartbeat', leases: ['lease-1'] });
    executor.release('lease-1');
    await s.next('result');
    expect(await s.take((m) => m.type === 'heartbeat' && m.leases.length === 0)).toEqual({ type: 'heartbeat', leases: [] });
  });
});

describe('an agent with a prefetch window', () => {
  const prefetched = (n: number): AssignMessage => ({ ...assign(n), prefetch: true });

  it('announces the window, holds prefetched work unstarted, and starts the next (start, then the result) the moment a run ends', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, prefetch: 2, auto: false });
    const s = await peer.socket(0);
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1, prefetch: 2 });
    s.send(assign(1));
    s.send(prefetched(2));
    s.send(prefetched(3));
    await until(() => agent.prefetched === 2);
    expect(executor.waiting()).toEqual(['lease-1']);
    // Held prefetched work has no lease at the server yet: heartbeats do not name it.
    expect(agent.heldLeases()).toEqual(['lease-1']);
    executor.release('lease-1');
    await s.next('result');
    const order = s.received.flatMap((m) => (m.type === 'start' || m.type === 'result' ? [`${m.type} ${m.leaseId}`] : []));
    expect(order).toEqual(['start lease-2', 'result lease-1']);
    expect(await s.next('start')).toEqual({ type: 'start', jobId: 'bid_cpu_2', leaseId: 'lease-2' });
    // One slot, one run at a time; lease-3 still waits, and the server hears no free slot.
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 0, prefetch: 2 });
    expect(executor.waiting()).toEqual(['lease-2']);
    expect(agent.heldLeases()).toEqual(['lease-2']);
    executor.release('lease-2');
    executor.release((await until(() => executor.waiting().includes('lease-3')), 'lease-3'));
    await s.take((m) => m.type === 'result' && m.leaseId === 'lease-3');
    expect(s.received.filter((m) => m.type === 'start').map((m) => (m.type === 'start' ? m.leaseId : ''))).toEqual(['lease-2', 'lease-3']);
    expect(await s.take((m) => m.type === 'ready' && m.slots === 1)).toEqual({ type: 'ready', slots: 1, prefetch: 2 });
    // Busy from lease-1 to lease-3: "no free slot" was said once, not after each run.
    expect(s.received.filter((m) => m.type === 'ready' && m.slots === 0)).toHaveLength(1);
  });

  it('work sent with its lease into a busy agent (a crossed ready) waits in the window and is heartbeated, not started', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, prefetch: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(assign(2));
    await until(() => agent.prefetched === 1);
    expect(agent.heldLeases()).toEqual(['lease-1', 'lease-2']);
    executor.release('lease-1');
    await until(() => executor.waiting().includes('lease-2'));
    expect(s.received.some((m) => m.type === 'start')).toBe(false);
  });

  it('refuses an assign beyond its slots and window', async () => {
    const { peer, executor } = await setup({ capacity: 1, prefetch: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(prefetched(2));
    s.send(prefetched(3));
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-3', code: 'AGENT__RUN_FAILED', message: 'no free slot: all 1 are busy and 1 assign(s) wait' });
    expect(executor.calls.map((c) => c.leaseId)).toEqual(['lease-1']);
  });

  it('drops held work the server cancels; it never runs', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, prefetch: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(prefetched(2));
    await until(() => agent.prefetched === 1);
    s.send({ type: 'cancel', jobId: 'bid_cpu_2', leaseId: 'lease-2', reason: 'the job released this slot' });
    await until(() => agent.prefetched === 0);
    executor.release('lease-1');
    await s.next('result');
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1, prefetch: 1 });
    expect(executor.calls.map((c) => c.leaseId)).toEqual(['lease-1']);
  });

  it('after a reconnect drops the prefetched work the welcome does not list (the server re-matched it)', async () => {
    const { peer, executor, agent } = await setup({
      capacity: 1,
      prefetch: 1,
      auto: false,
      peer: { welcome: (_hello, index) => ({ leases: index === 1 ? [{ jobId: 'bid_cpu_1', replica: 0, leaseId: 'lease-1', expiresAt: Date.now() + 60_000 }] : [], heartbeatMs: 60_000 }) },
    });
    const first = await peer.socket(0);
    await first.next('ready');
    first.send(assign(1));
    first.send(prefetched(2));
    await until(() => agent.prefetched === 1);
    first.drop();
    const second = await peer.socket(1);
    expect(await second.next('ready')).toEqual({ type: 'ready', slots: 0, prefetch: 1 });
    expect(agent.prefetched).toBe(0);
    executor.release('lease-1');
    expect(await second.next('result')).toMatchObject({ leaseId: 'lease-1' });
    expect(executor.calls.map((c) => c.leaseId)).toEqual(['lease-1']);
  });

  it('draining gives prefetched work back unstarted (AGENT__DRAINING) and finishes the running one', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, prefetch: 2, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(prefetched(2));
    await until(() => agent.prefetched === 1);
    const drained = agent.drain({ timeoutMs: 5_000 });
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-2', code: 'AGENT__DRAINING' });
    executor.release('lease-1');
    expect(await drained).toEqual({ finished: 1, abandoned: 0 });
    expect(executor.calls.map((c) => c.leaseId)).toEqual(['lease-1']);
  });

  it('refuses a window over MAX_PREFETCH', () => {
    expect(() => new Agent({ capacity: 1, prefetch: 17, executor: new DoublingExecutor(true), log: lineLogger({ write: () => {} }), connection: { server: 'http://127.0.0.1:1', market: 'cpu', keypair: { publicKey: 'k' } as never, hello: () => ({ askId: 'a', hardware: HARDWARE, runtime: RUNTIME }) } })).toThrow(
      /prefetch must be a whole number from 0 to 16/,
    );
  });
});

/**
 * An executor that queues (as exec/runner-pool.ts's RunnerPool does): it takes one run beyond the
 * running one, runs them in order, says when each starts, and drops a queued run that is aborted.
 */
class QueueingExecutor implements Executor {
  readonly queue = 1;
  readonly calls: string[] = [];
  readonly startedRuns: string[] = [];
  private readonly inner = new DoublingExecutor(false);
  private readonly line: { assign: AssignMessage; signal: AbortSignal; onStart?: () => void; done: (r: Promise<ExecutionResult>) => void }[] = [];
  private busy = false;

  run(assign: AssignMessage, o: { signal: AbortSignal; onStart?: () => void }): Promise<ExecutionResult> {
    this.calls.push(assign.leaseId);
    return new Promise<ExecutionResult>((resolve) => {
      const entry = { assign, signal: o.signal, ...(o.onStart ? { onStart: o.onStart } : {}), done: resolve };
      o.signal.addEventListener('abort', () => {
        const i = this.line.indexOf(entry);
        if (i >= 0) this.line.splice(i, 1) && resolve(Promise.reject(new ExecutionError('AGENT__RUN_FAILED', 'cancelled before it started')));
      });
      this.line.push(entry);
      this.pump();
    });
  }

  release(leaseId: string): void {
    this.inner.release(leaseId);
  }

  waiting(): string[] {
    return this.inner.waiting();
  }

  private pump(): void {
    if (this.busy) return;
    const next = this.line.shift();
    if (!next) return;
    this.busy = true;
    this.startedRuns.push(next.assign.leaseId);
    next.onStart?.();
    const run = this.inner.run(next.assign, { signal: next.signal });
    next.done(run);
    // The next run starts a turn later, after this one's answer (as a thread's messages arrive).
    void run.finally(() => {
      this.busy = false;
      setImmediate(() => this.pump());
    });
  }
}

describe('an agent over an executor that queues (runs in threads)', () => {
  const prefetched = (n: number): AssignMessage => ({ ...assign(n), prefetch: true });

  it('hands prefetched work to the executor while a run goes on; it starts (start sent) when the executor starts it', async () => {
    const executor = new QueueingExecutor();
    const { peer, agent } = await setup({ capacity: 1, prefetch: 2, executor });
    const s = await peer.socket(0);
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 1, prefetch: 2 });
    s.send(assign(1));
    s.send(prefetched(2));
    s.send(prefetched(3));
    await until(() => executor.calls.length === 2 && agent.prefetched === 2);
    // lease-2 sits in the executor's queue (its one place), lease-3 in the agent's window; neither has started.
    expect(executor.calls).toEqual(['lease-1', 'lease-2']);
    expect(executor.startedRuns).toEqual(['lease-1']);
    expect(agent.heldLeases()).toEqual(['lease-1']);
    expect(agent.freeSlots).toBe(0);
    expect(s.received.some((m) => m.type === 'start')).toBe(false);
    executor.release('lease-1');
    expect(await s.next('start')).toEqual({ type: 'start', jobId: 'bid_cpu_2', leaseId: 'lease-2' });
    await s.take((m) => m.type === 'result' && m.leaseId === 'lease-1');
    // lease-2 runs; lease-3 has moved into the executor's queue (while lease-2 still runs).
    await until(() => executor.calls.length === 3);
    expect(executor.waiting()).toEqual(['lease-2']);
    expect(executor.startedRuns).toEqual(['lease-1', 'lease-2']);
    expect(agent.heldLeases()).toEqual(['lease-2']);
    expect(agent.prefetched).toBe(1);
    executor.release('lease-2');
    await s.take((m) => m.type === 'result' && m.leaseId === 'lease-2');
    executor.release((await until(() => executor.waiting().includes('lease-3')), 'lease-3'));
    await s.take((m) => m.type === 'result' && m.leaseId === 'lease-3');
    expect(await s.take((m) => m.type === 'ready' && m.slots === 1)).toEqual({ type: 'ready', slots: 1, prefetch: 2 });
    expect(s.received.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('a queued run the server cancels is taken out of the executor unstarted, and the window moves up', async () => {
    const executor = new QueueingExecutor();
    const { peer, agent } = await setup({ capacity: 1, prefetch: 2, executor });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(prefetched(2));
    s.send(prefetched(3));
    await until(() => executor.calls.length === 2 && agent.prefetched === 2);
    s.send({ type: 'cancel', jobId: 'bid_cpu_2', leaseId: 'lease-2', reason: 'the job released this slot' });
    await until(() => executor.calls.length === 3);
    expect(executor.calls).toEqual(['lease-1', 'lease-2', 'lease-3']);
    executor.release('lease-1');
    expect(await s.next('start')).toEqual({ type: 'start', jobId: 'bid_cpu_3', leaseId: 'lease-3' });
    executor.release('lease-3');
    await s.take((m) => m.type === 'result' && m.leaseId === 'lease-3');
    expect(executor.startedRuns).toEqual(['lease-1', 'lease-3']);
    expect(s.received.flatMap((m) => (m.type === 'result' || m.type === 'error' ? [m.leaseId] : []))).toEqual(['lease-1', 'lease-3']);
  });

  it('draining gives queued work back unstarted (AGENT__DRAINING) and finishes the running one', async () => {
    const executor = new QueueingExecutor();
    const { peer, agent } = await setup({ capacity: 1, prefetch: 2, executor });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    s.send(prefetched(2));
    await until(() => executor.calls.length === 2);
    const drained = agent.drain({ timeoutMs: 5_000 });
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-2', code: 'AGENT__DRAINING' });
    executor.release('lease-1');
    expect(await drained).toEqual({ finished: 1, abandoned: 0 });
    expect(executor.startedRuns).toEqual(['lease-1']);
  });
});

describe('an agent whose socket the server drops', () => {
  it('resumes a lease the welcome lists and delivers its result on the new socket', async () => {
    const { peer, executor } = await setup({
      capacity: 2,
      auto: false,
      peer: {
        welcome: (_hello, index) =>
          index === 0
            ? { leases: [], heartbeatMs: 60_000 }
            : {
                leases: [
                  { jobId: 'bid_cpu_1', replica: 0, leaseId: 'lease-1', expiresAt: Date.now() + 60_000 },
                  { jobId: 'bid_cpu_9', replica: 1, leaseId: 'lease-9', expiresAt: Date.now() + 60_000 },
                ],
                heartbeatMs: 60_000,
              },
      },
    });
    const first = await peer.socket(0);
    await first.next('ready');
    first.send(assign(1));
    first.send(assign(2));
    await until(() => executor.waiting().length === 2);
    first.drop();
    const second = await peer.socket(1);
    // lease-1 resumed (heartbeated at once), lease-2 was not listed and is dropped, lease-9 is unknown.
    expect(await second.next('heartbeat')).toEqual({ type: 'heartbeat', leases: ['lease-1'] });
    expect(await second.next('ready')).toEqual({ type: 'ready', slots: 1 });
    expect(executor.aborted).toEqual(['lease-2']);
    executor.release('lease-1');
    expect(await second.next('result')).toMatchObject({ jobId: 'bid_cpu_1', leaseId: 'lease-1' });
    expect(await second.next('ready')).toEqual({ type: 'ready', slots: 2 });
    expect(first.received.some((m) => m.type === 'result')).toBe(false);
  });

  it('holds an answer finished while offline and sends it once a welcome lists the lease', async () => {
    const { peer, executor, agent, lines } = await setup({
      capacity: 1,
      auto: false,
      peer: {
        welcome: (_hello, index) =>
          index === 0 ? { leases: [], heartbeatMs: 60_000 } : { leases: [{ jobId: 'bid_cpu_1', replica: 0, leaseId: 'lease-1', expiresAt: Date.now() + 60_000 }], heartbeatMs: 60_000 },
      },
    });
    const first = await peer.socket(0);
    await first.next('ready');
    first.send(assign(1));
    await until(() => executor.waiting().length === 1);
    first.drop();
    await until(() => lines.some((l) => l.includes('offline (')));
    executor.release('lease-1'); // finishes while the socket is down
    const second = await peer.socket(1);
    expect(await second.next('result')).toMatchObject({ leaseId: 'lease-1' });
    expect(agent.heldLeases()).toEqual([]);
  });

  it('sends an answer again when the next welcome still lists its lease (the first was lost)', async () => {
    const lease = { jobId: 'bid_cpu_1', replica: 0, leaseId: 'lease-1', expiresAt: Date.now() + 60_000 };
    const { peer } = await setup({
      capacity: 1,
      peer: { welcome: (_hello, index) => ({ leases: index === 1 ? [lease] : [], heartbeatMs: 60_000 }) },
    });
    const first = await peer.socket(0);
    await first.next('ready');
    first.send(assign(1));
    const original = await first.next('result');
    first.drop(); // as if the result never reached the market
    const second = await peer.socket(1);
    expect(await second.next('result')).toEqual(original);
    // A third welcome that no longer lists it: nothing more is sent.
    second.drop();
    const third = await peer.socket(2);
    await third.next('ready');
    expect(third.received.some((m) => m.type === 'result')).toBe(false);
  });
});

describe('a draining agent', () => {
  it('announces ready 0, refuses new work, finishes what it holds, then closes', async () => {
    const { peer, executor, agent } = await setup({ capacity: 2, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    await until(() => executor.waiting().length === 1);
    const drained = agent.drain({ timeoutMs: 5_000 });
    expect(await s.next('ready')).toEqual({ type: 'ready', slots: 0 });
    s.send(assign(2));
    expect(await s.next('error')).toMatchObject({ leaseId: 'lease-2', code: 'AGENT__DRAINING' });
    expect(s.closed).toBe(false);
    executor.release('lease-1');
    expect(await s.next('result')).toMatchObject({ leaseId: 'lease-1' });
    expect(await drained).toEqual({ finished: 1, abandoned: 0 });
    await s.whenClosed();
    expect(agent.state).toBe('stopped');
    expect(s.unreadOf('ready')).toEqual([]); // no slot announced after the drain began
  });

  it('gives up on held work after the timeout', async () => {
    const { peer, executor, agent } = await setup({ capacity: 1, auto: false });
    const s = await peer.socket(0);
    await s.next('ready');
    s.send(assign(1));
    await until(() => executor.waiting().length === 1);
    expect(await agent.drain({ timeoutMs: 50 })).toEqual({ finished: 0, abandoned: 1 });
    expect(executor.aborted).toEqual(['lease-1']);
    await s.whenClosed();
  });
});

describe('the fault switch (tests only)', () => {
  it('reads DOUG_AGENT_FAULT and refuses unknown values', () => {
    expect(faultFromEnv({})).toBe(null);
    expect(faultFromEnv({ DOUG_AGENT_FAULT: '' })).toBe(null);
    expect(faultFromEnv({ DOUG_AGENT_FAULT: 'wrong-output' })).toBe('wrong-output');
    expect(() => faultFromEnv({ DOUG_AGENT_FAULT: 'slow' })).toThrow(/not a known fault/);
  });

  it('reads DOUG_AGENT_STAGE_DELAY_MS as whole milliseconds up to a minute', () => {
    expect(stageDelayFromEnv({})).toBe(0);
    expect(stageDelayFromEnv({ DOUG_AGENT_STAGE_DELAY_MS: '' })).toBe(0);
    expect(stageDelayFromEnv({ DOUG_AGENT_STAGE_DELAY_MS: '25' })).toBe(25);
    expect(stageDelayFromEnv({ DOUG_AGENT_STAGE_DELAY_MS: '60000' })).toBe(60_000);
    for (const bad of ['60001', '-1', '2.5', '1e3', 'slow']) expect(() => stageDelayFromEnv({ DOUG_AGENT_STAGE_DELAY_MS: bad }), bad).toThrow(/not a delay/);
  });

  it('corrupts one byte of the first output and recomputes the digest', async () => {
    const outputs = [input([1, 2, 3])];
    const honest: ExecutionResult = { outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 0 } };
    const bad = await corruptOutputs(honest);
    expect(bad.outputDigest).not.toBe(honest.outputDigest);
    expect(bad.outputDigest).toBe(await tensorsDigest(bad.outputs));
    const a = wireBytes(honest.outputs[0]!);
    const b = wireBytes(bad.outputs[0]!);
    expect(b[0]).toBe(a[0]! ^ 0xff);
    expect(Array.from(b.slice(1))).toEqual(Array.from(a.slice(1)));
  });

  it('makes the agent report a different digest, with a loud warning', async () => {
    const honest = await setup({ capacity: 1 });
    const s1 = await honest.peer.socket(0);
    await s1.next('ready');
    s1.send(assign(1));
    const good = await s1.next('result');
    await agent!.stop();
    await peer!.close();

    const faulty = await setup({ capacity: 1, fault: 'wrong-output' });
    const s2 = await faulty.peer.socket(0);
    await s2.next('ready');
    s2.send(assign(1));
    const bad = await s2.next('result');
    expect(bad.outputDigest).not.toBe(good.outputDigest);
    expect(bad.outputDigest).toBe(await tensorsDigest(bad.outputs));
    expect(faulty.lines.some((l) => l.includes('WARN') && l.includes('FAULT INJECTION ON'))).toBe(true);
  });
});

describe('runnerExecutor', () => {
  it('passes the model hash, inputs and wanted outputs to the runner', async () => {
    const seen: unknown[] = [];
    const exec = runnerExecutor({
      run: async (o) => {
        seen.push(o);
        return { outputs: [], outputDigest: 'd', timings: { loadMs: 3, runMs: 4 } };
      },
    });
    const signal = new AbortController().signal;
    expect(await exec.run(assign(1), { signal })).toEqual({ outputs: [], outputDigest: 'd', timings: { loadMs: 3, runMs: 4 } });
    await exec.run({ ...assign(2), outputs: ['y'] }, { signal });
    expect(seen).toEqual([
      { modelSha256: MODEL, inputs: assign(1).inputs },
      { modelSha256: MODEL, inputs: assign(2).inputs, outputs: ['y'] },
    ]);
  });
});

describe('lineLogger', () => {
  it('keeps only warnings when quiet', () => {
    const out: string[] = [];
    const log = lineLogger({ write: (t) => out.push(t), quiet: true, now: () => 0 });
    log.info('state change');
    log.warn('trouble');
    expect(out).toEqual(['1970-01-01T00:00:00.000Z WARN trouble\n']);
  });
});
