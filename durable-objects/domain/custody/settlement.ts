import { backoffMs } from '../backoff.ts';
import { canonicalJson } from '../canonical.ts';
import type { CommandMeta, Decider } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { bps, MAX_AMOUNT, type Amount } from '../money.ts';
import { PARAM_BOUNDS } from '../params.ts';
import { fail, ok, type Result } from '../result.ts';
import {
  attemptStep,
  checkObservation,
  checkSigned,
  currentAttempt,
  evolveAttempt,
  mayLand,
  newAttempt,
  readOpen,
  total,
  type Attempt,
  type SignedTransaction,
} from './attempts.ts';
import { CUSTODY_ERRORS } from './errors.ts';
import { isPublicKey } from './keys.ts';
import type { ObserveChain, Payout, QueuedPayout, QueuePayouts, SettleEncoding, SettlementCommand } from './settlement-commands.ts';

/*
 * Settlement on chain: one aggregate per buyer, paying the buyer's verified jobs from their escrow
 * (the escrow program's `settle`) in numbered batches, each paid at most once.
 *
 * The buyer's account settles a hold in its ledger (HoldSettled) and, because its money is in its
 * escrow, sends the hold's payouts here (QueuePayouts) instead of to the payees' ledgers. From here:
 *   open → OpenBatch: the queued payouts, whole holds in arrival order, up to the payouts and
 *          providers BATCH_LIMITS gives the shell's encoding, become batch `nextBatch`;
 *   sign / send / wait → the batch's attempts, exactly as a withdrawal's (attempts.ts): one
 *          signed `settle` at a time, resent as is, signed anew only once proven expired;
 *   finalized → BatchSettled: the payouts are paid, the next batch number is the escrow's;
 *   failed (landed final with an error) → BatchFailed: the payouts go back to the head of the
 *          queue, and before the next batch the escrow's nextBatch is read (sync → SyncNextBatch):
 *          the chain is the authority on what was settled. Retries back off (RETRY_MIN_MS
 *          doubling to RETRY_MAX_MS), so an escrow that cannot pay (emptied by the buyer's own
 *          withdrawal after the timelock) costs one failed transaction per interval, not a flood.
 * Batching needs no timer: while one batch is in flight, payouts queue, and the next batch takes
 * them all. The first payout of a quiet buyer is sent at once.
 *
 * The receipts a batch covers (its `receipts`, canonical JSON of the payouts with their holds) are
 * what the batch's receiptsHash is taken over (SHA-256, by the shell); anyone holding the job
 * records can recompute it and match it with the escrow's lastReceiptsHash.
 */

/**
 * Most payouts and distinct providers one batch carries, by the settle's encoding (what one
 * transaction of 1,232 bytes fits; test/bench/programs.ts and escrow-custody.test.ts land the largest):
 * - legacy: each provider's token account is 32 bytes of the message, with an instruction creating it;
 * - table: a v0 message whose accounts come from the authority's lookup table (a byte each; token
 *   accounts created beforehand), so 9 bytes a payout are the bound, and the 64 accounts a
 *   transaction may lock (about 52 providers) are not approached.
 */
export const BATCH_LIMITS: Readonly<Record<SettleEncoding, { payouts: number; providers: number }>> = {
  legacy: { payouts: 48, providers: 6 },
  table: { payouts: 80, providers: 24 },
};
export const RETRY_MIN_MS = 2_000;
export const RETRY_MAX_MS = 120_000;

// ---- Commands (settlement-commands.ts: what other objects may send here) ----

export type { ObserveChain, OpenBatch, Payout, QueuedPayout, QueuePayouts, RecordSend, RecordSigned, SettleEncoding, SettlementCommand, SyncNextBatch } from './settlement-commands.ts';

// ---- Events ----

