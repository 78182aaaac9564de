import { describe, expect, it } from 'vitest';
import { compactU16, readCompactU16 } from './compact-u16.ts';

describe('compact-u16', () => {
  it('encodes and reads back the boundaries', () => {
    const cases: [number, number[]][] = [
      [0, [0]],
      [0x7f, [0x7f]],
      [0x80, [0x80, 0x01]],
      [0x3fff, [0xff, 0x7f]],
      [0x4000, [0x80, 0x80, 0x01]],
      [0xffff, [0xff, 0xff, 0x03]],
    ];
    for (const [n, encoded] of cases) {
      expect(compactU16(n)).toEqual(encoded);
      expect(readCompactU16(Uint8Array.from(encoded), 0)).toEqual({ value: n, size: encoded.length });
    }
    expect(() => compactU16(0x10000)).toThrow(RangeError);
  });

  it('reads at an offset', () => {
    expect(readCompactU16(Uint8Array.of(9, 9, 0x80, 0x01), 2)).toEqual({ value: 0x80, size: 2 });
  });

  it('refuses what the runtime refuses: truncated, non-canonical and overflowing encodings', () => {
    expect(() => readCompactU16(Uint8Array.of(0x80), 0)).toThrow('unexpected end of input');
    expect(() => readCompactU16(Uint8Array.of(0x80, 0x00), 0)).toThrow('non-canonical compact-u16');
    expect(() => readCompactU16(Uint8Array.of(0xff, 0xff, 0x04), 0)).toThrow('compact-u16 overflow');
    expect(() => readCompactU16(Uint8Array.of(0x80, 0x80, 0x80), 0)).toThrow('compact-u16 overflow');
  });
});
