import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { forgetModels, loadModels, MAX_REMEMBERED, modelPresence, MODELS_STORAGE, parseModels, rememberModel, saveModels, sha256Of, type RememberedModel } from './models.ts';

const sha = (n: number): string => n.toString(16).padStart(64, '0');
const model = (n: number, at = n): RememberedModel => ({ sha256: sha(n), name: `m${n}.onnx`, bytes: 100 + n, at });

function memoryStore(): Storage {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v) } as Storage;
}

describe('remembered models', () => {
  it('puts the latest upload first, once, and keeps at most the newest 20', () => {
    let list: RememberedModel[] = [];
    for (let i = 1; i <= MAX_REMEMBERED + 3; i++) list = rememberModel(list, model(i));
    expect(list).toHaveLength(MAX_REMEMBERED);
    expect(list[0]?.sha256).toBe(sha(MAX_REMEMBERED + 3));
    list = rememberModel(list, model(10, 999));
    expect(list[0]).toEqual(model(10, 999));
    expect(list.filter((m) => m.sha256 === sha(10))).toHaveLength(1);
    expect(forgetModels(list, [sha(10)]).some((m) => m.sha256 === sha(10))).toBe(false);
  });
  it('survives a round trip through storage and drops malformed entries', () => {
    const store = memoryStore();
    saveModels(store, [model(1), model(2)]);
    expect(loadModels(store)).toEqual([model(1), model(2)]);
    store.setItem(MODELS_STORAGE, JSON.stringify([model(3), { sha256: 'nothex', name: 'x', bytes: 1, at: 1 }, null]));
    expect(loadModels(store)).toEqual([model(3)]);
    expect(parseModels('{not json')).toEqual([]);
    expect(parseModels('{"a":1}')).toEqual([]);
    expect(loadModels(null)).toEqual([]);
  });
});

describe('checking a model on the server', () => {
  const answer = (status: number, body: unknown) => async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  it('is present when the bytes come back, missing only for API__UNKNOWN_MODEL', async () => {
    expect(await modelPresence('http://x/', sha(1), answer(200, 'bytes') as typeof fetch)).toBe('present');
    expect(await modelPresence('http://x', sha(1), answer(404, { error: { code: 'API__UNKNOWN_MODEL', message: 'gone', context: {} } }) as typeof fetch)).toBe('missing');
    expect(await modelPresence('http://x', sha(1), answer(500, { error: { code: 'API__INTERNAL', message: '', context: {} } }) as typeof fetch)).toBe('unknown');
    expect(await modelPresence('http://x', sha(1), (async () => { throw new TypeError('offline'); }) as typeof fetch)).toBe('unknown');
  });
  it('asks the route named by the hash', async () => {
    let asked = '';
    await modelPresence('http://host:1/', sha(7), (async (url: string) => { asked = url; return new Response('b'); }) as typeof fetch);
    expect(asked).toBe(`http://host:1/v1/models/${sha(7)}`);
  });
  it('hashes bytes as the server names them', async () => {
    const bytes = new TextEncoder().encode('onnx bytes');
    expect(await sha256Of(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});