export interface PayoutsQueued {
  type: 'PayoutsQueued';
  buyer: string;
  holdId: string;
  payouts: Payout[];
}
export interface BatchOpened {
  type: 'BatchOpened';
  batch: bigint;
  /** Priced at `feeBps` when it is there (OpenBatch.feeBps). */
  payouts: QueuedPayout[];
  feeBps?: number;
  at: number;
}
export interface BatchSigned extends SignedTransaction {
  type: 'BatchSigned';
  at: number;
}
export interface BatchSent {
  type: 'BatchSent';
  signature: string;
  at: number;
}
export interface BatchConfirmed {
  type: 'BatchConfirmed';
  signature: string;
  slot: number | null;
}
export interface BatchAttemptExpired {
  type: 'BatchAttemptExpired';
  signature: string;
  blockHeight: number;
}
/** The batch is final on chain: its payouts are paid. */
export interface BatchSettled {
  type: 'BatchSettled';
  batch: bigint;
  signature: string;
  slot: number | null;
  at: number;
}
/** The batch landed final with an error: nothing was paid; its payouts queue again. */
export interface BatchFailed {
  type: 'BatchFailed';
  batch: bigint;
  signature: string;
  error: string;
  at: number;
}
export interface NextBatchSynced {
  type: 'NextBatchSynced';
  nextBatch: bigint;
}

export type SettlementEvent = PayoutsQueued | BatchOpened | BatchSigned | BatchSent | BatchConfirmed | BatchAttemptExpired | BatchSettled | BatchFailed | NextBatchSynced;

// ---- State ----

export interface OpenBatchState {
  batch: bigint;
  payouts: QueuedPayout[];
  /** The fee the batch was priced at (BatchOpened.feeBps), which its settle states. */
  feeBps?: number;
  openedAt: number;
  attempts: Attempt[];
}

/** A settled batch, for the view (the last RECENT_BATCHES). */
export interface SettledBatch {
  batch: bigint;
  signature: string;
  slot: number | null;
  payouts: number;
  gross: Amount;
  at: number;
}

export const RECENT_BATCHES = 20;

export interface SettlementState {
  buyer: string | null;
  /** The number the next batch carries (the escrow's nextBatch as last known). */
  nextBatch: bigint;
  queue: QueuedPayout[];
  /** Every hold ever queued here (a repeat of QueuePayouts is a no-op). */
  holds: Set<string>;
  open: OpenBatchState | null;
  /** Totals over settled batches: gross out of the escrow, of which fees. */
  paid: { batches: number; payouts: number; gross: Amount; fee: Amount };
  recent: SettledBatch[];
  /** Failed batches in a row, the last error, and when the next batch may be opened. */
  failures: number;
  lastError: string | null;
  retryAt: number;
  /** A batch failed: read the escrow's nextBatch before opening another. */
  needsSync: boolean;
}

export const initialState = (): SettlementState => ({
  buyer: null,
  nextBatch: 0n,
  queue: [],
  holds: new Set(),
  open: null,
  paid: { batches: 0, payouts: 0, gross: 0n, fee: 0n },
  recent: [],
  failures: 0,
  lastError: null,
  retryAt: 0,
  needsSync: false,
});

/** Gross waiting to leave the escrow: queued, and in the open batch. */
export const pendingGross = (s: SettlementState): Amount => total(s.queue, (p) => p.gross) + total(s.open?.payouts ?? [], (p) => p.gross);

/** The receipts a batch's receiptsHash is taken over: canonical JSON of its number, buyer and payouts. */
export function batchReceipts(buyer: string, batch: bigint, payouts: readonly QueuedPayout[]): string {
  return canonicalJson({ buyer, batch: batch.toString(), payouts: payouts.map((p) => ({ holdId: p.holdId, provider: p.provider, gross: p.gross.toString(), fee: p.fee.toString() })) });
}

/** The head of the queue that fits one batch: whole holds in order, within both bounds (at least the first hold's first payouts). */
export function nextBatchPayouts(queue: readonly QueuedPayout[], limits = BATCH_LIMITS.legacy): QueuedPayout[] {
  const taken: QueuedPayout[] = [];
  const providers = new Set<string>();
  let i = 0;
  while (i < queue.length) {
    const holdId = queue[i]!.holdId;
    let j = i;
    while (j < queue.length && queue[j]!.holdId === holdId) j++;
    const hold = queue.slice(i, j);
    const more = new Set([...providers, ...hold.map((p) => p.provider)]);
    if (taken.length + hold.length > limits.payouts || more.size > limits.providers) {
      // A single hold larger than a batch (never so today: at most 5 replicas) is split rather than stuck.
      if (taken.length === 0) return hold.slice(0, Math.min(limits.payouts, limits.providers));
      break;
    }
    taken.push(...hold);
    for (const p of hold) providers.add(p.provider);
    i = j;
  }
  return taken;
}

// ---- nextAction ----

