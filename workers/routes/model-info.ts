import { MODEL_INFO_VERSION, readModelInfo, type ModelInfo, type NotOnnx } from '../../durable-objects/contracts/onnx-info.ts';
import { HEX64 } from '../../durable-objects/contracts/schemas.ts';
import { tensorProblem, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { modelInputsFit, notOnnx } from '../../durable-objects/domain/model-fit.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { ApiFailure, json, refuse } from '../http.ts';
import { inputsKey, modelKey } from '../../durable-objects/runtime/blob-keys.ts';

/**
 * A model's interface (its graph's inputs and outputs), read once from its bytes and kept beside
 * them in R2 as `models/<sha>.info.json`. Models uploaded before interfaces were kept have none:
 * the first bid or request that needs it reads it from the stored bytes and keeps it (also for
 * bytes that are not ONNX, so they are read once).
 */
export const modelInfoKey = (sha256: string): string => `${modelKey(sha256)}.info.json`;

/** What is kept: the interface, or why the stored bytes are not a model. */
type Kept = ModelInfo | { version: typeof MODEL_INFO_VERSION; notOnnx: NotOnnx };

// Names are content hashes, so a model's interface never changes: the isolate keeps the last few.
const remembered = new Map<string, Kept>();
const REMEMBERED = 256;

function remember(sha256: string, kept: Kept): Kept {
  if (remembered.size >= REMEMBERED) remembered.delete(remembered.keys().next().value!);
  remembered.set(sha256, kept);
  return kept;
}

/** The interface of model bytes being uploaded, or MODEL__NOT_ONNX (422). */
export function uploadedModelInfo(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw new ApiFailure(notOnnx(read.error.problem, read.error.offset));
  return read.info;
}

/** Keeps an uploaded model's interface beside its bytes. */
export async function keepModelInfo(env: Env, sha256: string, info: ModelInfo): Promise<void> {
  await env.BLOBS.put(modelInfoKey(sha256), JSON.stringify(info), { httpMetadata: { contentType: 'application/json' } });
  remember(sha256, info);
}

/** The kept interface of a stored model, derived from its bytes when none is kept; null when there is no such model. */
async function keptInfo(env: Env, sha256: string): Promise<Kept | null> {
  const known = remembered.get(sha256);
  if (known) return known;
  const stored = await env.BLOBS.get(modelInfoKey(sha256));
  if (stored) {
    const kept = (await stored.json()) as Kept;
    if (kept.version === MODEL_INFO_VERSION) return remember(sha256, kept);
  }
  const model = await env.BLOBS.get(modelKey(sha256));
  if (!model) return null;
  const read = readModelInfo(new Uint8Array(await model.arrayBuffer()));
  const kept: Kept = read.ok ? read.info : { version: MODEL_INFO_VERSION, notOnnx: read.error };
  await env.BLOBS.put(modelInfoKey(sha256), JSON.stringify(kept), { httpMetadata: { contentType: 'application/json' } });
  return remember(sha256, kept);
}

/** A stored model's interface; null when there is no such model; MODEL__NOT_ONNX when its bytes are not a model. */
export async function storedModelInfo(env: Env, sha256: string): Promise<ModelInfo | null> {
  const kept = await keptInfo(env, sha256);
  if (kept && 'notOnnx' in kept) {
    const error = notOnnx(kept.notOnnx.problem, kept.notOnnx.offset);
    throw new ApiFailure({ ...error, context: { ...error.context, sha256 } });
  }
  return kept;
}

/** GET /v1/models/:sha256/info: the model's inputs and outputs (names, dtypes, dims; symbolic dims by name). */
export async function getModelInfo(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const sha256 = request.params.sha256 ?? '';
  if (!HEX64.test(sha256)) refuse('API__INVALID_INPUT', { field: 'sha256', problem: 'must be 64 lowercase hex characters' });
  const info = await storedModelInfo(env, sha256);
  if (!info) refuse('API__UNKNOWN_MODEL', { sha256 });
  return json({ sha256, irVersion: info.irVersion, inputs: info.inputs, outputs: info.outputs });
}

/**
 * Input tensors checked before anything is held or written: against the model's interface when the
 * model is stored (a coded 422 per mismatch, `context` saying what the model expects and what was
 * sent, and the model's SHA-256), else each against its own dims (API__INVALID_INPUT naming
 * `field[i]`). `requireModel`: a model that is not stored is API__UNKNOWN_MODEL rather than unchecked.
 */
export async function checkInputsFit(env: Env, o: { modelSha256: string; tensors: readonly WireTensor[]; field: string; requireModel: boolean }): Promise<void> {
  const info = await storedModelInfo(env, o.modelSha256);
  if (!info) {
    if (o.requireModel) refuse('API__UNKNOWN_MODEL', { sha256: o.modelSha256 });
    return checkOwnBytes(o.tensors, o.field);
  }
  const mismatch = modelInputsFit(info, o.tensors);
  if (mismatch) throw new ApiFailure({ ...mismatch, context: { ...mismatch.context, modelSha256: o.modelSha256 } });
}

/** Tensors for no known model: each one's bytes against its own dims (API__INVALID_INPUT naming `field[i]`). */
export function checkOwnBytes(tensors: readonly WireTensor[], field: string): void {
  for (const [i, t] of tensors.entries()) {
    const problem = tensorProblem(t);
    if (problem) refuse('API__INVALID_INPUT', { field: `${field}[${i}]`, problem });
  }
}

// Pairs of a model and uploaded inputs found to fit (both content hashes, so a fit stays a fit):
// bids that reuse uploaded inputs are not made to read them again.
const fitting = new Set<string>();

/** Inputs uploaded before (PUT /v1/inputs) under `inputSha256`, against the model; unchecked when either is not stored. */
export async function checkStoredInputsFit(env: Env, modelSha256: string, inputSha256: string): Promise<void> {
  const pair = `${modelSha256}:${inputSha256}`;
  if (fitting.has(pair)) return;
  const object = await env.BLOBS.get(inputsKey(inputSha256));
  if (!object) return;
  const tensors = (await object.json()) as WireTensor[];
  await checkInputsFit(env, { modelSha256, tensors, field: 'job.inputSha256', requireModel: false });
  if (remembered.has(modelSha256)) {
    if (fitting.size >= REMEMBERED) fitting.delete(fitting.values().next().value!);
    fitting.add(pair);
  }
}
