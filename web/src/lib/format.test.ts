import { describe, expect, it } from 'vitest';
import { amountInput, bytes, doug, exactDoug, moneyContext, relativeTime, shortKey, toUnits } from './format.ts';

describe('doug', () => {
  it('rounds to four places, trims zeros and groups thousands', () => {
    expect(doug(1_500_000_000n)).toBe('1.5');
    expect(doug('1234567891234567891')).toBe('1,234,567,891.2346');
    expect(doug(0n)).toBe('0');
    expect(doug(10n ** 9n * 1000n)).toBe('1,000');
  });
  it('rounds half up at the last shown place', () => {
    expect(doug(123_450_000n, { decimals: 3 })).toBe('0.123');
    expect(doug(123_500_000n, { decimals: 3 })).toBe('0.124');
    expect(doug(999_999_999n, { decimals: 2 })).toBe('1');
  });
  it('never shows a non-zero amount as zero', () => {
    expect(doug(1n)).toBe('0.000000001');
    expect(doug(1_234n)).toBe('0.0000012');
    expect(doug(99_999n)).toBe('0.0001');
  });
  it('keeps the sign and shows a dash for malformed input', () => {
    expect(doug(-2_000_000_000n)).toBe('-2');
    expect(doug('1.5')).toBe('—');
    expect(doug(null)).toBe('—');
    expect(exactDoug('1000000001')).toBe('1.000000001');
  });
  it('reads wire amounts exactly', () => {
    expect(toUnits('18446744073709551615')).toBe(18446744073709551615n);
    expect(toUnits('18446744073709551616')).toBeNull();
  });
});

describe('small formats', () => {
  it('shortens keys, times and sizes', () => {
    expect(shortKey('7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU')).toBe('7xKX…gAsU');
    expect(shortKey('short')).toBe('short');
    expect(relativeTime(1_000, 31_000)).toBe('30 s ago');
    expect(relativeTime(0, 7_200_000)).toBe('2 h ago');
    expect(relativeTime(400_000, 100_000)).toBe('in 5 min');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1_234_567)).toBe('1.2 MB');
  });
});

describe('amountInput', () => {
  it('reads a positive decimal in DOUG as base units', () => {
    expect(amountInput(' 2.5 ', '1')).toEqual({ ok: true, amount: 2_500_000_000n });
  });
  it('says what is wrong with an empty, malformed or zero amount', () => {
    expect(amountInput('', '1')).toEqual({ ok: false, error: 'Enter an amount in DOUG.' });
    expect(amountInput('ten', '7.5')).toEqual({ ok: false, error: 'A plain decimal in DOUG with up to 9 places, e.g. 7.5.' });
    expect(amountInput('0', '1')).toEqual({ ok: false, error: 'The amount must be more than 0.' });
  });
});

describe('moneyContext', () => {
  it('shows the amounts of an account error in DOUG', () => {
    expect(moneyContext('ACCOUNT__INSUFFICIENT_FUNDS', { required: '2500000000', available: '1', holdId: 'h' })).toBe('required 2.5 DOUG · available 0.000000001 DOUG');
  });
  it('says nothing for other errors or context without amounts', () => {
    expect(moneyContext('API__BODY_TOO_LARGE', { size: 10, limit: '4194304' })).toBeNull();
    expect(moneyContext('ACCOUNT__NONCE_REPLAYED', { nonce: 'n' })).toBeNull();
    expect(moneyContext('ACCOUNT__INSUFFICIENT_FUNDS', { required: 'lots' })).toBeNull();
  });
});
