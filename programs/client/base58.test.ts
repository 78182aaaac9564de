import { PublicKey } from '@solana/web3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase58, decodePublicKey, encodeBase58 } from './base58.ts';

describe('base58', () => {
  it('matches the reference vectors, leading zeros as 1s', () => {
    expect(encodeBase58(new TextEncoder().encode('Hello World!'))).toBe('2NEpo7TZRRrLZSi2U');
    expect(encodeBase58(Uint8Array.of(0, 0, 0x28, 0x7f, 0xb4, 0xcd))).toBe('11233QC4');
    expect(encodeBase58(new Uint8Array(0))).toBe('');
    expect(encodeBase58(new Uint8Array(32))).toBe('11111111111111111111111111111111');
  });

  it('reads back what it writes, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: 4 }), (body, zeros) => {
        const bytes = Uint8Array.from([...new Array<number>(zeros).fill(0), ...body]);
        expect(decodeBase58(encodeBase58(bytes))).toEqual(bytes);
      }),
    );
  });

  it('agrees with web3.js on public keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const text = new PublicKey(bytes).toBase58();
        expect(encodeBase58(bytes)).toBe(text);
        expect(decodePublicKey(text)).toEqual(bytes);
      }),
    );
  });

  it('refuses characters outside the alphabet, and anything but 32 bytes as a public key', () => {
    for (const text of ['0', 'O', 'I', 'l', 'abc!', 'é']) expect(decodeBase58(text)).toBeNull();
    expect(decodePublicKey(encodeBase58(new Uint8Array(31).fill(7)))).toBeNull();
    expect(decodePublicKey(encodeBase58(new Uint8Array(33).fill(7)))).toBeNull();
    expect(decodePublicKey(42)).toBeNull();
  });
});
