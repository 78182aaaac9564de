import { SELF } from 'cloudflare:test';
import { env as rawEnv } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { sha256Hex, signRequest, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type TensorDType, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { orderId } from '../../durable-objects/domain/market/ids.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { DougApiError } from '../../sdk/client.ts';
import { onnxModel } from '../support/onnx-model.ts';
import { BASE, DOUG, refusal, wallet } from './helpers.ts';

const env = rawEnv as unknown as Env;
const hour = () => Date.now() + 3600_000;

/** x [batch, 4] float32 and ids [1] int64 required; w [2] float32 an initializer listed as an input. */
const MODEL = onnxModel({
  inputs: [
    { name: 'x', dtype: 'float32', dims: ['batch', 4] },
    { name: 'ids', dtype: 'int64', dims: [1] },
    { name: 'w', dtype: 'float32', dims: [2] },
  ],
  initializers: ['w'],
  tag: 'model-inputs',
});
const X = { name: 'x', dtype: 'float32', dims: ['batch', 4] };

const BYTES: Record<TensorDType, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1 };
const tensor = (name: string, dtype: TensorDType, dims: number[], bytes = dims.reduce((a, b) => a * b, 1) * BYTES[dtype]): WireTensor => toWire(name, dtype, dims, new Uint8Array(bytes));
const IDS = tensor('ids', 'int64', [1]);

async function put(keypair: Keypair | null, path: string, body: string | Uint8Array): Promise<{ status: number; body: Record<string, any> }> {
  const headers = { 'content-type': typeof body === 'string' ? 'application/json' : 'application/octet-stream', ...(keypair ? await signRequest(keypair, { method: 'PUT', path, body }) : {}) };
  const res = await SELF.fetch(BASE + path, { method: 'PUT', headers, body: body as BodyInit });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function get(path: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await SELF.fetch(BASE + path);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** A funded buyer with the model uploaded. */
async function buyerWithModel(model = MODEL) {
  const buyer = await wallet(DOUG);
  const uploaded = await put(buyer.keypair, '/v1/models', model);
  expect(uploaded.status).toBe(201);
  return { ...buyer, sha256: String(uploaded.body.sha256) };
}

/** Places a bid whose inputs do not fit; answers its refusal after checking nothing was held or placed. */
async function refusedBid(buyer: Awaited<ReturnType<typeof buyerWithModel>>, job: Record<string, unknown>): Promise<DougApiError> {
  const before = await buyer.client.account();
  const clientId = `c${Math.random().toString(36).slice(2)}`;
  const error = await refusal(buyer.client.placeBid({ market: 'cpu', clientId, maxPrice: '1000', units: 2, replicas: 1, expiresAt: hour(), job: { modelSha256: buyer.sha256, tolerance: null, ...job } as never }));
  const after = await buyer.client.account();
  expect([after.available, after.held]).toEqual([before.available, before.held]);
  const market = env.MARKETS.get(env.MARKETS.idFromName('cpu'));
  expect(await market.order(await orderId('bid', buyer.key, 'cpu', clientId))).toBeNull();
  return error;
}

describe('a model uploaded', () => {
  it('has its inputs and outputs served at /v1/models/:sha256/info, symbolic dims by name, the initializer input optional', async () => {
    const { sha256 } = await buyerWithModel();
    expect(sha256).toBe(await sha256Hex(MODEL));
    const info = await get(`/v1/models/${sha256}/info`);
    expect(info).toEqual({
      status: 200,
      body: {
        sha256,
        irVersion: 8,
        inputs: [X, { name: 'ids', dtype: 'int64', dims: [1] }, { name: 'w', dtype: 'float32', dims: [2], optional: true }],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 4] }],
      },
    });
    expect(await env.BLOBS.get(`models/${sha256}.info.json`)).not.toBeNull();
  });

  it('answers 404 API__UNKNOWN_MODEL for a model nobody uploaded, 400 for a name that is not a SHA-256', async () => {
    const unknown = await get(`/v1/models/${'c'.repeat(64)}/info`);
    expect([unknown.status, unknown.body.error.code, unknown.body.error.context]).toEqual([404, 'API__UNKNOWN_MODEL', { sha256: 'c'.repeat(64) }]);
    const bad = await get('/v1/models/xyz/info');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'API__INVALID_INPUT']);
  });

  it('is refused with 422 MODEL__NOT_ONNX when its bytes are not an ONNX model, and nothing is stored', async () => {
    const buyer = await wallet();
    const garbage = new TextEncoder().encode('this is not a model');
    const refused = await put(buyer.keypair, '/v1/models', garbage);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'MODEL__NOT_ONNX', context: { problem: expect.any(String) } });
    const sha256 = await sha256Hex(garbage);
    expect(await env.BLOBS.head(`models/${sha256}`)).toBeNull();
    expect((await get(`/v1/models/${sha256}`)).status).toBe(404);
    // A truncated model too.
    const cut = await put(buyer.keypair, '/v1/models', MODEL.subarray(0, MODEL.length - 5));
    expect([cut.status, cut.body.error.code]).toEqual([422, 'MODEL__NOT_ONNX']);
  });
});

