// Builds examples/: the small ONNX model and the inputs that every command in the README uses.
// `node --import tsx scripts/build-examples.ts` writes them; scripts/build-examples.test.ts fails
// when the committed files differ from what this builds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMlpModel } from '../gpu-agent/models/build.ts';
import { isEntryModule } from '../sdk/format.ts';

/** The example model: the demo's MLP, x float32 [batch, 16] → y float32 [batch, 4] (MatMul, Add, Relu, MatMul, Add). */
export const EXAMPLE_MLP = { inputSize: 16, hidden: 64, outputSize: 4, seed: 42 } as const;

export const EXAMPLES_DIR = 'examples';

export function exampleModel(): Uint8Array {
  return buildMlpModel(EXAMPLE_MLP);
}

/** One batch row of 16 values from -1 to 0.875 in steps of 1/8 (exact in float32), in the portal's plain form. */
export function exampleInputs(): { x: { dtype: 'float32'; dims: number[]; values: number[] } } {
  const values = Array.from({ length: EXAMPLE_MLP.inputSize }, (_, i) => -1 + i / 8);
  return { x: { dtype: 'float32', dims: [1, EXAMPLE_MLP.inputSize], values } };
}

/** The inputs file as written: the plain form, one tensor per key, its values on one line. */
export function exampleInputsJson(): string {
  const entries = Object.entries(exampleInputs()).map(
    ([name, t]) => `  ${JSON.stringify(name)}: {\n    "dtype": ${JSON.stringify(t.dtype)},\n    "dims": ${JSON.stringify(t.dims)},\n    "values": ${JSON.stringify(t.values)}\n  }`,
  );
  return `{\n${entries.join(',\n')}\n}\n`;
}

/** Every file of examples/, by name. */
export function exampleFiles(): Record<string, Uint8Array | string> {
  return { 'model.onnx': exampleModel(), 'inputs.json': exampleInputsJson() };
}

if (isEntryModule(import.meta.url)) {
  for (const [name, content] of Object.entries(exampleFiles())) {
    writeFileSync(join(EXAMPLES_DIR, name), content);
    process.stdout.write(`wrote ${join(EXAMPLES_DIR, name)}\n`);
  }
}
