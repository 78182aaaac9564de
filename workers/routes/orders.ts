import { CLIENT_ID, ORDER_ID } from '../../durable-objects/contracts/api.ts';
import { MAX_AMOUNT } from '../../durable-objects/domain/money.ts';
import { orderId } from '../../durable-objects/domain/market/ids.ts';
import { bidEscrow } from '../../durable-objects/domain/market/validate.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { Fields, HEX64 } from '../validate.ts';
import { tensorProblem, tensorsBytes, tensorsDigest, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { marketObject, placementObject, type OrderOutcome } from '../../durable-objects/runtime/objects.ts';
import type { Result } from '../../durable-objects/domain/result.ts';
import { knownMarket, signed } from './common.ts';

const MAX_TTL_MS = 30 * 24 * 3600_000;
const ATTRIBUTE_KEY = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** The API's shape of an order: `id`, `kind`, `market`, with "matched" for a filled bid. */
function apiOrder(view: OrderOutcome['order'], market: string): Record<string, unknown> | null {
  if (!view) return null;
  const { side, ...rest } = view as { side: 'ask' | 'bid'; askId?: string; bidId?: string; id?: string; status: string };
  const { askId, bidId, id, ...fields } = rest;
  return { id: askId ?? bidId ?? id, kind: side, market, ...fields, status: fields.status === 'filled' ? 'matched' : fields.status };
}

/** Validates inline input tensors and names them by the digest of their canonical encoding. */
async function inlineInputs(items: unknown[]): Promise<{ tensors: WireTensor[]; inputSha256: string; inputBytes: number }> {
  if (items.length === 0) refuse('API__INVALID_INPUT', { field: 'job.inputs', problem: 'must hold at least one tensor' });
  for (const [i, t] of items.entries()) {
    const problem = t !== null && typeof t === 'object' ? tensorProblem(t as WireTensor) : 'must be a tensor object';
    if (problem) refuse('API__INVALID_INPUT', { field: `job.inputs[${i}]`, problem });
  }
  const tensors = items as WireTensor[];
  return { tensors, inputSha256: await tensorsDigest(tensors), inputBytes: tensorsBytes(tensors) };
}

function expiresAt(f: Fields, now: number): number {
  return f.integer('expiresAt', { min: now + 1, max: now + MAX_TTL_MS });
}

function attributes(f: Fields): Record<string, string | number> {
  const a = f.object('attributes');
  const raw = f.raw('attributes') as Record<string, unknown>;
  const keys = Object.keys(raw);
  if (keys.length > 16) refuse('API__INVALID_INPUT', { field: 'attributes', problem: 'must have at most 16 keys' });
  const out: Record<string, string | number> = {};
  for (const key of keys) {
    if (!ATTRIBUTE_KEY.test(key)) refuse('API__INVALID_INPUT', { field: `attributes.${key}`, problem: 'key must match [A-Za-z][A-Za-z0-9_]{0,31}' });
    const v = raw[key];
    if (typeof v === 'number') out[key] = a.number(key, { min: -1e12, max: 1e12 }) as number;
    else out[key] = a.string(key, { max: 64 });
  }
  return out;
}

function requirements(f: Fields): { key: string; op: 'eq' | 'neq' | 'gte' | 'lte' | 'in'; value: string | number | (string | number)[] }[] {
  if (!f.has('requirements')) return [];
  return f.array('requirements', { max: 16 }).map((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) refuse('API__INVALID_INPUT', { field: `requirements[${i}]`, problem: 'must be an object' });
    const r = new Fields(item as Record<string, unknown>, `requirements[${i}].`).only('key', 'op', 'value');
    const key = r.string('key', { pattern: ATTRIBUTE_KEY, max: 32 });
    const op = r.string('op', { pattern: /^(eq|neq|gte|lte|in)$/ }) as 'eq' | 'neq' | 'gte' | 'lte' | 'in';
    const value = r.raw('value');
    const scalar = (v: unknown, field: string): string | number => {
      if (typeof v === 'number' && Number.isFinite(v)) return v;
      if (typeof v === 'string' && v.length > 0 && v.length <= 64) return v;
      return refuse('API__INVALID_INPUT', { field: `requirements[${i}].${field}`, problem: 'must be a number or a string of 1-64 characters' });
    };
    if (op === 'in') {
      if (!Array.isArray(value) || value.length === 0 || value.length > 16) refuse('API__INVALID_INPUT', { field: `requirements[${i}].value`, problem: 'must be an array of 1-16 values for op "in"' });
      return { key, op, value: value.map((v, j) => scalar(v, `value[${j}]`)) };
    }
    if ((op === 'gte' || op === 'lte') && typeof value !== 'number') refuse('API__INVALID_INPUT', { field: `requirements[${i}].value`, problem: `must be a number for op "${op}"` });
    return { key, op, value: scalar(value, 'value') };
  });
}

