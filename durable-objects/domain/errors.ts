import type { DomainError } from './result.ts';
import { MARKET_ERRORS } from './market/errors.ts';
import { JOB_ERRORS } from './job/errors.ts';
import { ACCOUNT_ERRORS } from './account/errors.ts';
import { CUSTODY_ERRORS } from './custody/errors.ts';
import { MODEL_ERRORS } from './model-fit.ts';
import { CHAT_ERRORS } from './chat/errors.ts';

import { defineErrors, makeError } from './define-errors.ts';

/** Errors of the edge (validation, auth) and of the runtime; aggregate errors live beside their decider. */
export const EDGE_ERRORS = defineErrors({
  API__NOT_FOUND: 'no route for {method} {path}',
  API__METHOD_NOT_ALLOWED: '{method} is not allowed on {path}',
  API__MALFORMED_JSON: 'the request body is not valid JSON',
  API__BODY_TOO_LARGE: 'the request body is {size} bytes; the limit is {limit}',
  API__INVALID_INPUT: '{field}: {problem}',
  API__UNSUPPORTED_MEDIA_TYPE: 'send the body as {expected} (a charset, if any, utf-8)',
  API__UNKNOWN_MARKET: 'there is no market named {market}',
  API__UNKNOWN_JOB: 'there is no job {jobId}',
  API__UNKNOWN_MODEL: 'there is no model with SHA-256 {sha256}; upload it with PUT /v1/models',
  API__NOT_PLACED: 'the market did not take the bid for clientId {clientId}; its escrow was released: place it again with a new clientId',
  API__CLIENT_ID_SPENT: 'the bid for clientId {clientId} is closed ({status}); place a new bid with a new clientId',
  API__RESULT_NOT_READY: 'job {jobId} has no verified result yet (it is {status})',
  API__RESULT_GONE: 'the result of job {jobId} was already fetched or has expired',
  API__UPGRADE_REQUIRED: 'this route speaks WebSocket: send Upgrade: websocket',
  API__IDEMPOTENCY_CONFLICT: 'id {id} was already used for a different request',
  API__INTERNAL: 'an internal error occurred',
  API__UNAVAILABLE: 'the service did not complete the request; retry it with the same clientId',
  AUTH__MISSING: 'this request must be signed: missing {header}',
  AUTH__KEY_INVALID: '{key} is not a valid ed25519 public key',
  AUTH__SIGNATURE_INVALID: 'the signature does not match the request',
  AUTH__TIMESTAMP_STALE: 'the request timestamp is {skewMs} ms away from server time; the window is {windowMs} ms',
  AUTH__NONCE_REPLAYED: 'nonce {nonce} was already used by this key',
  AUTH__DELEGATION_INVALID: 'the delegation is invalid: {problem}',
  AUTH__FORBIDDEN: 'key {actor} may not act on {resource}',
  EVENT_LOG__SEQUENCE_CONFLICT: 'expected sequence {expected} but the log is at {actual}',
  AUTH__KEY_REVOKED: 'key {key} was revoked and may not sign requests',
  API__RATE_LIMITED: 'too many requests from {key} in the last {periodS} s; retry after {periodS} s',
});

/** The one registry of error codes. */
export const ERRORS = { ...EDGE_ERRORS, ...MARKET_ERRORS, ...JOB_ERRORS, ...ACCOUNT_ERRORS, ...CUSTODY_ERRORS, ...MODEL_ERRORS, ...CHAT_ERRORS } as const;
export type ErrorCode = keyof typeof ERRORS;

/** Makes a coded error from the one registry. */
export function domainError(code: ErrorCode, context: Record<string, unknown> = {}): DomainError {
  return makeError(ERRORS, code, context);
}
