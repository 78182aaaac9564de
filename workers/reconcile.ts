import type { AuditReport } from '../durable-objects/contracts/api.ts';
import { custodyVerdict, escrowVerdict } from '../durable-objects/domain/conservation.ts';
import type { Amount } from '../durable-objects/domain/money.ts';
import { custodyFor, escrowCustodyFor } from '../durable-objects/runtime/chain.ts';
import type { Env } from '../durable-objects/runtime/env.ts';
import { onChain } from '../programs/client/errors.ts';

/*
 * Reconciliation of the ledger with custody, for GET /v1/audit. Custody must hold what the ledger
 * owes: every credit (deposits, and refunds of failed withdrawals, which return custody's money to
 * the ledger) minus every withdrawal taken from the ledger, plus the withdrawals taken from the
 * ledger whose transfer has not finished (status funded: the tokens are still in custody). With a
 * chain configured the faucet never credits the ledger, so a ledger that still holds faucet credits
 * from before the chain was configured fails this check: that money was never in custody.
 *
 * The check passes when custody holds at least what the ledger owes, not only exactly that: a
 * transfer into custody is on chain before anyone submits it to POST /v1/deposits (and one without
 * a usable memo is never credited), so custody normally holds more for a while. The surplus is
 * reported as `unclaimed`; a shortfall (a credit without custody behind it) fails the audit.
 */

/**
 * Sums of the withdrawals taken from the ledger and not yet paid or refunded (the withdrawals read
 * model), by where their money still is: custody's token account, or the buyer's escrow vault (a
 * co-signed `withdraw` not landed yet). Each is counted against its own holder only.
 */
export async function withdrawalsInFlight(env: Env): Promise<{ custody: Amount; escrow: Amount }> {
  try {
    const rows = await env.DB.prepare("SELECT amount, json_extract(view, '$.via') AS via FROM withdrawals WHERE status = 'funded'").all<{ amount: string; via: string | null }>();
    const sum = (via: 'custody' | 'escrow') => rows.results.filter((r) => (r.via === 'escrow' ? 'escrow' : 'custody') === via).reduce((t, r) => t + BigInt(r.amount), 0n);
    return { custody: sum('custody'), escrow: sum('escrow') };
  } catch (err) {
    // Before the withdrawals read model exists (its migration not applied) nothing can be in flight.
    if (String(err).includes('no such table')) return { custody: 0n, escrow: 0n };
    throw err;
  }
}

/** Custody's on-chain balance against what the ledger owes (`ledgerOwes` = credited − withdrawn). */
export async function custodyCheck(env: Env, ledgerOwes: Amount): Promise<NonNullable<AuditReport['custody']>> {
  const custody = custodyFor(env);
  const [onChainAmount, inFlight] = await Promise.all([onChain(() => custody.balance()), withdrawalsInFlight(env)]);
  const v = custodyVerdict({ onChain: onChainAmount, ledgerOwes, withdrawalsInFlight: inFlight.custody });
  return { onChain: onChainAmount.toString(), expected: v.expected.toString(), withdrawalsInFlight: inFlight.custody.toString(), unclaimed: v.unclaimed.toString(), ok: v.ok };
}

/** Sum of the payouts queued or in a batch not yet final, over every buyer (the settlements read model). */
export async function settlementsPending(env: Env): Promise<Amount> {
  const rows = await env.DB.prepare('SELECT pending FROM settlements').all<{ pending: string }>();
  return rows.results.reduce((sum, r) => sum + BigInt(r.pending), 0n);
}

/**
 * The escrow program against the ledger (escrow custody): the escrow vaults together against what
 * the ledger keeps for escrow-funded accounts (`escrowed`) plus the payouts not yet final and the
 * co-signed withdrawals not landed yet, and the
 * staking program's reward vault against its own counters (escrowVerdict).
 */
export async function escrowCheck(env: Env, escrowed: Amount): Promise<NonNullable<AuditReport['escrow']>> {
  const custody = escrowCustodyFor(env);
  const [b, pending, inFlight] = await Promise.all([onChain(() => custody.balances()), settlementsPending(env), withdrawalsInFlight(env)]);
  const v = escrowVerdict({ vaults: b.vaults, escrowed, pending, withdrawalsInFlight: inFlight.escrow, rewardVault: b.rewardVault, feesToStakers: b.feesToStakers, claimed: b.claimed });
  return {
    escrows: b.escrows,
    vaults: b.vaults.toString(),
    expected: v.expected.toString(),
    pending: pending.toString(),
    withdrawalsInFlight: inFlight.escrow.toString(),
    unclaimed: v.unclaimed.toString(),
    rewardVault: b.rewardVault.toString(),
    rewardsOwed: v.rewardsOwed.toString(),
    treasury: b.treasury.toString(),
    ok: v.ok,
  };
}
