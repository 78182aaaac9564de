import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBase58 } from '../../contracts/base58.ts';
import { accountDecider, type AccountCommand, type AccountState } from '../account/index.ts';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import type { CommandMeta, Message } from '../decider.ts';
import { MAX_AMOUNT, UNITS_PER_DOUG } from '../money.ts';
import type { Result } from '../result.ts';
import { specFor } from '../spec.ts';
import {
  chainStatusOf,
  nextAction,
  withdrawalDecider,
  withdrawalView,
  type ObserveChain,
  type OpenedWithdrawal,
  type WithdrawalCommand,
  type WithdrawalEvent,
  type WithdrawalState,
} from './withdrawal.ts';

const given = specFor(withdrawalDecider);
const NOW = 1_000_000;
const ID = 'w-1';
const ACCOUNT = 'GfsJWjmGXMfct8JMR9Lm9ySUnniZbnGUTQDbT8ipWf9U';
const DEST = 'ErigbMVRXgm2zELSZbAtngkcizM7veFP9PqPUpPAoTpE';
const AMOUNT = 5n * UNITS_PER_DOUG;

/** A distinct, well-formed base58 signature (64 bytes) per number. */
function sig(n: number): string {
  const bytes = new Uint8Array(64).fill(7);
  new DataView(bytes.buffer).setUint32(1, n);
  return encodeBase58(bytes);
}
const A = sig(1);
const B = sig(2);
const TX_A = 'AQIDBAU=';
const TX_B = 'BgcICQo=';

const request: WithdrawalCommand = { type: 'RequestWithdrawal', withdrawalId: ID, account: ACCOUNT, destination: DEST, amount: AMOUNT };
const requested: WithdrawalEvent = { type: 'WithdrawalRequested', withdrawalId: ID, account: ACCOUNT, destination: DEST, amount: AMOUNT, at: NOW };
const debited: WithdrawalEvent = { type: 'WithdrawalDebited', ref: `withdrawal:${ID}` };
const signedEvent = (signature: string, lastValidBlockHeight: number, transaction = TX_A): WithdrawalEvent => ({
  type: 'WithdrawalSigned',
  signature,
  transaction,
  lastValidBlockHeight,
  at: NOW,
});
const sign = (signature: string, lastValidBlockHeight: number, transaction = TX_B): WithdrawalCommand => ({ type: 'RecordSigned', signature, transaction, lastValidBlockHeight });
/** A reading from a node that is up to date (its processed slot is past the finalized slot read). */
const seen = (signature: string, status: ObserveChain['status'], blockHeight: number, extra: Partial<ObserveChain> = {}): ObserveChain => ({
  type: 'ObserveChain',
  signature,
  status,
  blockHeight,
  blockHeightSlot: blockHeight + 40,
  contextSlot: blockHeight + 72,
  ...extra,
});
const expired = (signature: string, blockHeight: number): WithdrawalEvent => ({ type: 'WithdrawalAttemptExpired', signature, blockHeight });
/** Requested, debited, attempt A signed valid through height 100. */
const inFlight = [requested, debited, signedEvent(A, 100)];

const opened = (state: WithdrawalState): OpenedWithdrawal => {
  if (state.status === 'none') throw new Error('no withdrawal');
  return state;
};
const after = (events: WithdrawalEvent[]) => opened(given(events).state);
const meta: CommandMeta = { commandId: 'c', actor: 'system', now: NOW };

describe('requesting a withdrawal', () => {
  it('records the terms and asks for the debit of the account', () => {
    expect(given([]).when(request).events()).toEqual([requested]);
    expect(nextAction(after([requested]), NOW)).toEqual({ type: 'debit', account: ACCOUNT, ref: 'withdrawal:w-1', amount: AMOUNT, from: 'custody' });
  });
  it('does nothing when repeated, and is refused with other terms', () => {
    expect(given([requested]).when(request).events()).toEqual([]);
    expect(given([requested]).when({ ...request, amount: AMOUNT + 1n } as WithdrawalCommand).rejection().code).toBe('CUSTODY__WITHDRAWAL_EXISTS');
  });
  it('is refused with a destination that is not a wallet address, or an amount that is not a positive u64', () => {
    for (const bad of [{ destination: 'nowhere' }, { amount: 0n }, { amount: -5n }, { amount: MAX_AMOUNT + 1n }, { withdrawalId: '' }]) {
      expect(given([]).when({ ...request, ...bad } as WithdrawalCommand).rejection().code, JSON.stringify(Object.keys(bad))).toBe('CUSTODY__WITHDRAWAL_INVALID');
    }
  });
  it('must come first', () => {
    expect(given([]).when(sign(A, 100)).rejection().code).toBe('CUSTODY__WITHDRAWAL_NOT_FOUND');
  });
});

