import type { Credit } from '../account/commands.ts';
import type { CommandMeta, Decider, Outgoing } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { MAX_AMOUNT, type Amount } from '../money.ts';
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
  type Attempt,
  type Observation,
} from './attempts.ts';
import { CUSTODY_ERRORS } from './errors.ts';
import { isPublicKey } from './keys.ts';
import { POLL_INTERVAL_MS } from './attempts.ts';

export { POLL_INTERVAL_MS, RESEND_INTERVAL_MS, chainStatusOf, type Attempt, type RpcSignatureStatus } from './attempts.ts';

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
 * Why it never pays twice: see attempts.ts (resend the recorded bytes; sign anew only once the
 * current attempt is proven expired).
 */

// ---- Commands ----

/** Opens the withdrawal of `amount` from `account` to the wallet `destination` (owner, base58). */
export interface RequestWithdrawal {
  type: 'RequestWithdrawal';
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
  /**
   * Where the money comes from: custody's token account (default: the Worker signs and sends the
   * transfer), or the account's own escrow (`escrow`: the settlement authority co-signs one
   * `withdraw` that the buyer signs and sends; once it expires unsent, the amount is refunded).
   */
  via?: WithdrawalVia;
}

export type WithdrawalVia = 'custody' | 'escrow';

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

/** One reading of the chain for one of the attempts (attempts.ts, Observation). */
export type ObserveChain = { type: 'ObserveChain' } & Observation;

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
  /** Absent on withdrawals through custody (all those before escrow custody). */
  via?: 'escrow';
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

export interface WithdrawalData {
  withdrawalId: string;
  account: string;
  destination: string;
  amount: Amount;
  requestedAt: number;
  via: WithdrawalVia;
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


/** Why a co-signed escrow withdrawal is given up once its one transaction expired unsent. */
export const COSIGNED_EXPIRED = 'the co-signed withdrawal was not sent before its blockhash expired; request it again';

/** The account decider's Withdraw ref of a withdrawal. */
export const withdrawalRef = (withdrawalId: string): string => `withdrawal:${withdrawalId}`;
/** The account decider's Credit ref of a withdrawal's refund. */
export const withdrawalRefundRef = (withdrawalId: string): string => `withdrawal-refund:${withdrawalId}`;


// ---- nextAction ----

export type WithdrawalAction =
  | { type: 'debit'; account: string; ref: string; amount: Amount; from: WithdrawalVia }
  | { type: 'sign'; withdrawalId: string; destination: string; amount: Amount }
  | { type: 'send'; signature: string; transaction: string }
  | { type: 'wait'; until: number; signatures: string[] }
  | { type: 'abandon'; reason: string }
  | { type: 'done'; outcome: 'paid' | 'refunded' | 'rejected' };

/** What the shell must do next; pure in state and now. */
export function nextAction(state: OpenedWithdrawal, now: number): WithdrawalAction {
  switch (state.status) {
    case 'requested':
      return { type: 'debit', account: state.account, ref: withdrawalRef(state.withdrawalId), amount: state.amount, from: state.via };
    case 'paid':
    case 'refunded':
    case 'rejected':
      return { type: 'done', outcome: state.status };
    case 'funded': {
      if (state.via === 'escrow') return cosignedStep(state, now);
      const step = attemptStep(state.attempts, now);
      return step.type === 'sign' ? { type: 'sign', withdrawalId: state.withdrawalId, destination: state.destination, amount: state.amount } : step;
    }
  }
}

/**
 * A co-signed escrow withdrawal has one transaction, which the buyer completes and sends: it is
 * signed (co-signed) once, never sent from here, observed until it lands or is proven expired, and
 * then given up (the amount is refunded).
 */
function cosignedStep(state: WithdrawalData, now: number): WithdrawalAction {
  const a = currentAttempt(state.attempts);
  if (!a) return { type: 'sign', withdrawalId: state.withdrawalId, destination: state.destination, amount: state.amount };
  if (!mayLand(a)) return { type: 'abandon', reason: COSIGNED_EXPIRED };
  return { type: 'wait', until: now + POLL_INTERVAL_MS, signatures: [a.signature] };
}

// ---- decide ----

type Code = keyof typeof CUSTODY_ERRORS & string;
const reject = (code: Code, context: Record<string, unknown> = {}) => fail(makeError(CUSTODY_ERRORS, code, context));
const invalid = (field: string, problem: string) => reject('CUSTODY__WITHDRAWAL_INVALID', { field, problem });
const attemptLive = (w: WithdrawalData, a: Attempt) =>
  reject('CUSTODY__WITHDRAWAL_ATTEMPT_LIVE', { withdrawalId: w.withdrawalId, signature: a.signature, lastValidBlockHeight: a.lastValidBlockHeight });

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
      const refusal = checkSigned(w.attempts, command);
      if (refusal?.kind === 'repeat') return ok([]);
      if (w.via === 'escrow' && w.attempts.length > 0 && refusal === null) return invalid('signature', 'a co-signed escrow withdrawal is signed once');
      if (refusal?.kind === 'reused') return reject('CUSTODY__WITHDRAWAL_SIGNATURE_REUSED', { withdrawalId: w.withdrawalId, signature: command.signature });
      if (w.status !== 'funded') return closed();
      if (refusal?.kind === 'invalid') return invalid(refusal.field, refusal.problem);
      if (refusal?.kind === 'live') return attemptLive(w, refusal.attempt);
      if (refusal?.kind === 'stale') return reject('CUSTODY__WITHDRAWAL_ATTEMPT_STALE', { lastValidBlockHeight: command.lastValidBlockHeight, blockHeight: refusal.blockHeight });
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
      const current = currentAttempt(w.attempts);
      if (mayLand(current)) return attemptLive(w, current);
      return ok([{ type: 'WithdrawalAbandoned', reason: command.reason }]);
    }
  }
}

