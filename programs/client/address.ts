import { encodeBase58 } from './base58.ts';
import { keyBytes } from './tx.ts';

/*
 * Program ids and derived addresses. A program-derived address is SHA-256(seeds, bump, program id,
 * "ProgramDerivedAddress") for the highest bump (255 down) whose hash is NOT an ed25519 point, so
 * that no private key can sign for it. The on-curve test is ed25519 point decompression: y is the
 * 255 low bits (little-endian), the top bit is x's sign; the point exists when
 * x² = (y² − 1) / (d·y² + 1) has a root mod p = 2^255 − 19. Rules as in @noble/curves (which
 * web3.js's PublicKey.isOnCurve uses): y must be below p, and x = 0 with the sign bit set is refused.
 */

export const SYSTEM_PROGRAM = '11111111111111111111111111111111';
export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
export const ASSOCIATED_TOKEN_PROGRAM = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';
export const MEMO_PROGRAM = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';

const P = 2n ** 255n - 19n;
const mod = (a: bigint): bigint => {
  const r = a % P;
  return r < 0n ? r + P : r;
};
function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}
/** d = −121665 / 121666 mod p. */
const D = mod(-121665n * pow(121666n, P - 2n));
/** √−1 mod p = 2^((p−1)/4). */
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** Whether 32 bytes are a valid compressed ed25519 point (a key someone could hold). */
export function isOnCurve(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]!);
  const xOdd = (y >> 255n) & 1n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return false;
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  // x = u·v³·(u·v⁷)^((p−5)/8) is √(u/v) when one exists (RFC 8032, 5.1.3).
  const v3 = (v * v * v) % P;
  const v7 = (v3 * v3 * v) % P;
  let x = (((u * v3) % P) * pow((u * v7) % P, (P - 5n) / 8n)) % P;
  const vx2 = (v * x * x) % P;
  if (vx2 === u) {
    // x is the root
  } else if (vx2 === mod(-u)) {
    x = (x * SQRT_M1) % P;
  } else {
    return false;
  }
  return !(x === 0n && xOdd === 1n);
}

const PDA_MARKER = new TextEncoder().encode('ProgramDerivedAddress');

/** The program-derived address of `seeds` under `programId`, and its bump (find_program_address). */
export async function findProgramAddress(seeds: Uint8Array[], programId: string): Promise<{ address: string; bump: number }> {
  if (seeds.length > 15 || seeds.some((s) => s.length > 32)) throw new RangeError('at most 15 seeds of at most 32 bytes');
  const program = keyBytes(programId);
  const size = seeds.reduce((n, s) => n + s.length, 0) + 1 + 32 + PDA_MARKER.length;
  const buffer = new Uint8Array(size);
  let at = 0;
  for (const s of seeds) {
    buffer.set(s, at);
    at += s.length;
  }
  const bumpAt = at;
  buffer.set(program, bumpAt + 1);
  buffer.set(PDA_MARKER, bumpAt + 33);
  for (let bump = 255; bump >= 0; bump--) {
    buffer[bumpAt] = bump;
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
    if (!isOnCurve(hash)) return { address: encodeBase58(hash), bump };
  }
  throw new Error('no viable bump for these seeds');
}

/** The associated token account of `owner` for `mint` (classic SPL Token program). */
export async function associatedTokenAddress(owner: string, mint: string, tokenProgram = TOKEN_PROGRAM): Promise<string> {
  return (await findProgramAddress([keyBytes(owner), keyBytes(tokenProgram), keyBytes(mint)], ASSOCIATED_TOKEN_PROGRAM)).address;
}