describe('the debit', () => {
  it('funds the withdrawal, which then asks for a signed transfer', () => {
    expect(given([requested]).when({ type: 'RecordDebit', outcome: 'debited' }).events()).toEqual([debited]);
    expect(nextAction(after([requested, debited]), NOW)).toEqual({ type: 'sign', withdrawalId: ID, destination: DEST, amount: AMOUNT });
  });
  it('refused by the account closes the withdrawal with nothing to refund', () => {
    const events = given([requested]).when({ type: 'RecordDebit', outcome: 'refused', code: 'ACCOUNT__INSUFFICIENT_FUNDS', message: 'no' }).events();
    expect(events).toEqual([{ type: 'WithdrawalRejected', code: 'ACCOUNT__INSUFFICIENT_FUNDS', message: 'no' }]);
    expect(withdrawalDecider.react(given([requested]).state, events[0]!, meta)).toEqual([]);
    expect(nextAction(after([requested, ...events]), NOW)).toEqual({ type: 'done', outcome: 'rejected' });
  });
  it('changes nothing when reported again, and is flagged when reported after a refusal', () => {
    expect(given([requested, debited]).when({ type: 'RecordDebit', outcome: 'debited' }).events()).toEqual([]);
    const rejected: WithdrawalEvent = { type: 'WithdrawalRejected', code: 'X', message: 'x' };
    expect(given([requested, rejected]).when({ type: 'RecordDebit', outcome: 'debited' }).rejection().code).toBe('CUSTODY__WITHDRAWAL_CLOSED');
  });
  it('comes before any signing, sending or abandoning', () => {
    for (const c of [sign(A, 100), { type: 'RecordSend', signature: A }, { type: 'Abandon', reason: 'x' }, seen(A, 'not_found', 1)] as WithdrawalCommand[]) {
      expect(given([requested]).when(c).rejection().code).toBe('CUSTODY__WITHDRAWAL_NOT_DEBITED');
    }
  });
});

describe('signing an attempt', () => {
  it('records signature, transaction and last valid block height, then asks to send exactly that transaction', () => {
    expect(given([requested, debited]).when(sign(A, 100, TX_A)).events()).toEqual([signedEvent(A, 100)]);
    expect(nextAction(after(inFlight), NOW)).toEqual({ type: 'send', signature: A, transaction: TX_A });
  });
  it('is refused while the recorded attempt may still land', () => {
    expect(given(inFlight).when(sign(B, 200)).rejection()).toMatchObject({
      code: 'CUSTODY__WITHDRAWAL_ATTEMPT_LIVE',
      context: { signature: A, lastValidBlockHeight: 100 },
    });
  });
  it('does nothing when the same attempt is recorded again, and refuses a signature used before', () => {
    expect(given(inFlight).when(sign(A, 100, TX_A)).events()).toEqual([]);
    expect(given([...inFlight, expired(A, 101)]).when(sign(A, 300)).rejection().code).toBe('CUSTODY__WITHDRAWAL_SIGNATURE_REUSED');
  });
  it('is refused with a malformed signature, transaction or height', () => {
    for (const c of [sign('abc', 100), sign(A, 100, 'not base64!'), sign(A, 100, ''), sign(A, -1), sign(A, 1.5)]) {
      expect(given([requested, debited]).when(c).rejection().code).toBe('CUSTODY__WITHDRAWAL_INVALID');
    }
  });
});

describe('sending', () => {
  it('is recorded, then waited on (observing every attempt) until the resend interval has passed', () => {
    expect(given(inFlight).when({ type: 'RecordSend', signature: A }, { now: NOW + 5 }).events()).toEqual([{ type: 'WithdrawalSent', signature: A, at: NOW + 5 }]);
    const state = after([...inFlight, { type: 'WithdrawalSent', signature: A, at: NOW + 5 }]);
    expect(nextAction(state, NOW + 1_000)).toEqual({ type: 'wait', until: NOW + 2_005, signatures: [A] });
    expect(nextAction(state, NOW + 2_005)).toEqual({ type: 'send', signature: A, transaction: TX_A });
  });
  it('of a signature that is not an attempt is refused; of an expired attempt changes nothing', () => {
    expect(given(inFlight).when({ type: 'RecordSend', signature: B }).rejection().code).toBe('CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE');
    expect(given([...inFlight, expired(A, 101)]).when({ type: 'RecordSend', signature: A }).events()).toEqual([]);
  });
});

