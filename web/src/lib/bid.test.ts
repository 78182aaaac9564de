import { describe, expect, it } from 'vitest';
import { toWire, wireValues } from '$contracts/tensors.ts';
import { emptyBidForm, encodeValues, escrowPreview, inputsTransport, INPUTS_EXAMPLE, MAX_INLINE_JSON, maxPriceError, parseInputs, shortfall, validateBidForm, type BidForm } from './bid.ts';

const form = (over: Partial<BidForm> = {}): BidForm => ({ ...emptyBidForm(), market: 'cpu', maxPrice: '0.002', ...over });

describe('the escrow of a bid', () => {
  it('is max price × units × replicas in exact base units', () => {
    expect(escrowPreview({ maxPrice: '0.002', units: '1', replicas: '2' })?.escrow).toBe(4_000_000n);
    // 0.000000001 × 1,000,000 × 5 stays exact.
    expect(escrowPreview({ maxPrice: '0.000000001', units: '1000000', replicas: '5' })?.escrow).toBe(5_000_000n);
    expect(escrowPreview({ maxPrice: '123456789.123456789', units: '3', replicas: '1' })?.escrow).toBe(370_370_367_370_370_367n);
  });
  it('is not shown while a factor is invalid', () => {
    expect(escrowPreview({ maxPrice: '', units: '1', replicas: '1' })).toBeNull();
    expect(escrowPreview({ maxPrice: '0.1', units: '0', replicas: '1' })).toBeNull();
    expect(escrowPreview({ maxPrice: '0.1', units: '1', replicas: '6' })).toBeNull();
  });
  it('says how far the balance falls short', () => {
    expect(shortfall(4_000_000n, 10_000_000_000n)).toBe(0n);
    expect(shortfall(4_000_000n, 1_000_000n)).toBe(3_000_000n);
    expect(shortfall(4_000_000n, 4_000_000n)).toBe(0n);
  });
});

describe('validating the bid form', () => {
  it('gives the terms of a valid form, with requirements and tolerance', () => {
    const { terms, errors } = validateBidForm(form({ replicas: '2', expiryMinutes: '15', tolerance: '0.001', accelerator: 'rtx-4090', minMemoryGb: '24' }), ['cpu']);
    expect(errors).toEqual({});
    expect(terms).toEqual({
      market: 'cpu',
      maxPrice: 2_000_000n,
      units: 1,
      replicas: 2,
      expiryMs: 15 * 60_000,
      tolerance: 0.001,
      requirements: [
        { key: 'accelerator', op: 'eq', value: 'rtx-4090' },
        { key: 'memoryGb', op: 'gte', value: 24 },
      ],
    });
  });
  it('leaves tolerance null (bit-exact) and requirements empty when blank', () => {
    const { terms } = validateBidForm(form());
    expect(terms?.tolerance).toBeNull();
    expect(terms?.requirements).toEqual([]);
  });
  it('names each bad field', () => {
    const { terms, errors } = validateBidForm(
      { market: '', maxPrice: '1.0000000001', units: '1.5', replicas: '6', expiryMinutes: '0', tolerance: '-1', accelerator: 'x'.repeat(65), minMemoryGb: 'lots' },
      ['cpu'],
    );
    expect(terms).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(['accelerator', 'expiryMinutes', 'market', 'maxPrice', 'minMemoryGb', 'replicas', 'tolerance', 'units']);
    expect(errors.maxPrice).toMatch(/9 decimal/);
  });
  it('refuses a market it does not know, a zero price and an escrow past u64', () => {
    expect(validateBidForm(form({ market: 'tpu' }), ['cpu']).errors.market).toMatch(/no market/);
    expect(maxPriceError('0')).toMatch(/more than 0/);
    expect(maxPriceError('abc')).toMatch(/amount/);
    expect(validateBidForm(form({ maxPrice: '18000000000', units: '1000000', replicas: '5' })).errors.maxPrice).toMatch(/larger/);
  });
});

