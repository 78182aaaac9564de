import { describe, expect, it } from 'vitest';
import { buildMlpModel } from '../../../gpu-agent/models/build.ts';
import { toWire } from '$contracts/tensors.ts';
import { parseInputs } from './bid.ts';
import { describeTensor, fetchInterface, fileInterface, inputsFitProblem, inputsTemplate, type ModelInterface } from './model-info.ts';

const MLP = buildMlpModel({ inputSize: 4, hidden: 8, outputSize: 2, seed: 3 });
const answer = (status: number, body: unknown) => (async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status })) as unknown as typeof fetch;

describe("a picked file's interface", () => {
  it("is read in the browser: the MLP's x [batch, 4] and y [batch, 2]", () => {
    const model = fileInterface(MLP);
    expect(model).toEqual({ state: 'known', inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }], outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 2] }] });
    expect(describeTensor({ name: 'x', dtype: 'float32', dims: ['batch', 4] })).toBe('x: float32 [batch, 4]');
    expect(describeTensor({ name: 'w', dtype: 'float32', dims: null, optional: true })).toBe('w: float32 any shape (optional)');
  });

  it('says why a file is not an ONNX model', () => {
    expect(fileInterface(new TextEncoder().encode('not a model'))).toMatchObject({ state: 'not-onnx', problem: expect.any(String) });
    expect(fileInterface(new Uint8Array())).toEqual({ state: 'not-onnx', problem: 'the file is empty' });
  });
});

describe("a stored model's interface", () => {
  it('comes from GET /v1/models/:sha256/info; a model that is not ONNX says so; anything else is unknown', async () => {
    const info = { sha256: 'a'.repeat(64), irVersion: 8, inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }], outputs: [] };
    let asked = '';
    const spy = (async (url: string) => {
      asked = url;
      return new Response(JSON.stringify(info), { status: 200 });
    }) as unknown as typeof fetch;
    expect(await fetchInterface('http://x/', 'a'.repeat(64), spy)).toEqual({ state: 'known', inputs: info.inputs, outputs: [] });
    expect(asked).toBe(`http://x/v1/models/${'a'.repeat(64)}/info`);
    expect(await fetchInterface('http://x', 'a', answer(422, { error: { code: 'MODEL__NOT_ONNX', message: 'm', context: { problem: 'the model has no graph' } } }))).toEqual({ state: 'not-onnx', problem: 'the model has no graph' });
    expect(await fetchInterface('http://x', 'a', answer(404, { error: { code: 'API__UNKNOWN_MODEL', message: 'm', context: {} } }))).toEqual({ state: 'unknown' });
    expect(await fetchInterface('http://x', 'a', answer(500, 'oops'))).toEqual({ state: 'unknown' });
    expect(await fetchInterface('http://x', 'a', (async () => Promise.reject(new Error('offline'))) as unknown as typeof fetch)).toEqual({ state: 'unknown' });
  });
});

describe('inputs against the interface', () => {
  const model = fileInterface(MLP);

  it("are checked by the API's rule and shown in its words with its code", () => {
    const typed = parseInputs('{"x": {"dtype": "float32", "dims": [1, 3], "values": [1, 2, 3]}}');
    if (!typed.ok) throw new Error(typed.error);
    expect(inputsFitProblem(model, typed.tensors)).toBe('Input x must have 4 at axis 1 of [batch, 4]; 3 was sent ([1, 3]) (MODEL__INPUT_DIM).');
    expect(inputsFitProblem(model, [toWire('y', 'float32', [1, 4], new Uint8Array(16))])).toMatch(/^The model has no input named y; it takes x \(float32 \[batch, 4\]\) \(MODEL__INPUT_UNKNOWN\)\.$/);
    expect(inputsFitProblem(model, [toWire('x', 'float32', [2, 4], new Uint8Array(32))])).toBeNull();
  });

  it('are not checked when the interface is not known (the server checks at the bid)', () => {
    for (const m of [{ state: 'unknown' }, { state: 'not-onnx', problem: 'p' }] as ModelInterface[]) expect(inputsFitProblem(m, [toWire('z', 'int8', [1], new Uint8Array(1))])).toBeNull();
  });
});

describe('a template of inputs that fit', () => {
  it('puts 1 at symbolic dims and zeros everywhere, and parses to tensors that fit', () => {
    const model = fileInterface(MLP);
    const template = inputsTemplate(model)!;
    expect(template).toBe('{"x": {"dtype": "float32", "dims": [1, 4], "values": [0, 0, 0, 0]}}');
    const parsed = parseInputs(template);
    expect(parsed.ok && inputsFitProblem(model, parsed.tensors)).toBeNull();
    const two: ModelInterface = { state: 'known', outputs: [], inputs: [{ name: 'm', dtype: 'bool', dims: [2, null] }, { name: 'w', dtype: 'float32', dims: [9], optional: true }] };
    expect(inputsTemplate(two)).toBe('{"m": {"dtype": "bool", "dims": [2, 1], "values": [false, false]}}');
  });

  it('is not offered for dtypes the API cannot send, nor for large inputs', () => {
    expect(inputsTemplate({ state: 'known', outputs: [], inputs: [{ name: 'h', dtype: 'float16', dims: [2] }] })).toBeNull();
    expect(inputsTemplate({ state: 'known', outputs: [], inputs: [{ name: 'img', dtype: 'float32', dims: [1, 3, 224, 224] }] })).toBeNull();
    expect(inputsTemplate({ state: 'unknown' })).toBeNull();
  });
});
