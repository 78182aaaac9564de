import { describe, expect, it } from 'vitest';

import { UsageError, attributeValue, doug, dougArg, durationArg, intArg, keyValues, numberArg, sha256Arg, table } from './format.ts';

describe('DOUG typed by a human', () => {
  it.each([
    ['0.000000001', 1n],
    ['1.5', 1_500_000_000n],
    ['0.25', 250_000_000n],
    ['0', 0n],
    ['18446744073.709551615', 2n ** 64n - 1n],
  ])('%s is %s base units exactly', (text, units) => {
    expect(dougArg('--price', text)).toBe(units);
  });

  it.each(['0.0000000001', '-1', '1e3', '.5', '1.', 'abc', '', ' 1', '01', '1,5', '18446744073.709551616'])('%j is refused naming the flag', (text) => {
    expect(() => dougArg('--price', text)).toThrow(UsageError);
    expect(() => dougArg('--price', text)).toThrow(/^--price: /);
  });

  it('shows base-unit strings as DOUG, null as a dash, and leaves junk as it is', () => {
    expect(doug('1')).toBe('0.000000001');
    expect(doug('1500000000')).toBe('1.5');
    expect(doug(2_000_000_000n)).toBe('2');
    expect(doug(null)).toBe('-');
    expect(doug('x')).toBe('x');
  });
});

describe('other arguments', () => {
  it('parses durations into ms and refuses the rest', () => {
    expect(durationArg('--ttl', '90s')).toBe(90_000);
    expect(durationArg('--ttl', '10m')).toBe(600_000);
    expect(durationArg('--ttl', '1h')).toBe(3_600_000);
    expect(durationArg('--ttl', '2d')).toBe(172_800_000);
    for (const bad of ['0s', '1', '1w', '-1h', '1.5h']) expect(() => durationArg('--ttl', bad)).toThrow(UsageError);
  });

  it('parses whole numbers with a minimum', () => {
    expect(intArg('--units', '12', 1)).toBe(12);
    for (const bad of ['0', '-1', '1.5', '1e3', '', '99999999999999999999']) expect(() => intArg('--units', bad, 1)).toThrow(UsageError);
  });

  it('parses tolerances and hashes', () => {
    expect(numberArg('--tolerance', '0.001')).toBe(0.001);
    expect(numberArg('--tolerance', '1e-5')).toBe(1e-5);
    expect(() => numberArg('--tolerance', '-1')).toThrow(UsageError);
    expect(sha256Arg('--model-sha256', 'AB'.repeat(32))).toBe('ab'.repeat(32));
    expect(() => sha256Arg('--model-sha256', 'ab')).toThrow(UsageError);
  });

  it('keeps numeric attribute values as numbers', () => {
    expect(attributeValue('24')).toBe(24);
    expect(attributeValue('-1.5')).toBe(-1.5);
    expect(attributeValue('a100')).toBe('a100');
    expect(attributeValue('1e3')).toBe('1e3');
  });
});

describe('layout', () => {
  it('aligns table columns, right-aligning the ones asked for', () => {
    expect(table(['A', 'PRICE'], [['long-name', '1'], ['b', '0.25']], { right: [1] })).toBe(
      ['A          PRICE', 'long-name      1', 'b           0.25', ''].join('\n'),
    );
  });

  it('aligns key/value lines', () => {
    expect(keyValues([['a', '1'], ['long', '2']])).toBe('a:     1\nlong:  2\n');
  });
});
