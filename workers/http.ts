import { toJson } from '../durable-objects/domain/canonical.ts';
import { domainError, type ErrorCode } from '../durable-objects/domain/errors.ts';
import type { DomainError } from '../durable-objects/domain/result.ts';
import { ChainFailure } from '../programs/client/errors.ts';

/** Thrown inside handlers to answer with a coded error; the router's catch turns it into JSON. */
export class ApiFailure extends Error {
  constructor(
    readonly error: DomainError,
    /** Headers the answer carries besides its JSON (Allow on a 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error.code}: ${error.message}`);
  }
}

/** Throws a coded error from the registry. */
export function refuse(code: ErrorCode, context: Record<string, unknown> = {}): never {
  throw new ApiFailure(domainError(code, context));
}

/** HTTP status for each code that is not covered by the suffix rules below. */
const STATUS: Partial<Record<string, number>> = {
  API__NOT_FOUND: 404,
  API__METHOD_NOT_ALLOWED: 405,
  API__MALFORMED_JSON: 400,
  API__BODY_TOO_LARGE: 413,
  API__INVALID_INPUT: 400,
  API__UNSUPPORTED_MEDIA_TYPE: 415,
  API__UNKNOWN_MARKET: 404,
  API__UNKNOWN_JOB: 404,
  API__UNKNOWN_MODEL: 404,
  API__UPGRADE_REQUIRED: 426,
  API__RESULT_NOT_READY: 409,
  API__CLIENT_ID_SPENT: 409,
  API__NOT_PLACED: 503,
  API__RESULT_GONE: 410,
  API__IDEMPOTENCY_CONFLICT: 409,
  API__INTERNAL: 500,
  API__UNAVAILABLE: 503,
  AUTH__MISSING: 401,
  AUTH__KEY_INVALID: 401,
  AUTH__SIGNATURE_INVALID: 401,
  AUTH__TIMESTAMP_STALE: 401,
  AUTH__NONCE_REPLAYED: 401,
  AUTH__DELEGATION_INVALID: 401,
  AUTH__FORBIDDEN: 403,
  AUTH__KEY_REVOKED: 401,
  ACCOUNT__NONCE_REPLAYED: 401,
  ACCOUNT__KEY_REVOKED: 401,
  ACCOUNT__INSUFFICIENT_FUNDS: 402,
  MARKET__NOT_ORDER_OWNER: 403,
  JOB__NOT_BUYER: 403,
  EVENT_LOG__SEQUENCE_CONFLICT: 409,
  // Custody (deposits). NOT_CONFIGURED is a 409: the request is well formed, but this deployment's
  // state (no chain configured) rules it out; a 422 would tell the client to change its request, a
  // 503 would invite a retry that cannot succeed. The chain failing or answering garbage is the
  // server's upstream, not the client: 503 like API__UNAVAILABLE (retry), 502 when it answered wrongly.
  CUSTODY__NOT_CONFIGURED: 409,
  CUSTODY__CHAIN_UNAVAILABLE: 503,
  CUSTODY__CHAIN_REFUSED: 502,
  CUSTODY__DEPOSIT_MALFORMED: 502,
  CUSTODY__DEPOSIT_UNKNOWN: 404,
  CUSTODY__DEPOSIT_ALREADY_CREDITED: 409,
  CUSTODY__WITHDRAWAL_NOT_FOUND: 404,
  CUSTODY__WITHDRAWAL_EXISTS: 409,
  CUSTODY__WITHDRAWAL_INVALID: 400,
  // An account's money is in custody or in its escrow, never both; a withdrawal through custody of
  // escrowed money is the wrong door, not a bad request.
  ACCOUNT__FUNDING_MIXED: 409,
  CUSTODY__ESCROW_WITHDRAWAL_REQUESTED: 409,
  CUSTODY__STAKE_BELOW_MINIMUM: 409,
  CUSTODY__ESCROW_SHORT: 409,
  CHAT__UNKNOWN_MODEL: 404,
  ACCOUNT__API_KEY_INVALID: 401,
  ACCOUNT__API_KEY_REVOKED: 401,
  ACCOUNT__API_KEY_EXPIRED: 401,
  ACCOUNT__API_KEY_LIMIT_REACHED: 429,
  ACCOUNT__API_KEY_NOT_FOUND: 404,
  CHAT__PROMPT_TOO_LONG: 400,
  CHAT__ROUTE_FAILED: 503,
  API__RATE_LIMITED: 429,
  MARKET__TOO_MANY_OPEN_BIDS: 429,
  CHAT__UNSUPPORTED: 400,
};

/** Maps an error code to its HTTP status: the table first, then rules by suffix, else 422. */
export function statusFor(code: string): number {
  const exact = STATUS[code];
  if (exact !== undefined) return exact;
  if (code.endsWith('_NOT_FOUND')) return 404;
  if (code.endsWith('_EXISTS') || code.includes('ALREADY')) return 409;
  if (code.includes('NOT_OWNER') || code.includes('FORBIDDEN')) return 403;
  if (code.includes('INVALID') || code.includes('OUT_OF_RANGE') || code.includes('TOO_MANY')) return 400;
  return 422;
}

/** JSON response; bigints become decimal strings. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(toJson(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });
}

export function errorResponse(error: DomainError, headers: Record<string, string> = {}): Response {
  return json({ error: { code: error.code, message: error.message, context: error.context } }, statusFor(error.code), headers);
}

/** Router catch-all: coded failures (the edge's and the Solana client's) as themselves, anything else as a logged 500. */
export function handleError(err: unknown): Response {
  if (err instanceof ApiFailure) return errorResponse(err.error, err.headers);
  if (err instanceof ChainFailure) return errorResponse(err.error);
  console.error('unhandled error', err instanceof Error ? err.stack : err);
  return errorResponse(domainError('API__INTERNAL'));
}

export const MAX_BODY_BYTES = 64 * 1024;

/** The media types a route's body may be sent as. */
export type BodyType = 'application/json' | 'application/octet-stream';

/** A body's reading rule: its media type and its size limit in bytes. */
export interface BodyRule {
  type: BodyType;
  limit?: number;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})[ \\t]*((?:;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*"))?[ \\t]*)*)$`);
const PARAMETER = new RegExp(`;[ \\t]*(${TOKEN})=(${TOKEN}|"(?:[^"\\\\]|\\\\.)*")`, 'g');

/**
 * A Content-Type value parsed as RFC 9110 writes it: type and subtype (lower-cased: they are
 * case-insensitive), and parameters (names lower-cased, quoted values unquoted). Null when it is
 * not a media type at all.
 */
export function parseMediaType(value: string): { type: string; params: Record<string, string> } | null {
  const m = MEDIA_TYPE.exec(value.trim());
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of m[3]!.matchAll(PARAMETER)) {
    const raw = p[2]!;
    params[p[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return { type: `${m[1]}/${m[2]}`.toLowerCase(), params };
}

/**
 * The one media-type rule of every body-reading route: the header names `expected` (any case),
 * with no parameter but `charset=utf-8` (the only encoding bodies are decoded as). The reader
 * applies it to bodies that are not empty (an empty body describes nothing).
 */
export function checkMediaType(header: string | null, expected: BodyType): void {
  const unsupported = (problem: string): never => refuse('API__UNSUPPORTED_MEDIA_TYPE', { expected, received: header?.slice(0, 100) ?? null, problem });
  if (header === null) return unsupported('the content-type header is missing');
  const parsed = parseMediaType(header);
  if (!parsed) return unsupported('it is not a media type');
  if (parsed.type !== expected) unsupported(`the type is ${parsed.type}`);
  for (const [name, value] of Object.entries(parsed.params)) {
    if (name !== 'charset') unsupported(`parameter ${name} is not accepted`);
    if (value.toLowerCase() !== 'utf-8') unsupported(`charset ${value} is not accepted (only utf-8)`);
  }
}

/**
 * Reads the body as bytes under `rule`: the media type (of a body that is not empty) is checked
 * and the declared length compared with the limit before anything is read; then the stream is counted as it arrives
 * (chunked bodies declare no length) and reading stops at the limit. What is left unread is
 * discarded before the answer (discardUnread), so the client gets the 413, not a broken connection.
 */
export async function readBytes(request: Request, rule: BodyRule): Promise<Uint8Array> {
  const limit = rule.limit ?? MAX_BODY_BYTES;
  const header = request.headers.get('content-type');
  const declaredText = request.headers.get('content-length');
  if (declaredText !== null && !/^[0-9]{1,16}$/.test(declaredText)) refuse('API__INVALID_INPUT', { field: 'content-length', problem: 'must be a byte count' });
  const declared = declaredText === null ? null : Number(declaredText);
  // A declared length above zero, or a chunked body that names a type: checked before reading.
  if ((declared ?? 0) > 0 || (declared === null && request.body && header !== null)) checkMediaType(header, rule.type);
  if (declared !== null && declared > limit) refuse('API__BODY_TOO_LARGE', { size: declared, limit });
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.releaseLock();
      refuse('API__BODY_TOO_LARGE', { size: `more than ${limit}`, limit });
    }
    chunks.push(value);
  }
  if (size > 0) checkMediaType(header, rule.type);
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

/** Bytes as UTF-8 text; bytes that are not UTF-8 are malformed. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return refuse('API__MALFORMED_JSON');
  }
}

/** More than any route accepts (models: 64 MiB); a body larger still is cut off rather than read to its end. */
export const MAX_DISCARD_BYTES = 128 * 1024 * 1024;

/**
 * Reads and drops what a refused request left of a body it began to read, so that the answer
 * reaches the client instead of a broken request stream (behind wrangler dev's proxy, a plain-text
 * 503 "Your worker restarted mid-request"). The runtime reads no request body once the answer is
 * sent, so this runs before. Bodies beyond MAX_DISCARD_BYTES are cancelled.
 */
export async function discardUnread(request: Request): Promise<void> {
  if (!request.body || request.body.locked) return;
  const reader = request.body.getReader();
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
      if (size > MAX_DISCARD_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The client went away: nothing is left to drop.
  }
}

/** Parses a JSON object body; anything else is refused. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    refuse('API__MALFORMED_JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) refuse('API__INVALID_INPUT', { field: 'body', problem: 'must be a JSON object' });
  return value as Record<string, unknown>;
}
