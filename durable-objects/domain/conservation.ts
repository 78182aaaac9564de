import type { Amount } from './money.ts';
import { FEE_POOL_ACCOUNT } from './params.ts';

/** One account's ledger figures, as the audit reads them. */
export interface LedgerFigures {
  id: string;
  available: Amount;
  held: Amount;
  credited: Amount;
  withdrawn: Amount;
  /** Payouts this account's settlements sent, and payouts it received. */
  sent: Amount;
  received: Amount;
  /** Payouts and fees of its settled holds paid on chain from its escrow (escrow custody; 0 otherwise). */
  onChain: Amount;
  /** Whether its money is in its escrow on chain. */
  escrow: boolean;
}

/** The conservation audit over every account (docs/architecture.md, "Checks that keep it so"). */
export interface LedgerAudit {
  ok: boolean;
  accounts: number;
  available: Amount;
  held: Amount;
  credited: Amount;
  withdrawn: Amount;
  /** Payouts sent and not yet received. */
  inFlight: Amount;
  /** Payouts that left the ledger to be paid on chain from escrows (pending or paid). */
  onChain: Amount;
  /** What the ledger holds for escrow-funded accounts (their available + held): their escrows must hold it too. */
  escrowed: Amount;
  feePool: Amount;
  /** Accounts whose own identity (available + held = credited − withdrawn − sent + received − onChain, none negative) fails. */
  violations: string[];
}

/**
 * Conservation of funds: each account's identity holds, and over all accounts the money held
 * (available + held + payouts in flight) equals what came in less what went out (credited −
 * withdrawn − paid on chain from escrows).
 */
export function auditLedger(accounts: readonly LedgerFigures[]): LedgerAudit {
  const sum = { available: 0n, held: 0n, credited: 0n, withdrawn: 0n, sent: 0n, received: 0n, onChain: 0n };
  const violations: string[] = [];
  let feePool = 0n;
  let escrowed = 0n;
  for (const a of accounts) {
    if (a.available + a.held !== a.credited - a.withdrawn - a.sent + a.received - a.onChain || a.available < 0n || a.held < 0n || a.onChain < 0n) violations.push(a.id);
    if (a.id === FEE_POOL_ACCOUNT) feePool = a.available;
    if (a.escrow) escrowed += a.available + a.held;
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += a[k];
  }
  const inFlight = sum.sent - sum.received;
  const ok = violations.length === 0 && inFlight >= 0n && sum.available + sum.held + inFlight === sum.credited - sum.withdrawn - sum.onChain;
  return {
    ok,
    accounts: accounts.length,
    available: sum.available,
    held: sum.held,
    credited: sum.credited,
    withdrawn: sum.withdrawn,
    inFlight,
    onChain: sum.onChain,
    escrowed,
    feePool,
    violations,
  };
}

/**
 * The escrow program against the ledger. The escrow vaults together must hold what the ledger keeps
 * for escrow-funded accounts plus the payouts queued or in a batch not yet final (`pending`: they
 * leave the vaults only when their batch lands) plus the withdrawals the ledger gave out whose
 * co-signed `withdraw` has not landed (`withdrawalsInFlight`: taken from the ledger, still in the
 * vault until the buyer sends it, or back in the ledger when it expires); more is `unclaimed`
 * (deposits not credited yet).
 * The staking program's reward vault must hold exactly the fees it shared among positions less
 * what positions claimed (its own counters, feesToStakers − claimed).
 */
export function escrowVerdict(o: { vaults: Amount; escrowed: Amount; pending: Amount; withdrawalsInFlight: Amount; rewardVault: Amount; feesToStakers: Amount; claimed: Amount }): {
  expected: Amount;
  unclaimed: Amount;
  rewardsOwed: Amount;
  ok: boolean;
} {
  const expected = o.escrowed + o.pending + o.withdrawalsInFlight;
  const rewardsOwed = o.feesToStakers - o.claimed;
  return { expected, unclaimed: o.vaults > expected ? o.vaults - expected : 0n, rewardsOwed, ok: o.vaults >= expected && o.rewardVault === rewardsOwed };
}

/**
 * Custody against the ledger: custody must hold at least what the ledger owes (credited − withdrawn)
 * plus the withdrawals taken from the ledger whose transfer has not finished. More is `unclaimed`
 * (transfers into custody not credited yet); less fails.
 */
export function custodyVerdict(o: { onChain: Amount; ledgerOwes: Amount; withdrawalsInFlight: Amount }): { expected: Amount; unclaimed: Amount; ok: boolean } {
  const expected = o.ledgerOwes + o.withdrawalsInFlight;
  return { expected, unclaimed: o.onChain > expected ? o.onChain - expected : 0n, ok: o.onChain >= expected };
}
