import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { generateKeypair, signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { openApiDocument } from '../../durable-objects/contracts/openapi.ts';
import { BASE } from './helpers.ts';
import { prng } from '../../gpu-agent/models/prng.ts';

/**
 * Hostile input generated from the API's own description (GET /v1/openapi.json): every operation
 * gets bodies built from its request schema and then broken (a required field dropped, a field of
 * the wrong type, an unknown field, a string past its length, a number out of range or not an
 * integer, a body that is not an object, nesting deeper than any body), garbage path parameters
 * and query values, and a signature over another body. A route added to the document is fuzzed
 * without anyone writing a case. Every answer must be below 500 and, when a refusal, a coded
 * error; nothing may be accepted (every body is broken), and the fuzzing keys own nothing after.
 */

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
};
type Operation = { parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema: Schema }> }; security?: unknown };

const typeOf = (s: Schema): string => (Array.isArray(s.type) ? s.type[0]! : (s.type ?? (s.properties ? 'object' : s.items ? 'array' : s.enum ? typeof s.enum[0] : 'string')));

/** A value shaped like the schema (not always valid: patterns are not followed). */
function sample(s: Schema, depth = 0): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  const option = s.anyOf?.[0] ?? s.oneOf?.[0];
  if (option) return sample(option, depth);
  switch (typeOf(s)) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, depth > 6 ? null : sample(v, depth + 1)]));
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return 'x';
  }
}

const WRONG: Record<string, unknown[]> = {
  string: [1, true, null, [], {}],
  integer: ['1', 1.5, true, null, [], {}, 1e300],
  number: ['1', true, null, [], {}],
  boolean: ['true', 0, null, []],
  array: ['x', 1, {}, null],
  object: ['x', 1, [], null, true],
  null: ['x', 1, {}],
};

/** The schema's fields (one level, with paths into nested objects), for mutations. */
function fields(s: Schema, path: string[] = []): { path: string[]; schema: Schema; required: boolean }[] {
  if (typeOf(s) !== 'object' || !s.properties) return [];
  return Object.entries(s.properties).flatMap(([k, v]) => [{ path: [...path, k], schema: v, required: (s.required ?? []).includes(k) }, ...fields(v, [...path, k])]);
}

function setAt(body: unknown, path: string[], value: unknown, drop = false): unknown {
  const copy = structuredClone(body) as Record<string, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  if (drop) delete at[path.at(-1)!];
  else at[path.at(-1)!] = value;
  return copy;
}

/** Bodies that break the schema, each in a way that makes it invalid whatever the rest is; then seeded pairs of those breaks, up to `count`. */
function brokenBodies(s: Schema, rand: () => number, count: number): unknown[] {
  const base = sample(s);
  const breaks: ((body: unknown) => unknown)[] = [];
  if (s.additionalProperties === false) breaks.push((b) => ({ ...(b as object), __fuzz: 1 }));
  for (const f of fields(s)) {
    if (f.required) breaks.push((b) => setAt(b, f.path, undefined, true));
    if (!f.schema.anyOf && !f.schema.oneOf) for (const wrong of WRONG[typeOf(f.schema)] ?? []) breaks.push((b) => setAt(b, f.path, wrong));
    if (f.schema.maxLength !== undefined) breaks.push((b) => setAt(b, f.path, 'y'.repeat(f.schema.maxLength! + 1)));
    if (f.schema.maximum !== undefined) breaks.push((b) => setAt(b, f.path, f.schema.maximum! + 1));
    if (f.schema.minimum !== undefined) breaks.push((b) => setAt(b, f.path, f.schema.minimum! - 1));
    if (f.schema.maxItems !== undefined) breaks.push((b) => setAt(b, f.path, Array.from({ length: f.schema.maxItems! + 1 }, () => sample(f.schema.items ?? {}))));
    if (f.schema.enum) breaks.push((b) => setAt(b, f.path, '__not_one_of_them__'));
  }
  let deep: unknown = 0;
  for (let i = 0; i < 2000; i++) deep = [deep];
  const out: unknown[] = [['not', 'an', 'object'], 'text', 12, null, true, { deep }, ...breaks.map((b) => b(base))];
  const pick = () => breaks[Math.floor(rand() * breaks.length)]!;
  while (breaks.length > 0 && out.length < count) out.push(pick()(pick()(base)));
  return out.slice(0, Math.max(count, 6 + breaks.length));
}

const GARBAGE_IDS = ['x'.repeat(5000), '%00', '..%2F..%2Fetc', '%F0%9F%92%A9', 'bid_cpu_zzzzzzzzzzzzzzzzzzzzzzzz', '-1', '0x41'];
const GARBAGE_QUERY = ['-1', '1e999', '%00', 'x'.repeat(5000), '[]', '{}'];
const CODE = /^[A-Z][A-Z_]*__[A-Z][A-Z0-9_]*$/;