export type SettlementAction =
  | { type: 'idle' }
  | { type: 'sync'; buyer: string }
  | { type: 'open' }
  | { type: 'sign'; buyer: string; batch: bigint; payouts: QueuedPayout[]; feeBps?: number }
  | { type: 'send'; signature: string; transaction: string }
  | { type: 'wait'; until: number; signatures: string[] };

/** What the shell must do next; pure in state and now. */
export function nextAction(s: SettlementState, now: number): SettlementAction {
  if (s.buyer === null) return { type: 'idle' };
  if (s.open) {
    const step = attemptStep(s.open.attempts, now);
    return step.type === 'sign' ? { type: 'sign', buyer: s.buyer, batch: s.open.batch, payouts: s.open.payouts, ...(s.open.feeBps !== undefined && { feeBps: s.open.feeBps }) } : step;
  }
  if (s.queue.length === 0) return { type: 'idle' };
  if (now < s.retryAt) return { type: 'wait', until: s.retryAt, signatures: [] };
  return s.needsSync ? { type: 'sync', buyer: s.buyer } : { type: 'open' };
}

// ---- decide ----

type Code = keyof typeof CUSTODY_ERRORS & string;
const reject = (code: Code, context: Record<string, unknown> = {}) => fail(makeError(CUSTODY_ERRORS, code, context));
const invalid = (field: string, problem: string) => reject('CUSTODY__SETTLEMENT_INVALID', { field, problem });

export function decide(s: SettlementState, c: SettlementCommand, meta: CommandMeta): Result<SettlementEvent[]> {
  switch (c.type) {
    case 'QueuePayouts':
      return queue(s, c);
    case 'OpenBatch': {
      if (s.open) return reject('CUSTODY__SETTLEMENT_BATCH_OPEN', { batch: s.open.batch });
      if (s.needsSync) return reject('CUSTODY__SETTLEMENT_NEEDS_SYNC', { batch: s.nextBatch });
      const encoding = c.encoding ?? 'legacy';
      if (!Object.hasOwn(BATCH_LIMITS, encoding)) return invalid('encoding', `must be one of ${Object.keys(BATCH_LIMITS).join(', ')}`);
      const [, maxFee] = PARAM_BOUNDS.feeBps;
      if (c.feeBps !== undefined && (!Number.isInteger(c.feeBps) || c.feeBps < 0 || c.feeBps > maxFee)) return invalid('feeBps', `must be an integer from 0 to ${maxFee}`);
      const head = nextBatchPayouts(s.queue, BATCH_LIMITS[encoding]);
      if (head.length === 0) return ok([]);
      if (c.feeBps === undefined) return ok([{ type: 'BatchOpened', batch: s.nextBatch, payouts: head, at: meta.now }]);
      const feeBps = c.feeBps;
      const payouts = head.map((p) => {
        const fee = bps(p.gross, feeBps);
        return { ...p, fee, net: p.gross - fee };
      });
      return ok([{ type: 'BatchOpened', batch: s.nextBatch, payouts, feeBps, at: meta.now }]);
    }
    case 'RecordSigned': {
      if (!s.open) return reject('CUSTODY__SETTLEMENT_NO_BATCH');
      // A transaction signed for another batch (a late repeat of a closed batch's) would be taken
      // for this one's: when it is reported final, this batch would count as paid.
      if (c.batch !== s.open.batch) return invalid('batch', `the open batch is ${s.open.batch}, not ${String(c.batch)}`);
      const refusal = checkSigned(s.open.attempts, c);
      switch (refusal?.kind) {
        case 'repeat':
          return ok([]);
        case 'reused':
          return reject('CUSTODY__SETTLEMENT_SIGNATURE_REUSED', { batch: s.open.batch, signature: c.signature });
        case 'invalid':
          return invalid(refusal.field, refusal.problem);
        case 'live':
          return reject('CUSTODY__SETTLEMENT_ATTEMPT_LIVE', { batch: s.open.batch, signature: refusal.attempt.signature, lastValidBlockHeight: refusal.attempt.lastValidBlockHeight });
        case 'stale':
          return reject('CUSTODY__SETTLEMENT_ATTEMPT_STALE', { lastValidBlockHeight: c.lastValidBlockHeight, blockHeight: refusal.blockHeight });
      }
      return ok([{ type: 'BatchSigned', signature: c.signature, transaction: c.transaction, lastValidBlockHeight: c.lastValidBlockHeight, at: meta.now }]);
    }
    case 'RecordSend': {
      const a = s.open?.attempts.find((x) => x.signature === c.signature);
      // Sending an attempt that landed, expired, or belongs to a closed batch changes nothing.
      return ok(a?.status === 'live' ? [{ type: 'BatchSent', signature: a.signature, at: meta.now }] : []);
    }
    case 'ObserveChain':
      return observe(s, c, meta);
    case 'SyncNextBatch': {
      if (typeof c.nextBatch !== 'bigint' || c.nextBatch < 0n || c.nextBatch > MAX_AMOUNT) return invalid('nextBatch', 'must be a u64');
      if (s.open) return reject('CUSTODY__SETTLEMENT_BATCH_OPEN', { batch: s.open.batch });
      return ok([{ type: 'NextBatchSynced', nextBatch: c.nextBatch }]);
    }
  }
}