function request(state: WithdrawalState, c: RequestWithdrawal, meta: CommandMeta): Result<WithdrawalEvent[]> {
  if (state.status !== 'none') {
    const same =
      state.withdrawalId === c.withdrawalId && state.account === c.account && state.destination === c.destination && state.amount === c.amount && state.via === (c.via ?? 'custody');
    return same ? ok([]) : reject('CUSTODY__WITHDRAWAL_EXISTS', { withdrawalId: state.withdrawalId });
  }
  if (typeof c.withdrawalId !== 'string' || c.withdrawalId === '' || c.withdrawalId.length > 128) return invalid('withdrawalId', 'must be 1 to 128 characters');
  if (typeof c.account !== 'string' || c.account === '') return invalid('account', 'must name the account to debit');
  if (!isPublicKey(c.destination)) return invalid('destination', 'must be a base58 wallet address');
  if (typeof c.amount !== 'bigint' || c.amount <= 0n || c.amount > MAX_AMOUNT) return invalid('amount', 'must be a positive u64 amount');
  if (c.via !== undefined && c.via !== 'custody' && c.via !== 'escrow') return invalid('via', 'must be custody or escrow');
  if (c.via === 'escrow' && c.destination !== c.account) return invalid('destination', 'a withdrawal from an escrow pays the buyer’s own wallet');
  return ok([
    {
      type: 'WithdrawalRequested',
      withdrawalId: c.withdrawalId,
      account: c.account,
      destination: c.destination,
      amount: c.amount,
      at: meta.now,
      ...(c.via === 'escrow' && { via: 'escrow' as const }),
    },
  ]);
}

function observe(w: OpenedWithdrawal, o: ObserveChain): Result<WithdrawalEvent[]> {
  if (w.status === 'requested') return reject('CUSTODY__WITHDRAWAL_NOT_DEBITED', { withdrawalId: w.withdrawalId });
  const bad = checkObservation(o);
  if (bad?.kind === 'invalid') return invalid(bad.field, bad.problem);
  if (!w.attempts.some((x) => x.signature === o.signature)) return reject('CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE', { withdrawalId: w.withdrawalId, signature: o.signature });
  const contradiction = (problem: string) =>
    reject('CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION', { withdrawalId: w.withdrawalId, signature: o.signature, status: o.status, problem });

  if (w.status !== 'funded') {
    // Closed: a lagging node's not_found, or its confirmed for the closing landing, changes nothing;
    // a landing other than the closing one (or unlike it) would mean money moved twice or behind
    // the ledger's back: refuse loudly.
    if (o.status === 'not_found') return ok([]);
    if (w.status === 'paid' && o.signature === w.signature && o.status !== 'failed') return ok([]);
    if (w.status === 'refunded' && o.signature === w.signature && o.status !== 'finalized') return ok([]);
    return contradiction(`the withdrawal is ${w.status}${w.status === 'paid' ? ` by ${w.signature}` : ''}`);
  }

  const r = readOpen(w.attempts, o);
  switch (r.kind) {
    case 'finalized':
      return ok([{ type: 'WithdrawalFinalized', signature: r.signature, slot: r.slot }]);
    case 'failed':
      return ok([{ type: 'WithdrawalFailed', signature: r.signature, error: r.error }]);
    case 'confirmed':
      return ok([{ type: 'WithdrawalConfirmed', signature: r.signature, slot: r.slot }]);
    case 'expired':
      return ok([{ type: 'WithdrawalAttemptExpired', signature: r.signature, blockHeight: r.blockHeight }]);
    case 'contradiction':
      return contradiction(r.problem);
    default:
      return ok([]);
  }
}