describe('an attempt the chain has not seen', () => {
  it('before its last valid block height is only resent, never replaced', () => {
    for (const height of [0, 50, 99, 100]) {
      const spec = given(inFlight).when(seen(A, 'not_found', height));
      expect(spec.events(), `height ${height}`).toEqual([]);
    }
    expect(nextAction(after(inFlight), NOW).type).toBe('send');
  });
  it('past its last valid block height is proven expired, and a new attempt may be signed', () => {
    expect(given(inFlight).when(seen(A, 'not_found', 101)).events()).toEqual([expired(A, 101)]);
    const state = after([...inFlight, expired(A, 101)]);
    expect(nextAction(state, NOW)).toEqual({ type: 'sign', withdrawalId: ID, destination: DEST, amount: AMOUNT });
    expect(given([...inFlight, expired(A, 101)]).when(sign(B, 250)).events()).toEqual([{ ...signedEvent(B, 250, TX_B) }]);
  });
  it('proves nothing when the status came from a node behind the slot the height was read at', () => {
    expect(given(inFlight).when(seen(A, 'not_found', 500, { blockHeightSlot: 540, contextSlot: 539 })).events()).toEqual([]);
    expect(given(inFlight).when(seen(A, 'not_found', 500, { blockHeightSlot: 540, contextSlot: 540 })).events()).toEqual([expired(A, 500)]);
  });
  it('admits a new attempt only if it is valid past the height that proved the expiry', () => {
    expect(given([...inFlight, expired(A, 140)]).when(sign(B, 140)).rejection()).toMatchObject({
      code: 'CUSTODY__WITHDRAWAL_ATTEMPT_STALE',
      context: { lastValidBlockHeight: 140, blockHeight: 140 },
    });
  });
  it('is never replaced at any height up to its last valid block height, so two attempts are never live at once', () => {
    // Whatever the chain says of A at heights 0..100, B is refused; only a reading past 100 admits it.
    for (let height = 0; height <= 101; height++) {
      let state = given(inFlight).state;
      for (const status of ['not_found', 'confirmed', 'not_found'] as const) {
        const r = withdrawalDecider.decide(state, seen(A, status, height), meta);
        if (r.ok) for (const e of r.value) state = withdrawalDecider.evolve(state, e, meta);
      }
      const r = withdrawalDecider.decide(state, sign(B, 300), meta);
      expect(r.ok, `height ${height}`).toBe(height > 100);
    }
  });
});

describe('an attempt that landed', () => {
  it('confirmed is awaited (no resend) and cannot be replaced', () => {
    expect(given(inFlight).when(seen(A, 'confirmed', 90, { slot: 777 })).events()).toEqual([{ type: 'WithdrawalConfirmed', signature: A, slot: 777 }]);
    const events = [...inFlight, { type: 'WithdrawalConfirmed', signature: A, slot: 777 } as WithdrawalEvent];
    expect(nextAction(after(events), NOW)).toEqual({ type: 'wait', until: NOW + 2_000, signatures: [A] });
    expect(given(events).when(sign(B, 300)).rejection().code).toBe('CUSTODY__WITHDRAWAL_ATTEMPT_LIVE');
    expect(given(events).when(seen(A, 'confirmed', 91)).events()).toEqual([]);
  });
  it('confirmed on a fork that was dropped still expires past its height', () => {
    const events = [...inFlight, { type: 'WithdrawalConfirmed', signature: A, slot: 777 } as WithdrawalEvent];
    expect(given(events).when(seen(A, 'not_found', 101)).events()).toEqual([expired(A, 101)]);
  });
  it('finalized pays the withdrawal; nothing is refunded', () => {
    const events = given(inFlight).when(seen(A, 'finalized', 95, { slot: 800 })).events();
    expect(events).toEqual([{ type: 'WithdrawalFinalized', signature: A, slot: 800 }]);
    expect(withdrawalDecider.react(given(inFlight).state, events[0]!, meta)).toEqual([]);
    const state = after([...inFlight, ...events]);
    expect(nextAction(state, NOW)).toEqual({ type: 'done', outcome: 'paid' });
    expect(withdrawalView(state)).toMatchObject({ status: 'paid', signature: A, refund: null, attempts: [{ signature: A, status: 'finalized' }] });
  });
  it('failed (final) refunds the amount to the account by a Credit, once by its ref', () => {
    const events = given(inFlight).when(seen(A, 'failed', 95, { error: '{"InstructionError":[0,{"Custom":1}]}' })).events();
    expect(events).toEqual([{ type: 'WithdrawalFailed', signature: A, error: '{"InstructionError":[0,{"Custom":1}]}' }]);
    expect(withdrawalDecider.react(given(inFlight).state, events[0]!, meta)).toEqual([
      { to: { kind: 'account', id: ACCOUNT }, command: { type: 'Credit', ref: 'withdrawal-refund:w-1', amount: AMOUNT, source: 'deposit' } },
    ]);
    expect(nextAction(after([...inFlight, ...events]), NOW)).toEqual({ type: 'done', outcome: 'refunded' });
  });
  it('finalized pays even when it is an earlier attempt (the chain is the truth)', () => {
    const events = [...inFlight, expired(A, 101), signedEvent(B, 250, TX_B)];
    expect(given(events).when(seen(A, 'finalized', 120)).events()).toEqual([{ type: 'WithdrawalFinalized', signature: A, slot: null }]);
  });
  it('seen landed after it was proven expired, other than final, is refused as a contradiction', () => {
    const events = [...inFlight, expired(A, 101), signedEvent(B, 250, TX_B)];
    for (const status of ['failed', 'confirmed'] as const) {
      expect(given(events).when(seen(A, status, 120)).rejection().code).toBe('CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION');
    }
  });
  it('after the withdrawal closed: the same landing changes nothing, another is a contradiction', () => {
    const paidByA = [...inFlight, { type: 'WithdrawalFinalized', signature: A, slot: 1 } as WithdrawalEvent];
    expect(given(paidByA).when(seen(A, 'finalized', 120)).events()).toEqual([]);
    expect(given(paidByA).when(seen(A, 'not_found', 120)).events()).toEqual([]);
    expect(given(paidByA).when(seen(A, 'failed', 120)).rejection().code).toBe('CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION');
    const paidByB = [...inFlight, expired(A, 101), signedEvent(B, 250), { type: 'WithdrawalFinalized', signature: B, slot: 1 } as WithdrawalEvent];
    expect(given(paidByB).when(seen(A, 'finalized', 300)).rejection()).toMatchObject({ code: 'CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION', context: { signature: A } });
    const refunded = [...inFlight, { type: 'WithdrawalFailed', signature: A, error: 'e' } as WithdrawalEvent];
    expect(given(refunded).when(seen(A, 'failed', 120)).events()).toEqual([]);
    // A node behind still shows the failed transfer as confirmed (not final yet).
    expect(given(refunded).when(seen(A, 'confirmed', 120)).events()).toEqual([]);
    expect(given(paidByA).when(seen(A, 'confirmed', 120)).events()).toEqual([]);
    expect(given(refunded).when(seen(A, 'finalized', 120)).rejection().code).toBe('CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION');
  });
  it('of a signature that is not an attempt is refused', () => {
    expect(given(inFlight).when(seen(B, 'finalized', 90)).rejection().code).toBe('CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE');
  });
  it('is refused with a malformed reading', () => {
    expect(given(inFlight).when(seen(A, 'pending' as 'confirmed', 90)).rejection().code).toBe('CUSTODY__WITHDRAWAL_INVALID');
    expect(given(inFlight).when(seen(A, 'not_found', 90, { contextSlot: -1 })).rejection().code).toBe('CUSTODY__WITHDRAWAL_INVALID');
  });
});

