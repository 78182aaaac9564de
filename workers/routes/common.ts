import type { Env } from '../../durable-objects/runtime/env.ts';
import { consumeNonce, signatureHeaders, verifySigned, type Caller } from '../auth.ts';
import type { ROUTES } from '../../durable-objects/contracts/api.ts';
import { routeScope } from '../../durable-objects/contracts/openapi.ts';
import { sha256Hex } from '../../durable-objects/contracts/auth.ts';
import { marketList } from '../config.ts';
import { withinRate } from '../rate-limit.ts';
import { decodeUtf8, parseJsonObject, readBytes, refuse, type BodyRule } from '../http.ts';
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

/** A signed route: what its signer must be allowed is the route's scope in contracts/openapi.ts. */
export type SignedRoute = keyof typeof ROUTES;

/** Reads, verifies and parses a signed request to `route` whose body is a JSON object (or empty for DELETE). */
export async function signed(request: Request, env: Env, route: SignedRoute): Promise<SignedRequest> {
  const { bytes, ...req } = await signedBody(request, env, route, { type: 'application/json' });
  const text = decodeUtf8(bytes);
  const body = text.length === 0 && request.method !== 'POST' ? {} : parseJsonObject(text);
  return { ...req, body };
}

/**
 * A signed request's body under `rule` (media type, limit), verified against the SHA-256 of the
 * bytes read; the nonce is consumed only by `commit`. An unsigned request is refused before its
 * body is read (the signature covers the body's hash, so only its presence can be checked first).
 */
export async function signedBody(request: Request, env: Env, route: SignedRoute, rule: BodyRule): Promise<Omit<SignedRequest, 'body'> & { bytes: Uint8Array; sha256: string }> {
  const scope = routeScope(route);
  if (scope === null) throw new Error(`${route} is not a signed route (contracts/openapi.ts)`);
  const now = Date.now();
  signatureHeaders(request, now);
  const bytes = await readBytes(request, rule);
  const sha256 = await sha256Hex(bytes);
  const caller = await verifySigned(request, sha256, scope, now);
  await withinRate(env, caller.actor);
  return { caller, now, bytes, sha256, commit: () => consumeNonce(env, caller, now) };
}

const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * The WebSocket opening handshake's headers (RFC 6455 §4.2.1), checked before the socket is handed
 * to an object: without them the runtime would answer in plain text. Not an upgrade at all is
 * API__UPGRADE_REQUIRED (426); a broken handshake is API__INVALID_INPUT naming the header (400).
 */
export function checkWebSocketHandshake(request: Request): void {
  const header = (name: string) => request.headers.get(name) ?? '';
  if (header('upgrade').toLowerCase() !== 'websocket') refuse('API__UPGRADE_REQUIRED');
  if (!WEBSOCKET_KEY.test(header('sec-websocket-key'))) refuse('API__INVALID_INPUT', { field: 'sec-websocket-key', problem: 'must be 16 random bytes in base64' });
  if (header('sec-websocket-version') !== '13') refuse('API__INVALID_INPUT', { field: 'sec-websocket-version', problem: 'must be 13' });
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
