/**
 * What an ONNX model takes and gives: its graph's inputs and outputs (name, element type, dims),
 * read from the model's protobuf bytes by a small wire-format reader of only the fields needed
 * (ModelProto → GraphProto → ValueInfoProto → TypeProto.Tensor → TensorShapeProto). Everything else
 * (nodes, initializer bytes, metadata) is skipped by length, so a 64 MiB model is read without
 * copying its weights. Shared by the Worker (at upload), the SDK and the portal (a picked file).
 */
import type { TensorDType } from './tensors.ts';

/** A dimension: a fixed size, a symbolic name (ONNX dim_param), or null when the model leaves it open. */
export type ModelDim = number | string | null;

/** One input or output of the graph. */
export interface ModelTensorInfo {
  name: string;
  /**
   * The element type as the API names it (`float32`, `int64`, ...); ONNX types the API cannot send
   * keep ONNX's name (`float16`, `string`), and a value that is not a tensor is `sequence`, `map`,
   * `optional` or `sparse_tensor`.
   */
  dtype: string;
  /** The dims, outermost first; null when the model gives no shape (any rank fits). */
  dims: ModelDim[] | null;
  /** An input that is also an initializer (older exporters list those): a default that may be overridden, not required. */
  optional?: true;
}

/** A model's interface, kept beside the model (`models/<sha>.info.json`) and served at GET /v1/models/:sha256/info. */
export interface ModelInfo {
  /** The version of this shape: stored info of another version is derived again from the bytes. */
  version: typeof MODEL_INFO_VERSION;
  irVersion: number;
  inputs: ModelTensorInfo[];
  outputs: ModelTensorInfo[];
}

export const MODEL_INFO_VERSION = 1;

/** Why bytes are not an ONNX model, and where the reader stopped. */
export interface NotOnnx {
  problem: string;
  offset: number;
}

/** ONNX TensorProto.DataType, named as the API names dtypes where it can send them. */
const ELEM_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

/** The ONNX element type number of an API dtype (for building test models and messages). */
export const ONNX_ELEM_TYPE: Record<TensorDType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 };