// ---- evolve ----

/** Folds one event into the state (in place where the status stays). */
export function evolve(state: WithdrawalState, event: WithdrawalEvent, _meta?: CommandMeta): WithdrawalState {
  if (event.type === 'WithdrawalRequested') {
    if (state.status !== 'none') return state;
    const { withdrawalId, account, destination, amount, at } = event;
    return { status: 'requested', withdrawalId, account, destination, amount, requestedAt: at, via: event.via ?? 'custody', attempts: [] };
  }
  if (state.status === 'none') return state;
  const w = state;
  switch (event.type) {
    case 'WithdrawalDebited':
      return { ...w, status: 'funded' };
    case 'WithdrawalRejected':
      return { ...w, status: 'rejected', code: event.code, message: event.message };
    case 'WithdrawalSigned':
      w.attempts.push(newAttempt(event, event.at));
      return w;
    case 'WithdrawalSent':
      evolveAttempt(w.attempts, { kind: 'sent', signature: event.signature, at: event.at });
      return w;
    case 'WithdrawalConfirmed':
      evolveAttempt(w.attempts, { kind: 'confirmed', signature: event.signature, slot: event.slot });
      return w;
    case 'WithdrawalAttemptExpired':
      evolveAttempt(w.attempts, { kind: 'expired', signature: event.signature, blockHeight: event.blockHeight });
      return w;
    case 'WithdrawalFinalized': {
      const a = evolveAttempt(w.attempts, { kind: 'finalized', signature: event.signature, slot: event.slot });
      return { ...w, status: 'paid', signature: event.signature, slot: a?.slot ?? event.slot };
    }
    case 'WithdrawalFailed':
      evolveAttempt(w.attempts, { kind: 'failed', signature: event.signature });
      return { ...w, status: 'refunded', reason: 'failed', detail: event.error, signature: event.signature };
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
      command: { type: 'Credit', ref: withdrawalRefundRef(state.withdrawalId), amount: state.amount, source: state.via === 'escrow' ? 'escrow' : 'deposit' } satisfies Credit,
    },
  ];
}

// ---- RPC mapping and view ----

/**
 * What the API shows of a withdrawal: transactions left out, but for the co-signed escrow `withdraw`
 * the buyer must still sign and send (`cosigned`, while it may land).
 */
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
  via: WithdrawalVia;
  /** The co-signed transaction (base64) awaiting the buyer's signature, and the last block height it may land at. */
  cosigned: { transaction: string; lastValidBlockHeight: number } | null;
}

/** Pure view of a withdrawal. */
export function withdrawalView(state: OpenedWithdrawal): WithdrawalView {
  return {
    withdrawalId: state.withdrawalId,
    account: state.account,
    destination: state.destination,
    amount: state.amount,
    status: state.status,
    signature: state.status === 'paid' ? state.signature : (currentAttempt(state.attempts)?.signature ?? null),
    attempts: state.attempts.map((a) => ({ signature: a.signature, status: a.status, lastValidBlockHeight: a.lastValidBlockHeight, sends: a.sends })),
    refund: state.status === 'refunded' ? { reason: state.reason, detail: state.detail } : null,
    via: state.via,
    cosigned: cosignedOf(state),
  };
}

function cosignedOf(state: OpenedWithdrawal): WithdrawalView['cosigned'] {
  const a = currentAttempt(state.attempts);
  return state.via === 'escrow' && state.status === 'funded' && a?.status === 'live' ? { transaction: a.transaction, lastValidBlockHeight: a.lastValidBlockHeight } : null;
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