describe('reading input tensors', () => {
  const x = new Float32Array([0.5, -1, 2, 0]);
  const wire = toWire('x', 'float32', [1, 4], new Uint8Array(x.buffer));

  it('takes the wire format as a list or as {tensors}', () => {
    for (const text of [JSON.stringify([wire]), JSON.stringify({ tensors: [wire] })]) {
      const r = parseInputs(text);
      expect(r.ok && r.tensors).toEqual([wire]);
      expect(r.ok && r.bytes).toBe(16);
    }
  });
  it('converts plain values, keyed by name or listed, to the same wire tensor', () => {
    const keyed = parseInputs(INPUTS_EXAMPLE);
    const listed = parseInputs('[{"name":"x","dtype":"float32","dims":[1,4],"values":[[0.5,-1,2,0]]}]');
    expect(keyed.ok && keyed.tensors).toEqual([wire]);
    expect(listed.ok && listed.tensors).toEqual([wire]);
  });
  it('encodes every dtype little-endian and reads back the same values', () => {
    const r = parseInputs(
      JSON.stringify({
        a: { dtype: 'int32', dims: [2], values: [-1, 2147483647] },
        b: { dtype: 'int64', dims: [2], values: [-5, '9007199254740993'] },
        c: { dtype: 'uint8', dims: [2], values: [0, 255] },
        d: { dtype: 'int8', dims: [2], values: [-128, 127] },
        e: { dtype: 'bool', dims: [3], values: [true, false, 1] },
        f: { dtype: 'float64', dims: [], values: [0.1] },
      }),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const byName = Object.fromEntries(r.tensors.map((t) => [t.name, wireValues(t)]));
    expect(byName).toEqual({ a: [-1, 2147483647], b: [-5, 9007199254740992], c: [0, 255], d: [-128, 127], e: [1, 0, 1], f: [0.1] });
    const b = r.tensors.find((t) => t.name === 'b')!;
    const raw = Buffer.from(b.data, 'base64url');
    expect(raw.readBigInt64LE(8)).toBe(9007199254740993n);
  });
  it('checks dims × values and says by how much they differ', () => {
    const r = parseInputs('{"x":{"dtype":"float32","dims":[1,4],"values":[1,2,3]}}');
    expect(r).toEqual({ ok: false, error: 'x: values holds 3 numbers; dims [1, 4] need 4' });
  });
  it('refuses what cannot be a tensor, with the reason', () => {
    expect(parseInputs('')).toMatchObject({ ok: false });
    expect(parseInputs('{nope')).toMatchObject({ ok: false, error: expect.stringMatching(/^Not valid JSON/) });
    expect(parseInputs('[]')).toMatchObject({ ok: false, error: 'Give at least one tensor.' });
    expect(parseInputs('42')).toMatchObject({ ok: false });
    expect(parseInputs('{"x":{"dtype":"float16","dims":[1],"values":[1]}}')).toMatchObject({ ok: false, error: expect.stringMatching(/dtype must be one of/) });
    expect(parseInputs('{"x":{"dtype":"int8","dims":[1],"values":[300]}}')).toMatchObject({ ok: false, error: expect.stringMatching(/-128 to 127/) });
    expect(parseInputs('{"x":{"dtype":"float32","dims":[1,-4],"values":[]}}')).toMatchObject({ ok: false, error: expect.stringMatching(/dims/) });
    expect(parseInputs('[{"name":"x","dtype":"float32","dims":[1,4],"data":"AAAA"}]')).toMatchObject({ ok: false, error: expect.stringMatching(/^x: data holds 3 bytes/) });
    expect(parseInputs('[{"name":"x","dtype":"uint8","dims":[1],"values":[1]},{"name":"x","dtype":"uint8","dims":[1],"values":[1]}]')).toMatchObject({ ok: false, error: 'Two tensors are named x.' });
    expect(encodeValues('float32', ['1'])).toBe('values[0] must be a number');
  });
  it('refuses more than 4 MiB of tensor bytes', () => {
    const r = parseInputs(JSON.stringify({ big: { dtype: 'uint8', dims: [4 * 1024 * 1024 + 1], data: Buffer.alloc(4 * 1024 * 1024 + 1).toString('base64url') } }));
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/limit is 4,194,304/) });
  });
  it('sends small inputs inline and uploads larger ones', () => {
    expect(inputsTransport([wire])).toBe('inline');
    const big = toWire('big', 'uint8', [MAX_INLINE_JSON], new Uint8Array(MAX_INLINE_JSON));
    expect(inputsTransport([big])).toBe('upload');
  });
});