// Field numbers from onnx.proto (onnx/onnx, IR version 10); only those read here.
const MODEL = { irVersion: 1, graph: 7 } as const;
const GRAPH = { initializer: 5, input: 11, output: 12, sparseInitializer: 15 } as const;
const TENSOR_PROTO = { name: 8 } as const;
const SPARSE_TENSOR = { values: 1 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensor: 1, sequence: 4, map: 5, sparseTensor: 8, optional: 9 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIMENSION = { value: 1, param: 2 } as const;

const WIRE = { varint: 0, fixed64: 1, bytes: 2, startGroup: 3, endGroup: 4, fixed32: 5 } as const;

/** Thrown inside the reader only; `readModelInfo` turns it into a value. */
class Malformed extends Error {
  constructor(readonly problem: string, readonly offset: number) {
    super(problem);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A protobuf message's fields, read one at a time between `start` and `end` of `bytes`. */
class Fields {
  private at: number;
  constructor(private readonly bytes: Uint8Array, start: number, private readonly end: number) {
    this.at = start;
  }

  /** The next field's number and wire type, or null at the end of the message. */
  next(): { field: number; wire: number; offset: number } | null {
    if (this.at >= this.end) return null;
    const offset = this.at;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0 || field > 0x1fffffff) throw new Malformed(`field number ${field} is out of range`, offset);
    if (wire === WIRE.startGroup || wire === WIRE.endGroup) throw new Malformed('groups are not used by ONNX', offset);
    if (wire > WIRE.fixed32) throw new Malformed(`wire type ${wire} does not exist`, offset);
    return { field, wire, offset };
  }

  /** An unsigned varint as a number; values past 2^53 lose precision (callers treat them as out of range). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new Malformed('a varint runs past the end', this.at);
      const b = this.bytes[this.at++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Malformed('a varint is longer than 10 bytes', this.at);
  }

  /** A length-delimited field's bounds, checked against its message. */
  span(): { start: number; end: number } {
    const offset = this.at;
    const length = this.varint();
    if (length > this.end - this.at) throw new Malformed(`a field of ${length} bytes runs past the end`, offset);
    const start = this.at;
    this.at += length;
    return { start, end: this.at };
  }

  /** Skips a field of a wire type this reader does not need. */
  skip(wire: number): void {
    if (wire === WIRE.varint) this.varint();
    else if (wire === WIRE.bytes) this.span();
    else {
      const size = wire === WIRE.fixed64 ? 8 : 4;
      if (size > this.end - this.at) throw new Malformed(`a ${size}-byte field runs past the end`, this.at);
      this.at += size;
    }
  }

  message(wire: number, what: string, offset: number): Fields {
    if (wire !== WIRE.bytes) throw new Malformed(`${what} must be a message (wire type 2), not wire type ${wire}`, offset);
    const { start, end } = this.span();
    return new Fields(this.bytes, start, end);
  }

  string(wire: number, what: string, offset: number): string {
    if (wire !== WIRE.bytes) throw new Malformed(`${what} must be a string (wire type 2), not wire type ${wire}`, offset);
    const { start, end } = this.span();
    try {
      return UTF8.decode(this.bytes.subarray(start, end));
    } catch {
      throw new Malformed(`${what} is not UTF-8`, start);
    }
  }

  number(wire: number, what: string, offset: number): number {
    if (wire !== WIRE.varint) throw new Malformed(`${what} must be a varint (wire type 0), not wire type ${wire}`, offset);
    return this.varint();
  }
}

/** TensorShapeProto.Dimension: dim_value, dim_param, or neither. */
function readDim(f: Fields): ModelDim {
  let dim: ModelDim = null;
  for (let k = f.next(); k; k = f.next()) {
    if (k.field === DIMENSION.value) {
      const v = f.number(k.wire, 'dim_value', k.offset);
      // A negative int64 arrives as a 10-byte varint (about 1.8e19): ONNX has no such size, so it is left open.
      dim = Number.isSafeInteger(v) ? v : null;
    } else if (k.field === DIMENSION.param) {
      const name = f.string(k.wire, 'dim_param', k.offset);
      dim = name === '' ? null : name;
    } else f.skip(k.wire);
  }
  return dim;
}

/** TypeProto: the element type and shape of a tensor, or the kind of a non-tensor value. */
function readType(f: Fields): { dtype: string; dims: ModelDim[] | null } {
  let out: { dtype: string; dims: ModelDim[] | null } = { dtype: 'unknown', dims: null };
  for (let k = f.next(); k; k = f.next()) {
    if (k.field === TYPE.tensor) {
      const t = f.message(k.wire, 'tensor_type', k.offset);
      let elemType = 0;
      let dims: ModelDim[] | null = null;
      for (let j = t.next(); j; j = t.next()) {
        if (j.field === TENSOR_TYPE.elemType) elemType = t.number(j.wire, 'elem_type', j.offset);
        else if (j.field === TENSOR_TYPE.shape) {
          const s = t.message(j.wire, 'shape', j.offset);
          dims = [];
          for (let d = s.next(); d; d = s.next()) {
            if (d.field === SHAPE.dim) dims.push(readDim(s.message(d.wire, 'dim', d.offset)));
            else s.skip(d.wire);
          }
        } else t.skip(j.wire);
      }
      out = { dtype: ELEM_TYPES[elemType] ?? `elem_type ${elemType}`, dims };
    } else if (k.field === TYPE.sequence || k.field === TYPE.map || k.field === TYPE.sparseTensor || k.field === TYPE.optional) {
      f.message(k.wire, 'type', k.offset);
      const kind = k.field === TYPE.sequence ? 'sequence' : k.field === TYPE.map ? 'map' : k.field === TYPE.optional ? 'optional' : 'sparse_tensor';
      out = { dtype: kind, dims: null };
    } else f.skip(k.wire);
  }
  return out;
}

/** ValueInfoProto: a named, typed graph input or output. */
function readValueInfo(f: Fields, offset: number, what: string): ModelTensorInfo {
  let name = '';
  let type: { dtype: string; dims: ModelDim[] | null } = { dtype: 'unknown', dims: null };
  for (let k = f.next(); k; k = f.next()) {
    if (k.field === VALUE_INFO.name) name = f.string(k.wire, `${what} name`, k.offset);
    else if (k.field === VALUE_INFO.type) type = readType(f.message(k.wire, `${what} type`, k.offset));
    else f.skip(k.wire);
  }
  if (name === '') throw new Malformed(`a graph ${what} has no name`, offset);
  return { name, dtype: type.dtype, dims: type.dims };
}

/** The `name` of a TensorProto (an initializer). */
function readTensorName(f: Fields): string {
  let name = '';
  for (let k = f.next(); k; k = f.next()) {
    if (k.field === TENSOR_PROTO.name) name = f.string(k.wire, 'initializer name', k.offset);
    else f.skip(k.wire);
  }
  return name;
}

function readGraph(f: Fields, offset: number): { inputs: ModelTensorInfo[]; outputs: ModelTensorInfo[] } {
  const inputs: ModelTensorInfo[] = [];
  const outputs: ModelTensorInfo[] = [];
  const initializers = new Set<string>();
  for (let k = f.next(); k; k = f.next()) {
    if (k.field === GRAPH.input) inputs.push(readValueInfo(f.message(k.wire, 'input', k.offset), k.offset, 'input'));
    else if (k.field === GRAPH.output) outputs.push(readValueInfo(f.message(k.wire, 'output', k.offset), k.offset, 'output'));
    else if (k.field === GRAPH.initializer) initializers.add(readTensorName(f.message(k.wire, 'initializer', k.offset)));
    else if (k.field === GRAPH.sparseInitializer) {
      const sparse = f.message(k.wire, 'sparse_initializer', k.offset);
      for (let j = sparse.next(); j; j = sparse.next()) {
        if (j.field === SPARSE_TENSOR.values) initializers.add(readTensorName(sparse.message(j.wire, 'sparse values', j.offset)));
        else sparse.skip(j.wire);
      }
    } else f.skip(k.wire);
  }
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.name)) throw new Malformed(`the graph lists input ${input.name} twice`, offset);
    seen.add(input.name);
  }
  if (outputs.length === 0) throw new Malformed('the graph has no outputs', offset);
  return { inputs: inputs.map((i) => (initializers.has(i.name) ? { ...i, optional: true as const } : i)), outputs };
}