/** POST /v1/asks: a provider lists capacity. */
export async function placeAsk(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'asks');
  const f = req.body.only('market', 'clientId', 'price', 'capacity', 'attributes', 'expiresAt');
  const market = knownMarket(env, f.string('market', { max: 32 }));
  const command = await askCommand(f, req.caller.actor, market, req.now);
  await req.commit();
  const result = await marketObject(env, market).place(market, command, { commandId: command.askId, actor: req.caller.actor, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  return json({ order: apiOrder(result.value.order, market) }, result.value.repeated ? 200 : 201);
}

/** Most asks one batch may carry. */
export const MAX_BATCH = 100;

/**
 * POST /v1/asks/batch: up to 100 asks in one market under one signature, committed in one
 * transaction of the market object. Each ask gets its own outcome: an order or a coded error.
 */
export async function placeAskBatch(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'asks');
  const f = req.body.only('market', 'asks');
  const market = knownMarket(env, f.string('market', { max: 32 }));
  const items = f.array('asks', { max: MAX_BATCH });
  if (items.length === 0) refuse('API__INVALID_INPUT', { field: 'asks', problem: 'must hold at least one ask' });
  const commands = [];
  for (const [i, item] of items.entries()) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) refuse('API__INVALID_INPUT', { field: `asks[${i}]`, problem: 'must be an object' });
    const a = new Fields(item as Record<string, unknown>, `asks[${i}].`).only('clientId', 'price', 'capacity', 'attributes', 'expiresAt');
    commands.push(await askCommand(a, req.caller.actor, market, req.now));
  }
  const ids = commands.map((c) => c.askId);
  if (new Set(ids).size !== ids.length) refuse('API__INVALID_INPUT', { field: 'asks', problem: 'clientIds must be distinct' });
  await req.commit();
  const results = (await marketObject(env, market).placeMany(market, commands, { commandId: ids[0]!, actor: req.caller.actor, now: req.now }, ids)) as unknown as Result<OrderOutcome>[];
  return json({
    results: results.map((r) => (r.ok ? { order: apiOrder(r.value.order, market) } : { error: r.error })),
  });
}

/** Validates one ask's fields into the market command; the id is derived from the client id. */
async function askCommand(f: Fields, owner: string, market: string, now: number) {
  const clientId = f.string('clientId', { pattern: CLIENT_ID, max: 64 });
  return {
    type: 'PlaceAsk' as const,
    askId: await orderId('ask', owner, market, clientId),
    owner,
    price: f.amount('price'),
    capacity: f.integer('capacity', { min: 1, max: 1024 }),
    attributes: attributes(f),
    expiresAt: expiresAt(f, now),
  };
}

