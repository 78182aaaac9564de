import { describe, expect, it } from 'vitest';
import { EMPTY_OFFER_FORM, formFromQuery, offerFilters, offerRow, queryFromForm, shortFingerprint, suggestions } from './offers.ts';

describe('filter state in the URL query', () => {
  it('reads every filter and the sort', () => {
    const form = formFromQuery(new URLSearchParams('market=gpu-24gb&accelerator=h100&region=eu-west&minMemory=40&maxPrice=0.015&minCompleted=3&sort=memory'));
    expect(form).toEqual({ market: 'gpu-24gb', accelerator: 'h100', region: 'eu-west', minMemory: '40', maxPrice: '0.015', minCompleted: '3', sort: 'memory' });
  });
  it('falls back to the defaults for missing keys and an unknown sort', () => {
    expect(formFromQuery(new URLSearchParams('sort=cheapest&foo=1'))).toEqual(EMPTY_OFFER_FORM);
  });
  it('writes only what is set, trimmed, and leaves the default sort out', () => {
    expect(queryFromForm(EMPTY_OFFER_FORM)).toBe('');
    expect(queryFromForm({ ...EMPTY_OFFER_FORM, region: ' eu west ', sort: 'price' })).toBe('?region=eu+west');
    expect(queryFromForm({ ...EMPTY_OFFER_FORM, maxPrice: '0.5', sort: 'reputation' })).toBe('?maxPrice=0.5&sort=reputation');
  });
  it('round-trips', () => {
    const form = { ...EMPTY_OFFER_FORM, market: 'cpu', minMemory: '23.5', minCompleted: '10', sort: 'newest' as const };
    expect(formFromQuery(new URLSearchParams(queryFromForm(form)))).toEqual(form);
  });
});

describe('API filters from the form', () => {
  it('converts the max price from DOUG to exact base units', () => {
    const r = offerFilters({ ...EMPTY_OFFER_FORM, maxPrice: '0.000000001' });
    expect(r).toEqual({ ok: true, filters: { sort: 'price', maxPrice: '1' } });
    const big = offerFilters({ ...EMPTY_OFFER_FORM, maxPrice: '18446744073.709551615' });
    expect(big.ok && big.filters.maxPrice).toBe('18446744073709551615');
  });
  it('passes numbers and text through', () => {
    const r = offerFilters({ market: 'gpu-80gb', accelerator: 'h100', region: 'us-east', minMemory: '80', maxPrice: '', minCompleted: '5', sort: 'reputation' });
    expect(r).toEqual({ ok: true, filters: { market: 'gpu-80gb', accelerator: 'h100', region: 'us-east', minMemoryGb: 80, minCompleted: 5, sort: 'reputation' } });
  });
  it('says what is wrong with each bad input', () => {
    const r = offerFilters({ ...EMPTY_OFFER_FORM, minMemory: '-1', maxPrice: '0.0000000001', minCompleted: '2.5', region: 'x'.repeat(65) });
    expect(r.ok).toBe(false);
    expect(!r.ok && Object.keys(r.errors).sort()).toEqual(['maxPrice', 'minCompleted', 'minMemory', 'region']);
  });
});

describe('an ask as a table row', () => {
  it('reads the fields the offers read model carries', () => {
    const row = offerRow({
      id: 'ask_cpu_3bed5b8c7ac270674b6b8471',
      kind: 'ask',
      market: 'cpu',
      owner: 'Bt3uSPkwdE6FdgudDtYwoaq9hdgWKJC2TMKRN5yWijE5',
      status: 'open',
      price: '1000000',
      capacity: 4,
      slotsInUse: 1,
      expiresAt: 2,
      createdAt: 1,
      attributes: { accelerator: 'cpu', memoryGb: 23.5, cores: 2, fingerprint: 'ort-1.30.0/cpu/linux/x64/aaf7943554e513f8' },
      reputation: { completed: 7, lapsed: 1, rejected: 0 },
    });
    expect(row).toMatchObject({ price: 1_000_000n, capacity: 4, freeSlots: 3, accelerator: 'cpu', memoryGb: 23.5, region: null, reputation: { completed: 7, lapsed: 1, rejected: 0 } });
  });
  it('tolerates missing or malformed fields', () => {
    const row = offerRow({ id: 'a', kind: 'ask', market: 'cpu', owner: 'o', status: 'open', price: 'x', attributes: 'nope' });
    expect(row).toMatchObject({ price: null, capacity: null, freeSlots: null, accelerator: null, reputation: null, expiresAt: null });
  });
  it('shortens runtime fingerprints', () => {
    expect(shortFingerprint('ort-1.30.0/cpu/linux/x64/aaf7943554e513f8')).toBe('cpu …aaf794');
    expect(shortFingerprint('cuda-12')).toBe('cuda-12');
    expect(shortFingerprint(null)).toBe('—');
  });
  it('collects distinct suggestions', () => {
    expect(suggestions(['h100', null, 'a100', 'h100'])).toEqual(['a100', 'h100']);
  });
});