/**
 * Reads a model's inputs and outputs from its ONNX bytes, or says why they are not an ONNX model
 * (not a protobuf, truncated, no IR version, no graph, a graph without outputs or with unnamed
 * values). Never throws.
 */
export function readModelInfo(bytes: Uint8Array): { ok: true; info: ModelInfo } | { ok: false; error: NotOnnx } {
  try {
    if (bytes.byteLength === 0) throw new Malformed('the file is empty', 0);
    const f = new Fields(bytes, 0, bytes.byteLength);
    let irVersion = 0;
    let graph: { inputs: ModelTensorInfo[]; outputs: ModelTensorInfo[] } | null = null;
    for (let k = f.next(); k; k = f.next()) {
      if (k.field === MODEL.irVersion) irVersion = f.number(k.wire, 'ir_version', k.offset);
      else if (k.field === MODEL.graph) graph = readGraph(f.message(k.wire, 'graph', k.offset), k.offset);
      else f.skip(k.wire);
    }
    if (!Number.isSafeInteger(irVersion) || irVersion < 1) throw new Malformed('the model has no IR version', bytes.byteLength);
    if (!graph) throw new Malformed('the model has no graph', bytes.byteLength);
    return { ok: true, info: { version: MODEL_INFO_VERSION, irVersion, ...graph } };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, error: { problem: e.problem, offset: e.offset } };
    throw e;
  }
}

/** A shape as people write it: `[1, batch, 16]`, `?` for an open dim, `any shape` when none is given. */
export function formatShape(dims: readonly ModelDim[] | null): string {
  return dims === null ? 'any shape' : `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