describe('abandoning', () => {
  it('refunds when nothing was signed yet', () => {
    const events = given([requested, debited]).when({ type: 'Abandon', reason: 'custody is short' }).events();
    expect(events).toEqual([{ type: 'WithdrawalAbandoned', reason: 'custody is short' }]);
    expect(withdrawalDecider.react(given([requested, debited]).state, events[0]!, meta)).toHaveLength(1);
    expect(withdrawalView(after([requested, debited, ...events])).refund).toEqual({ reason: 'abandoned', detail: 'custody is short' });
  });
  it('is refused while an attempt may land, allowed once it is proven expired', () => {
    expect(given(inFlight).when({ type: 'Abandon', reason: 'x' }).rejection().code).toBe('CUSTODY__WITHDRAWAL_ATTEMPT_LIVE');
    expect(given([...inFlight, expired(A, 101)]).when({ type: 'Abandon', reason: 'x' }).events()).toHaveLength(1);
  });
  it('does nothing when repeated, and is refused once paid', () => {
    expect(given([requested, debited, { type: 'WithdrawalAbandoned', reason: 'x' }]).when({ type: 'Abandon', reason: 'x' }).events()).toEqual([]);
    expect(given([...inFlight, { type: 'WithdrawalFinalized', signature: A, slot: 1 }]).when({ type: 'Abandon', reason: 'x' }).rejection().code).toBe(
      'CUSTODY__WITHDRAWAL_CLOSED',
    );
  });
});

