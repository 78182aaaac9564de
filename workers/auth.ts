import {
  AUTH_HEADERS,
  base64UrlDecode,
  canonicalRequest,
  decodePublicKey,
  delegationProblem,
  DELEGATION_SCOPES,
  TIMESTAMP_WINDOW_MS,
  verifyText,
  type Delegation,
  type DelegationProblem,
  type DelegationScope,
  type SigningScope,
} from '../durable-objects/contracts/auth.ts';
import type { Env } from '../durable-objects/runtime/env.ts';
import { accountObject } from '../durable-objects/runtime/objects.ts';
import { refuse } from './http.ts';
import type { Result } from '../durable-objects/domain/result.ts';
import type { Decision } from '../durable-objects/runtime/event-store.ts';

/** Who a verified request acts for. */
export interface Caller {
  /** The wallet whose orders and funds the request touches. */
  actor: string;
  /** The key that signed the request (the wallet itself or a delegated key). */
  signer: string;
  nonce: string;
  timestamp: number;
}

const NONCE = /^[A-Za-z0-9_-]{8,64}$/;


/** A request's signature headers, checked for presence and form (not yet the signature itself). */
export interface SignatureHeaders {
  key: string;
  timestampText: string;
  timestamp: number;
  nonce: string;
  signature: string;
}

/**
 * Checks what can be checked before the body is read: the signature headers are present, the key
 * well formed, the timestamp in the window, the nonce well formed. Unsigned or stale requests are
 * refused before a byte of their body is read.
 */
export function signatureHeaders(request: Request, now: number): SignatureHeaders {
  const header = (name: string): string => {
    const v = request.headers.get(name);
    if (!v) refuse('AUTH__MISSING', { header: name });
    return v;
  };
  const key = header(AUTH_HEADERS.key);
  const timestampText = header(AUTH_HEADERS.timestamp);
  const nonce = header(AUTH_HEADERS.nonce);
  const signature = header(AUTH_HEADERS.signature);
  if (!decodePublicKey(key)) refuse('AUTH__KEY_INVALID', { key: key.slice(0, 64) });
  if (!/^[0-9]{1,16}$/.test(timestampText)) refuse('AUTH__TIMESTAMP_STALE', { skewMs: 'unparseable', windowMs: TIMESTAMP_WINDOW_MS });
  const timestamp = Number(timestampText);
  if (Math.abs(now - timestamp) > TIMESTAMP_WINDOW_MS) refuse('AUTH__TIMESTAMP_STALE', { skewMs: now - timestamp, windowMs: TIMESTAMP_WINDOW_MS });
  if (!NONCE.test(nonce)) refuse('API__INVALID_INPUT', { field: AUTH_HEADERS.nonce, problem: 'must be 8-64 characters of [A-Za-z0-9_-]' });
  return { key, timestampText, timestamp, nonce, signature };
}

/**
 * Verifies a signed request without side effects: headers present, key well formed, timestamp in
 * the window, signature over the canonical request, delegation (if any) signed by the wallet,
 * unexpired and covering `scope`. The nonce is recorded separately, once the request is valid.
 */
export async function verifySigned(request: Request, bodySha256: string, scope: SigningScope, now: number): Promise<Caller> {
  const { key, timestampText, timestamp, nonce, signature } = signatureHeaders(request, now);
  const url = new URL(request.url);
  const canonical = canonicalRequest({ method: request.method, path: url.pathname + url.search, timestamp: timestampText, nonce, bodySha256 });
  if (!(await verifyText(key, signature, canonical))) refuse('AUTH__SIGNATURE_INVALID');

  const delegationHeader = request.headers.get(AUTH_HEADERS.delegation);
  if (!delegationHeader) {
    if (scope === 'delegated') refuse('AUTH__FORBIDDEN', { actor: key, resource: 'a session (a wallet key is not a session key): sign with the session key to revoke it' });
    return { actor: key, signer: key, nonce, timestamp };
  }
  const delegation = parseDelegation(delegationHeader);
  const problem = await delegationProblem(delegation, { delegate: key, now });
  if (problem) refuse('AUTH__DELEGATION_INVALID', { problem: DELEGATION_PROBLEMS[problem] });
  if (scope !== 'delegated' && (scope === 'owner' || !delegation.scopes.includes(scope))) refuse('AUTH__FORBIDDEN', { actor: key, resource: scope === 'owner' ? 'an owner-only action' : `scope ${scope}` });
  return { actor: delegation.wallet, signer: key, nonce, timestamp };
}

const DELEGATION_PROBLEMS: Record<DelegationProblem, string> = {
  'other-delegate': 'it names a different key than the one that signed',
  expired: 'it has expired',
  'bad-signature': 'the wallet signature does not verify',
};

function parseDelegation(header: string): Delegation {
  let d: unknown;
  try {
    d = JSON.parse(new TextDecoder().decode(base64UrlDecode(header.slice(0, 4096))));
  } catch {
    refuse('AUTH__DELEGATION_INVALID', { problem: 'it is not base64url JSON' });
  }
  const o = d as Partial<Delegation> | null;
  if (
    !o ||
    typeof o.wallet !== 'string' ||
    !decodePublicKey(o.wallet) ||
    typeof o.delegate !== 'string' ||
    typeof o.signature !== 'string' ||
    typeof o.expiresAt !== 'number' ||
    !Array.isArray(o.scopes) ||
    !o.scopes.every((s) => (DELEGATION_SCOPES as readonly unknown[]).includes(s))
  ) {
    refuse('AUTH__DELEGATION_INVALID', { problem: 'fields wallet, delegate, scopes, expiresAt, signature are required' });
  }
  return o as Delegation;
}

/** Records the request's nonce with the signer's account; a replay, or any nonce of a revoked key, is refused. */
export async function consumeNonce(env: Env, caller: Caller, now: number): Promise<void> {
  const account = accountObject(env, caller.signer);
  const result = (await account.recordNonce(caller.signer, caller.nonce, caller.timestamp, now)) as Result<Decision<unknown>>;
  if (!result.ok && result.error.code === 'ACCOUNT__KEY_REVOKED') refuse('AUTH__KEY_REVOKED', { key: caller.signer });
  // A nonce's command id is the nonce itself, so a replay inside the log is a repeated command.
  if (!result.ok || result.value.repeated) refuse('AUTH__NONCE_REPLAYED', { nonce: caller.nonce });
}
