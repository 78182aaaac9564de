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
  feePool: Amount;
  /** Accounts whose own identity (available + held = credited − withdrawn − sent + received, none negative) fails. */
  violations: string[];
}

/**
 * Conservation of funds: each account's identity holds, and over all accounts the money held
 * (available + held + payouts in flight) equals what came in less what went out (credited − withdrawn).
 */
export function auditLedger(accounts: readonly LedgerFigures[]): LedgerAudit {
  const sum = { available: 0n, held: 0n, credited: 0n, withdrawn: 0n, sent: 0n, received: 0n };
  const violations: string[] = [];
  let feePool = 0n;
  for (const a of accounts) {
    if (a.available + a.held !== a.credited - a.withdrawn - a.sent + a.received || a.available < 0n || a.held < 0n) violations.push(a.id);
    if (a.id === FEE_POOL_ACCOUNT) feePool = a.available;
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += a[k];
  }
  const inFlight = sum.sent - sum.received;
  const ok = violations.length === 0 && inFlight >= 0n && sum.available + sum.held + inFlight === sum.credited - sum.withdrawn;
  return { ok, accounts: accounts.length, available: sum.available, held: sum.held, credited: sum.credited, withdrawn: sum.withdrawn, inFlight, feePool, violations };
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
