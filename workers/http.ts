import { toJson } from '../durable-objects/domain/canonical.ts';
import { domainError, type ErrorCode } from '../durable-objects/domain/errors.ts';
import type { DomainError } from '../durable-objects/domain/result.ts';
import { ChainFailure } from '../programs/client/errors.ts';

/** Thrown inside handlers to answer with a coded error; the router's catch turns it into JSON. */
export class ApiFailure extends Error {
  constructor(readonly error: DomainError) {
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

export function errorResponse(error: DomainError): Response {
  return json({ error: { code: error.code, message: error.message, context: error.context } }, statusFor(error.code));
}

/** Router catch-all: coded failures (the edge's and the Solana client's) as themselves, anything else as a logged 500. */
export function handleError(err: unknown): Response {
  if (err instanceof ApiFailure || err instanceof ChainFailure) return errorResponse(err.error);
  console.error('unhandled error', err instanceof Error ? err.stack : err);
  return errorResponse(domainError('API__INTERNAL'));
}

export const MAX_BODY_BYTES = 64 * 1024;

/** Reads the body as text within the size limit (the declared length is checked first). */
export async function readBody(request: Request, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limit) refuse('API__BODY_TOO_LARGE', { size: declared, limit });
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      refuse('API__BODY_TOO_LARGE', { size, limit });
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    return refuse('API__MALFORMED_JSON');
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