/** POST /v1/bids: a buyer escrows funds and bids for a job. */
export async function placeBid(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'orders');
  const f = req.body.only('market', 'clientId', 'maxPrice', 'units', 'replicas', 'requirements', 'expiresAt', 'ioc', 'job');
  const market = knownMarket(env, f.string('market', { max: 32 }));
  const clientId = f.string('clientId', { pattern: CLIENT_ID, max: 64 });
  const maxPrice = f.amount('maxPrice');
  const units = f.integer('units', { min: 1, max: 1_000_000 });
  const replicas = f.integer('replicas', { min: 1, max: 5 });
  const escrow = bidEscrow({ maxPrice, units, replicas });
  if (escrow > MAX_AMOUNT) refuse('API__INVALID_INPUT', { field: 'maxPrice', problem: `maxPrice × units × replicas must not exceed ${MAX_AMOUNT}` });
  const j = f.object('job').only('modelSha256', 'inputSha256', 'inputBytes', 'tolerance', 'inputs');
  // Inputs travel inline (small, within the body limit) or were uploaded before (PUT /v1/inputs).
  const inline = j.has('inputs') ? await inlineInputs(j.array('inputs', { max: 64 })) : null;
  const spec = {
    modelSha256: j.string('modelSha256', { pattern: HEX64 }),
    inputSha256: inline && !j.has('inputSha256') ? inline.inputSha256 : j.string('inputSha256', { pattern: HEX64 }),
    inputBytes: inline && !j.has('inputBytes') ? inline.inputBytes : j.integer('inputBytes', { min: 0, max: 1 << 30 }),
    tolerance: j.has('tolerance') ? j.number('tolerance', { min: 0, max: 1e6, nullable: true }) : null,
  };
  if (inline && (spec.inputSha256 !== inline.inputSha256 || spec.inputBytes !== inline.inputBytes)) {
    refuse('API__INVALID_INPUT', { field: 'job.inputSha256', problem: 'does not match the inline inputs (leave it out, or give the digest of their canonical encoding)' });
  }
  const bidId = await orderId('bid', req.caller.actor, market, clientId);
  const command = {
    type: 'PlaceBid' as const,
    bidId,
    owner: req.caller.actor,
    maxPrice,
    units,
    replicas,
    requirements: requirements(f),
    expiresAt: expiresAt(f, req.now),
    ioc: f.boolean('ioc', { optional: true }),
    spec,
  };
  await req.commit();
  if (inline) await env.BLOBS.put(`inputs/${inline.inputSha256}`, JSON.stringify(inline.tensors));
  // The placement process holds the escrow, places the bid and releases the escrow if the market
  // refuses; a step that gets no answer is retried by the process itself (domain/placement).
  const terms = { placementId: bidId, account: req.caller.actor, holdId: bidId, amount: escrow, target: { kind: 'bid' as const, market, command } };
  const placed = await placementObject(env, bidId).placeBid(terms, { commandId: `place:${bidId}`, actor: req.caller.actor, now: req.now });
  if (!placed.ok) return errorResponse(placed.error);
  const order = apiOrder(placed.value.order, market);
  const matched = placed.value.events.some((e) => e.type === 'BidMatched') || order?.status === 'matched';
  return json({ order, escrow, jobId: matched ? bidId : undefined }, placed.value.repeated ? 200 : 201);
}

/** DELETE /v1/asks/:id and /v1/bids/:id: the owner cancels an order. */
export async function cancelOrder(request: Request & { params: Record<string, string> }, env: Env, kind: 'ask' | 'bid'): Promise<Response> {
  const req = await signed(request, env, kind === 'ask' ? 'asks' : 'orders');
  req.body.only();
  const id = request.params.id ?? '';
  const m = ORDER_ID.exec(id);
  if (!m || m[1] !== kind) refuse('API__INVALID_INPUT', { field: 'id', problem: `is not a${kind === 'ask' ? 'n ask' : ' bid'} id` });
  const market = knownMarket(env, m[2]!);
  await req.commit();
  const result = await marketObject(env, market).place(market, { type: 'CancelOrder', orderId: id }, { commandId: `cancel:${id}`, actor: req.caller.actor, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  return json({ order: apiOrder(result.value.order, market) });
}