function queue(s: SettlementState, c: QueuePayouts): Result<SettlementEvent[]> {
  if (!isPublicKey(c.buyer)) return invalid('buyer', 'must be the buyer’s wallet (base58)');
  if (s.buyer !== null && c.buyer !== s.buyer) return invalid('buyer', `this settlement is ${s.buyer}’s`);
  if (typeof c.holdId !== 'string' || c.holdId === '' || c.holdId.length > 200) return invalid('holdId', 'must be 1 to 200 characters');
  if (s.holds.has(c.holdId)) return ok([]);
  if (!Array.isArray(c.payouts)) return invalid('payouts', 'must be a list');
  for (const [i, p] of c.payouts.entries()) {
    if (typeof p !== 'object' || p === null) return invalid(`payouts[${i}]`, 'must be a payout');
    if (!isPublicKey(p.provider)) return invalid(`payouts[${i}].provider`, 'must be a wallet (base58)');
    if (p.provider === c.buyer) return invalid(`payouts[${i}].provider`, 'a buyer’s escrow never pays the buyer');
    for (const k of ['gross', 'fee', 'net'] as const) {
      if (typeof p[k] !== 'bigint' || p[k] < 0n || p[k] > MAX_AMOUNT) return invalid(`payouts[${i}].${k}`, 'must be a u64 amount');
    }
    if (p.gross !== p.fee + p.net) return invalid(`payouts[${i}]`, 'gross must equal fee plus net');
  }
  // Payouts of nothing move nothing on chain; the hold is remembered all the same.
  const payouts = c.payouts.filter((p) => p.gross > 0n).map((p) => ({ provider: p.provider, gross: p.gross, fee: p.fee, net: p.net }));
  return ok([{ type: 'PayoutsQueued', buyer: c.buyer, holdId: c.holdId, payouts }]);
}

function observe(s: SettlementState, o: ObserveChain, meta: CommandMeta): Result<SettlementEvent[]> {
  const bad = checkObservation(o);
  if (bad?.kind === 'invalid') return invalid(bad.field, bad.problem);
  // A reading for a batch already closed (a lagging node, or a late answer) changes nothing: a
  // closed batch's attempts are gone, and its outcome was final.
  if (!s.open) return ok([]);
  const r = readOpen(s.open.attempts, o);
  const batch = s.open.batch;
  switch (r.kind) {
    case 'unknown':
      return ok([]);
    case 'finalized':
      return ok([{ type: 'BatchSettled', batch, signature: r.signature, slot: r.slot, at: meta.now }]);
    case 'failed':
      return ok([{ type: 'BatchFailed', batch, signature: r.signature, error: r.error, at: meta.now }]);
    case 'confirmed':
      return ok([{ type: 'BatchConfirmed', signature: r.signature, slot: r.slot }]);
    case 'expired':
      return ok([{ type: 'BatchAttemptExpired', signature: r.signature, blockHeight: r.blockHeight }]);
    case 'contradiction':
      return reject('CUSTODY__SETTLEMENT_CHAIN_CONTRADICTION', { batch, signature: o.signature, status: o.status, problem: r.problem });
    default:
      return ok([]);
  }
}

// ---- evolve ----