describe('a withdrawal from an escrow (co-signed; the buyer sends it)', () => {
  const escrowRequest: WithdrawalCommand = { type: 'RequestWithdrawal', withdrawalId: ID, account: ACCOUNT, destination: ACCOUNT, amount: AMOUNT, via: 'escrow' };
  const escrowRequested: WithdrawalEvent = { type: 'WithdrawalRequested', withdrawalId: ID, account: ACCOUNT, destination: ACCOUNT, amount: AMOUNT, at: NOW, via: 'escrow' };
  const cosigned = [escrowRequested, debited, signedEvent(A, 100)];
  it('pays only the buyer’s own wallet, and debits the account’s escrowed money', () => {
    expect(given([]).when({ ...escrowRequest, destination: DEST } as WithdrawalCommand).rejection()).toMatchObject({ code: 'CUSTODY__WITHDRAWAL_INVALID', context: { field: 'destination' } });
    expect(given([]).when(escrowRequest).events()).toEqual([escrowRequested]);
    expect(nextAction(after([escrowRequested]), NOW)).toEqual({ type: 'debit', account: ACCOUNT, ref: 'withdrawal:w-1', amount: AMOUNT, from: 'escrow' });
    // The same terms through custody are other terms.
    expect(given([escrowRequested]).when({ ...escrowRequest, via: 'custody' } as WithdrawalCommand).rejection().code).toBe('CUSTODY__WITHDRAWAL_EXISTS');
  });
  it('is co-signed once and never sent from here: it is watched until it lands', () => {
    expect(nextAction(after([escrowRequested, debited]), NOW)).toEqual({ type: 'sign', withdrawalId: ID, destination: ACCOUNT, amount: AMOUNT });
    expect(nextAction(after(cosigned), NOW)).toEqual({ type: 'wait', until: NOW + 2_000, signatures: [A] });
    expect(withdrawalView(after(cosigned))).toMatchObject({ via: 'escrow', cosigned: { transaction: TX_A, lastValidBlockHeight: 100 } });
    expect(given(cosigned).when(seen(A, 'finalized', 90)).events()).toEqual([{ type: 'WithdrawalFinalized', signature: A, slot: null }]);
    expect(withdrawalView(after([...cosigned, { type: 'WithdrawalFinalized', signature: A, slot: null }]))).toMatchObject({ status: 'paid', cosigned: null });
  });
  it('once expired unsent, is given up and refunded to the escrow account, never signed anew', () => {
    const lapsed = [...cosigned, expired(A, 101)];
    expect(nextAction(after(lapsed), NOW)).toEqual({ type: 'abandon', reason: expect.stringContaining('not sent before its blockhash expired') });
    expect(withdrawalView(after(lapsed)).cosigned).toBeNull();
    expect(given(lapsed).when(sign(B, 300)).rejection()).toMatchObject({ code: 'CUSTODY__WITHDRAWAL_INVALID', context: { field: 'signature' } });
    const events = given(lapsed).when({ type: 'Abandon', reason: 'expired' }).events();
    expect(events).toEqual([{ type: 'WithdrawalAbandoned', reason: 'expired' }]);
    expect(withdrawalDecider.react(given(lapsed).state, events[0]!, meta)).toEqual([
      { to: { kind: 'account', id: ACCOUNT }, command: { type: 'Credit', ref: `withdrawal-refund:${ID}`, amount: AMOUNT, source: 'escrow' } },
    ]);
  });
  it('refuses a second co-signing while the first may land', () => {
    expect(given(cosigned).when(sign(B, 300)).rejection().code).toBe('CUSTODY__WITHDRAWAL_ATTEMPT_LIVE');
  });
});

describe('chainStatusOf', () => {
  it('maps getSignatureStatuses entries; only a final error is a failure', () => {
    expect(chainStatusOf(null)).toBe('not_found');
    expect(chainStatusOf({ slot: 1, confirmations: 3, err: null, confirmationStatus: 'processed' })).toBe('confirmed');
    expect(chainStatusOf({ slot: 1, confirmations: 3, err: { InstructionError: [0, 'X'] }, confirmationStatus: 'confirmed' })).toBe('confirmed');
    expect(chainStatusOf({ slot: 1, confirmations: null, err: null, confirmationStatus: 'finalized' })).toBe('finalized');
    expect(chainStatusOf({ slot: 1, confirmations: null, err: { InstructionError: [0, 'X'] }, confirmationStatus: 'finalized' })).toBe('failed');
    expect(chainStatusOf({ slot: 1, confirmations: null, err: null })).toBe('finalized');
  });
});

// ---- property: a simulated chain and faulty RPC never make a withdrawal pay twice ----

/*
 * Chain model: block heights equal slots; a sent transaction waits in a pool and lands at most
 * once, in a block whose height is at most its lastValidBlockHeight, successfully or with an
 * error; it is final FIN_LAG blocks later. Two RPC nodes: one current, one lagging a few blocks, and
 * an observation may read the height from one and the status from the other. RPC calls fail
 * (sends may reach the chain and still report failure), the shell crashes between steps, a second
 * shell instance signs and resends concurrently, and an operator tries to abandon.
 */

const FIN_LAG = 2;
const VALIDITY = 5;
const INITIAL = 10n * UNITS_PER_DOUG;

interface ChainTx {
  lastValidBlockHeight: number;
  landedAt: number | null;
  ok: boolean;
  pooled: boolean;
}

class Chain {
  tip = 100;
  txs = new Map<string, ChainTx>();
  landedOk: string[] = [];
  paid = 0n;

