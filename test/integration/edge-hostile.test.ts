import { env } from 'cloudflare:workers';
import { SELF, createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../durable-objects/contracts/api.ts';
import { signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { openApiDocument } from '../../durable-objects/contracts/openapi.ts';
import worker from '../../workers/index.ts';
import { anyShapeModel } from '../support/onnx-model.ts';
import { BASE, DOUG, SPEC, rawRequest, wallet } from './helpers.ts';

/**
 * The edge answers hostile requests with one rule each, in the documented error shape, and
 * changes nothing: media types parsed (not prefix-matched), bodies counted as they stream, unsigned
 * uploads refused before their body is read, HEAD as GET without a body, 405 with Allow, WebSocket
 * handshakes checked, unknown query parameters refused on every route, a job's history 404 like the job.
 */
let buyer: { keypair: Keypair; key: string };

const hour = () => Date.now() + 3600_000;
const bidBody = () => JSON.stringify({ market: 'cpu', clientId: `c${Math.random().toString(36).slice(2)}`, maxPrice: '10', units: 1, replicas: 1, requirements: [], expiresAt: hour(), ioc: false, job: SPEC });
const inputsBody = () => JSON.stringify({ tensors: [{ name: 'x', dtype: 'float32', dims: [1], data: 'AACAPw' }] });

type Answer = { status: number; headers: Headers; text: string; error?: { code: string; message: string; context: Record<string, unknown> } };

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  const parsed = text && res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as { error?: Answer['error'] }) : {};
  return { status: res.status, headers: res.headers, text, error: parsed.error };
}

/** A signed request with any content type and body (bytes or a stream). */
async function send(o: { method: string; path: string; body: string | Uint8Array | ReadableStream<Uint8Array>; type?: string | null; signed?: boolean; signedBody?: string | Uint8Array }): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.type !== null) headers['content-type'] = o.type ?? 'application/json';
  if (o.signed !== false) {
    const signedBody = o.signedBody ?? (o.body instanceof ReadableStream ? '' : o.body);
    Object.assign(headers, await signRequest(buyer.keypair, { method: o.method, path: o.path, body: signedBody }));
  }
  if (!(o.body instanceof ReadableStream)) return answer(await SELF.fetch(BASE + o.path, { method: o.method, headers, body: o.body as BodyInit }));
  // A stream goes straight into the Worker's handler, so the test sees what the Worker pulled from it.
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(BASE + o.path, { method: o.method, headers, body: o.body, duplex: 'half' } as RequestInit), env as never, ctx);
  await waitOnExecutionContext(ctx);
  return answer(res);
}

/**
 * What a refused request must leave alone: the buyer's account and ledger and the market's live book.
 * The market's summary is left out: it is a read model, which an earlier test's bids may still be
 * on their way to (the audit cannot always tell, docs/architecture.md "Read models").
 */
async function observe(): Promise<string> {
  const get = async (path: string) => (await SELF.fetch(BASE + path)).text();
  const market = (await (await SELF.fetch(`${BASE}/v1/markets/cpu?depth=50`)).json()) as { book: unknown };
  return JSON.stringify([await get(`/v1/accounts/${buyer.key}`), await get(`/v1/accounts/${buyer.key}/ledger?limit=500`), market.book]);
}

/**
 * A stream of `total` bytes of spaces in 64 KiB chunks (no declared length: sent chunked); `pulled`
 * counts what was read. A stalled one hands over its first chunk and then nothing: a Worker that
 * needed its body to answer would never answer.
 */
function chunked(total: number, o: { stalled?: boolean } = {}): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent > 0 && o.stalled) return new Promise<void>(() => {});
      if (sent >= total) return controller.close();
      const n = Math.min(chunk.byteLength, total - sent);
      sent += n;
      controller.enqueue(n === chunk.byteLength ? chunk.slice() : chunk.slice(0, n));
    },
  });
  return { stream, pulled: () => sent };
}

