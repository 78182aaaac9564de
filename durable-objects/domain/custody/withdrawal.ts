import type { Credit } from '../account/commands.ts';
import type { CommandMeta, Decider, Outgoing } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { MAX_AMOUNT, type Amount } from '../money.ts';
import { fail, ok, type Result } from '../result.ts';
import { CUSTODY_ERRORS } from './errors.ts';
import { isPublicKey, isSignature } from './keys.ts';

/*
 * A withdrawal: one aggregate per withdrawal id, driving $DOUG from a ledger account out of custody
 * to a wallet, paying at most once whatever RPC does.
 *
 * API for the shell (a Durable Object per withdrawal, woken by requests and its alarm):
 *   decide RequestWithdrawal, then loop on nextAction(state, now):
 *     debit → account(a.account) Withdraw { ref: a.ref, amount: a.amount }; accepted, or refused with
 *             ACCOUNT__WITHDRAWAL_ALREADY_APPLIED (a retry after a lost answer): RecordDebit
 *             { outcome: 'debited' }; any other refusal: RecordDebit { outcome: 'refused', code,
 *             message }; the call itself failed: retry it later (the ref makes it idempotent).
 *     sign  → Custody.buildWithdrawal, then RecordSigned. The attempt is committed before anything
 *             is sent, so a crash after sending still knows the signature it must look for.
 *     send  → Custody.send(a.transaction) (an RPC error changes nothing: the attempt stays live),
 *             then RecordSend, which paces resends.
 *     wait  → at a.until, Custody.observe(a.signatures) and decide ObserveChain for each.
 *     done  → nothing left: paid, refunded (the refund travels in the outbox) or rejected.
 * A refund is the outbox message react() emits with WithdrawalFailed or WithdrawalAbandoned: the
 * account's Credit { ref: withdrawalRefundRef(id), amount, source: 'deposit' }. A Credit, not a
 * ReleaseHold: the debit was a Withdraw (the money left the ledger), so its return is money
 * entering the ledger from custody, exactly like a deposit; deposit-sourced credits minus
 * withdrawals plus withdrawals in flight then stays equal to custody's on-chain balance.
 *
 * Why it never pays twice. Every attempt is a signed transfer with a recent blockhash; the chain
 * accepts it only in a block whose height is at most its lastValidBlockHeight, and at most once
 * (same signature). Resending the recorded transaction is therefore always safe. A new attempt is
 * signed only when the current one is proven expired: the signature is not found while the
 * finalized block height is past its lastValidBlockHeight, read by a node that had processed the
 * slot that height was read at (contextSlot >= blockHeightSlot). Without that last check a node
 * lagging behind the one that gave the height could miss a landed transfer. The RPC must serve
 * full signature history (searchTransactionHistory) for the proof to hold.
 */

// ---- Commands ----

/** Opens the withdrawal of `amount` from `account` to the wallet `destination` (owner, base58). */
export interface RequestWithdrawal {
  type: 'RequestWithdrawal';
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
}

/** The account's answer to the debit (Withdraw { ref: withdrawalRef(id) }). */
export type RecordDebit = { type: 'RecordDebit'; outcome: 'debited' } | { type: 'RecordDebit'; outcome: 'refused'; code: string; message: string };

/** A signed transfer, recorded before it is sent. Allowed only when no attempt may still land. */
export interface RecordSigned {
  type: 'RecordSigned';
  signature: string;
  /** The serialized signed transaction, base64, exactly as it will be sent. */
  transaction: string;
  lastValidBlockHeight: number;
}

/** The recorded transaction was sent, or a send was tried (whatever RPC answered). */
export interface RecordSend {
  type: 'RecordSend';
  signature: string;
}

/**
 * One reading of the chain: getSignatureStatuses([signature], { searchTransactionHistory: true })
 * mapped by chainStatusOf, and getEpochInfo({ commitment: 'finalized' }) read first.
 */