  register(signature: string, lastValidBlockHeight: number) {
    if (!this.txs.has(signature)) this.txs.set(signature, { lastValidBlockHeight, landedAt: null, ok: false, pooled: false });
  }
  send(signature: string) {
    const t = this.txs.get(signature)!;
    if (t.landedAt === null && this.tip < t.lastValidBlockHeight) t.pooled = true;
  }
  /** One new block: each pooled transaction waits, is dropped, or lands (ok or failed). */
  block(fate: () => 'wait' | 'drop' | 'ok' | 'fail', amount: bigint) {
    this.tip += 1;
    for (const [signature, t] of this.txs) {
      if (!t.pooled) continue;
      if (this.tip > t.lastValidBlockHeight) {
        t.pooled = false;
        continue;
      }
      const f = fate();
      if (f === 'wait') continue;
      t.pooled = false;
      if (f === 'drop') continue;
      t.landedAt = this.tip;
      t.ok = f === 'ok';
      if (t.ok) {
        this.landedOk.push(signature);
        this.paid += amount;
      }
    }
  }
  /** Whether the transaction could still land in a future block. */
  canLand(signature: string): boolean {
    const t = this.txs.get(signature)!;
    return t.landedAt === null && this.tip < t.lastValidBlockHeight;
  }
  observe(signature: string, heightLag: number, statusLag: number): ObserveChain {
    const finalizedHeight = this.tip - heightLag - FIN_LAG;
    const view = this.tip - statusLag;
    const t = this.txs.get(signature);
    let status: ObserveChain['status'] = 'not_found';
    if (t?.landedAt != null && t.landedAt <= view) status = t.landedAt + FIN_LAG <= view ? (t.ok ? 'finalized' : 'failed') : 'confirmed';
    return {
      type: 'ObserveChain',
      signature,
      status,
      blockHeight: finalizedHeight,
      blockHeightSlot: finalizedHeight,
      contextSlot: view,
      ...(status !== 'not_found' && { slot: t!.landedAt! }),
      ...(status === 'failed' && { error: '{"InstructionError":[0,{"Custom":1}]}' }),
    };
  }
}

type Decide = typeof withdrawalDecider.decide;

class Sim {
  state: WithdrawalState = withdrawalDecider.initialState();
  account: AccountState;
  now = NOW;
  chain = new Chain();
  outbox: Message[] = [];
  delivered = new Set<string>();
  log: { event: WithdrawalEvent; meta: CommandMeta }[] = [];
  /** Decisions that disagree with the chain's truth. */
  violations: string[] = [];
  seq = 0;
  signatures = 0;
  refundsApplied = 0;
  contradictions = 0;

  constructor(
    readonly amount: bigint,
    readonly tape: number[],
    readonly decide: Decide,
  ) {
    this.account = this.applyAccount(accountDecider.initialState(), { type: 'Credit', ref: 'faucet-1', amount: INITIAL, source: 'faucet' }).state;
  }
  private at = 0;
  /** The next number of the tape; 0 once it is spent (the calm phase). */
  r(): number {
    return this.at < this.tape.length ? this.tape[this.at++]! : 0;
  }
  get tapeLeft() {
    return this.at < this.tape.length;
  }

  applyAccount(state: AccountState, command: AccountCommand): { state: AccountState; result: Result<unknown> } {
    const m: CommandMeta = { commandId: `a${this.seq++}`, actor: 'system', now: this.now };
    const result = accountDecider.decide(state, command, m);
    if (result.ok) for (const e of result.value) state = accountDecider.evolve(state, e, m);
    return { state, result };
  }
  debit(ref: string, amount: bigint): Result<unknown> {
    const { state, result } = this.applyAccount(this.account, { type: 'Withdraw', ref, amount });
    this.account = state;
    return result;
  }

  exec(command: WithdrawalCommand): Result<WithdrawalEvent[]> {
    const m: CommandMeta = { commandId: `c${this.seq++}`, actor: 'system', now: this.now };
    const result = this.decide(this.state, command, m);
    if (!result.ok) {
      if (result.error.code === 'CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION') this.contradictions++;
      return result;
    }
    for (const event of result.value) {
      this.check(event);
      withdrawalDecider.react(this.state, event, m).forEach((msg, i) => this.outbox.push({ ...msg, id: `w:${this.log.length}:${i}` }));
      this.state = withdrawalDecider.evolve(this.state, event, m);
      this.log.push({ event, meta: m });
    }
    return result;
  }

  /** Each decision must agree with what the chain really did. */
  private check(e: WithdrawalEvent) {
    const t = 'signature' in e ? this.chain.txs.get(e.signature) : undefined;
    const attempts = this.state.status === 'none' ? [] : this.state.attempts;
    if (e.type === 'WithdrawalFinalized' && !(t?.landedAt != null && t.ok)) this.violations.push(`${e.type} of a transfer that did not land`);
    if (e.type === 'WithdrawalFailed' && !(t?.landedAt != null && !t.ok)) this.violations.push(`${e.type} of a transfer that did not fail`);
    if (e.type === 'WithdrawalConfirmed' && t?.landedAt == null) this.violations.push(`${e.type} of a transfer that did not land`);
    if (e.type === 'WithdrawalAttemptExpired' && (t?.landedAt != null || this.chain.canLand(e.signature))) this.violations.push(`${e.type} of a transfer that landed or may land`);
    if (e.type === 'WithdrawalAbandoned' && attempts.some((a) => this.chain.txs.get(a.signature)?.landedAt != null || this.chain.canLand(a.signature))) {
      this.violations.push(`${e.type} while an attempt landed or may land`);
    }
  }

