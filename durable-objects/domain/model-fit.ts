import { formatShape, type ModelInfo, type ModelTensorInfo } from '../contracts/onnx-info.ts';
import { bytesPerElement, elementCount, type WireTensor } from '../contracts/tensors.ts';
import { defineErrors, makeError } from './define-errors.ts';
import type { DomainError } from './result.ts';

/**
 * Whether a job's input tensors fit its model: one rule, used by the Worker (a bid, an inputs
 * upload tied to a model), the SDK and the portal's bid form. A mismatch names the input, what the
 * model expects (`expected`: name, dtype, dims) and what was sent (`sent`). Append-only codes; each
 * is a 422 (the request is well formed, it does not fit the model).
 */
export const MODEL_ERRORS = defineErrors({
  MODEL__NOT_ONNX: 'the file is not an ONNX model: {problem}',
  MODEL__INPUT_UNKNOWN: 'the model has no input named {name}; it takes {inputs}',
  MODEL__INPUT_MISSING: 'the model needs input {name} ({dtype} {shape}), which was not sent',
  MODEL__INPUT_DTYPE: 'input {name} must be {dtype}; {sentDtype} was sent',
  MODEL__INPUT_RANK: 'input {name} must have {rank} dimensions {shape}; {sentRank} were sent ({sentShape})',
  MODEL__INPUT_DIM: 'input {name} must have {dim} at axis {axis} of {shape}; {sentDim} was sent ({sentShape})',
  MODEL__INPUT_BYTES: 'input {name} holds {sentBytes} bytes; {sentShape} of {dtype} needs {bytes}',
});

export type ModelErrorCode = keyof typeof MODEL_ERRORS;

/** The model's side of a mismatch, as the error's `context.expected` carries it. */
const expected = (input: ModelTensorInfo) => ({ name: input.name, dtype: input.dtype, dims: input.dims, ...(input.optional ? { optional: true } : {}) });

/** Bytes a base64url string decodes to (its length alone; the alphabet is the schema's to check). */
const dataBytes = (data: string): number => Math.floor((data.length * 3) / 4);

/**
 * The first way the tensors do not fit the model, or null when they fit: a name the model does not
 * take, then an input it requires that was not sent (an input that is also an initializer may be
 * left out), then per tensor in the order sent: its dtype, its rank, each fixed dim (a symbolic or
 * open dim takes any size), and its bytes against its own dims.
 */
export function modelInputsFit(info: Pick<ModelInfo, 'inputs'>, tensors: readonly WireTensor[]): DomainError | null {
  const byName = new Map(info.inputs.map((i) => [i.name, i]));
  const sentNames = tensors.map((t) => t.name);
  for (const t of tensors) {
    if (!byName.has(t.name)) {
      return makeError(MODEL_ERRORS, 'MODEL__INPUT_UNKNOWN', {
        name: t.name,
        inputs: info.inputs.length === 0 ? 'no inputs' : info.inputs.map((i) => `${i.name} (${i.dtype} ${formatShape(i.dims)})`).join(', '),
        expected: info.inputs.map(expected),
        sent: { name: t.name, dtype: t.dtype, dims: t.dims },
      });
    }
  }
  for (const input of info.inputs) {
    if (input.optional || sentNames.includes(input.name)) continue;
    return makeError(MODEL_ERRORS, 'MODEL__INPUT_MISSING', { name: input.name, dtype: input.dtype, shape: formatShape(input.dims), expected: expected(input), sent: sentNames });
  }
  for (const t of tensors) {
    const input = byName.get(t.name)!;
    const sent = { name: t.name, dtype: t.dtype, dims: t.dims };
    const common = { name: t.name, dtype: input.dtype, shape: formatShape(input.dims), sentShape: formatShape(t.dims), expected: expected(input), sent };
    if (input.dtype !== t.dtype) return makeError(MODEL_ERRORS, 'MODEL__INPUT_DTYPE', { ...common, sentDtype: t.dtype });
    if (input.dims !== null) {
      if (input.dims.length !== t.dims.length) return makeError(MODEL_ERRORS, 'MODEL__INPUT_RANK', { ...common, rank: input.dims.length, sentRank: t.dims.length });
      for (const [axis, dim] of input.dims.entries()) {
        if (typeof dim === 'number' && t.dims[axis] !== dim) return makeError(MODEL_ERRORS, 'MODEL__INPUT_DIM', { ...common, axis, dim, sentDim: t.dims[axis] });
      }
    }
    const bytes = elementCount(t.dims) * bytesPerElement(t.dtype);
    const sentBytes = dataBytes(t.data);
    if (sentBytes !== bytes) return makeError(MODEL_ERRORS, 'MODEL__INPUT_BYTES', { ...common, bytes, sentBytes, sent: { ...sent, bytes: sentBytes } });
  }
  return null;
}

/** The coded refusal of bytes that are not an ONNX model. */
export function notOnnx(problem: string, offset: number): DomainError {
  return makeError(MODEL_ERRORS, 'MODEL__NOT_ONNX', { problem, offset });
}
