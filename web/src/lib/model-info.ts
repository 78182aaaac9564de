import { formatShape, readModelInfo, type ModelInfo, type ModelTensorInfo } from '$contracts/onnx-info.ts';
import { TENSOR_DTYPES, type WireTensor } from '$contracts/tensors.ts';
import { modelInputsFit } from '$domain/model-fit.ts';

/**
 * The bid form's view of a model's interface: read from a picked file in the browser (the same
 * reader the Worker runs at upload), or fetched for a model uploaded before
 * (GET /v1/models/:sha256/info); and the inputs checked against it by the API's own rule.
 */

/** What the form knows of the chosen model's interface. */
export type ModelInterface =
  | { state: 'known'; inputs: ModelTensorInfo[]; outputs: ModelTensorInfo[] }
  | { state: 'not-onnx'; problem: string }
  /** Not known (not fetched yet, the server did not answer): the server checks at the bid. */
  | { state: 'unknown' };

/** A picked file's interface, read locally. */
export function fileInterface(bytes: Uint8Array): ModelInterface {
  const read = readModelInfo(bytes);
  return read.ok ? { state: 'known', inputs: read.info.inputs, outputs: read.info.outputs } : { state: 'not-onnx', problem: read.error.problem };
}

/** A stored model's interface from the API; anything but a clear answer is `unknown` (the server still checks). */
export async function fetchInterface(baseUrl: string, sha256: string, fetchFn: typeof fetch = fetch): Promise<ModelInterface> {
  try {
    const res = await fetchFn(`${baseUrl.replace(/\/+$/, '')}/v1/models/${sha256}/info`, { headers: { accept: 'application/json' } });
    const body = (await res.json().catch(() => null)) as (Pick<ModelInfo, 'inputs' | 'outputs'> & { error?: { code?: string; context?: { problem?: unknown } } }) | null;
    if (res.ok && body && Array.isArray(body.inputs) && Array.isArray(body.outputs)) return { state: 'known', inputs: body.inputs, outputs: body.outputs };
    if (body?.error?.code === 'MODEL__NOT_ONNX') return { state: 'not-onnx', problem: String(body.error.context?.problem ?? 'not an ONNX model') };
    return { state: 'unknown' };
  } catch {
    return { state: 'unknown' };
  }
}

/** One input or output as shown: `x: float32 [batch, 16]`, with a note for an optional one. */
export function describeTensor(t: ModelTensorInfo): string {
  return `${t.name}: ${t.dtype} ${formatShape(t.dims)}${t.optional ? ' (optional)' : ''}`;
}

/** Why the inputs do not fit the model, in the API's words with its code, or null (also when the interface is not known). */
export function inputsFitProblem(model: ModelInterface, tensors: readonly WireTensor[]): string | null {
  if (model.state !== 'known') return null;
  const mismatch = modelInputsFit(model, tensors);
  return mismatch ? `${mismatch.message[0]!.toUpperCase()}${mismatch.message.slice(1)} (${mismatch.code}).` : null;
}

/** Templates larger than this many values in all are not offered (they would not be typed by hand). */
export const TEMPLATE_MAX_VALUES = 256;

/**
 * Inputs in the plain form that fit the model, zeros throughout, as a starting point for the text
 * box: a symbolic or open dim becomes 1 (no shape: a vector of 1). Null when an input has a dtype
 * the API cannot send, or the template would hold more than TEMPLATE_MAX_VALUES values.
 */
export function inputsTemplate(model: ModelInterface): string | null {
  if (model.state !== 'known') return null;
  const required = model.inputs.filter((i) => !i.optional);
  if (required.length === 0 || required.some((i) => !(TENSOR_DTYPES as readonly string[]).includes(i.dtype))) return null;
  const shapes = required.map((i) => (i.dims ?? [1]).map((d) => (typeof d === 'number' ? d : 1)));
  if (shapes.reduce((n, dims) => n + dims.reduce((a, b) => a * b, 1), 0) > TEMPLATE_MAX_VALUES) return null;
  const entries = required.map((i, k) => {
    const dims = shapes[k]!;
    const count = dims.reduce((a, b) => a * b, 1);
    const zero = i.dtype === 'bool' ? 'false' : '0';
    return `${JSON.stringify(i.name)}: {"dtype": "${i.dtype}", "dims": [${dims.join(', ')}], "values": [${Array(count).fill(zero).join(', ')}]}`;
  });
  return `{${entries.join(', ')}}`;
}
