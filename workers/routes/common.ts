import type { Env } from '../../durable-objects/runtime/env.ts';
import { consumeNonce, verifySigned, type Caller, type SigningScope } from '../auth.ts';
import { sha256Hex } from '../../durable-objects/contracts/auth.ts';
import { marketList } from '../config.ts';
import { parseJsonObject, readBody, refuse } from '../http.ts';
import { API_LIMITS, PageQuerySchema } from '../../durable-objects/contracts/schemas.ts';
import { valid } from '../validate.ts';

/** A signed JSON request, verified and parsed; the nonce is consumed only by `commit`. */
export interface SignedRequest {
  caller: Caller;
  /** The JSON object sent (`{}` for an empty DELETE), for the route's schema to parse. */
  body: Record<string, unknown>;
  now: number;
  /** Records the nonce (a replay is refused). Call after validation, before acting. */
  commit: () => Promise<void>;
}

/** Reads, verifies and parses a signed request whose body is a JSON object (or empty for DELETE). */
export async function signed(request: Request, env: Env, scope: SigningScope): Promise<SignedRequest> {
  const now = Date.now();
  const text = await readBody(request);
  const caller = await verifySigned(request, await sha256Hex(text), scope, now);
  if (text.length > 0) {
    const type = request.headers.get('content-type') ?? '';
    if (!type.startsWith('application/json')) refuse('API__UNSUPPORTED_MEDIA_TYPE');
  }
  const body = text.length === 0 && request.method !== 'POST' ? {} : parseJsonObject(text);
  return { caller, body, now, commit: () => consumeNonce(env, caller, now) };
}

/**
 * A signed request whose body is not JSON (model bytes, input tensors read separately): verified
 * against the SHA-256 of the bytes the route read; the nonce is consumed only by `commit`.
 */
export async function signedBytes(request: Request, env: Env, scope: SigningScope, bodySha256: string): Promise<Omit<SignedRequest, 'body'>> {
  const now = Date.now();
  const caller = await verifySigned(request, bodySha256, scope, now);
  return { caller, now, commit: () => consumeNonce(env, caller, now) };
}

/** The market named in input, or API__UNKNOWN_MARKET. */
export function knownMarket(env: Env, market: string): string {
  if (!marketList(env).some((m) => m.id === market)) refuse('API__UNKNOWN_MARKET', { market });
  return market;
}

/** Offset-based cursors for read-model lists: opaque to clients. */
export function pageParams(query: Record<string, unknown>): { offset: number; limit: number } {
  const { cursor, limit = API_LIMITS.pageLimit.fallback } = valid(PageQuerySchema, query);
  return { offset: cursor === undefined ? 0 : Number(cursor.slice(1)), limit };
}

export function nextCursor(offset: number, limit: number, got: number): string | null {
  return got < limit ? null : `o${offset + got}`;
}