describe('hostile input generated from GET /v1/openapi.json', () => {
  it('every operation answers broken bodies, garbage parameters and wrong signatures below 500 with a coded refusal, and accepts none', async () => {
    const doc = openApiDocument(BASE) as { paths: Record<string, Record<string, Operation>> };
    const rand = prng(20261206);
    const keys: Keypair[] = [];
    let key: Keypair = await generateKeypair();
    let sentWithKey = 0;
    const signer = async () => {
      // A fresh key well within each account's request budget (the budget has its own spec).
      if (++sentWithKey > 200) {
        keys.push(key);
        key = await generateKeypair();
        sentWithKey = 1;
      }
      return key;
    };
    let requests = 0;
    const failures: string[] = [];
    const check = async (what: string, res: Response, mayAccept: boolean) => {
      requests++;
      const text = await res.text();
      if (res.status >= 500) return failures.push(`${what}: ${res.status} ${text.slice(0, 200)}`);
      if (res.status < 400) {
        if (!mayAccept) failures.push(`${what}: accepted (${res.status}) ${text.slice(0, 200)}`);
        return;
      }
      if (res.status === 101) return;
      let code: unknown;
      try {
        const body = JSON.parse(text) as { error?: { code?: unknown } };
        code = body.error?.code;
      } catch {
        code = undefined;
      }
      if (typeof code !== 'string' || !CODE.test(code)) failures.push(`${what}: ${res.status} without a coded error: ${text.slice(0, 200)}`);
    };

    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const upper = method.toUpperCase();
        if (template.endsWith('/agent')) continue; // the socket's own hostile-input specs: agents.test.ts
        const concrete = (id: string) => template.replace('{market}', 'cpu').replace(/\{[A-Za-z0-9_]+\}/g, id);
        const params = (op.parameters ?? []).filter((p) => p.in === 'path');
        const queries = (op.parameters ?? []).filter((p) => p.in === 'query');
        const signed = op.security !== undefined;
        const bearer = template === '/v1/chat/completions';
        const sendRaw = async (path: string, body: string, o: { sign?: boolean; signBody?: string } = {}) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (bearer) headers.authorization = 'Bearer sk-doug_fuzz';
          else if (signed && o.sign !== false) Object.assign(headers, await signRequest(await signer(), { method: upper, path, body: o.signBody ?? body }));
          return SELF.fetch(BASE + path, { method: upper, headers, ...(upper === 'GET' || upper === 'DELETE' ? {} : { body }) });
        };
        // Garbage in each path parameter, and in each query parameter.
        if (params.length > 0) for (const id of GARBAGE_IDS) await check(`${upper} ${template} id=${id.slice(0, 20)}`, await sendRaw(concrete(id), upper === 'POST' || upper === 'PUT' ? '{}' : ''), upper === 'GET');
        for (const q of queries) for (const v of GARBAGE_QUERY) await check(`${upper} ${template}?${q.name}=${v.slice(0, 20)}`, await sendRaw(`${concrete('x')}?${q.name}=${v}`, ''), upper === 'GET');
        const schema = op.requestBody?.content['application/json']?.schema;
        if (!schema) continue;
        const path = concrete(params.length > 0 ? 'bid_cpu_0123456789abcdef01234567' : 'x');
        // Bodies past 64 KiB once per route (the limits have their own specs): they cost the most to send.
        let large = 0;
        for (const body of brokenBodies(schema, rand, 40)) {
          const text = JSON.stringify(body);
          if (text.length > 64 * 1024 && large++ > 0) continue;
          await check(`${upper} ${template} body ${text.slice(0, 120)}`, await sendRaw(path, text), false);
        }
        // Not JSON at all, and (signed routes) a signature over another body.
        await check(`${upper} ${template} not JSON`, await sendRaw(path, '{"market": '), false);
        if (signed && !bearer) await check(`${upper} ${template} signed over another body`, await sendRaw(path, JSON.stringify(sample(schema)), { signBody: '{}' }), false);
      }
    }
    keys.push(key);
    expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    expect(requests).toBeGreaterThan(800);
    // Nothing any fuzzing key sent was taken: none owns a balance, a hold or an order.
    for (const k of keys) {
      const account = (await (await SELF.fetch(`${BASE}/v1/accounts/${k.publicKey}`)).json()) as { available?: string; held?: string };
      expect([k.publicKey, account.available ?? '0', account.held ?? '0']).toEqual([k.publicKey, '0', '0']);
      for (const list of ['bids', 'asks']) {
        const page = (await (await SELF.fetch(`${BASE}/v1/${list}?owner=${k.publicKey}`)).json()) as { items: unknown[] };
        expect(page.items, `${list} of ${k.publicKey}`).toEqual([]);
      }
    }
  }, 300_000);
});
