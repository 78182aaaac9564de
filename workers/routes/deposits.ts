import type { ChainInfo, DepositResponse, EscrowExitResponse } from '../../durable-objects/contracts/api.ts';
import { depositRef, escrowExitRef } from '../../durable-objects/domain/custody/deposit.ts';
import { DepositSchema } from '../../durable-objects/contracts/schemas.ts';
import { domainError } from '../../durable-objects/domain/errors.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { errorResponse, json } from '../http.ts';
import { valid } from '../validate.ts';
import { chainConfig, custodyFor, escrowCustodyFor, escrowMode } from '../../durable-objects/runtime/chain.ts';
import { onChain } from '../../programs/client/errors.ts';
import { accountObject } from '../../durable-objects/runtime/objects.ts';
import { signed } from './common.ts';

/**
 * POST /v1/deposits {signature}: credits a finalized transfer of $DOUG into custody to the account
 * its memo names, once; with escrow custody, a finalized `deposit` into a buyer's escrow to that
 * buyer (source 'escrow': the account's settlements are then paid from the escrow). Signed with scope 'orders' (a portal session key may submit it) or by the
 * wallet; whoever submits, the memo decides the account. The account object applies a Credit ref
 * once, so concurrent or repeated submissions of one signature credit it exactly once; the others
 * answer CUSTODY__DEPOSIT_ALREADY_CREDITED (409).
 */
export async function deposit(request: Request, env: Env): Promise<Response> {
  const escrow = escrowMode(env);
  const custody = escrow ? escrowCustodyFor(env) : custodyFor(env);
  const req = await signed(request, env, 'deposit');
  const { signature } = valid(DepositSchema, req.body);
  await req.commit();

  const verified = await onChain(() => custody.verifyDeposit(signature));
  if (!verified.ok) return errorResponse(verified.error);
  const d = verified.value;

  const ref = depositRef(signature);
  const source = escrow ? 'escrow' : 'deposit';
  const credited = await accountObject(env, d.account).execute(d.account, { type: 'Credit', ref, amount: d.amount, source }, { commandId: ref, actor: req.caller.actor, now: req.now });
  // A repeat of the command id answers the first result with `repeated`; a Credit of a ref seen
  // under another command id is refused by the decider. Both mean: credited before.
  const already = credited.ok ? credited.value.repeated : credited.error.code === 'ACCOUNT__CREDIT_ALREADY_APPLIED';
  if (already) return errorResponse(domainError('CUSTODY__DEPOSIT_ALREADY_CREDITED', { signature, account: d.account, amount: d.amount }));
  if (!credited.ok) return errorResponse(credited.error);
  const body: DepositResponse = { account: d.account, amount: d.amount.toString(), signature, slot: d.slot };
  return json(body, 201);
}

/**
 * POST /v1/escrow/exits {signature}: the ledger follows a buyer's own withdrawal from their escrow
 * (after the timelock, without the settlement authority): it takes what left the vault out of the
 * buyer's available balance, once per signature, whoever submits it. Anyone may submit it (the
 * chain says whose escrow it was); repeats answer CUSTODY__EXIT_ALREADY_RECORDED (409).
 */
export async function escrowExit(request: Request, env: Env): Promise<Response> {
  if (!escrowMode(env)) return errorResponse(domainError('CUSTODY__NOT_CONFIGURED', { missing: 'ESCROW_PROGRAM' }));
  const custody = escrowCustodyFor(env);
  const req = await signed(request, env, 'escrowExit');
  const { signature } = valid(DepositSchema, req.body);
  await req.commit();
  const verified = await onChain(() => custody.verifyExit(signature));
  if (!verified.ok) return errorResponse(verified.error);
  const e = verified.value;
  const ref = escrowExitRef(signature);
  const recorded = await accountObject(env, e.account).execute(e.account, { type: 'RecordEscrowExit', ref, amount: e.amount }, { commandId: ref, actor: req.caller.actor, now: req.now });
  const already = recorded.ok ? recorded.value.repeated : recorded.error.code === 'ACCOUNT__WITHDRAWAL_ALREADY_APPLIED';
  if (already) return errorResponse(domainError('CUSTODY__EXIT_ALREADY_RECORDED', { signature, account: e.account }));
  if (!recorded.ok) return errorResponse(recorded.error);
  const debited = recorded.value.events.reduce((sum, ev) => sum + (ev.type === 'Withdrawn' ? ev.amount : 0n), 0n);
  const body: EscrowExitResponse = { account: e.account, amount: e.amount.toString(), debited: debited.toString(), signature, slot: e.slot };
  return json(body, 201);
}

/** GET /v1/chain: where $DOUG lives, for clients that deposit (CUSTODY__NOT_CONFIGURED without a chain). */
export async function chainInfo(_request: Request, env: Env): Promise<Response> {
  const holding = custodyFor(env).holding();
  const escrow = escrowMode(env) ? await onChain(() => escrowCustodyFor(env).holding()) : null;
  // A private RPC URL (one with an API key in it) stays on the server: clients get SOLANA_PUBLIC_RPC_URL when set.
  const body: ChainInfo = {
    rpcUrl: env.SOLANA_PUBLIC_RPC_URL?.trim() || chainConfig(env).rpcUrl,
    mint: holding.mint,
    decimals: holding.decimals,
    custodyTokenAccount: holding.tokenAccount,
    custodyAuthority: holding.authority,
    ...(escrow && {
      escrow: { program: escrow.program, config: escrow.config, authority: escrow.authority, withdrawTimelockSeconds: Number(escrow.withdrawTimelockSeconds), feeBps: escrow.feeBps },
      staking: { program: escrow.stakingProgram, config: escrow.stakingConfig },
      ...(escrow.governanceProgram && { governance: { program: escrow.governanceProgram, config: escrow.admin } }),
    }),
  };
  return json(body);
}