beforeAll(async () => {
  const w = await wallet(10n * DOUG);
  buyer = { keypair: w.keypair, key: w.key };
});

describe('media types: one parser for every body-reading route', () => {
  const refused: [string, string, string | null][] = [
    ['POST /v1/bids', 'application/jsonx', bidBody()],
    ['POST /v1/bids', 'application/json-patch+json', bidBody()],
    ['POST /v1/bids', 'application/json; charset=utf-16', bidBody()],
    ['POST /v1/bids', 'application/json; charset=latin1', bidBody()],
    ['POST /v1/bids', 'application/json; boundary=x', bidBody()],
    ['POST /v1/bids', 'text/plain', bidBody()],
    ['POST /v1/bids', 'json', bidBody()],
    ['PUT /v1/inputs', 'text/plain', inputsBody()],
    ['PUT /v1/inputs', 'application/octet-stream', inputsBody()],
    ['PUT /v1/models', 'application/json', '\u0001model'],
    ['PUT /v1/models', 'application/octet-streamx', '\u0001model'],
  ];
  it.each(refused)('%s with content-type %j is 415 API__UNSUPPORTED_MEDIA_TYPE and changes nothing', async (route, type, body) => {
    const [method, path] = route.split(' ') as [string, string];
    const before = await observe();
    const res = await send({ method, path, type, body: body! });
    expect(res.status).toBe(415);
    expect(res.error).toMatchObject({ code: 'API__UNSUPPORTED_MEDIA_TYPE', context: { received: type } });
    expect(res.error?.message).toContain(path === '/v1/models' ? 'application/octet-stream' : 'application/json');
    expect(await observe()).toBe(before);
  });

  it('a body without a content-type is 415; an empty one needs none', async () => {
    const before = await observe();
    expect((await send({ method: 'POST', path: '/v1/bids', type: null, body: bidBody() })).error?.code).toBe('API__UNSUPPORTED_MEDIA_TYPE');
    expect(await observe()).toBe(before);
    const placed = await rawRequest({ method: 'POST', path: '/v1/bids', body: bidBody(), signer: buyer.keypair });
    const cancel = await send({ method: 'DELETE', path: `/v1/bids/${(placed.body.order as { id: string }).id}`, type: null, body: new Uint8Array(0), signedBody: '' });
    expect(cancel.status).toBe(200);
  });

  it.each(['Application/JSON', 'application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'APPLICATION/json ; Charset=utf-8', 'application/json;'])('%j is JSON', async (type) => {
    const res = await send({ method: 'POST', path: '/v1/bids', type, body: bidBody() });
    expect(res.status).toBe(201);
  });

  it('PUT /v1/models takes application/octet-stream, any case', async () => {
    const res = await send({ method: 'PUT', path: '/v1/models', type: 'Application/Octet-Stream', body: anyShapeModel('edge-hostile') });
    expect(res.status, res.text).toBe(201);
  });
});

