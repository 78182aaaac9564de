import * as ort from 'onnxruntime-node';

/** Tensors by name, fed to or given by a model. */
export type Feeds = Record<string, ort.Tensor>;

/** Runs ONNX bytes once on one CPU thread, fed only the inputs the model declares. */
export async function runModel(model: Uint8Array, feeds: Feeds): Promise<Feeds> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const names = new Set(session.inputNames);
    return (await session.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))))) as Feeds;
  } finally {
    await session.release();
  }
}

/** A float tensor's bytes, to compare bit for bit. */
export const tensorBytes = (t: ort.Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);

/** An int64 tensor [1, n] of `values`. */
export const int64Row = (values: readonly number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);
