import { ORDER_ID } from '../../durable-objects/contracts/api.ts';
import { EmptySchema, PlaceAskBatchSchema, PlaceAskSchema, PlaceBidSchema, expiryProblem, type AskItemSchema } from '../../durable-objects/contracts/schemas.ts';
import type { InferOutput } from 'valibot';
import { MAX_AMOUNT } from '../../durable-objects/domain/money.ts';
import { orderId } from '../../durable-objects/domain/market/ids.ts';
import { bidEscrow } from '../../durable-objects/domain/market/validate.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { valid } from '../validate.ts';
import { tensorsBytes, tensorsDigest, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { marketObject, placementObject, type OrderOutcome } from '../../durable-objects/runtime/objects.ts';
import type { Result } from '../../durable-objects/domain/result.ts';
import { knownMarket, signed } from './common.ts';
import { checkInputsFit, checkStoredInputsFit } from './model-info.ts';
import { admitAsk, admitHold } from '../escrow-admission.ts';
import { inputsKey } from '../../durable-objects/runtime/blob-keys.ts';

/** The API's shape of an order: `id`, `kind`, `market`, with "matched" for a filled bid. */
function apiOrder(view: OrderOutcome['order'], market: string): Record<string, unknown> | null {
  if (!view) return null;
  const { side, ...rest } = view as { side: 'ask' | 'bid'; askId?: string; bidId?: string; id?: string; status: string };
  const { askId, bidId, id, ...fields } = rest;
  return { id: askId ?? bidId ?? id, kind: side, market, ...fields, status: fields.status === 'filled' ? 'matched' : fields.status };
}

/** Names inline input tensors (checked by the schema) by the digest of their canonical encoding. */
async function inlineInputs(tensors: WireTensor[]): Promise<{ tensors: WireTensor[]; inputSha256: string; inputBytes: number }> {
  return { tensors, inputSha256: await tensorsDigest(tensors), inputBytes: tensorsBytes(tensors) };
}

/**
 * A bid's inputs against its model: inline ones, or ones uploaded before under `inputSha256`. A model
 * or uploaded inputs that are not stored cannot be checked here (the bid is taken as before).
 */
async function checkJobInputs(env: Env, job: { modelSha256: string; inputs?: WireTensor[]; inputSha256?: string }): Promise<void> {
  if (job.inputs) return checkInputsFit(env, { modelSha256: job.modelSha256, tensors: job.inputs, field: 'job.inputs', requireModel: false });
  if (job.inputSha256 !== undefined) await checkStoredInputsFit(env, job.modelSha256, job.inputSha256);
}

/** The expiry, if it lies after now and within the longest TTL. */
function expiresAt(value: number, now: number, field = 'expiresAt'): number {
  const problem = expiryProblem(value, now);
  if (problem) refuse('API__INVALID_INPUT', { field, problem });
  return value;
}

/** POST /v1/asks: a provider lists capacity. */
export async function placeAsk(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'placeAsk');
  const body = valid(PlaceAskSchema, req.body);
  const market = knownMarket(env, body.market);
  const command = await askCommand(body, req.caller.actor, market, req.now);
  await admitAsk(env, req.caller.actor);
  await req.commit();
  const result = await marketObject(env, market).place(market, command, { commandId: command.askId, actor: req.caller.actor, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  return json({ order: apiOrder(result.value.order, market) }, result.value.repeated ? 200 : 201);
}

/**
 * POST /v1/asks/batch: up to 100 asks in one market under one signature, committed in one
 * transaction of the market object. Each ask gets its own outcome: an order or a coded error.
 */
export async function placeAskBatch(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'placeAskBatch');
  const body = valid(PlaceAskBatchSchema, req.body);
  const market = knownMarket(env, body.market);
  const commands = [];
  for (const [i, item] of body.asks.entries()) commands.push(await askCommand(item, req.caller.actor, market, req.now, `asks[${i}].`));
  const ids = commands.map((c) => c.askId);
  if (new Set(ids).size !== ids.length) refuse('API__INVALID_INPUT', { field: 'asks', problem: 'clientIds must be distinct' });
  await admitAsk(env, req.caller.actor);
  await req.commit();
  const results = (await marketObject(env, market).placeMany(market, commands, { commandId: ids[0]!, actor: req.caller.actor, now: req.now }, ids)) as unknown as Result<OrderOutcome>[];
  return json({
    results: results.map((r) => (r.ok ? { order: apiOrder(r.value.order, market) } : { error: r.error })),
  });
}

/** One parsed ask as the market command; the id is derived from the client id. */
async function askCommand(a: InferOutput<typeof AskItemSchema>, owner: string, market: string, now: number, prefix = '') {
  return {
    type: 'PlaceAsk' as const,
    askId: await orderId('ask', owner, market, a.clientId),
    owner,
    price: a.price,
    capacity: a.capacity,
    attributes: a.attributes,
    expiresAt: expiresAt(a.expiresAt, now, `${prefix}expiresAt`),
  };
}

/** POST /v1/bids: a buyer escrows funds and bids for a job. */
export async function placeBid(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'placeBid');
  const body = valid(PlaceBidSchema, req.body);
  const market = knownMarket(env, body.market);
  const { clientId, maxPrice, units, replicas, job } = body;
  const escrow = bidEscrow({ maxPrice, units, replicas });
  if (escrow > MAX_AMOUNT) refuse('API__INVALID_INPUT', { field: 'maxPrice', problem: `maxPrice × units × replicas must not exceed ${MAX_AMOUNT}` });
  // The inputs must fit the model (its stored interface) before any escrow is held: a 422 naming the mismatch.
  await checkJobInputs(env, job);
  // Inputs travel inline (small, within the body limit) or were uploaded before (PUT /v1/inputs).
  const inline = job.inputs ? await inlineInputs(job.inputs) : null;
  const inputSha256 = job.inputSha256 ?? inline?.inputSha256;
  const inputBytes = job.inputBytes ?? inline?.inputBytes;
  if (inputSha256 === undefined) refuse('API__INVALID_INPUT', { field: 'job.inputSha256', problem: 'must be a string (or send the inputs inline)' });
  if (inputBytes === undefined) refuse('API__INVALID_INPUT', { field: 'job.inputBytes', problem: 'must be an integer (or send the inputs inline)' });
  const spec = { modelSha256: job.modelSha256, inputSha256, inputBytes, tolerance: job.tolerance ?? null };
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
    requirements: body.requirements,
    expiresAt: expiresAt(body.expiresAt, req.now),
    ioc: body.ioc,
    spec,
  };
  // A buyer who asked on chain to leave their escrow gets no new holds (read before the nonce is spent).
  await admitHold(env, req.caller.actor, escrow);
  await req.commit();
  if (inline) await env.BLOBS.put(inputsKey(inline.inputSha256), JSON.stringify(inline.tensors));
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
  const req = await signed(request, env, kind === 'ask' ? 'cancelAsk' : 'cancelBid');
  valid(EmptySchema, req.body);
  const id = request.params.id ?? '';
  const m = ORDER_ID.exec(id);
  if (!m || m[1] !== kind) refuse('API__INVALID_INPUT', { field: 'id', problem: `is not a${kind === 'ask' ? 'n ask' : ' bid'} id` });
  const market = knownMarket(env, m[2]!);
  await req.commit();
  // The caller is part of the command's id: a repeat answers the caller's own first outcome, never the owner's to someone else.
  const result = await marketObject(env, market).place(market, { type: 'CancelOrder', orderId: id }, { commandId: `cancel:${id}:${req.caller.actor}`, actor: req.caller.actor, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  return json({ order: apiOrder(result.value.order, market) });
}
