/**
 * Each account's request budget: Cloudflare's rate-limiting binding (wrangler.toml, API_RATE), which
 * runs under wrangler dev too. Counted per account (a wallet and the keys it delegates to), never
 * per address: no IP is read or kept. A refused request changes nothing (its nonce is not spent).
 */
import type { Env } from '../durable-objects/runtime/env.ts';
import { domainError } from '../durable-objects/domain/errors.ts';
import { ApiFailure } from './http.ts';

/** The binding's period in seconds (wrangler.toml's API_RATE; a spec holds them equal): a refused key waits at most this long. */
export const RATE_PERIOD_S = 10;
/** Requests an account may make per period (wrangler.toml's API_RATE; a spec holds them equal). */
export const RATE_LIMIT = 300;

/** Refuses with 429 API__RATE_LIMITED (and Retry-After) when `account` is past its budget. */
export async function withinRate(env: Env, account: string): Promise<void> {
  if (!env.API_RATE) return;
  const { success } = await env.API_RATE.limit({ key: account });
  if (!success) throw new ApiFailure(domainError('API__RATE_LIMITED', { key: account, periodS: RATE_PERIOD_S }), { 'retry-after': String(RATE_PERIOD_S) });
}