describe('bodies are counted as they arrive, whatever their transfer encoding', () => {
  it('a 3 MiB chunked bid is 413 API__BODY_TOO_LARGE in our shape, and changes nothing', async () => {
    const before = await observe();
    const { stream } = chunked(3 * 1024 * 1024);
    const res = await send({ method: 'POST', path: '/v1/bids', body: stream });
    expect(res.status).toBe(413);
    expect(res.error).toMatchObject({ code: 'API__BODY_TOO_LARGE', context: { limit: 64 * 1024 } });
    expect(await observe()).toBe(before);
  });

  it('a chunked bid sent as text/plain is refused for its type before it is read', async () => {
    const { stream } = chunked(3 * 1024 * 1024, { stalled: true });
    const res = await send({ method: 'POST', path: '/v1/bids', body: stream, type: 'text/plain' });
    expect(res).toMatchObject({ status: 415, error: { code: 'API__UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('a chunked model upload beyond 64 MiB is 413 once the count passes the limit', async () => {
    const { stream } = chunked(64 * 1024 * 1024 + 64 * 1024);
    const res = await send({ method: 'PUT', path: '/v1/models', type: 'application/octet-stream', body: stream });
    expect(res.status).toBe(413);
    expect(res.error).toMatchObject({ code: 'API__BODY_TOO_LARGE', context: { limit: 64 * 1024 * 1024 } });
  });

  it('an unsigned 64 MiB model upload is refused before its body is read', async () => {
    const { stream, pulled } = chunked(64 * 1024 * 1024, { stalled: true });
    const res = await send({ method: 'PUT', path: '/v1/models', type: 'application/octet-stream', body: stream, signed: false });
    const readBeforeAnswer = pulled();
    expect(res.status).toBe(401);
    expect(res.error?.code).toBe('AUTH__MISSING');
    expect(readBeforeAnswer).toBeLessThanOrEqual(64 * 1024);
  });

  it('an unsigned chunked bid is refused before its body is read, too', async () => {
    const { stream } = chunked(3 * 1024 * 1024, { stalled: true });
    const res = await send({ method: 'POST', path: '/v1/bids', body: stream, signed: false });
    expect(res).toMatchObject({ status: 401, error: { code: 'AUTH__MISSING' } });
  });
});

describe('methods', () => {
  it('HEAD answers as GET without a body', async () => {
    const get = await SELF.fetch(`${BASE}/v1/markets`);
    const head = await SELF.fetch(`${BASE}/v1/markets`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(await head.text()).toBe('');
    const missing = await SELF.fetch(`${BASE}/v1/jobs/bid_cpu_000000000000000000000000`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('');
    expect((await SELF.fetch(`${BASE}/v1/nothing`, { method: 'HEAD' })).status).toBe(404);
  });

  it('HEAD of the served-once result is 405: its GET is not safe', async () => {
    const res = await answer(await SELF.fetch(`${BASE}/v1/jobs/bid_cpu_000000000000000000000000/result`, { method: 'HEAD' }));
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(res.text).toBe('');
  });

  it.each([
    ['PATCH', '/v1/markets', 'GET, HEAD'],
    ['POST', '/v1/markets/cpu', 'GET, HEAD'],
    ['OPTIONS', '/v1/bids', 'GET, HEAD, POST'],
    ['PUT', '/v1/bids/bid_cpu_000000000000000000000000', 'DELETE'],
    ['GET', '/v1/faucet', 'POST'],
    ['DELETE', '/v1/jobs/bid_cpu_000000000000000000000000/cancel', 'POST'],
  ])('%s %s is 405 API__METHOD_NOT_ALLOWED with Allow: %s', async (method, path, allow) => {
    const res = await answer(await SELF.fetch(BASE + path, { method }));
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(res.error).toMatchObject({ code: 'API__METHOD_NOT_ALLOWED', context: { method, path, allowed: allow.split(', ') } });
  });

  it('a path no route has is 404 API__NOT_FOUND whatever the method', async () => {
    for (const method of ['GET', 'POST', 'PATCH']) {
      const res = await answer(await SELF.fetch(`${BASE}/v1/nowhere`, { method }));
      expect(res.status).toBe(404);
      expect(res.error?.code).toBe('API__NOT_FOUND');
    }
  });
});

describe('the agent socket checks the WebSocket handshake', () => {
  const agent = (headers: Record<string, string>) => SELF.fetch(`${BASE}/v1/markets/cpu/agent`, { headers }).then(answer);

  it('no Upgrade is 426 API__UPGRADE_REQUIRED', async () => {
    expect(await agent({})).toMatchObject({ status: 426, error: { code: 'API__UPGRADE_REQUIRED' } });
  });

  it.each([
    ['no key', { upgrade: 'websocket', 'sec-websocket-version': '13' }, 'sec-websocket-key'],
    ['a key that is not 16 bytes', { upgrade: 'websocket', 'sec-websocket-key': 'c2hvcnQ=', 'sec-websocket-version': '13' }, 'sec-websocket-key'],
    ['no version', { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, 'sec-websocket-version'],
    ['version 8', { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '8' }, 'sec-websocket-version'],
  ])('%s is 400 API__INVALID_INPUT naming the header', async (_name, headers, field) => {
    const res = await agent(headers);
    expect(res.status).toBe(400);
    expect(res.error).toMatchObject({ code: 'API__INVALID_INPUT', context: { field } });
  });
  // A full handshake still opens the socket: test/integration/agents.test.ts connects every agent so.
});

describe('query parameters: unknown ones are refused on every route', () => {
  const routes = Object.entries(ROUTES).map(([id, route]) => [id, ...route.split(' ')] as [string, string, string]);
  const route = (method: string, path: string) => `${method} ${path}`;

  it.each(routes)('%s (%s %s) refuses ?colour=red with 400 API__INVALID_INPUT naming it', async (_id, method, path) => {
    const concrete = path.replace(':market', 'cpu').replace(/:[A-Za-z0-9_]+/g, 'x');
    const res = await answer(await SELF.fetch(`${BASE}${concrete}?colour=red`, { method }));
    expect(res.status).toBe(400);
    expect(res.error).toMatchObject({ code: 'API__INVALID_INPUT', context: { field: 'colour' } });
    expect(res.error?.context.problem).toContain(route(method, path));
  });

  it('the parameters the document names are taken, on the lists that used to ignore them too', async () => {
    const doc = openApiDocument(BASE) as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
    const names = (path: string) => (doc.paths[path]?.get?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    expect(names('/v1/markets')).toEqual(['cursor', 'limit']);
    expect(names('/v1/accounts/{key}/holds')).toEqual(['cursor', 'limit']);
    const markets = (await (await SELF.fetch(`${BASE}/v1/markets?limit=1`)).json()) as { items: { market: string }[]; nextCursor: string | null };
    expect(markets.items.map((m) => m.market)).toEqual(['cpu']);
    expect(markets.nextCursor).toBe('o1');
    const next = (await (await SELF.fetch(`${BASE}/v1/markets?limit=1&cursor=o1`)).json()) as { items: { market: string }[] };
    expect(next.items.map((m) => m.market)).not.toContain('cpu');
    expect((await SELF.fetch(`${BASE}/v1/accounts/${buyer.key}/holds?limit=1`)).status).toBe(200);
    expect((await answer(await SELF.fetch(`${BASE}/v1/markets?limit=0`))).error?.context.field).toBe('limit');
  });
});

describe('a job that does not exist', () => {
  it('has no history: 404 API__UNKNOWN_JOB, as GET /v1/jobs/:id answers', async () => {
    const id = 'bid_cpu_0123456789abcdef01234567';
    const job = await answer(await SELF.fetch(`${BASE}/v1/jobs/${id}`));
    const history = await answer(await SELF.fetch(`${BASE}/v1/jobs/${id}/history`));
    expect(job).toMatchObject({ status: 404, error: { code: 'API__UNKNOWN_JOB' } });
    expect(history).toMatchObject({ status: 404, error: { code: 'API__UNKNOWN_JOB', context: { jobId: id } } });
  });
});

describe('the routes a job takes are documented', () => {
  it('cancel and challenge are in the OpenAPI document, signed, with their bodies', () => {
    const doc = openApiDocument(BASE) as { paths: Record<string, Record<string, { security?: unknown; requestBody?: unknown }>> };
    for (const path of ['/v1/jobs/{id}/cancel', '/v1/jobs/{id}/challenge']) {
      expect(doc.paths[path]?.post?.security, path).toBeDefined();
      expect(doc.paths[path]?.post?.requestBody, path).toBeDefined();
    }
  });
});