  /** Delivers one outbox message (sometimes twice: the receiver dedupes by message id, as the shells do). */
  deliver() {
    const msg = this.outbox.shift();
    if (!msg) return;
    if (this.tapeLeft && this.r() % 3 === 0) this.outbox.push(msg);
    if (this.delivered.has(msg.id)) return;
    const { state, result } = this.applyAccount(this.account, msg.command as unknown as AccountCommand);
    this.account = state;
    if (!result.ok) this.violations.push(`refund refused: ${result.error.code}`);
    else this.refundsApplied++;
    this.delivered.add(msg.id);
  }

  /** Signs a new attempt (its blockhash maybe from a lagging node); records it; a second shell also sends it. */
  signAttempt(faulty: boolean, concurrent: boolean) {
    const signature = sig(1000 + this.signatures++);
    const lastValidBlockHeight = this.chain.tip - (faulty ? this.r() % 4 : 0) + VALIDITY;
    this.chain.register(signature, lastValidBlockHeight);
    if (faulty && this.r() % 6 === 0) return; // crashed after signing, before recording: never sent
    const r = this.exec({ type: 'RecordSigned', signature, transaction: btoa(`tx-${signature.slice(0, 9)}`), lastValidBlockHeight });
    if (concurrent && r.ok && r.value.length > 0) this.chain.send(signature);
  }

  /** The shell follows nextAction once. */
  shellStep(faulty: boolean) {
    if (this.state.status === 'none') return;
    const a = nextAction(this.state, this.now);
    switch (a.type) {
      case 'debit': {
        // 0: the call to the account was lost; 1: it was applied but its answer lost.
        const fault = faulty ? this.r() % 5 : 4;
        if (fault === 0) return;
        const result = this.debit(a.ref, a.amount);
        if (fault === 1) return;
        this.exec(
          result.ok || result.error.code === 'ACCOUNT__WITHDRAWAL_ALREADY_APPLIED'
            ? { type: 'RecordDebit', outcome: 'debited' }
            : { type: 'RecordDebit', outcome: 'refused', code: result.error.code, message: result.error.message },
        );
        return;
      }
      case 'sign':
        return this.signAttempt(faulty, false);
      case 'send':
        if (!faulty || this.r() % 3 !== 0) this.chain.send(a.signature); // else the send never reached a leader
        if (faulty && this.r() % 6 === 0) return; // crashed (or the answer was lost) before RecordSend
        this.exec({ type: 'RecordSend', signature: a.signature });
        return;
      case 'wait':
        if (this.now < a.until) this.now = a.until;
        for (const s of a.signatures) {
          if (faulty && this.r() % 4 === 0) continue; // the RPC call failed
          this.exec(this.chain.observe(s, faulty ? this.r() % 3 : 0, faulty ? this.r() % 9 : 0));
        }
        return;
      case 'done':
        return;
    }
  }

  /** Another actor: a concurrent shell, a stale worker resending, an operator, a lagging RPC reading. */
  rogueStep() {
    if (this.state.status === 'none') return;
    const attempts = this.state.attempts;
    const pick = attempts[this.r() % Math.max(1, attempts.length)];
    switch (this.r() % 4) {
      case 0:
        return this.signAttempt(true, true);
      case 1:
        this.exec({ type: 'Abandon', reason: 'operator' });
        return;
      case 2:
        if (pick) this.chain.send(pick.signature);
        return;
      case 3:
        if (pick) this.exec(this.chain.observe(pick.signature, this.r() % 3, this.r() % 9));
        return;
    }
  }

  restart() {
    const d = withdrawalDecider;
    this.state = d.restore(fromJson(toJson(d.snapshot(this.state)), d.bigintFields));
  }

  run(): this {
    this.exec({ type: 'RequestWithdrawal', withdrawalId: ID, account: ACCOUNT, destination: DEST, amount: this.amount });
    const fate = (): 'wait' | 'drop' | 'ok' | 'fail' => (['wait', 'wait', 'wait', 'drop', 'drop', 'fail', 'ok', 'ok'] as const)[this.r() % 8]!;
    while (this.tapeLeft) {
      const action = ['shell', 'shell', 'shell', 'shell', 'block', 'block', 'block', 'time', 'rogue', 'deliver', 'restart'][this.r() % 11];
      if (action === 'shell') this.shellStep(true);
      else if (action === 'block') this.chain.block(fate, this.amount);
      else if (action === 'time') this.now += this.r() % 3_000;
      else if (action === 'rogue') this.rogueStep();
      else if (action === 'deliver') this.deliver();
      else this.restart();
    }
    // Calm: RPC works, blocks come, transactions land; the withdrawal must close.
    for (let i = 0; i < 200 && (this.outbox.length > 0 || this.state.status === 'requested' || this.state.status === 'funded'); i++) {
      this.shellStep(false);
      this.chain.block(() => 'ok', this.amount);
      this.deliver();
    }
    return this;
  }
}

