import type { HistoryEntry, JobView } from '$sdk/client.ts';
import { formatDoug } from '$domain/money.ts';
import { API_LIMITS } from '$contracts/schemas.ts';
import { amountInput, doug, shortKey, toUnits } from './format.ts';

/**
 * An account's ledger (GET /v1/accounts/:key/ledger, events of domain/account/events.ts) as rows a
 * person reads: what happened, to which job, and how the available and held balances moved.
 */

export interface LedgerRow {
  seq: number;
  at: number;
  type: string;
  /** "Deposit via faucet", "Escrow held for bid", "Payout received for job"… */
  title: string;
  /** The job the entry concerns (a job's id is its bid's id), for a link; null when none. */
  jobId: string | null;
  /** A hold or reference that is not a job, shown as is; null when none. */
  ref: string | null;
  /** Change of the available balance, in base units (negative: out); 0n when untouched. */
  available: bigint;
  /** Change of the held balance, in base units; 0n when untouched. */
  held: bigint;
  /** One more line of detail, amounts exact ("from 7xKX…p9Qw", "0.5 DOUG still held"); null when none. */
  detail: string | null;
  /** True when an amount of the entry could not be read (shown as a dash, never as 0). */
  malformed: boolean;
}

const BID_ID = /^bid_[a-z0-9-]{1,32}_[0-9a-f]{24}$/;
const CHALLENGE_PREFIX = 'challenge_';

/** What a hold id names: a bid's escrow (its job), a challenge's deposit, or something else. */
export function holdSubject(holdId: unknown): { kind: 'bid' | 'challenge' | 'other'; jobId: string | null; ref: string | null } {
  const id = typeof holdId === 'string' ? holdId : '';
  if (BID_ID.test(id)) return { kind: 'bid', jobId: id, ref: null };
  if (id.startsWith(CHALLENGE_PREFIX) && BID_ID.test(id.slice(CHALLENGE_PREFIX.length))) return { kind: 'challenge', jobId: id.slice(CHALLENGE_PREFIX.length), ref: null };
  return { kind: 'other', jobId: null, ref: id || null };
}

/** Reads one ledger entry as a row. Unknown event types keep their name and move nothing. */
export function ledgerRow(entry: HistoryEntry): LedgerRow {
  const d = entry.data ?? {};
  let malformed = false;
  const amount = (value: unknown): bigint => {
    const units = typeof value === 'string' || typeof value === 'bigint' ? toUnits(value) : null;
    if (units === null) {
      malformed = true;
      return 0n;
    }
    return units;
  };
  const base = { seq: entry.seq, at: entry.at, type: entry.type, jobId: null, ref: null, available: 0n, held: 0n, detail: null };
  const row = ((): Omit<LedgerRow, 'malformed'> => {
    switch (entry.type) {
      case 'Credited': {
        const faucet = d.source === 'faucet';
        return { ...base, title: faucet ? 'Deposit via faucet (test money)' : 'Deposit', available: amount(d.amount) };
      }
      case 'FundsHeld': {
        const s = holdSubject(d.holdId);
        const title = s.kind === 'bid' ? 'Escrow held for bid' : s.kind === 'challenge' ? 'Challenge deposit held for job' : 'Funds held';
        const a = amount(d.amount);
        return { ...base, title, jobId: s.jobId, ref: s.ref, available: -a, held: a };
      }
      case 'HoldReleased': {
        const s = holdSubject(d.holdId);
        const title = s.kind === 'bid' ? 'Escrow released from bid' : s.kind === 'challenge' ? 'Challenge deposit returned for job' : 'Hold released';
        const a = amount(d.amount);
        const remaining = amount(d.remaining);
        return { ...base, title, jobId: s.jobId, ref: s.ref, available: a, held: -a, detail: remaining > 0n ? `${formatDoug(remaining)} DOUG still held` : null };
      }
      case 'HoldSettled': {
        const s = holdSubject(d.holdId);
        const payouts = Array.isArray(d.payouts) ? (d.payouts as { amount?: unknown }[]) : [];
        const paid = payouts.reduce((sum, p) => sum + amount(p?.amount), 0n);
        const fee = amount(d.fee);
        const released = amount(d.released);
        const parts = [`${formatDoug(paid)} DOUG to ${payouts.length} provider${payouts.length === 1 ? '' : 's'}`, `fee ${formatDoug(fee)} DOUG`];
        if (released > 0n) parts.push(`${formatDoug(released)} DOUG back to available`);
        const title = s.kind === 'challenge' ? 'Challenge settled for job' : s.kind === 'bid' ? 'Paid for job' : 'Hold settled';
        return { ...base, title, jobId: s.jobId, ref: s.ref, available: released, held: -(paid + fee + released), detail: parts.join(', ') };
      }
      case 'PayoutReceived': {
        const s = holdSubject(d.holdId);
        const title = s.kind === 'challenge' ? 'Payout received for the challenge of job' : s.kind === 'bid' ? 'Payout received for job' : 'Payout received';
        return { ...base, title, jobId: s.jobId, ref: s.ref, available: amount(d.amount), detail: typeof d.from === 'string' ? `from ${shortKey(d.from)}` : null };
      }
      case 'Withdrawn':
        return { ...base, title: 'Withdrawal', ref: typeof d.ref === 'string' ? d.ref : null, available: -amount(d.amount) };
      case 'KeyRevoked':
        return { ...base, title: 'Session key revoked' };
      default:
        return { ...base, title: entry.type };
    }
  })();
  return { ...row, malformed };
}

