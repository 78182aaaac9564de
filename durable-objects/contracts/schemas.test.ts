import { describe, expect, it } from 'vitest';
import { LIMITS } from '../domain/market/validate.ts';
import { MAX_AMOUNT } from '../domain/money.ts';
import { API_LIMITS, OrdersQuerySchema, PlaceAskBatchSchema, PlaceAskSchema, PlaceBidSchema, TensorSchema, expiryProblem, parse } from './schemas.ts';

const SPEC = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 4, tolerance: null };
const bid = (over: Record<string, unknown> = {}) => ({ market: 'cpu', clientId: 'c1', maxPrice: '1000', units: 2, replicas: 1, expiresAt: 2, job: SPEC, ...over });
const ask = (over: Record<string, unknown> = {}) => ({ market: 'cpu', clientId: 'a1', price: '100', capacity: 1, attributes: { accelerator: 'cpu' }, expiresAt: 2, ...over });
const refusal = (r: ReturnType<typeof parse>) => (r.ok ? null : { field: r.field, problem: r.problem });

describe('a bid body', () => {
  it('parses amounts to bigints and fills the defaults', () => {
    const r = parse(PlaceBidSchema, bid());
    expect(r.ok && r.value).toMatchObject({ maxPrice: 1000n, requirements: [], ioc: false });
  });

  it('is refused naming the field and the problem', () => {
    expect(refusal(parse(PlaceBidSchema, bid({ colour: 'red' })))).toEqual({ field: 'colour', problem: 'is not a known field' });
    expect(refusal(parse(PlaceBidSchema, { ...bid(), units: undefined }))).toEqual({ field: 'units', problem: 'must be an integer' });
    expect(refusal(parse(PlaceBidSchema, bid({ maxPrice: 1000 })))?.field).toBe('maxPrice');
    expect(refusal(parse(PlaceBidSchema, bid({ maxPrice: (MAX_AMOUNT + 1n).toString() })))?.field).toBe('maxPrice');
    expect(refusal(parse(PlaceBidSchema, bid({ maxPrice: '0' })))).toEqual({ field: 'maxPrice', problem: 'must be at least 1' });
    expect(refusal(parse(PlaceBidSchema, bid({ replicas: LIMITS.replicas.max + 1 })))).toEqual({ field: 'replicas', problem: 'must be between 1 and 5' });
    expect(refusal(parse(PlaceBidSchema, bid({ job: { ...SPEC, extra: 1 } })))).toEqual({ field: 'job.extra', problem: 'is not a known field' });
  });

  it('checks a requirement value against its op', () => {
    const req = (r: unknown) => refusal(parse(PlaceBidSchema, bid({ requirements: [r] })));
    expect(req({ key: 'memoryGb', op: 'gte', value: 8 })).toBeNull();
    expect(req({ key: 'region', op: 'in', value: ['eu', 'us'] })).toBeNull();
    expect(req({ key: 'memoryGb', op: 'gte', value: '8' })).toEqual({ field: 'requirements[0].value', problem: 'must be a number for op "gte"' });
    expect(req({ key: 'region', op: 'eq', value: ['eu'] })?.field).toBe('requirements[0].value');
    expect(req({ key: 'region', op: 'in', value: [] })?.field).toBe('requirements[0].value');
    expect(req({ key: 'region', op: 'like', value: 'x' })?.field).toBe('requirements[0].op');
    expect(req({ key: 'region', value: 'x' })).toEqual({ field: 'requirements[0].op', problem: 'is required' });
  });

  it("checks inline tensors' fields, and leaves their bytes against their dims to the edge (against the model when it is known)", () => {
    const inputs = [{ name: 'x', dtype: 'float32', dims: [4], data: 'AAAA' }];
    expect(refusal(parse(PlaceBidSchema, bid({ job: { modelSha256: SPEC.modelSha256, inputs } })))).toBeNull();
    expect(refusal(parse(PlaceBidSchema, bid({ job: { modelSha256: SPEC.modelSha256, inputs: [{ ...inputs[0], dtype: 'float16' }] } })))?.field).toBe('job.inputs[0].dtype');
    // A tensor elsewhere (an agent's outputs) is checked against its dims by the schema itself.
    expect(refusal(parse(TensorSchema, inputs[0]))).toEqual({ field: '', problem: 'data holds 3 bytes; dims × dtype need 16' });
  });
});

