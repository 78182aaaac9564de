import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelInfo } from '../durable-objects/contracts/onnx-info.ts';
import { parseInputs } from '../durable-objects/contracts/tensor-json.ts';
import { wireValues } from '../durable-objects/contracts/tensors.ts';
import { modelInputsFit } from '../durable-objects/domain/model-fit.ts';
import { EXAMPLES_DIR, exampleFiles, exampleInputs } from './build-examples.ts';

describe('examples/ as committed', () => {
  it.each(Object.keys(exampleFiles()))('%s is what scripts/build-examples.ts builds (rerun it after changing the script)', (name) => {
    const built = exampleFiles()[name]!;
    const committed = readFileSync(join(EXAMPLES_DIR, name));
    expect(Buffer.compare(committed, Buffer.from(built)), `examples/${name} differs from the build: node --import tsx scripts/build-examples.ts`).toBe(0);
  });

  it('holds inputs that read as one float32 [1, 16] tensor and fit the example model', () => {
    const read = parseInputs(readFileSync(join(EXAMPLES_DIR, 'inputs.json'), 'utf8'));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.tensors.map((t) => [t.name, t.dtype, t.dims])).toEqual([['x', 'float32', [1, 16]]]);
    expect(wireValues(read.tensors[0]!)).toEqual(exampleInputs().x.values);
    const model = readModelInfo(readFileSync(join(EXAMPLES_DIR, 'model.onnx')));
    expect(model.ok).toBe(true);
    if (!model.ok) return;
    expect(model.info.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: ['batch', 16] }]);
    expect(modelInputsFit(model.info, read.tensors)).toBeNull();
  });
});