describe('a bid whose inline inputs do not fit its model', () => {
  it('naming an input the model does not take: 422 MODEL__INPUT_UNKNOWN, the inputs it takes in context; nothing held', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('X', 'float32', [1, 4]), IDS] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_UNKNOWN']);
    expect(e.context).toMatchObject({ name: 'X', modelSha256: buyer.sha256, sent: { name: 'X', dtype: 'float32', dims: [1, 4] } });
    expect((e.context.expected as { name: string }[]).map((i) => i.name)).toEqual(['x', 'ids', 'w']);
  });

  it('leaving out a required input: 422 MODEL__INPUT_MISSING; the initializer input may be left out', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('x', 'float32', [1, 4])] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_MISSING']);
    expect(e.context).toMatchObject({ name: 'ids', expected: { name: 'ids', dtype: 'int64', dims: [1] }, sent: ['x'] });
  });

  it('of another dtype: 422 MODEL__INPUT_DTYPE', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('x', 'int32', [1, 4]), IDS] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_DTYPE']);
    expect(e.context).toMatchObject({ expected: X, sent: { name: 'x', dtype: 'int32', dims: [1, 4] } });
  });

  it('of another rank: 422 MODEL__INPUT_RANK', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('x', 'float32', [4]), IDS] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_RANK']);
    expect(e.context).toMatchObject({ rank: 2, sentRank: 1, expected: X, sent: { dims: [4] } });
  });

  it('with another size at a fixed dim: 422 MODEL__INPUT_DIM naming the axis', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('x', 'float32', [2, 2]), IDS] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_DIM']);
    expect(e.context).toMatchObject({ axis: 1, dim: 4, sentDim: 2, expected: X, sent: { dims: [2, 2] } });
  });

  it('with data whose length does not fit its dims: 422 MODEL__INPUT_BYTES', async () => {
    const buyer = await buyerWithModel();
    const e = await refusedBid(buyer, { inputs: [tensor('x', 'float32', [2, 4], 16), IDS] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_BYTES']);
    expect(e.context).toMatchObject({ bytes: 32, sentBytes: 16, expected: X, sent: { dims: [2, 4], bytes: 16 } });
  });

  it('naming a model whose stored bytes are not ONNX (uploaded before the check): 422 MODEL__NOT_ONNX', async () => {
    const buyer = await wallet(DOUG);
    const old = new Uint8Array([8, 1, 2, 3, 4, 5, Math.floor(Math.random() * 256)]);
    const sha256 = await sha256Hex(old);
    await env.BLOBS.put(`models/${sha256}`, old);
    const e = await refusedBid({ ...buyer, sha256 }, { inputs: [tensor('x', 'float32', [1])] });
    expect([e.status, e.code, e.context.sha256]).toEqual([422, 'MODEL__NOT_ONNX', sha256]);
  });
});

describe('inputs that fit', () => {
  it('are taken inline at any size of a symbolic dim, with or without the optional input, and escrow is held', async () => {
    const buyer = await buyerWithModel();
    const placed = await buyer.client.placeBid({ market: 'cpu', maxPrice: '1000', units: 2, replicas: 1, expiresAt: hour(), job: { modelSha256: buyer.sha256, inputs: [tensor('x', 'float32', [3, 4]), IDS, tensor('w', 'float32', [2])], tolerance: null } });
    expect(placed.escrow).toBe('2000');
    expect((await buyer.client.account()).held).toBe('2000');
  });
});

