import { askAdmission, COLLATERAL_MAX_AGE_MS, type ProviderStake } from '../durable-objects/domain/collateral.ts';
import type { EscrowState } from '../durable-objects/domain/custody/custody.ts';
import { ESCROW_READING_MAX_AGE_MS, holdAdmission } from '../durable-objects/domain/custody/escrow-admission.ts';
import { escrowCustodyFor, escrowMode } from '../durable-objects/runtime/chain.ts';
import type { Env } from '../durable-objects/runtime/env.ts';
import { onChain } from '../programs/client/errors.ts';
import { Readings } from '../programs/client/readings.ts';
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
 * Under escrow custody, refuses a new hold for `buyer` (a bid, a challenge) once the buyer has
 * asked on chain to leave their escrow (holdAdmission), reading the escrow at most
 * ESCROW_READING_MAX_AGE_MS late. Does nothing under custody's token account.
 */
export async function admitHold(env: Env, buyer: string): Promise<void> {
  if (!escrowMode(env)) return;
  const { escrows } = readersFor(env);
  const verdict = holdAdmission(await onChain(() => escrows.get(buyer)));
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