export interface ObserveChain {
  type: 'ObserveChain';
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

/** Gives up while no attempt can land (none signed, or the last proven expired): the funds go back. */
export interface Abandon {
  type: 'Abandon';
  reason: string;
}

export type WithdrawalCommand = RequestWithdrawal | RecordDebit | RecordSigned | RecordSend | ObserveChain | Abandon;

// ---- Events ----

export interface WithdrawalRequested {
  type: 'WithdrawalRequested';
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
  at: number;
}
/** The amount left the account under ref. */
export interface WithdrawalDebited {
  type: 'WithdrawalDebited';
  ref: string;
}
/** The account refused the debit: nothing moved, the withdrawal is closed. */
export interface WithdrawalRejected {
  type: 'WithdrawalRejected';
  code: string;
  message: string;
}
export interface WithdrawalSigned {
  type: 'WithdrawalSigned';
  signature: string;
  transaction: string;
  lastValidBlockHeight: number;
  at: number;
}
export interface WithdrawalSent {
  type: 'WithdrawalSent';
  signature: string;
  at: number;
}
/** The attempt landed in a block not yet finalized: resending stops, finalization is awaited. */
export interface WithdrawalConfirmed {
  type: 'WithdrawalConfirmed';
  signature: string;
  slot: number | null;
}
/** The attempt can never land: a new one may be signed. */
export interface WithdrawalAttemptExpired {
  type: 'WithdrawalAttemptExpired';
  signature: string;
  blockHeight: number;
}
/** The transfer is final on chain: paid. */
export interface WithdrawalFinalized {
  type: 'WithdrawalFinalized';
  signature: string;
  slot: number | null;
}
/** The transfer landed final with an error: nothing was paid, the amount is refunded. */
export interface WithdrawalFailed {
  type: 'WithdrawalFailed';
  signature: string;
  error: string;
}
/** Given up with no attempt able to land: the amount is refunded. */
export interface WithdrawalAbandoned {
  type: 'WithdrawalAbandoned';
  reason: string;
}

export type WithdrawalEvent =
  | WithdrawalRequested
  | WithdrawalDebited
  | WithdrawalRejected
  | WithdrawalSigned
  | WithdrawalSent
  | WithdrawalConfirmed
  | WithdrawalAttemptExpired
  | WithdrawalFinalized
  | WithdrawalFailed
  | WithdrawalAbandoned;

// ---- State ----

/** One signed transfer. */
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

export interface WithdrawalData {
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
  requestedAt: number;
  /** In signing order; every attempt but the last is expired. */
  attempts: Attempt[];
}

/**
 * requested: the debit is pending · funded: the amount left the account, attempts are under way ·
 * paid, refunded, rejected: closed (rejected: the debit was refused, nothing moved).
 */
export type WithdrawalState =
  | { status: 'none' }
  | (WithdrawalData & { status: 'requested' })
  | (WithdrawalData & { status: 'funded' })
  | (WithdrawalData & { status: 'paid'; signature: string; slot: number | null })
  | (WithdrawalData & { status: 'refunded'; reason: 'failed' | 'abandoned'; detail: string; signature: string | null })
  | (WithdrawalData & { status: 'rejected'; code: string; message: string });

export type OpenedWithdrawal = Exclude<WithdrawalState, { status: 'none' }>;

export const initialState = (): WithdrawalState => ({ status: 'none' });

/** How long a live attempt waits (and is observed) before the same transaction is sent again. */
export const RESEND_INTERVAL_MS = 2_000;
/** How often a landed attempt is observed until it is final. */
export const POLL_INTERVAL_MS = 2_000;

/** The account decider's Withdraw ref of a withdrawal. */
export const withdrawalRef = (withdrawalId: string): string => `withdrawal:${withdrawalId}`;
/** The account decider's Credit ref of a withdrawal's refund. */
export const withdrawalRefundRef = (withdrawalId: string): string => `withdrawal-refund:${withdrawalId}`;

const currentAttempt = (w: WithdrawalData): Attempt | undefined => w.attempts[w.attempts.length - 1];
/** Whether an attempt may still land (or has landed without being final). */
const mayLand = (a: Attempt | undefined): a is Attempt & { status: 'live' | 'confirmed' } =>
  a !== undefined && (a.status === 'live' || a.status === 'confirmed');

// ---- nextAction ----

export type WithdrawalAction =
  | { type: 'debit'; account: string; ref: string; amount: Amount }
  | { type: 'sign'; withdrawalId: string; destination: string; amount: Amount }
  | { type: 'send'; signature: string; transaction: string }
  | { type: 'wait'; until: number; signatures: string[] }
  | { type: 'done'; outcome: 'paid' | 'refunded' | 'rejected' };

/** What the shell must do next; pure in state and now. */
export function nextAction(state: OpenedWithdrawal, now: number): WithdrawalAction {
  switch (state.status) {
    case 'requested':
      return { type: 'debit', account: state.account, ref: withdrawalRef(state.withdrawalId), amount: state.amount };
    case 'paid':
    case 'refunded':
    case 'rejected':
      return { type: 'done', outcome: state.status };
    case 'funded': {
      const a = currentAttempt(state);
      if (!mayLand(a)) return { type: 'sign', withdrawalId: state.withdrawalId, destination: state.destination, amount: state.amount };
      const signatures = [a.signature, ...state.attempts.slice(0, -1).map((x) => x.signature)];
      if (a.status === 'confirmed') return { type: 'wait', until: now + POLL_INTERVAL_MS, signatures };
      if (a.lastSentAt === null || now >= a.lastSentAt + RESEND_INTERVAL_MS) return { type: 'send', signature: a.signature, transaction: a.transaction };
      return { type: 'wait', until: a.lastSentAt + RESEND_INTERVAL_MS, signatures };
    }
  }
}

// ---- decide ----

type Code = keyof typeof CUSTODY_ERRORS & string;
const reject = (code: Code, context: Record<string, unknown> = {}) => fail(makeError(CUSTODY_ERRORS, code, context));
const invalid = (field: string, problem: string) => reject('CUSTODY__WITHDRAWAL_INVALID', { field, problem });
const attemptLive = (w: WithdrawalData, a: Attempt) =>
  reject('CUSTODY__WITHDRAWAL_ATTEMPT_LIVE', { withdrawalId: w.withdrawalId, signature: a.signature, lastValidBlockHeight: a.lastValidBlockHeight });
const isHeight = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const OBSERVED = new Set(['finalized', 'confirmed', 'failed', 'not_found']);

/** Turns a withdrawal command into events or a coded refusal. */
export function decide(state: WithdrawalState, command: WithdrawalCommand, meta: CommandMeta): Result<WithdrawalEvent[]> {
  if (command.type === 'RequestWithdrawal') return request(state, command, meta);
  if (state.status === 'none') return reject('CUSTODY__WITHDRAWAL_NOT_FOUND');
  const w = state;
  const closed = () => reject('CUSTODY__WITHDRAWAL_CLOSED', { withdrawalId: w.withdrawalId, status: w.status });
  switch (command.type) {
    case 'RecordDebit': {
      if (w.status === 'requested') {
        return ok([
          command.outcome === 'debited'
            ? { type: 'WithdrawalDebited', ref: withdrawalRef(w.withdrawalId) }
            : { type: 'WithdrawalRejected', code: command.code, message: command.message },
        ]);
      }
      // Once the account has taken the money it answers every retry of the ref with
      // ALREADY_APPLIED, so a late answer repeats the first. A debit reported after a refusal would
      // be money taken and never paid out: refuse it loudly rather than drop it.
      if (w.status === 'rejected' && command.outcome === 'debited') return closed();
      return ok([]);
    }
    case 'RecordSigned': {
      if (w.status === 'requested') return reject('CUSTODY__WITHDRAWAL_NOT_DEBITED', { withdrawalId: w.withdrawalId });
      const same = w.attempts.find((a) => a.signature === command.signature);
      if (same) {
        const repeat = same === currentAttempt(w) && same.transaction === command.transaction && same.lastValidBlockHeight === command.lastValidBlockHeight;
        return repeat ? ok([]) : reject('CUSTODY__WITHDRAWAL_SIGNATURE_REUSED', { withdrawalId: w.withdrawalId, signature: command.signature });
      }
      if (w.status !== 'funded') return closed();
      if (!isSignature(command.signature)) return invalid('signature', 'must be a base58 transaction signature (64 bytes)');
      if (typeof command.transaction !== 'string' || command.transaction === '' || !BASE64.test(command.transaction)) {
        return invalid('transaction', 'must be the signed transaction in base64');
      }
      if (!isHeight(command.lastValidBlockHeight)) return invalid('lastValidBlockHeight', 'must be a non-negative integer');
      const current = currentAttempt(w);
      if (mayLand(current)) return attemptLive(w, current);
      if (current?.expiredAt != null && command.lastValidBlockHeight <= current.expiredAt) {
        return reject('CUSTODY__WITHDRAWAL_ATTEMPT_STALE', { lastValidBlockHeight: command.lastValidBlockHeight, blockHeight: current.expiredAt });
      }
      const { signature, transaction, lastValidBlockHeight } = command;
      return ok([{ type: 'WithdrawalSigned', signature, transaction, lastValidBlockHeight, at: meta.now }]);
    }
    case 'RecordSend': {
      if (w.status === 'requested') return reject('CUSTODY__WITHDRAWAL_NOT_DEBITED', { withdrawalId: w.withdrawalId });
      const a = w.attempts.find((x) => x.signature === command.signature);
      if (!a) return reject('CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE', { withdrawalId: w.withdrawalId, signature: command.signature });
      // Sending an attempt that landed, expired or closed changes nothing.
      if (w.status !== 'funded' || a.status !== 'live') return ok([]);
      return ok([{ type: 'WithdrawalSent', signature: a.signature, at: meta.now }]);
    }
    case 'ObserveChain':
      return observe(w, command);
    case 'Abandon': {
      if (w.status === 'requested') return reject('CUSTODY__WITHDRAWAL_NOT_DEBITED', { withdrawalId: w.withdrawalId });
      if (w.status === 'refunded' && w.reason === 'abandoned') return ok([]);
      if (w.status !== 'funded') return closed();
      if (typeof command.reason !== 'string' || command.reason === '') return invalid('reason', 'must say why');
      const current = currentAttempt(w);
      if (mayLand(current)) return attemptLive(w, current);
      return ok([{ type: 'WithdrawalAbandoned', reason: command.reason }]);
    }
  }
}

function request(state: WithdrawalState, c: RequestWithdrawal, meta: CommandMeta): Result<WithdrawalEvent[]> {
  if (state.status !== 'none') {
    const same = state.withdrawalId === c.withdrawalId && state.account === c.account && state.destination === c.destination && state.amount === c.amount;
    return same ? ok([]) : reject('CUSTODY__WITHDRAWAL_EXISTS', { withdrawalId: state.withdrawalId });
  }
  if (typeof c.withdrawalId !== 'string' || c.withdrawalId === '' || c.withdrawalId.length > 128) return invalid('withdrawalId', 'must be 1 to 128 characters');
  if (typeof c.account !== 'string' || c.account === '') return invalid('account', 'must name the account to debit');
  if (!isPublicKey(c.destination)) return invalid('destination', 'must be a base58 wallet address');
  if (typeof c.amount !== 'bigint' || c.amount <= 0n || c.amount > MAX_AMOUNT) return invalid('amount', 'must be a positive u64 amount');
  return ok([{ type: 'WithdrawalRequested', withdrawalId: c.withdrawalId, account: c.account, destination: c.destination, amount: c.amount, at: meta.now }]);
}

function observe(w: OpenedWithdrawal, o: ObserveChain): Result<WithdrawalEvent[]> {
  if (w.status === 'requested') return reject('CUSTODY__WITHDRAWAL_NOT_DEBITED', { withdrawalId: w.withdrawalId });
  if (!OBSERVED.has(o.status)) return invalid('status', 'must be finalized, confirmed, failed or not_found');
  for (const field of ['blockHeight', 'blockHeightSlot', 'contextSlot'] as const) {
    if (!isHeight(o[field])) return invalid(field, 'must be a non-negative integer');
  }
  const a = w.attempts.find((x) => x.signature === o.signature);
  if (!a) return reject('CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE', { withdrawalId: w.withdrawalId, signature: o.signature });
  const contradiction = (problem: string) =>
    reject('CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION', { withdrawalId: w.withdrawalId, signature: o.signature, status: o.status, problem });
  const landed = o.status !== 'not_found';
  const slot = o.slot ?? null;

  if (w.status !== 'funded') {
    // Closed: a lagging node's not_found, or its confirmed for the closing landing, changes nothing;
    // a landing other than the closing one (or unlike it) would mean money moved twice or behind
    // the ledger's back: refuse loudly.
    if (!landed) return ok([]);
    if (w.status === 'paid' && o.signature === w.signature && o.status !== 'failed') return ok([]);
    if (w.status === 'refunded' && o.signature === w.signature && o.status !== 'finalized') return ok([]);
    return contradiction(`the withdrawal is ${w.status}${w.status === 'paid' ? ` by ${w.signature}` : ''}`);
  }

  switch (o.status) {
    case 'finalized':
      // The chain is the truth: a final transfer was paid, whichever attempt it was.
      return ok([{ type: 'WithdrawalFinalized', signature: a.signature, slot }]);
    case 'failed':
      if (a.status === 'expired') return contradiction(`the attempt was proven expired at block height ${a.expiredAt}`);
      return ok([{ type: 'WithdrawalFailed', signature: a.signature, error: o.error ?? 'unknown error' }]);
    case 'confirmed':
      if (a.status === 'expired') return contradiction(`the attempt was proven expired at block height ${a.expiredAt}`);
      return ok(a.status === 'live' ? [{ type: 'WithdrawalConfirmed', signature: a.signature, slot }] : []);
    case 'not_found': {
      const proven = o.blockHeight > a.lastValidBlockHeight && o.contextSlot >= o.blockHeightSlot;
      return ok(mayLand(a) && proven ? [{ type: 'WithdrawalAttemptExpired', signature: a.signature, blockHeight: o.blockHeight }] : []);
    }
  }
}

// ---- evolve ----

/** Folds one event into the state (in place where the status stays). */
export function evolve(state: WithdrawalState, event: WithdrawalEvent, _meta?: CommandMeta): WithdrawalState {
  if (event.type === 'WithdrawalRequested') {
    if (state.status !== 'none') return state;
    const { withdrawalId, account, destination, amount, at } = event;
    return { status: 'requested', withdrawalId, account, destination, amount, requestedAt: at, attempts: [] };
  }
  if (state.status === 'none') return state;
  const w = state;
  const attempt = (signature: string) => w.attempts.find((a) => a.signature === signature);
  switch (event.type) {
    case 'WithdrawalDebited':
      return { ...w, status: 'funded' };
    case 'WithdrawalRejected':
      return { ...w, status: 'rejected', code: event.code, message: event.message };
    case 'WithdrawalSigned':
      w.attempts.push({
        signature: event.signature,
        transaction: event.transaction,
        lastValidBlockHeight: event.lastValidBlockHeight,
        signedAt: event.at,
        sends: 0,
        lastSentAt: null,
        status: 'live',
        slot: null,
        expiredAt: null,
      });
      return w;
    case 'WithdrawalSent': {
      const a = attempt(event.signature);
      if (a) {
        a.sends += 1;
        a.lastSentAt = event.at;
      }
      return w;
    }
    case 'WithdrawalConfirmed': {
      const a = attempt(event.signature);
      if (a) {
        a.status = 'confirmed';
        a.slot = event.slot;
      }
      return w;
    }
    case 'WithdrawalAttemptExpired': {
      const a = attempt(event.signature);
      if (a) {
        a.status = 'expired';
        a.expiredAt = event.blockHeight;
      }
      return w;
    }
    case 'WithdrawalFinalized': {
      const a = attempt(event.signature);
      if (a) {
        a.status = 'finalized';
        a.slot = event.slot ?? a.slot;
      }
      return { ...w, status: 'paid', signature: event.signature, slot: a?.slot ?? event.slot };
    }
    case 'WithdrawalFailed': {
      const a = attempt(event.signature);
      if (a) a.status = 'failed';
      return { ...w, status: 'refunded', reason: 'failed', detail: event.error, signature: event.signature };
    }
    case 'WithdrawalAbandoned':
      return { ...w, status: 'refunded', reason: 'abandoned', detail: event.reason, signature: null };
  }
}

// ---- react ----

/** Outbox: a failed or abandoned withdrawal credits its amount back to the account, once (by ref). */
export function react(state: WithdrawalState, event: WithdrawalEvent, _meta: CommandMeta): Outgoing[] {
  if ((event.type !== 'WithdrawalFailed' && event.type !== 'WithdrawalAbandoned') || state.status === 'none') return [];
  return [
    {
      to: { kind: 'account', id: state.account },
      command: { type: 'Credit', ref: withdrawalRefundRef(state.withdrawalId), amount: state.amount, source: 'deposit' } satisfies Credit,
    },
  ];
}

// ---- RPC mapping and view ----

/** An entry of getSignatureStatuses' value array (null when the node knows nothing of the signature). */
export interface RpcSignatureStatus {
  slot: number;
  confirmations: number | null;
  err: unknown;
  confirmationStatus?: 'processed' | 'confirmed' | 'finalized' | null;
}

/**
 * ObserveChain's status for a getSignatureStatuses entry. Only a final landing is "failed": an
 * error seen before finalization could be rolled back, and the same transaction land again.
 */
export function chainStatusOf(status: RpcSignatureStatus | null | undefined): ObserveChain['status'] {
  if (!status) return 'not_found';
  // Nodes without confirmationStatus report confirmations: null for rooted (finalized) transactions.
  const level = status.confirmationStatus ?? (status.confirmations === null ? 'finalized' : 'confirmed');
  if (level !== 'finalized') return 'confirmed';
  return status.err === null || status.err === undefined ? 'finalized' : 'failed';
}

/** What the API shows of a withdrawal (transactions left out). */
export interface WithdrawalView {
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
  status: OpenedWithdrawal['status'];
  /** The paying signature once paid; else the latest attempt's, if any. */
  signature: string | null;
  attempts: { signature: string; status: Attempt['status']; lastValidBlockHeight: number; sends: number }[];
  refund: { reason: 'failed' | 'abandoned'; detail: string } | null;
}

/** Pure view of a withdrawal. */
export function withdrawalView(state: OpenedWithdrawal): WithdrawalView {
  return {
    withdrawalId: state.withdrawalId,
    account: state.account,
    destination: state.destination,
    amount: state.amount,
    status: state.status,
    signature: state.status === 'paid' ? state.signature : (currentAttempt(state)?.signature ?? null),
    attempts: state.attempts.map((a) => ({ signature: a.signature, status: a.status, lastValidBlockHeight: a.lastValidBlockHeight, sends: a.sends })),
    refund: state.status === 'refunded' ? { reason: state.reason, detail: state.detail } : null,
  };
}

/** The withdrawal aggregate: one per withdrawal id. */
export const withdrawalDecider: Decider<WithdrawalCommand, WithdrawalEvent, WithdrawalState> = {
  initialState,
  decide,
  evolve,
  react,
  eventVersions: {
    WithdrawalRequested: 1,
    WithdrawalDebited: 1,
    WithdrawalRejected: 1,
    WithdrawalSigned: 1,
    WithdrawalSent: 1,
    WithdrawalConfirmed: 1,
    WithdrawalAttemptExpired: 1,
    WithdrawalFinalized: 1,
    WithdrawalFailed: 1,
    WithdrawalAbandoned: 1,
  },
  // Every event is at version 1; conversions of older shapes go here when a version is bumped.
  upcast: (_type, _version, data) => data,
  bigintFields: new Set(['amount']),
  // The state is plain data (arrays in signing order, no maps or sets): it is its own snapshot.
  snapshot: (state) => structuredClone(state),
  restore: (data) => structuredClone(data) as WithdrawalState,
};