describe('inputs uploaded before the bid', () => {
  it('are checked at the bid when they were uploaded without a model: the same coded 422, nothing held', async () => {
    const buyer = await buyerWithModel();
    const uploaded = await buyer.client.uploadInputs([tensor('x', 'float32', [1, 5]), IDS]);
    const e = await refusedBid(buyer, { inputSha256: uploaded.inputSha256, inputBytes: uploaded.inputBytes });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_DIM']);
    expect(e.context).toMatchObject({ axis: 1, dim: 4, sentDim: 5, modelSha256: buyer.sha256 });
  });

  it('are checked again once the model is uploaded, when an earlier bid named it before it was stored', async () => {
    const buyer = await wallet(DOUG);
    const model = onnxModel({ inputs: [{ name: 'x', dtype: 'float32', dims: [2] }], tag: `later-${Math.random()}` });
    const sha256 = await sha256Hex(model);
    const uploaded = await buyer.client.uploadInputs([tensor('x', 'float32', [3])]);
    const job = { modelSha256: sha256, inputSha256: uploaded.inputSha256, inputBytes: uploaded.inputBytes, tolerance: null };
    // Not stored yet: the bid is taken unchecked, as before interfaces were kept.
    await buyer.client.placeBid({ market: 'cpu', maxPrice: '1', units: 1, replicas: 1, expiresAt: hour(), job });
    expect((await put(buyer.keypair, '/v1/models', model)).status).toBe(201);
    const e = await refusedBid({ ...buyer, sha256 }, { inputSha256: uploaded.inputSha256, inputBytes: uploaded.inputBytes });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_DIM']);
  });

  it('with ?model= are refused at upload when they do not fit (nothing stored), taken when they do', async () => {
    const buyer = await buyerWithModel();
    const unfitTensors = [tensor('x', 'float64', [1, 4]), IDS];
    const refused = await put(buyer.keypair, `/v1/inputs?model=${buyer.sha256}`, JSON.stringify({ tensors: unfitTensors }));
    expect([refused.status, refused.body.error.code]).toEqual([422, 'MODEL__INPUT_DTYPE']);
    expect(refused.body.error.context).toMatchObject({ expected: X, sent: { dtype: 'float64' } });
    const short = await put(buyer.keypair, `/v1/inputs?model=${buyer.sha256}`, JSON.stringify({ tensors: [tensor('x', 'float32', [1, 4], 8), IDS] }));
    expect([short.status, short.body.error.code]).toEqual([422, 'MODEL__INPUT_BYTES']);
    expect(await env.BLOBS.head(`inputs/${await tensorsDigest(unfitTensors)}`)).toBeNull();

    const fits = await put(buyer.keypair, `/v1/inputs?model=${buyer.sha256}`, JSON.stringify({ tensors: [tensor('x', 'float32', [1, 4]), IDS] }));
    expect(fits.status).toBe(201);
    const unknown = await put(buyer.keypair, `/v1/inputs?model=${'d'.repeat(64)}`, JSON.stringify({ tensors: [IDS] }));
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'API__UNKNOWN_MODEL']);
    const bad = await put(buyer.keypair, '/v1/inputs?model=nope', JSON.stringify({ tensors: [IDS] }));
    expect([bad.status, bad.body.error.code, bad.body.error.context.field]).toEqual([400, 'API__INVALID_INPUT', 'model']);
    // Without a model, a tensor's bytes are still checked against its own dims.
    const loose = await put(buyer.keypair, '/v1/inputs', JSON.stringify({ tensors: [tensor('x', 'float32', [1, 4], 8)] }));
    expect([loose.status, loose.body.error.code, loose.body.error.context.field]).toEqual([400, 'API__INVALID_INPUT', 'tensors[0]']);
  });
});

describe('a model uploaded before interfaces were kept', () => {
  it('gets its interface read from the stored bytes on first use, and kept', async () => {
    const bytes = onnxModel({ inputs: [{ name: 'tokens', dtype: 'int32', dims: [1, 'seq'] }], tag: `legacy-${Math.random()}` });
    const sha256 = await sha256Hex(bytes);
    await env.BLOBS.put(`models/${sha256}`, bytes);
    expect(await env.BLOBS.head(`models/${sha256}.info.json`)).toBeNull();
    const buyer = await wallet(DOUG);
    const e = await refusedBid({ ...buyer, sha256 }, { inputs: [tensor('tokens', 'int64', [1, 3])] });
    expect([e.status, e.code]).toEqual([422, 'MODEL__INPUT_DTYPE']);
    expect(await env.BLOBS.head(`models/${sha256}.info.json`)).not.toBeNull();
    const info = await get(`/v1/models/${sha256}/info`);
    expect(info.body.inputs).toEqual([{ name: 'tokens', dtype: 'int32', dims: [1, 'seq'] }]);
  });
});
