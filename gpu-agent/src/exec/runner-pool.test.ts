import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toWire, wireValues } from '../../../durable-objects/contracts/tensors.ts';
import { buildAddModel, buildMlpModel, modelSha256, prng } from '../../models/build.ts';
import { AgentExecError } from './errors.ts';
import { ModelCache } from './model-cache.ts';
import { RunnerPool } from './runner-pool.ts';
import { OnnxRunner } from './runner.ts';

const MLP = { inputSize: 64, hidden: 128, outputSize: 16, seed: 5 };
const models = new Map<string, Uint8Array>();
for (const bytes of [buildAddModel(), buildMlpModel(MLP)]) models.set(modelSha256(bytes), bytes);
const [ADD, MLP_SHA] = [...models.keys()] as [string, string];

let dir: string;
let cache: ModelCache;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-pool-'));
  cache = new ModelCache(dir, async (sha) => {
    const bytes = models.get(sha);
    if (!bytes) throw new Error('no such model');
    return bytes;
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const f32 = (name: string, dims: number[], values: number[]) => toWire(name, 'float32', dims, new Uint8Array(Float32Array.from(values).buffer));

describe('runs in worker threads', () => {
  it('gives the outputs and digest the main-thread runner gives', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    const here = new OnnxRunner({ executionProvider: 'cpu', cache });
    try {
      const rand = prng(3);
      const x = Float32Array.from({ length: 2 * MLP.inputSize }, () => rand() * 2 - 1);
      const req = { modelSha256: MLP_SHA, inputs: [toWire('x', 'float32', [2, MLP.inputSize], new Uint8Array(x.buffer))] };
      const [a, b] = await Promise.all([pool.run(req), here.run(req)]);
      expect(a.outputs).toEqual(b.outputs);
      expect(a.outputDigest).toBe(b.outputDigest);
      expect(a.timings.runMs).toBeGreaterThanOrEqual(0);
    } finally {
      await pool.close();
      await here.close();
    }
  });

  it('runs a thread\'s queue in order, each run said to start before its answer and after the one before it ended', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    const log: string[] = [];
    try {
      const runs = [1, 2, 3].map((n) =>
        pool.run({ modelSha256: ADD, inputs: [f32('x', [2], [n, n])] }, { onStart: () => log.push(`start ${n}`) }).then((r) => {
          log.push(`done ${n}`);
          return wireValues(r.outputs[0]!);
        }),
      );
      expect(await Promise.all(runs)).toEqual([
        [2, 2],
        [3, 3],
        [4, 4],
      ]);
      expect(log).toEqual(['start 1', 'done 1', 'start 2', 'done 2', 'start 3', 'done 3']);
    } finally {
      await pool.close();
    }
  });

  it('takes an aborted run out of the queue unstarted; the others run', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    const started: number[] = [];
    try {
      const abort = new AbortController();
      const req = (n: number) => ({ modelSha256: ADD, inputs: [f32('x', [1], [n])] });
      const first = pool.run(req(1), { onStart: () => started.push(1) });
      const second = pool.run(req(2), { signal: abort.signal, onStart: () => started.push(2) });
      const third = pool.run(req(3), { onStart: () => started.push(3) });
      abort.abort();
      const e = await second.then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(AgentExecError);
      expect(e).toMatchObject({ code: 'AGENT__RUN_FAILED' });
      expect(wireValues((await first).outputs[0]!)).toEqual([2]);
      expect(wireValues((await third).outputs[0]!)).toEqual([4]);
      expect(started).toEqual([1, 3]);
      // Aborted before it was handed over: refused at once.
      await expect(pool.run(req(4), { signal: abort.signal })).rejects.toMatchObject({ code: 'AGENT__RUN_FAILED' });
    } finally {
      await pool.close();
    }
  });

  it('keeps the codes of errors: a wrong input from the thread, a model that cannot be fetched from the main thread', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    try {
      const wrong = await pool.run({ modelSha256: ADD, inputs: [f32('nope', [1], [1])] }).then(() => null, (err: unknown) => err);
      expect(wrong).toBeInstanceOf(AgentExecError);
      expect(wrong).toMatchObject({ code: 'AGENT__RUN_FAILED', context: { sha256: ADD } });
      expect((wrong as Error).message).toContain('unknown input "nope"');
      await expect(pool.run({ modelSha256: 'f'.repeat(64), inputs: [] })).rejects.toMatchObject({ code: 'AGENT__MODEL_UNAVAILABLE' });
    } finally {
      await pool.close();
    }
  });

  it('spreads runs over its threads and answers each', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache, threads: 2 });
    try {
      expect(pool.queue).toBe(2);
      const outs = await Promise.all([1, 2, 3, 4].map((n) => pool.run({ modelSha256: ADD, inputs: [f32('x', [1], [n])] })));
      expect(outs.map((r) => wireValues(r.outputs[0]!))).toEqual([[2], [3], [4], [5]]);
    } finally {
      await pool.close();
    }
  });

  it('refuses runs once closed', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    await pool.run({ modelSha256: ADD, inputs: [f32('x', [1], [1])] });
    await pool.close();
    await expect(pool.run({ modelSha256: ADD, inputs: [f32('x', [1], [1])] })).rejects.toMatchObject({ code: 'AGENT__RUN_FAILED', context: { reason: 'the runner is closed' } });
  });

  it('refuses the runs of a thread that dies, and runs the next ones in a fresh thread', async () => {
    const pool = new RunnerPool({ executionProvider: 'cpu', cache });
    try {
      const req = { modelSha256: ADD, inputs: [f32('x', [1], [1])] };
      await pool.run(req);
      // The thread is ending (as when it runs out of memory) as a run is handed to it: it never runs it.
      const ending = (pool as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads[0]!.worker.terminate();
      const held = pool.run(req);
      await ending;
      await expect(held).rejects.toThrow(/runner thread exited/);
      expect(wireValues((await pool.run(req)).outputs[0]!)).toEqual([2]);
    } finally {
      await pool.close();
    }
  });
});
