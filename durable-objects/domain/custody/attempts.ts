import type { Amount } from '../money.ts';
import { isSignature } from './keys.ts';

/*
 * Signed transactions that must land at most once, whatever RPC does: the attempts of a
 * withdrawal (withdrawal.ts) and of a settlement batch (settlement.ts) follow the same rules.
 *
 * Every attempt is a signed transaction with a recent blockhash; the chain accepts it only in a
 * block whose height is at most its lastValidBlockHeight, and at most once (same signature).
 * Resending the recorded bytes is therefore always safe. A new attempt is signed only when the
 * current one is proven expired: its signature is not found while the finalized block height is
 * past its lastValidBlockHeight, read by a node that had processed the slot that height was read at
 * (contextSlot >= blockHeightSlot). Without that last check a node lagging behind the one that gave
 * the height could miss a landed transaction. The RPC must serve full signature history
 * (searchTransactionHistory) for the proof to hold.
 */

/** One signed transaction. */
export interface Attempt {
  signature: string;
  transaction: string;
  lastValidBlockHeight: number;
  signedAt: number;
  sends: number;
  lastSentAt: number | null;
  /** live: may land · confirmed: seen landed, not final · expired: proven never to land · finalized / failed: landed final. */
  status: 'live' | 'confirmed' | 'expired' | 'finalized' | 'failed';
  slot: number | null;
  /** Finalized height that proved the expiry. */
  expiredAt: number | null;
}

/** A signed transaction, recorded before it is sent. */
export interface SignedTransaction {
  signature: string;
  /** The serialized signed transaction, base64, exactly as it will be sent. */
  transaction: string;
  lastValidBlockHeight: number;
}

/**
 * One reading of the chain for a signature: getSignatureStatuses([signature],
 * { searchTransactionHistory: true }) mapped by chainStatusOf, and getEpochInfo({ commitment:
 * 'finalized' }) read first.
 */
export interface Observation {
  signature: string;
  /** finalized: landed and final · failed: landed final with an error · confirmed: landed, not final (error or not) · not_found. */
  status: 'finalized' | 'confirmed' | 'failed' | 'not_found';
  /** Finalized block height (getEpochInfo.blockHeight at finalized commitment). */
  blockHeight: number;
  /** The slot that height was read at (getEpochInfo.absoluteSlot, same call). */
  blockHeightSlot: number;
  /** context.slot of the getSignatureStatuses answer: the slot its node had processed. */
  contextSlot: number;
  /** Slot the transaction landed in, when found. */
  slot?: number;
  /** The transaction error, when failed. */
  error?: string;
}

/** How long a live attempt waits (and is observed) before the same transaction is sent again. */
export const RESEND_INTERVAL_MS = 2_000;
/** How often a landed attempt is observed until it is final. */
export const POLL_INTERVAL_MS = 2_000;

export const currentAttempt = (attempts: readonly Attempt[]): Attempt | undefined => attempts[attempts.length - 1];
/** Whether an attempt may still land (or has landed without being final). */
export const mayLand = (a: Attempt | undefined): a is Attempt & { status: 'live' | 'confirmed' } =>
  a !== undefined && (a.status === 'live' || a.status === 'confirmed');

/** What to do with the attempts of an open transaction: sign one, send the live one, or wait (observing). */
export type AttemptStep =
  | { type: 'sign' }
  | { type: 'send'; signature: string; transaction: string }
  | { type: 'wait'; until: number; signatures: string[] };

/** The next step for these attempts at `now`; pure. Signatures to observe: the current one first. */
export function attemptStep(attempts: readonly Attempt[], now: number): AttemptStep {
  const a = currentAttempt(attempts);
  if (!mayLand(a)) return { type: 'sign' };
  const signatures = [a.signature, ...attempts.slice(0, -1).map((x) => x.signature)];
  if (a.status === 'confirmed') return { type: 'wait', until: now + POLL_INTERVAL_MS, signatures };
  if (a.lastSentAt === null || now >= a.lastSentAt + RESEND_INTERVAL_MS) return { type: 'send', signature: a.signature, transaction: a.transaction };
  return { type: 'wait', until: a.lastSentAt + RESEND_INTERVAL_MS, signatures };
}

const isHeight = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const OBSERVED = new Set(['finalized', 'confirmed', 'failed', 'not_found']);

/** Why a signed transaction may not be recorded as the next attempt; `repeat` means it already is. */
export type SignedRefusal =
  | { kind: 'repeat' }
  | { kind: 'reused' }
  | { kind: 'invalid'; field: string; problem: string }
  | { kind: 'live'; attempt: Attempt }
  | { kind: 'stale'; blockHeight: number };

/** Checks a new signed attempt against the attempts so far (the caller checks its own status first). */
export function checkSigned(attempts: readonly Attempt[], c: SignedTransaction): SignedRefusal | null {
  const same = attempts.find((a) => a.signature === c.signature);
  if (same) {
    const repeat = same === currentAttempt(attempts) && same.transaction === c.transaction && same.lastValidBlockHeight === c.lastValidBlockHeight;
    return repeat ? { kind: 'repeat' } : { kind: 'reused' };
  }
  if (!isSignature(c.signature)) return { kind: 'invalid', field: 'signature', problem: 'must be a base58 transaction signature (64 bytes)' };
  if (typeof c.transaction !== 'string' || c.transaction === '' || !BASE64.test(c.transaction)) {
    return { kind: 'invalid', field: 'transaction', problem: 'must be the signed transaction in base64' };
  }
  if (!isHeight(c.lastValidBlockHeight)) return { kind: 'invalid', field: 'lastValidBlockHeight', problem: 'must be a non-negative integer' };
  const current = currentAttempt(attempts);
  if (mayLand(current)) return { kind: 'live', attempt: current };
  if (current?.expiredAt != null && c.lastValidBlockHeight <= current.expiredAt) return { kind: 'stale', blockHeight: current.expiredAt };
  return null;
}

