import type { EscrowState } from '../durable-objects/domain/custody/custody.ts';
import { ESCROW_READING_MAX_AGE_MS, holdAdmission } from '../durable-objects/domain/custody/escrow-admission.ts';
import { escrowCustodyFor, escrowMode } from '../durable-objects/runtime/chain.ts';
import type { Env } from '../durable-objects/runtime/env.ts';
import { onChain } from '../programs/client/errors.ts';
import { Readings } from '../programs/client/readings.ts';
import { ApiFailure } from './http.ts';

/** Escrow readings per chain and program, kept in the isolate for ESCROW_READING_MAX_AGE_MS. */
const readings = new Map<string, Readings<EscrowState | null>>();

/**
 * Under escrow custody, refuses a new hold for `buyer` (a bid, a challenge) once the buyer has
 * asked on chain to leave their escrow (holdAdmission), reading the escrow at most
 * ESCROW_READING_MAX_AGE_MS late. Does nothing under custody's token account.
 */
export async function admitHold(env: Env, buyer: string): Promise<void> {
  if (!escrowMode(env)) return;
  const where = `${env.SOLANA_RPC_URL}|${env.ESCROW_PROGRAM}`;
  let r = readings.get(where);
  if (!r) {
    const custody = escrowCustodyFor(env);
    r = new Readings((b) => custody.escrow(b), ESCROW_READING_MAX_AGE_MS);
    readings.set(where, r);
  }
  const reader = r;
  const verdict = holdAdmission(await onChain(() => reader.get(buyer)));
  if (!verdict.ok) throw new ApiFailure(verdict.error);
}
