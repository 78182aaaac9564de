import { WITHDRAWAL_ID } from '../../durable-objects/contracts/api.ts';
import { WithdrawalSchema } from '../../durable-objects/contracts/schemas.ts';
import { sha256Hex } from '../../durable-objects/contracts/auth.ts';
import { isPublicKey } from '../../durable-objects/domain/custody/keys.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { withdrawalObject } from '../../durable-objects/runtime/objects.ts';
import type { WithdrawalApiView } from '../../durable-objects/runtime/withdrawal-object.ts';
import { errorResponse, json, refuse } from '../http.ts';
import { valid } from '../validate.ts';
import { custodyFor, escrowCustodyFor, escrowMode } from '../../durable-objects/runtime/chain.ts';
import { nextCursor, pageParams, signed } from './common.ts';

/** Withdrawal ids are derived from (owner, client id): a repeated request names the same withdrawal. */
export async function withdrawalId(owner: string, clientId: string): Promise<string> {
  return `wd_${(await sha256Hex(`withdrawal\n${owner}\n${clientId}`)).slice(0, 24)}`;
}

/**
 * POST /v1/withdrawals {clientId, amount, destination}: signed by the wallet itself (never a
 * delegated key). Takes the amount from the ledger at once and pays it out of custody to
 * `destination` (a wallet; its associated token account is created if missing) in the background;
 * answers 202 with the withdrawal. A refused debit answers its code (ACCOUNT__INSUFFICIENT_FUNDS),
 * the same for every repeat of the clientId.
 */
export async function requestWithdrawal(request: Request, env: Env): Promise<Response> {
  const req = await signed(request, env, 'requestWithdrawal');
  const { clientId, amount, destination: to } = valid(WithdrawalSchema, req.body);
  // Refuses CUSTODY__NOT_CONFIGURED before anything is recorded when this Worker has no chain or no authority key.
  const escrow = escrowMode(env);
  if (escrow) escrowCustodyFor(env, { settles: true });
  else custodyFor(env, { withdrawals: true });
  await req.commit();
  const owner = req.caller.actor;
  const id = await withdrawalId(owner, clientId);
  // From an escrow the money can only go to the buyer's own wallet (the program pays nowhere else).
  const destination = escrow ? (to ?? owner) : to;
  const command = { type: 'RequestWithdrawal' as const, withdrawalId: id, account: owner, destination, amount, ...(escrow && { via: 'escrow' as const }) };
  const result = await withdrawalObject(env, id).request(command, { commandId: id, actor: owner, now: req.now });
  if (!result.ok) return errorResponse(result.error);
  const view = result.value;
  if (view.status === 'rejected' && view.rejection) {
    return errorResponse({ code: view.rejection.code, message: view.rejection.message, context: { withdrawalId: id } });
  }
  return json({ withdrawal: view }, 202);
}

function idParam(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (!WITHDRAWAL_ID.test(id)) refuse('API__INVALID_INPUT', { field: 'id', problem: `must match ${WITHDRAWAL_ID.source}` });
  return id;
}

/** GET /v1/withdrawals/:id: status, amount, destination, attempts with their signatures, outcome. */
export async function getWithdrawal(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const id = idParam(request.params);
  const view = (await withdrawalObject(env, id).view()) as WithdrawalApiView | null;
  if (!view) refuse('CUSTODY__WITHDRAWAL_NOT_FOUND', { withdrawalId: id });
  return json({ withdrawal: view });
}

/** GET /v1/accounts/:key/withdrawals: the account's withdrawals, newest first (read model; may lag a moment). */
export async function listWithdrawals(request: Request & { params: Record<string, string>; query: Record<string, unknown> }, env: Env): Promise<Response> {
  const key = request.params.key ?? '';
  if (!isPublicKey(key)) refuse('API__INVALID_INPUT', { field: 'key', problem: 'must be a base58 public key' });
  const { offset, limit } = pageParams(request.query);
  const rows = await env.DB.prepare('SELECT view FROM withdrawals WHERE account = ? ORDER BY requested_at DESC, id LIMIT ? OFFSET ?').bind(key, limit, offset).all<{ view: string }>();
  return json({ items: rows.results.map((r) => JSON.parse(r.view) as unknown), nextCursor: nextCursor(offset, limit, rows.results.length) });
}
