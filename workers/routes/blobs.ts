import { tensorsBytes, tensorsDigest } from '../../durable-objects/contracts/tensors.ts';
import { API_LIMITS, HEX64, InputsQuerySchema, InputsSchema } from '../../durable-objects/contracts/schemas.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { decodeUtf8, json, parseJsonObject, refuse } from '../http.ts';
import { valid } from '../validate.ts';
import { marketObject } from '../../durable-objects/runtime/objects.ts';
import { checkWebSocketHandshake, knownMarket, signedBody } from './common.ts';
import { checkInputsFit, checkOwnBytes, keepModelInfo, uploadedModelInfo } from './model-info.ts';
import { inputsKey, modelKey } from '../../durable-objects/runtime/blob-keys.ts';

/** Largest model accepted (an R2 object could be larger; Workers request bodies are the bound). */
export const MAX_MODEL_BYTES = 64 * 1024 * 1024;

/**
 * PUT /v1/models (signed): stores an ONNX model under its SHA-256, which is its name from then on.
 * Uploading the same bytes again is harmless and answers the same name.
 */
export async function putModel(request: Request, env: Env): Promise<Response> {
  // Unsigned requests and declared lengths over the limit are refused before the body is read.
  const req = await signedBody(request, env, 'uploadModel', { type: 'application/octet-stream', limit: MAX_MODEL_BYTES });
  const { bytes, sha256 } = req;
  if (bytes.byteLength === 0) refuse('API__INVALID_INPUT', { field: 'body', problem: 'must hold the model bytes' });
  // Read once here (a 422 for bytes that are not ONNX) and kept beside the bytes: GET /v1/models/:sha256/info.
  const info = uploadedModelInfo(bytes);
  await req.commit();
  await env.BLOBS.put(modelKey(sha256), bytes);
  await keepModelInfo(env, sha256, info);
  return json({ sha256, bytes: bytes.byteLength }, 201);
}

/** GET /v1/models/:sha256: the model bytes, for agents (names are content hashes). */
export async function getModel(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const sha = request.params.sha256 ?? '';
  if (!HEX64.test(sha)) refuse('API__INVALID_INPUT', { field: 'sha256', problem: 'must be 64 lowercase hex characters' });
  const object = await env.BLOBS.get(modelKey(sha));
  if (!object) refuse('API__UNKNOWN_MODEL', { sha256: sha });
  return new Response(object.body, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(object.size) } });
}

/**
 * PUT /v1/inputs[?model=<sha256>] (signed): a job's input tensors, stored under the digest of their
 * canonical encoding. Given a model, they must fit it (422 per mismatch; 404 for an unknown model).
 */
export async function putInputs(request: Request & { query?: Record<string, unknown> }, env: Env): Promise<Response> {
  const req = await signedBody(request, env, 'uploadInputs', { type: 'application/json', limit: API_LIMITS.inputBytes * 2 });
  const { model } = valid(InputsQuerySchema, request.query ?? {});
  const { tensors } = valid(InputsSchema, parseJsonObject(decodeUtf8(req.bytes)));
  if (model) await checkInputsFit(env, { modelSha256: model, tensors, field: 'tensors', requireModel: true });
  else checkOwnBytes(tensors, 'tensors');
  const bytes = tensorsBytes(tensors);
  if (bytes > API_LIMITS.inputBytes) refuse('API__BODY_TOO_LARGE', { size: bytes, limit: API_LIMITS.inputBytes });
  await req.commit();
  const inputSha256 = await tensorsDigest(tensors);
  await env.BLOBS.put(inputsKey(inputSha256), JSON.stringify(tensors));
  return json({ inputSha256, inputBytes: bytes }, 201);
}

/** GET /v1/markets/:market/agent: an agent's WebSocket, handed to the market object. */
export async function agentSocket(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const market = knownMarket(env, request.params.market ?? '');
  checkWebSocketHandshake(request);
  // itty-router hands over a proxied Request; the object needs a plain one.
  return marketObject(env, market).fetch(new Request(request.url, { headers: request.headers }));
}