/** Rows of a later page added to those shown: one row per sequence number, oldest first. */
export function mergeLedger(shown: readonly LedgerRow[], more: readonly LedgerRow[]): LedgerRow[] {
  const bySeq = new Map<number, LedgerRow>();
  for (const r of shown) bySeq.set(r.seq, r);
  for (const r of more) bySeq.set(r.seq, r);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/**
 * The cursor that asks the ledger for entries after the last one shown. The ledger pages by event
 * sequence (`s<seq>`, workers/routes/reads.ts); at the end its nextCursor is null, so new entries are
 * fetched from the last sequence seen.
 */
export function cursorAfter(rows: readonly LedgerRow[]): string | null {
  const last = rows[rows.length - 1];
  return last ? `s${last.seq}` : null;
}

/** A signed change as text: "+1.5", "−0.002" (a true minus sign), "" for none. */
export function signedDoug(units: bigint): string {
  if (units === 0n) return '';
  return units > 0n ? `+${doug(units)}` : `−${doug(-units)}`;
}

/** What a job paid this provider: the net of its payouts to them, the gross before fees, and their replicas. */
export function jobEarning(job: Pick<JobView, 'replicas'> & { payouts?: unknown }, provider: string): { net: bigint; gross: bigint; replicas: number } {
  const replicas = (job.replicas ?? []).filter((r) => r.provider === provider).length;
  let net = 0n;
  let gross = 0n;
  for (const p of Array.isArray(job.payouts) ? (job.payouts as Record<string, unknown>[]) : []) {
    if (p?.provider !== provider) continue;
    net += toUnits(typeof p.net === 'string' ? p.net : null) ?? 0n;
    gross += toUnits(typeof p.gross === 'string' ? p.gross : null) ?? 0n;
  }
  return { net, gross, replicas };
}

/** Most one faucet request may credit (contracts/schemas.ts): 1,000,000 DOUG. */
export const FAUCET_LIMIT = API_LIMITS.faucet;

/** The faucet form's amount in base units, or what is wrong with it. */
export function faucetAmount(text: string): { ok: true; amount: bigint } | { ok: false; error: string } {
  const check = amountInput(text, '100');
  if (check.ok && check.amount > FAUCET_LIMIT) return { ok: false, error: `At most ${doug(FAUCET_LIMIT)} DOUG at a time.` };
  return check;
}

/** The deposit form's amount in base units, or what is wrong with it (at most what the wallet holds, when known). */
export function depositAmount(text: string, walletBalance: bigint | null): { ok: true; amount: bigint } | { ok: false; error: string } {
  const check = amountInput(text, '25.5');
  if (check.ok && walletBalance !== null && check.amount > walletBalance) return { ok: false, error: `Your wallet holds ${doug(walletBalance)} DOUG on chain.` };
  return check;
}
