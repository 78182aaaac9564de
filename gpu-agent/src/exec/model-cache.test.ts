import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAddModel, modelSha256 } from '../../models/build.ts';
import { AgentExecError } from './errors.ts';
import { ModelCache } from './model-cache.ts';

const MODEL = buildAddModel();
const SHA = modelSha256(MODEL);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function counting(bytes: Uint8Array | ((sha: string) => Promise<Uint8Array>)) {
  const calls: string[] = [];
  const fetchModel = async (sha: string) => {
    calls.push(sha);
    await new Promise((r) => setTimeout(r, 5));
    return typeof bytes === 'function' ? bytes(sha) : bytes;
  };
  return { calls, fetchModel };
}

async function rejection(p: Promise<unknown>): Promise<AgentExecError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(AgentExecError);
  return e as AgentExecError;
}

describe('a model not yet cached', () => {
  it('is fetched once, verified and stored under its hash', async () => {
    const { calls, fetchModel } = counting(MODEL);
    const cache = new ModelCache(dir, fetchModel);
    const path = await cache.get(SHA);
    expect(path).toBe(join(dir, `${SHA}.onnx`));
    expect(new Uint8Array(await readFile(path))).toEqual(MODEL);
    expect(await cache.get(SHA)).toBe(path);
    expect(calls).toEqual([SHA]);
  });

  it('is fetched once for concurrent gets', async () => {
    const { calls, fetchModel } = counting(MODEL);
    const cache = new ModelCache(dir, fetchModel);
    const paths = await Promise.all([cache.get(SHA), cache.get(SHA), cache.get(SHA)]);
    expect(new Set(paths).size).toBe(1);
    expect(calls).toHaveLength(1);
  });

  it('is found by a new cache over the same folder without fetching', async () => {
    await new ModelCache(dir, counting(MODEL).fetchModel).get(SHA);
    const { calls, fetchModel } = counting(MODEL);
    expect(await new ModelCache(dir, fetchModel).get(SHA)).toBe(join(dir, `${SHA}.onnx`));
    expect(calls).toEqual([]);
  });
});

describe('bytes that do not match the hash', () => {
  it('are refused with AGENT__MODEL_HASH_MISMATCH and not kept', async () => {
    const tampered = new Uint8Array(MODEL);
    tampered[tampered.length - 1]! ^= 1;
    const cache = new ModelCache(dir, counting(tampered).fetchModel);
    const e = await rejection(cache.get(SHA));
    expect(e.code).toBe('AGENT__MODEL_HASH_MISMATCH');
    expect(e.context).toEqual({ expected: SHA, actual: modelSha256(tampered) });
    expect(await readdir(dir)).toEqual([]);
    expect(await cache.has(SHA)).toBe(false);
  });

  it('are fetched again on the next get (a refusal is not cached)', async () => {
    let n = 0;
    const { calls, fetchModel } = counting(async () => (n++ === 0 ? new Uint8Array([1, 2, 3]) : MODEL));
    const cache = new ModelCache(dir, fetchModel);
    await rejection(cache.get(SHA));
    expect(await cache.get(SHA)).toBe(join(dir, `${SHA}.onnx`));
    expect(calls).toHaveLength(2);
  });
});

describe('limits and failures', () => {
  it('refuses a model over the size limit with AGENT__MODEL_TOO_LARGE', async () => {
    const cache = new ModelCache(dir, counting(MODEL).fetchModel, MODEL.byteLength - 1);
    const e = await rejection(cache.get(SHA));
    expect(e.code).toBe('AGENT__MODEL_TOO_LARGE');
    expect(e.context).toMatchObject({ bytes: MODEL.byteLength, limit: MODEL.byteLength - 1 });
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a failed fetch as AGENT__MODEL_UNAVAILABLE', async () => {
    const cache = new ModelCache(dir, async () => {
      throw new Error('404 from the model store');
    });
    const e = await rejection(cache.get(SHA));
    expect(e.code).toBe('AGENT__MODEL_UNAVAILABLE');
    expect(e.message).toContain('404 from the model store');
  });

  it('refuses an address that is not a SHA-256 without fetching', async () => {
    const { calls, fetchModel } = counting(MODEL);
    const cache = new ModelCache(dir, fetchModel);
    for (const bad of ['../../etc/passwd', SHA.toUpperCase(), SHA.slice(1)]) {
      expect((await rejection(cache.get(bad))).code).toBe('AGENT__MODEL_UNAVAILABLE');
    }
    expect(calls).toEqual([]);
  });
});

describe('putting bytes the agent holds', () => {
  it('stores them under their hash so that get does not fetch', async () => {
    const { calls, fetchModel } = counting(MODEL);
    const cache = new ModelCache(join(dir, 'nested'), fetchModel);
    const put = await cache.put(MODEL);
    expect(put.sha256).toBe(SHA);
    expect(await cache.get(SHA)).toBe(put.path);
    expect(calls).toEqual([]);
  });
});