const withdrawalRun = fc.record({
  amount: fc.bigInt({ min: 1n, max: INITIAL + INITIAL / 10n }),
  tape: fc.array(fc.nat({ max: 1 << 20 }), { minLength: 50, maxLength: 500 }),
});

/** Closing outcome of a run, for coverage. */
function outcomeOf(sim: Sim): string {
  const s = sim.state;
  if (s.status === 'refunded') return `refunded:${s.reason}`;
  return `${s.status}${s.status === 'paid' && s.attempts.length > 1 ? ':after-expiry' : ''}`;
}

function checkRun(sim: Sim) {
  const s = sim.state;
  expect(sim.violations).toEqual([]);
  // At most one attempt ever lands successfully.
  expect(sim.chain.landedOk.length).toBeLessThanOrEqual(1);
  // Closed, and paid exactly when one landed, refunded only when none did (and none can).
  expect(['paid', 'refunded', 'rejected']).toContain(s.status);
  if (s.status === 'none') throw new Error('no withdrawal');
  if (s.status === 'paid') expect(sim.chain.landedOk).toEqual([s.signature]);
  else expect(sim.chain.landedOk).toEqual([]);
  if (s.status !== 'paid') for (const a of s.attempts) expect(sim.chain.canLand(a.signature)).toBe(false);
  // Funds conserved: paid + refunded = amount when debited, never both; the account agrees.
  const refunded = sim.refundsApplied === 1 ? sim.amount : 0n;
  expect(sim.refundsApplied).toBeLessThanOrEqual(1);
  if (s.status === 'rejected') expect(sim.chain.paid + refunded).toBe(0n);
  else expect(sim.chain.paid + refunded).toBe(sim.amount);
  expect(sim.account.available + sim.chain.paid).toBe(INITIAL);
}

describe('a withdrawal against a simulated chain and faulty RPC', () => {
  it('pays at most once, pays exactly when a transfer landed, refunds only when none can, and conserves funds', () => {
    fc.assert(
      fc.property(withdrawalRun, ({ amount, tape }) => void checkRun(new Sim(amount, tape, withdrawalDecider.decide).run())),
      { numRuns: 400 },
    );
  });

  it('reaches every outcome, through expired attempts and lagging nodes (fixed seed)', () => {
    const outcomes = new Set<string>();
    let contradictions = 0;
    let expiries = 0;
    fc.assert(
      fc.property(withdrawalRun, ({ amount, tape }) => {
        const sim = new Sim(amount, tape, withdrawalDecider.decide).run();
        checkRun(sim);
        outcomes.add(outcomeOf(sim));
        contradictions += sim.contradictions;
        expiries += sim.log.filter((l) => l.event.type === 'WithdrawalAttemptExpired').length;
      }),
      { numRuns: 400, seed: 1 },
    );
    expect([...outcomes].sort()).toEqual(['paid', 'paid:after-expiry', 'refunded:abandoned', 'refunded:failed', 'rejected']);
    expect(expiries).toBeGreaterThan(0);
    // With the node check in place, the chain never contradicts the decider.
    expect(contradictions).toBe(0);
  });

  it('would prove landed transfers expired, and pay twice, if a status from a node behind the height were trusted', () => {
    const trusting: Decide = (state, command, m) =>
      withdrawalDecider.decide(state, command.type === 'ObserveChain' ? { ...command, contextSlot: Math.max(command.contextSlot, command.blockHeightSlot) } : command, m);
    let falseExpiries = 0;
    let doublePaid = 0;
    fc.assert(
      fc.property(withdrawalRun, ({ amount, tape }) => {
        const sim = new Sim(amount, tape, trusting).run();
        falseExpiries += sim.violations.filter((v) => v.startsWith('WithdrawalAttemptExpired')).length;
        if (sim.chain.landedOk.length > 1) doublePaid++;
      }),
      { numRuns: 400, seed: 1 },
    );
    expect(falseExpiries).toBeGreaterThan(0);
    expect(doublePaid).toBeGreaterThan(0);
  });

  it('gives the same state by replay from zero as by snapshot, restore and the tail', () => {
    fc.assert(
      fc.property(withdrawalRun, fc.nat(), ({ amount, tape }, cut) => {
        const d = withdrawalDecider;
        const sim = new Sim(amount, tape, d.decide).run();
        const at = cut % (sim.log.length + 1);
        let head = d.initialState();
        for (const { event, meta: m } of sim.log.slice(0, at)) head = d.evolve(head, event, m);
        let restored = d.restore(fromJson(toJson(d.snapshot(head)), d.bigintFields));
        for (const { event, meta: m } of sim.log.slice(at)) restored = d.evolve(restored, fromJson<WithdrawalEvent>(toJson(event), d.bigintFields), m);
        expect(canonicalJson(d.snapshot(restored))).toBe(canonicalJson(d.snapshot(sim.state)));
      }),
      { numRuns: 200 },
    );
  });
});
