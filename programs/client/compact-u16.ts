// compact-u16 ("short vec"), Solana's length prefix: 7 bits a byte, low first, the high bit set on
// all but the last (1 to 3 bytes).

/** Encodes `n` (0 to 0xffff) as compact-u16 bytes. */
export function compactU16(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`compact-u16 out of range: ${n}`);
  const out: number[] = [];
  let rest = n;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if (rest === 0) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * Reads a compact-u16 at `offset`: the value and the bytes it took. Canonical encodings only, as
 * the runtime's decoder requires; throws RangeError ("unexpected end of input", "non-canonical
 * compact-u16", "compact-u16 overflow") otherwise.
 */
export function readCompactU16(bytes: Uint8Array, offset: number): { value: number; size: number } {
  let value = 0;
  for (let i = 0; i < 3; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) throw new RangeError('unexpected end of input');
    value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw new RangeError('non-canonical compact-u16');
      if (value > 0xffff) throw new RangeError('compact-u16 overflow');
      return { value, size: i + 1 };
    }
  }
  throw new RangeError('compact-u16 overflow');
}
