import { signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';

/**
 * Hostile HTTP input generated from the API's own description (GET /v1/openapi.json), shared by
 * the workerd spec (test/integration/fuzz.test.ts) and the chaos suite against the live stack
 * (test/chaos/hostile.ts). Every operation gets bodies built from its request schema and then
 * broken (a required field dropped, a field of the wrong type, an unknown field, a string past its
 * length, a number out of range or not an integer, a body that is not an object, nesting deeper
 * than any body), garbage path parameters and query values, a body that is not JSON, and a
 * signature over another body. A route added to the document is fuzzed without anyone writing a case.
 */

export type Schema = {
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
export type Operation = {
  operationId?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: unknown;
};
export type OpenApiDocument = { paths: Record<string, Record<string, Operation>> };

const typeOf = (s: Schema): string => (Array.isArray(s.type) ? s.type[0]! : (s.type ?? (s.properties ? 'object' : s.items ? 'array' : s.enum ? typeof s.enum[0] : 'string')));

/** A value shaped like the schema (not always valid: patterns are not followed). */
export function sample(s: Schema, depth = 0): unknown {
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

/** Values of the wrong type, per JSON Schema type. */
export const WRONG: Record<string, unknown[]> = {
  string: [1, true, null, [], {}],
  integer: ['1', 1.5, true, null, [], {}, 1e300],
  number: ['1', true, null, [], {}],
  boolean: ['true', 0, null, []],
  array: ['x', 1, {}, null],
  object: ['x', 1, [], null, true],
  null: ['x', 1, {}],
};

/** The schema's fields (one level, with paths into nested objects), for mutations. */
export function fields(s: Schema, path: string[] = []): { path: string[]; schema: Schema; required: boolean }[] {
  if (typeOf(s) !== 'object' || !s.properties) return [];
  return Object.entries(s.properties).flatMap(([k, v]) => [{ path: [...path, k], schema: v, required: (s.required ?? []).includes(k) }, ...fields(v, [...path, k])]);
}

/** A copy of `body` with the value at `path` replaced (or dropped). */
export function setAt(body: unknown, path: string[], value: unknown, drop = false): unknown {
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

/** The ways to break a body of schema `s`, each making it invalid whatever the rest is. */
export function breaksOf(s: Schema): ((body: unknown) => unknown)[] {
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
  return breaks;
}

/** Bodies that break the schema, each in a way that makes it invalid whatever the rest is; then seeded pairs of those breaks, up to `count`. */
export function brokenBodies(s: Schema, rand: () => number, count: number): unknown[] {
  const base = sample(s);
  const breaks = breaksOf(s);
  let deep: unknown = 0;
  for (let i = 0; i < 2000; i++) deep = [deep];
  const out: unknown[] = [['not', 'an', 'object'], 'text', 12, null, true, { deep }, ...breaks.map((b) => b(base))];
  const pick = () => breaks[Math.floor(rand() * breaks.length)]!;
  while (breaks.length > 0 && out.length < count) out.push(pick()(pick()(base)));
  return out.slice(0, Math.max(count, 6 + breaks.length));
}

export const GARBAGE_IDS = ['x'.repeat(5000), '%00', '..%2F..%2Fetc', '%F0%9F%92%A9', 'bid_cpu_zzzzzzzzzzzzzzzzzzzzzzzz', '-1', '0x41'];
export const GARBAGE_QUERY = ['-1', '1e999', '%00', 'x'.repeat(5000), '[]', '{}'];
/** More garbage (`extra`): percent-escapes that do not decode, an escape of a character that needs none, an empty value. */
export const MORE_GARBAGE_IDS = ['%zz', '%', '%E0%A4%A', 'abcd1234%35', 'x%2Fy', '%20', 'bid_cpu_0123456789abcdef0123456%37'];
export const MORE_GARBAGE_QUERY = ['%zz', '%E0%A4%A', '', '%2B1'];
/** An error code of the registry's form: `AREA__WHAT`. */
export const CODE = /^[A-Z][A-Z_]*__[A-Z][A-Z0-9_]*$/;

/** One generated request: where it goes, what it carries, how it is authorised, whether it may be accepted. */
export interface FuzzRequest {
  what: string;
  /** The operation's id in the document, and its path template (`/v1/jobs/{id}`). */
  operationId: string;
  template: string;
  method: string;
  /** Path and query string, as sent and signed. */
  path: string;
  body: string;
  /** 'signed': by the signer's key (over `signBody` when given, else the body); 'bearer': a made-up API key. */
  auth: 'none' | 'signed' | 'bearer';
  signBody?: string;
  /** Only GETs of garbage may be answered 2xx (an empty list, say); nothing broken may be accepted. */
  mayAccept: boolean;
}

/**
 * Every generated request for the document's operations, in a fixed order for a given `rand`:
 * garbage in each path parameter and each query parameter, then (operations with a JSON body) the
 * broken bodies (`bodies` per operation; one past 64 KiB at most), a body that is not JSON and a
 * signature over another body. `skip` leaves out paths (the agent socket has specs of its own);
 * `extra` adds more garbage (MORE_GARBAGE_IDS, MORE_GARBAGE_QUERY, repeated and unknown parameters).
 */
export function* fuzzRequests(doc: OpenApiDocument, o: { rand: () => number; bodies?: number; skip?: (template: string) => boolean; extra?: boolean }): Generator<FuzzRequest> {
  const ids = o.extra ? [...GARBAGE_IDS, ...MORE_GARBAGE_IDS] : GARBAGE_IDS;
  const values = o.extra ? [...GARBAGE_QUERY, ...MORE_GARBAGE_QUERY] : GARBAGE_QUERY;
  for (const [template, ops] of Object.entries(doc.paths)) {
    if (o.skip?.(template)) continue;
    // With `extra`: each method the path is not served with (405 naming the ones it is).
    if (o.extra) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => !(m.toLowerCase() in ops))) {
        const path = template.replace('{market}', 'cpu').replace(/\{[A-Za-z0-9_]+\}/g, 'x');
        yield { what: `${method} ${template} (a method it is not served with)`, operationId: `${method} ${template}`, template, method, path, body: '', auth: 'none', mayAccept: false };
      }
    }
    for (const [method, op] of Object.entries(ops)) {
      const upper = method.toUpperCase();
      const operationId = op.operationId ?? `${upper} ${template}`;
      const concrete = (id: string) => template.replace('{market}', 'cpu').replace(/\{[A-Za-z0-9_]+\}/g, id);
      const params = (op.parameters ?? []).filter((p) => p.in === 'path');
      const queries = (op.parameters ?? []).filter((p) => p.in === 'query');
      const bearer = template === '/v1/chat/completions';
      const auth: FuzzRequest['auth'] = bearer ? 'bearer' : op.security !== undefined ? 'signed' : 'none';
      const request = (what: string, path: string, body: string, mayAccept: boolean, signBody?: string): FuzzRequest => ({
        what: `${upper} ${template} ${what}`,
        operationId,
        template,
        method: upper,
        path,
        body,
        auth,
        mayAccept,
        ...(signBody !== undefined ? { signBody } : {}),
      });
      // Garbage in each path parameter, and in each query parameter.
      if (params.length > 0) for (const id of ids) yield request(`id=${id.slice(0, 20)}`, concrete(id), upper === 'POST' || upper === 'PUT' ? '{}' : '', upper === 'GET');
      for (const q of queries) for (const v of values) yield request(`?${q.name}=${v.slice(0, 20)}`, `${concrete('x')}?${q.name}=${v}`, '', upper === 'GET');
      // With `extra`: each query parameter given twice, and one the route does not take.
      if (o.extra) for (const q of queries) yield request(`?${q.name} twice`, `${concrete('x')}?${q.name}=1&${q.name}=1`, '', false);
      if (o.extra) yield request('?an unknown parameter', `${concrete('x')}?__fuzz=1`, '', false);
      const schema = op.requestBody?.content['application/json']?.schema;
      if (!schema) continue;
      const path = concrete(params.length > 0 ? 'bid_cpu_0123456789abcdef01234567' : 'x');
      // Bodies past 64 KiB once per route (the limits have their own specs): they cost the most to send.
      let large = 0;
      for (const body of brokenBodies(schema, o.rand, o.bodies ?? 40)) {
        const text = JSON.stringify(body);
        if (text.length > 64 * 1024 && large++ > 0) continue;
        yield request(`body ${text.slice(0, 120)}`, path, text, false);
      }
      // With `extra`: a reserved key (at the top and nested), which a schema's records would skip without a word.
      if (o.extra) {
        const text = JSON.stringify(sample(schema));
        if (text.startsWith('{')) {
          yield request('with a key __proto__', path, text.replace(/^\{/, '{"__proto__":{"admin":true},'), false);
          yield request('with a nested key constructor', path, text.replace(/^\{/, '{"attributes":{"constructor":{"prototype":1}},'), false);
        }
      }
      // Not JSON at all, and (signed routes) a signature over another body.
      yield request('not JSON', path, '{"market": ', false);
      if (auth === 'signed') yield request('signed over another body', path, JSON.stringify(sample(schema)), false, '{}');
    }
  }
}

/**
 * The fetch options that send a generated request, signed by `signer` where it is signed; `bearer`
 * is the API key of bearer routes (default: one that does not parse, refused before the body is read).
 */
export async function fuzzInit(r: FuzzRequest, signer: () => Promise<Keypair> | Keypair, o: { bearer?: string } = {}): Promise<RequestInit> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (r.auth === 'bearer') headers.authorization = `Bearer ${o.bearer ?? 'sk-doug_fuzz'}`;
  else if (r.auth === 'signed') Object.assign(headers, await signRequest(await signer(), { method: r.method, path: r.path, body: r.signBody ?? r.body }));
  return { method: r.method, headers, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { body: r.body }) };
}

/** The coded error of an answer's body, or undefined when it carries none. */
export function errorCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' && CODE.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with an answer to hostile input, in words, or null: a 5xx, a 2xx where nothing may
 * be accepted, a refusal without the coded error body `{error:{code,message,context}}`.
 */
export function answerProblem(what: string, status: number, text: string, mayAccept: boolean): string | null {
  if (status >= 500) return `${what}: ${status} ${text.slice(0, 200)}`;
  if (status < 400) return mayAccept ? null : `${what}: accepted (${status}) ${text.slice(0, 200)}`;
  return errorCode(text) === undefined ? `${what}: ${status} without a coded error: ${text.slice(0, 200)}` : null;
}