export function evolve(s: SettlementState, e: SettlementEvent): SettlementState {
  switch (e.type) {
    case 'PayoutsQueued':
      s.buyer ??= e.buyer;
      s.holds.add(e.holdId);
      s.queue.push(...e.payouts.map((p) => ({ ...p, holdId: e.holdId })));
      return s;
    case 'BatchOpened':
      s.queue.splice(0, e.payouts.length);
      s.open = { batch: e.batch, payouts: e.payouts, ...(e.feeBps !== undefined && { feeBps: e.feeBps }), openedAt: e.at, attempts: [] };
      return s;
    case 'BatchSigned':
      s.open?.attempts.push(newAttempt(e, e.at));
      return s;
    case 'BatchSent':
      if (s.open) evolveAttempt(s.open.attempts, { kind: 'sent', signature: e.signature, at: e.at });
      return s;
    case 'BatchConfirmed':
      if (s.open) evolveAttempt(s.open.attempts, { kind: 'confirmed', signature: e.signature, slot: e.slot });
      return s;
    case 'BatchAttemptExpired':
      if (s.open) evolveAttempt(s.open.attempts, { kind: 'expired', signature: e.signature, blockHeight: e.blockHeight });
      return s;
    case 'BatchSettled': {
      const open = s.open;
      if (!open) return s;
      const gross = total(open.payouts, (p) => p.gross);
      s.paid = { batches: s.paid.batches + 1, payouts: s.paid.payouts + open.payouts.length, gross: s.paid.gross + gross, fee: s.paid.fee + total(open.payouts, (p) => p.fee) };
      s.recent = [{ batch: e.batch, signature: e.signature, slot: e.slot, payouts: open.payouts.length, gross, at: e.at }, ...s.recent].slice(0, RECENT_BATCHES);
      s.nextBatch = e.batch + 1n;
      s.open = null;
      s.failures = 0;
      s.lastError = null;
      s.retryAt = 0;
      return s;
    }
    case 'BatchFailed': {
      const open = s.open;
      if (!open) return s;
      s.queue.unshift(...open.payouts);
      s.open = null;
      s.failures += 1;
      s.lastError = e.error;
      s.retryAt = e.at + backoffMs(s.failures, { minMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
      s.needsSync = true;
      return s;
    }
    case 'NextBatchSynced':
      s.nextBatch = e.nextBatch;
      s.needsSync = false;
      return s;
  }
}

// ---- view ----

export interface SettlementView {
  buyer: string;
  nextBatch: bigint;
  /** Gross of the payouts not yet final on chain (queued or in the open batch). */
  pending: Amount;
  queued: number;
  open: { batch: bigint; payouts: number; gross: Amount; signature: string | null; status: Attempt['status'] | null } | null;
  paid: SettlementState['paid'];
  recent: SettledBatch[];
  failures: number;
  lastError: string | null;
}

export function settlementView(s: SettlementState): SettlementView | null {
  if (s.buyer === null) return null;
  const a = s.open ? currentAttempt(s.open.attempts) : undefined;
  return {
    buyer: s.buyer,
    nextBatch: s.nextBatch,
    pending: pendingGross(s),
    queued: s.queue.length,
    open: s.open ? { batch: s.open.batch, payouts: s.open.payouts.length, gross: total(s.open.payouts, (p) => p.gross), signature: a?.signature ?? null, status: a?.status ?? null } : null,
    paid: { ...s.paid },
    recent: s.recent.map((r) => ({ ...r })),
    failures: s.failures,
    lastError: s.lastError,
  };
}

/** Whether a live or landed attempt of the open batch may still settle it. */
export const batchInFlight = (s: SettlementState): boolean => s.open !== null && mayLand(currentAttempt(s.open.attempts));

type Snapshot = Omit<SettlementState, 'holds'> & { holds: string[] };

export const settlementDecider: Decider<SettlementCommand, SettlementEvent, SettlementState> = {
  initialState,
  decide,
  evolve: (s, e) => evolve(s, e),
  react: () => [],
  eventVersions: {
    PayoutsQueued: 1,
    BatchOpened: 1,
    BatchSigned: 1,
    BatchSent: 1,
    BatchConfirmed: 1,
    BatchAttemptExpired: 1,
    BatchSettled: 1,
    BatchFailed: 1,
    NextBatchSynced: 1,
  },
  upcast: (_type, _version, data) => data,
  bigintFields: new Set(['gross', 'fee', 'net', 'batch', 'nextBatch']),
  snapshot: ({ holds, ...rest }): Snapshot => ({ ...structuredClone(rest), holds: [...holds].sort() }),
  restore: (data) => {
    const d = structuredClone(data) as Snapshot;
    return { ...d, holds: new Set(d.holds) };
  },
};
