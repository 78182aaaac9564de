import { decodeBase58, decodePublicKey } from '../../contracts/base58.ts';

/*
 * Shape checks for Solana keys and signatures. base58.ts is a pure leaf module (no imports, no
 * I/O), so the domain may use it; contracts/auth.ts is not imported because it also carries the
 * WebCrypto signing code.
 */

/** Whether text is a base58 ed25519 public key (32 bytes). */
export function isPublicKey(text: unknown): text is string {
  return typeof text === 'string' && decodePublicKey(text) !== null;
}

/** Whether text is a base58 transaction signature (64 bytes). */
export function isSignature(text: unknown): text is string {
  if (typeof text !== 'string' || text.length < 64 || text.length > 88) return false;
  return decodeBase58(text)?.length === 64;
}