describe('ask limits are the market domain\'s', () => {
  it('takes attribute keys up to the domain\'s length and refuses one longer', () => {
    const key = (n: number) => 'k'.repeat(n);
    expect(parse(PlaceAskSchema, ask({ attributes: { [key(LIMITS.attributeKeyLength)]: 1 } })).ok).toBe(true);
    expect(refusal(parse(PlaceAskSchema, ask({ attributes: { [key(LIMITS.attributeKeyLength + 1)]: 1 } })))?.field).toBe(`attributes.${key(LIMITS.attributeKeyLength + 1)}`);
  });

  it('takes attribute strings up to the domain\'s length', () => {
    expect(parse(PlaceAskSchema, ask({ attributes: { note: 'x'.repeat(LIMITS.attributeStringLength) } })).ok).toBe(true);
    expect(parse(PlaceAskSchema, ask({ attributes: { note: 'x'.repeat(LIMITS.attributeStringLength + 1) } })).ok).toBe(false);
  });

  it('refuses an attribute named like an object internal rather than dropping it', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect(refusal(parse(PlaceAskSchema, ask({ attributes: JSON.parse(`{"${name}":"x"}`) })))).toEqual({ field: `attributes.${name}`, problem: 'is a reserved name' });
    }
  });

  it('refuses more attributes, capacity or asks than allowed', () => {
    const many = Object.fromEntries(Array.from({ length: LIMITS.attributes + 1 }, (_, i) => [`k${i}`, i]));
    expect(refusal(parse(PlaceAskSchema, ask({ attributes: many })))?.field).toBe('attributes');
    expect(refusal(parse(PlaceAskSchema, ask({ capacity: LIMITS.capacity.max + 1 })))?.field).toBe('capacity');
    const { market: _m, ...item } = ask();
    expect(parse(PlaceAskBatchSchema, { market: 'cpu', asks: Array(API_LIMITS.batchAsks).fill(item) }).ok).toBe(true);
    expect(refusal(parse(PlaceAskBatchSchema, { market: 'cpu', asks: Array(API_LIMITS.batchAsks + 1).fill(item) }))?.field).toBe('asks');
    expect(refusal(parse(PlaceAskBatchSchema, { market: 'cpu', asks: [item, { ...item, capacity: 0 }] }))?.field).toBe('asks[1].capacity');
  });
});

describe('the orders query', () => {
  it('parses its limit and refuses unknown or repeated parameters', () => {
    expect(parse(OrdersQuerySchema, { limit: '10', sort: 'reputation' })).toEqual({ ok: true, value: { limit: 10, sort: 'reputation' } });
    expect(refusal(parse(OrdersQuerySchema, { colour: 'red' }))).toEqual({ field: 'colour', problem: 'is not a known field' });
    expect(refusal(parse(OrdersQuerySchema, { owner: ['a', 'b'] }))).toEqual({ field: 'owner', problem: 'must be given once' });
    expect(refusal(parse(OrdersQuerySchema, { limit: '201' }))?.field).toBe('limit');
  });
});

describe('an expiry', () => {
  it('lies after now and at most the longest TTL ahead', () => {
    expect(expiryProblem(1001, 1000)).toBeNull();
    expect(expiryProblem(1000 + API_LIMITS.maxTtlMs, 1000)).toBeNull();
    expect(expiryProblem(1000, 1000)).not.toBeNull();
    expect(expiryProblem(1001 + API_LIMITS.maxTtlMs, 1000)).not.toBeNull();
  });
});
