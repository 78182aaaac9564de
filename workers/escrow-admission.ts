import { askAdmission, COLLATERAL_MAX_AGE_MS, type ProviderStake } from '../durable-objects/domain/collateral.ts';
import type { EscrowState } from '../durable-objects/domain/custody/custody.ts';
import { ESCROW_READING_MAX_AGE_MS, holdAdmission } from '../durable-objects/domain/custody/escrow-admission.ts';
import { escrowCustodyFor, escrowMode } from '../durable-objects/runtime/chain.ts';
import type { Env } from '../durable-objects/runtime/env.ts';
import { onChain } from '../programs/client/errors.ts';
import { Readings } from '../programs/client/readings.ts';
import type { Amount } from '../durable-objects/domain/money.ts';
import { accountObject, settlementObject } from '../durable-objects/runtime/objects.ts';
import { ApiFailure } from './http.ts';

/** Readings per chain and program, kept in the isolate: escrows for ESCROW_READING_MAX_AGE_MS, stakes for COLLATERAL_MAX_AGE_MS. */
const readings = new Map<string, { escrows: Readings<EscrowState | null>; stakes: Readings<ProviderStake> }>();

function readersFor(env: Env) {
  const where = `${env.SOLANA_RPC_URL}|${env.ESCROW_PROGRAM}`;
  let r = readings.get(where);
  if (!r) {
    const custody = escrowCustodyFor(env);
    r = { escrows: new Readings((b) => custody.escrow(b), ESCROW_READING_MAX_AGE_MS), stakes: new Readings((p) => custody.providerStake(p), COLLATERAL_MAX_AGE_MS) };
    readings.set(where, r);
  }
  return r;
}

/**
 * Under escrow custody, refuses a new hold of `amount` for `buyer` (a bid; a challenge, whose cost
 * the placement process knows, with 0) when the buyer asked on chain to leave their escrow, or when
 * the escrow does not hold it on top of what the ledger holds and the payouts on their way
 * (holdAdmission). The escrow is read at most ESCROW_READING_MAX_AGE_MS late; a kept reading that
 * refuses is read anew once (it may predate a deposit). Accounts funded through custody, and
 * custody's token account, are not concerned.
 */
export async function admitHold(env: Env, buyer: string, amount: Amount): Promise<void> {
  if (!escrowMode(env)) return;
  const balance = await accountObject(env, buyer).balance();
  if (!balance.escrow) return;
  const settlement = await settlementObject(env, buyer).view();
  const need = { amount, held: balance.held, pending: settlement?.pending ?? 0n };
  const { escrows } = readersFor(env);
  let verdict = holdAdmission(await onChain(() => escrows.get(buyer)), need);
  if (!verdict.ok) verdict = holdAdmission(await onChain(() => escrows.refresh(buyer)), need);
  if (!verdict.ok) throw new ApiFailure(verdict.error);
}

/**
 * Under escrow custody, refuses `provider`'s asks while its stake in the staking program is below
 * the configuration's minimum (askAdmission), reading it at most COLLATERAL_MAX_AGE_MS late.
 */
export async function admitAsk(env: Env, provider: string): Promise<void> {
  if (!escrowMode(env)) return;
  const { stakes } = readersFor(env);
  const verdict = askAdmission(provider, await onChain(() => stakes.get(provider)));
  if (!verdict.ok) throw new ApiFailure(verdict.error);
}
