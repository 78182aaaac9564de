import { decodeBase58, decodePublicKey, encodeBase58 } from './base58.ts';

export { decodePublicKey } from './base58.ts';

/**
 * Request signing (docs/architecture.md, "Protocols"). A mutating request carries the signer's public key, a
 * timestamp, a nonce and an ed25519 signature over the canonical string below. A wallet may
 * delegate to a short-lived session or agent key: the delegation, signed by the wallet, travels in
 * its own header and the request is then signed by the delegated key on the wallet's behalf.
 */
export const AUTH_HEADERS = {
  key: 'x-doug-key',
  timestamp: 'x-doug-timestamp',
  nonce: 'x-doug-nonce',
  signature: 'x-doug-signature',
  delegation: 'x-doug-delegation',
} as const;

/** Allowed clock skew between client and server. */
export const TIMESTAMP_WINDOW_MS = 60_000;

/** What a delegated key may do; withdrawals are never delegable. */
export type DelegationScope = 'orders' | 'asks' | 'work';
export const DELEGATION_SCOPES: readonly DelegationScope[] = ['orders', 'asks', 'work'];

/**
 * What a route lets a signer do: a delegation scope (the wallet itself always passes), 'owner'
 * (the wallet only, never a delegated key) or 'delegated' (a delegated key only, whatever its scopes:
 * a session key revoking itself). Each signed route's is in contracts/openapi.ts.
 */
export type SigningScope = DelegationScope | 'owner' | 'delegated';

export interface Delegation {
  /** The wallet granting the right (base58). */
  wallet: string;
  /** The key receiving it (base58). */
  delegate: string;
  scopes: DelegationScope[];
  expiresAt: number;
  /** Wallet's ed25519 signature (base58) over delegationMessage(). */
  signature: string;
}

const encoder = new TextEncoder();
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** Hex SHA-256 of bytes or text. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : new Uint8Array(data);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** The exact bytes a request signature covers. */
export function canonicalRequest(o: { method: string; path: string; timestamp: string; nonce: string; bodySha256: string }): string {
  return ['DOUG-REQUEST-V1', o.method.toUpperCase(), o.path, o.timestamp, o.nonce, o.bodySha256].join('\n');
}

/** The exact bytes a delegation signature covers. */
export function delegationMessage(d: Omit<Delegation, 'signature'>): string {
  return ['DOUG-DELEGATION-V1', d.wallet, d.delegate, [...d.scopes].sort().join(','), String(d.expiresAt)].join('\n');
}

/** A Solana-style keypair: 32-byte seed + 32-byte public key, as `solana-keygen` writes it. */
export interface Keypair {
  publicKey: string;
  secretKey: Uint8Array;
}

/**
 * Anything that signs messages with an ed25519 key it may not reveal: a browser wallet (Wallet
 * Standard `solana:signMessage`), a hardware key. Returns the 64-byte signature.
 */
export interface MessageSigner {
  publicKey: string;
  signMessage(message: Uint8Array): Promise<Uint8Array>;
}

/** What can sign a request: a keypair held in memory, or an external signer. */
export type Signer = Keypair | MessageSigner;

/** Makes a keypair from a 32-byte seed. */
export async function keypairFromSeed(seed: Uint8Array): Promise<Keypair> {
  const priv = await importSeed(seed, true);
  const jwk = (await crypto.subtle.exportKey('jwk', priv)) as JsonWebKey;
  const pub = base64UrlDecode(jwk.x ?? '');
  const secretKey = new Uint8Array(64);
  secretKey.set(seed, 0);
  secretKey.set(pub, 32);
  return { publicKey: encodeBase58(pub), secretKey };
}

/** Generates a fresh keypair. */
export async function generateKeypair(): Promise<Keypair> {
  return keypairFromSeed(crypto.getRandomValues(new Uint8Array(32)));
}

/** Signs text with a keypair or an external signer; returns the base58 signature. */
export async function signText(signer: Signer, text: string): Promise<string> {
  if ('signMessage' in signer) {
    const signature = await signer.signMessage(encoder.encode(text));
    if (!(signature instanceof Uint8Array) || signature.length !== 64) throw new Error('the signer did not return a 64-byte ed25519 signature');
    return encodeBase58(signature);
  }
  const key = await importSeed(signer.secretKey.slice(0, 32), false);
  return encodeBase58(new Uint8Array(await crypto.subtle.sign('Ed25519', key, encoder.encode(text))));
}

/** Verifies a base58 signature by a base58 public key; false on any malformed input. */
export async function verifyText(publicKey: string, signature: string, text: string): Promise<boolean> {
  const pub = decodePublicKey(publicKey);
  const sig = decodeBase58(signature);
  if (!pub || !sig || sig.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify('Ed25519', key, sig, encoder.encode(text));
  } catch {
    return false;
  }
}

/** Why a delegation does not let `delegate` act for its wallet at `now`, in the order checked; scopes are the caller's. */
export type DelegationProblem = 'other-delegate' | 'expired' | 'bad-signature';

/** The one check of a presented delegation: names this key, unexpired, signed by the wallet. Null when it holds. */
export async function delegationProblem(d: Delegation, o: { delegate: string; now: number }): Promise<DelegationProblem | null> {
  if (d.delegate !== o.delegate) return 'other-delegate';
  if (d.expiresAt <= o.now) return 'expired';
  const message = delegationMessage({ wallet: d.wallet, delegate: d.delegate, scopes: d.scopes, expiresAt: d.expiresAt });
  return (await verifyText(d.wallet, d.signature, message)) ? null : 'bad-signature';
}

/** Creates a delegation from a wallet to another key. */
export async function createDelegation(wallet: Signer, o: { delegate: string; scopes: DelegationScope[]; expiresAt: number }): Promise<Delegation> {
  const body = { wallet: wallet.publicKey, delegate: o.delegate, scopes: o.scopes, expiresAt: o.expiresAt };
  return { ...body, signature: await signText(wallet, delegationMessage(body)) };
}

/** A delegation as the `x-doug-delegation` header carries it: base64url of its JSON. */
export function encodeDelegation(d: Delegation): string {
  return base64UrlEncode(encoder.encode(JSON.stringify(d)));
}

/** A random 128-bit value in base58: nonces, lease ids. */
export function encodeBase58Nonce(): string {
  return encodeBase58(crypto.getRandomValues(new Uint8Array(16)));
}

/** Headers that sign one request. */
export async function signRequest(
  signer: Signer,
  o: { method: string; path: string; body: string | Uint8Array; nonce?: string; timestamp?: number; delegation?: Delegation },
): Promise<Record<string, string>> {
  const timestamp = String(o.timestamp ?? Date.now());
  const nonce = o.nonce ?? encodeBase58Nonce();
  const bodySha256 = await sha256Hex(o.body);
  const signature = await signText(signer, canonicalRequest({ method: o.method, path: o.path, timestamp, nonce, bodySha256 }));
  const headers: Record<string, string> = {
    [AUTH_HEADERS.key]: signer.publicKey,
    [AUTH_HEADERS.timestamp]: timestamp,
    [AUTH_HEADERS.nonce]: nonce,
    [AUTH_HEADERS.signature]: signature,
  };
  if (o.delegation) headers[AUTH_HEADERS.delegation] = encodeDelegation(o.delegation);
  return headers;
}

async function importSeed(seed: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_ED25519_PREFIX, 0);
  pkcs8.set(seed, 16);
  return crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, extractable, ['sign']);
}

export function base64UrlEncode(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