/** What a reading of the chain means for an open transaction's attempts. */
export type Reading =
  | { kind: 'invalid'; field: string; problem: string }
  | { kind: 'unknown' }
  | { kind: 'contradiction'; problem: string }
  | { kind: 'nothing' }
  | { kind: 'finalized'; signature: string; slot: number | null }
  | { kind: 'failed'; signature: string; error: string }
  | { kind: 'confirmed'; signature: string; slot: number | null }
  | { kind: 'expired'; signature: string; blockHeight: number };

/** Validates a reading's fields. */
export function checkObservation(o: Observation): Reading | null {
  if (!OBSERVED.has(o.status)) return { kind: 'invalid', field: 'status', problem: 'must be finalized, confirmed, failed or not_found' };
  for (const field of ['blockHeight', 'blockHeightSlot', 'contextSlot'] as const) {
    if (!isHeight(o[field])) return { kind: 'invalid', field, problem: 'must be a non-negative integer' };
  }
  return null;
}

/** Reads a (validated) observation against the attempts of a transaction that is still open. */
export function readOpen(attempts: readonly Attempt[], o: Observation): Reading {
  const a = attempts.find((x) => x.signature === o.signature);
  if (!a) return { kind: 'unknown' };
  const slot = o.slot ?? null;
  const expiredYet = () => ({ kind: 'contradiction', problem: `the attempt was proven expired at block height ${a.expiredAt}` }) as const;
  switch (o.status) {
    case 'finalized':
      // The chain is the truth: a final transaction landed, whichever attempt it was.
      return { kind: 'finalized', signature: a.signature, slot };
    case 'failed':
      return a.status === 'expired' ? expiredYet() : { kind: 'failed', signature: a.signature, error: o.error ?? 'unknown error' };
    case 'confirmed':
      if (a.status === 'expired') return expiredYet();
      return a.status === 'live' ? { kind: 'confirmed', signature: a.signature, slot } : { kind: 'nothing' };
    case 'not_found': {
      const proven = o.blockHeight > a.lastValidBlockHeight && o.contextSlot >= o.blockHeightSlot;
      return mayLand(a) && proven ? { kind: 'expired', signature: a.signature, blockHeight: o.blockHeight } : { kind: 'nothing' };
    }
  }
}

/** A new attempt from its recorded signing. */
export const newAttempt = (s: SignedTransaction, at: number): Attempt => ({
  signature: s.signature,
  transaction: s.transaction,
  lastValidBlockHeight: s.lastValidBlockHeight,
  signedAt: at,
  sends: 0,
  lastSentAt: null,
  status: 'live',
  slot: null,
  expiredAt: null,
});

/** Folds an attempt's change into the attempts (in place). */
export function evolveAttempt(
  attempts: Attempt[],
  change: { signature: string } & (
    | { kind: 'sent'; at: number }
    | { kind: 'confirmed'; slot: number | null }
    | { kind: 'expired'; blockHeight: number }
    | { kind: 'finalized'; slot: number | null }
    | { kind: 'failed' }
  ),
): Attempt | undefined {
  const a = attempts.find((x) => x.signature === change.signature);
  if (!a) return undefined;
  switch (change.kind) {
    case 'sent':
      a.sends += 1;
      a.lastSentAt = change.at;
      break;
    case 'confirmed':
      a.status = 'confirmed';
      a.slot = change.slot;
      break;
    case 'expired':
      a.status = 'expired';
      a.expiredAt = change.blockHeight;
      break;
    case 'finalized':
      a.status = 'finalized';
      a.slot = change.slot ?? a.slot;
      break;
    case 'failed':
      a.status = 'failed';
      break;
  }
  return a;
}

/** An RPC signature status entry (getSignatureStatuses' value array; null when unknown to the node). */
export interface RpcSignatureStatus {
  slot: number;
  confirmations: number | null;
  err: unknown;
  confirmationStatus?: 'processed' | 'confirmed' | 'finalized' | null;
}

/**
 * An observation's status for a getSignatureStatuses entry. Only a final landing is "failed": an
 * error seen before finalization could be rolled back, and the same transaction land again.
 */
export function chainStatusOf(status: RpcSignatureStatus | null | undefined): Observation['status'] {
  if (!status) return 'not_found';
  // Nodes without confirmationStatus report confirmations: null for rooted (finalized) transactions.
  const level = status.confirmationStatus ?? (status.confirmations === null ? 'finalized' : 'confirmed');
  if (level !== 'finalized') return 'confirmed';
  return status.err === null || status.err === undefined ? 'finalized' : 'failed';
}

/** Sum of amounts. */
export const total = <T>(items: readonly T[], amount: (t: T) => Amount): Amount => items.reduce((sum, t) => sum + amount(t), 0n);
