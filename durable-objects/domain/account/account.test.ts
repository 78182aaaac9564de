import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import type { CommandMeta } from '../decider.ts';
import { MAX_AMOUNT } from '../money.ts';
import { FEE_POOL_ACCOUNT } from '../params.ts';
import { specFor } from '../spec.ts';
import type { AccountCommand, AccountEvent, AccountState } from './index.ts';
import { accountDecider, apiKeyProblem, balanceOf, NONCE_RETENTION_MS } from './index.ts';

const given = specFor(accountDecider);
const NOW = 1_000_000;
const credited = (amount: bigint, ref = 'dep-1'): AccountEvent => ({ type: 'Credited', ref, amount, source: 'deposit' });
const held = (holdId: string, amount: bigint): AccountEvent => ({ type: 'FundsHeld', holdId, amount });
const BUYER = 'GfsJWjmGXMfct8JMR9Lm9ySUnniZbnGUTQDbT8ipWf9U';

describe('a credit', () => {
  it('adds to available', () => {
    expect(given([]).when({ type: 'Credit', ref: 'tx-1', amount: 5n, source: 'faucet' }).events()).toEqual([
      { type: 'Credited', ref: 'tx-1', amount: 5n, source: 'faucet' },
    ]);
  });
  it('is applied once per reference', () => {
    expect(given([credited(5n, 'tx-1')]).when({ type: 'Credit', ref: 'tx-1', amount: 5n, source: 'deposit' }).rejection().code).toBe(
      'ACCOUNT__CREDIT_ALREADY_APPLIED',
    );
  });
  it('must be positive', () => {
    const error = given([]).when({ type: 'Credit', ref: 'tx-1', amount: 0n, source: 'deposit' }).rejection();
    expect(error.code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
    expect(error.context).toMatchObject({ field: 'amount', amount: 0n });
  });
  it('cannot take the balance past the u64 limit', () => {
    const spec = given([credited(MAX_AMOUNT - 10n), held('h', 5n)]);
    expect(spec.when({ type: 'Credit', ref: 'tx-2', amount: 10n, source: 'deposit' }).events()).toHaveLength(1);
    expect(spec.when({ type: 'Credit', ref: 'tx-2', amount: 11n, source: 'deposit' }).rejection().code).toBe('ACCOUNT__BALANCE_LIMIT_EXCEEDED');
  });
});

describe('a hold', () => {
  it('moves available funds into the hold', () => {
    const spec = given([credited(100n)]);
    expect(spec.when({ type: 'Hold', holdId: 'bid-1', amount: 60n }).events()).toEqual([{ type: 'FundsHeld', holdId: 'bid-1', amount: 60n }]);
  });
  it('is refused beyond available funds, saying how much is available and required', () => {
    const error = given([credited(100n), held('a', 50n)]).when({ type: 'Hold', holdId: 'bid-1', amount: 51n }).rejection();
    expect(error.code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
    expect(error.context).toMatchObject({ available: 50n, required: 51n });
  });
  it('is refused when its id exists, even closed', () => {
    const spec = given([credited(100n), held('bid-1', 10n), { type: 'HoldReleased', holdId: 'bid-1', amount: 10n, remaining: 0n }]);
    expect(spec.when({ type: 'Hold', holdId: 'bid-1', amount: 5n }).rejection().code).toBe('ACCOUNT__HOLD_EXISTS');
  });
  it('must be positive', () => {
    expect(given([credited(100n)]).when({ type: 'Hold', holdId: 'h', amount: -1n }).rejection().code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
  });
});

describe('releasing a hold', () => {
  const open = [credited(100n), held('bid-1', 60n)];
  it('releases part when an amount is given', () => {
    expect(given(open).when({ type: 'ReleaseHold', holdId: 'bid-1', amount: 20n }).events()).toEqual([
      { type: 'HoldReleased', holdId: 'bid-1', amount: 20n, remaining: 40n },
    ]);
  });
  it('releases everything left when no amount is given', () => {
    const spec = given([...open, { type: 'HoldReleased', holdId: 'bid-1', amount: 20n, remaining: 40n }]);
    expect(spec.when({ type: 'ReleaseHold', holdId: 'bid-1' }).events()).toEqual([{ type: 'HoldReleased', holdId: 'bid-1', amount: 40n, remaining: 0n }]);
  });
  it('releases only what remains when asked for more', () => {
    expect(given(open).when({ type: 'ReleaseHold', holdId: 'bid-1', amount: 99n }).events()).toEqual([
      { type: 'HoldReleased', holdId: 'bid-1', amount: 60n, remaining: 0n },
    ]);
  });
  it('does nothing on a hold already released', () => {
    const spec = given([...open, { type: 'HoldReleased', holdId: 'bid-1', amount: 60n, remaining: 0n }]);
    expect(spec.when({ type: 'ReleaseHold', holdId: 'bid-1' }).events()).toEqual([]);
  });
  it('does nothing on a hold already settled', () => {
    const spec = given([...open, { type: 'HoldSettled', holdId: 'bid-1', account: 'buyer', payouts: [], fee: 0n, released: 60n }]);
    expect(spec.when({ type: 'ReleaseHold', holdId: 'bid-1', amount: 5n }).events()).toEqual([]);
  });
  it('is refused for an unknown hold', () => {
    expect(given(open).when({ type: 'ReleaseHold', holdId: 'nope' }).rejection().code).toBe('ACCOUNT__HOLD_NOT_FOUND');
  });
  it('is refused for a non-positive amount', () => {
    expect(given(open).when({ type: 'ReleaseHold', holdId: 'bid-1', amount: 0n }).rejection().code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
  });
  it('returns the funds to available', () => {
    const { state } = given([...open, { type: 'HoldReleased', holdId: 'bid-1', amount: 20n, remaining: 40n }]);
    expect(balanceOf(state)).toMatchObject({ available: 60n, held: 40n, holds: [{ holdId: 'bid-1', amount: 60n, remaining: 40n, status: 'open' }] });
  });
});

describe('settling a hold', () => {
  const open = [credited(100n), held('job-1', 60n)];
  const settle = (payouts: { account: string; amount: bigint }[], fee: bigint): AccountCommand => ({
    type: 'SettleHold',
    holdId: 'job-1',
    account: 'buyer',
    payouts,
    fee,
  });
  it('pays out, takes the fee and releases the rest', () => {
    expect(given(open).when(settle([{ account: 'p1', amount: 30n }, { account: 'p2', amount: 20n }], 2n)).events()).toEqual([
      { type: 'HoldSettled', holdId: 'job-1', account: 'buyer', payouts: [{ account: 'p1', amount: 30n }, { account: 'p2', amount: 20n }], fee: 2n, released: 8n },
    ]);
  });
  it('leaves the balances consistent', () => {
    const { state } = given([...open, { type: 'HoldSettled', holdId: 'job-1', account: 'buyer', payouts: [{ account: 'p1', amount: 50n }], fee: 2n, released: 8n }]);
    expect(balanceOf(state)).toMatchObject({ available: 48n, held: 0n, payoutsSent: 52n, holds: [{ holdId: 'job-1', remaining: 0n, status: 'settled' }] });
  });
  it('is refused when payouts and fee exceed what the hold keeps', () => {
    const error = given(open).when(settle([{ account: 'p1', amount: 59n }], 2n)).rejection();
    expect(error.code).toBe('ACCOUNT__SETTLEMENT_EXCEEDS_HOLD');
    expect(error.context).toMatchObject({ total: 61n, remaining: 60n });
  });
  it('is refused with a negative amount', () => {
    expect(given(open).when(settle([{ account: 'p1', amount: -1n }], 0n)).rejection().code).toBe('ACCOUNT__SETTLEMENT_AMOUNT_NEGATIVE');
    expect(given(open).when(settle([], -1n)).rejection().code).toBe('ACCOUNT__SETTLEMENT_AMOUNT_NEGATIVE');
  });
  it('does nothing when already settled', () => {
    const spec = given([...open, { type: 'HoldSettled', holdId: 'job-1', account: 'buyer', payouts: [], fee: 0n, released: 60n }]);
    expect(spec.when(settle([{ account: 'p1', amount: 1n }], 0n)).events()).toEqual([]);
  });
  it('is refused on a released hold', () => {
    const spec = given([...open, { type: 'HoldReleased', holdId: 'job-1', amount: 60n, remaining: 0n }]);
    expect(spec.when(settle([], 0n)).rejection().code).toBe('ACCOUNT__HOLD_RELEASED');
  });
  it('is refused for an unknown hold', () => {
    expect(given([]).when(settle([], 0n)).rejection().code).toBe('ACCOUNT__HOLD_NOT_FOUND');
  });
  it('sends each payee and the fee pool a payout with a unique ref', () => {
    const event: AccountEvent = {
      type: 'HoldSettled',
      holdId: 'job-1',
      account: 'buyer',
      payouts: [{ account: 'p1', amount: 30n }, { account: 'p1', amount: 20n }, { account: 'p3', amount: 0n }],
      fee: 2n,
      released: 8n,
    };
    const meta: CommandMeta = { commandId: 'c', actor: 'system', now: NOW };
    expect(accountDecider.react(accountDecider.initialState(), event, meta)).toEqual([
      { to: { kind: 'account', id: 'p1' }, command: { type: 'ReceivePayout', ref: 'job-1:0:p1', from: 'buyer', amount: 30n, holdId: 'job-1' } },
      { to: { kind: 'account', id: 'p1' }, command: { type: 'ReceivePayout', ref: 'job-1:1:p1', from: 'buyer', amount: 20n, holdId: 'job-1' } },
      { to: { kind: 'account', id: FEE_POOL_ACCOUNT }, command: { type: 'ReceivePayout', ref: 'job-1:fee', from: 'buyer', amount: 2n, holdId: 'job-1' } },
    ]);
  });
  it('sends nothing to the fee pool when there is no fee', () => {
    const event: AccountEvent = { type: 'HoldSettled', holdId: 'job-1', account: 'b', payouts: [], fee: 0n, released: 60n };
    expect(accountDecider.react(accountDecider.initialState(), event, { commandId: 'c', actor: 's', now: NOW })).toEqual([]);
  });
});

describe('receiving a payout', () => {
  const payout: AccountCommand = { type: 'ReceivePayout', ref: 'job-1:0:p1', from: 'buyer', amount: 30n, holdId: 'job-1' };
  it('adds to available', () => {
    expect(given([]).when(payout).events()).toEqual([{ type: 'PayoutReceived', ref: 'job-1:0:p1', from: 'buyer', amount: 30n, holdId: 'job-1' }]);
  });
  it('does nothing the second time', () => {
    expect(given([{ type: 'PayoutReceived', ref: 'job-1:0:p1', from: 'buyer', amount: 30n, holdId: 'job-1' }]).when(payout).events()).toEqual([]);
  });
  it('is refused for a non-positive amount', () => {
    expect(given([]).when({ ...payout, amount: 0n }).rejection().code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
  });
});

describe('a nonce', () => {
  it('is recorded once', () => {
    expect(given([]).when({ type: 'RecordNonce', nonce: 'n1', timestamp: NOW - 1000 }).events()).toEqual([
      { type: 'NonceRecorded', nonce: 'n1', timestamp: NOW - 1000 },
    ]);
  });
  it('is refused when replayed within the window', () => {
    const spec = given([{ type: 'NonceRecorded', nonce: 'n1', timestamp: NOW }]);
    expect(spec.when({ type: 'RecordNonce', nonce: 'n1', timestamp: NOW + 50_000 }, { now: NOW + 50_000 }).rejection().code).toBe('ACCOUNT__NONCE_REPLAYED');
  });
  it('is refused when its timestamp is outside the window', () => {
    const error = given([]).when({ type: 'RecordNonce', nonce: 'n1', timestamp: NOW - 60_001 }).rejection();
    expect(error.code).toBe('ACCOUNT__NONCE_STALE');
    expect(given([]).when({ type: 'RecordNonce', nonce: 'n1', timestamp: NOW + 60_001 }).rejection().code).toBe('ACCOUNT__NONCE_STALE');
  });
  it('is forgotten past the retention window, so state stays small', () => {
    const d = accountDecider;
    let state = d.initialState();
    state = d.evolve(state, { type: 'NonceRecorded', nonce: 'old', timestamp: NOW }, { commandId: 'a', actor: 'k', now: NOW });
    state = d.evolve(state, { type: 'NonceRecorded', nonce: 'mid', timestamp: NOW + 10_000 }, { commandId: 'b', actor: 'k', now: NOW + 10_000 });
    const later = NOW + NONCE_RETENTION_MS + 1;
    state = d.evolve(state, { type: 'NonceRecorded', nonce: 'new', timestamp: later }, { commandId: 'c', actor: 'k', now: later });
    expect([...state.nonces.keys()]).toEqual(['mid', 'new']);
  });
});

describe('revoking the key', () => {
  const revoked: AccountEvent = { type: 'KeyRevoked', at: NOW };
  it('records when it happened, from the command time', () => {
    expect(given([]).when({ type: 'RevokeKey' }, { now: NOW + 5 }).events()).toEqual([{ type: 'KeyRevoked', at: NOW + 5 }]);
  });
  it('does nothing the second time, keeping the first time', () => {
    const spec = given([revoked]);
    expect(spec.when({ type: 'RevokeKey' }, { now: NOW + 10 }).events()).toEqual([]);
    expect(spec.state.revokedAt).toBe(NOW);
  });
  it('refuses every nonce after it, even a fresh one', () => {
    const error = given([{ type: 'NonceRecorded', nonce: 'n1', timestamp: NOW - 10 }, revoked]).when({ type: 'RecordNonce', nonce: 'n2', timestamp: NOW }).rejection();
    expect(error.code).toBe('ACCOUNT__KEY_REVOKED');
    expect(error.context).toMatchObject({ nonce: 'n2', revokedAt: NOW });
  });
  it('leaves nonces before it recorded as usual', () => {
    const spec = given([{ type: 'NonceRecorded', nonce: 'n1', timestamp: NOW - 10 }]);
    expect(spec.when({ type: 'RecordNonce', nonce: 'n2', timestamp: NOW }).events()).toEqual([{ type: 'NonceRecorded', nonce: 'n2', timestamp: NOW }]);
    expect(spec.state.revokedAt).toBeNull();
  });
  it('leaves the money alone: payouts still arrive', () => {
    const spec = given([credited(10n), revoked]);
    expect(spec.when({ type: 'ReceivePayout', ref: 'j:0:me', from: 'b', amount: 5n, holdId: 'j' }).events()).toHaveLength(1);
    expect(balanceOf(spec.state).available).toBe(10n);
  });
  it('survives a snapshot, and an account never revoked snapshots as before (no revokedAt field)', () => {
    const d = accountDecider;
    const { state } = given([revoked]);
    expect(d.restore(fromJson(toJson(d.snapshot(state)), d.bigintFields)).revokedAt).toBe(NOW);
    expect(Object.keys(d.snapshot(d.initialState()) as object)).not.toContain('revokedAt');
    expect(d.restore(d.snapshot(d.initialState())).revokedAt).toBeNull();
  });
});

describe('an account funded through its escrow', () => {
  const escrowCredit = (amount: bigint, ref = 'esc-1'): AccountEvent => ({ type: 'Credited', ref, amount, source: 'escrow' });
  it('takes escrow deposits, and then only escrow deposits', () => {
    expect(given([]).when({ type: 'Credit', ref: 'e', amount: 5n, source: 'escrow' }).events()).toEqual([{ type: 'Credited', ref: 'e', amount: 5n, source: 'escrow' }]);
    expect(given([escrowCredit(5n)]).state.escrow).toBe(true);
    for (const source of ['deposit', 'faucet'] as const) expect(given([escrowCredit(5n)]).when({ type: 'Credit', ref: 'x', amount: 1n, source }).rejection().code).toBe('ACCOUNT__FUNDING_MIXED');
  });
  it('refuses an escrow deposit while it holds custody money, and takes it once that is gone', () => {
    expect(given([credited(10n)]).when({ type: 'Credit', ref: 'e', amount: 5n, source: 'escrow' }).rejection().code).toBe('ACCOUNT__FUNDING_MIXED');
    expect(given([credited(10n), { type: 'Withdrawn', ref: 'w', amount: 10n }]).when({ type: 'Credit', ref: 'e', amount: 5n, source: 'escrow' }).events()).toHaveLength(1);
  });
  it('withdraws only from its escrow; a custody account only from custody', () => {
    expect(given([escrowCredit(10n)]).when({ type: 'Withdraw', ref: 'w', amount: 4n }).rejection().code).toBe('ACCOUNT__FUNDING_MIXED');
    expect(given([escrowCredit(10n)]).when({ type: 'Withdraw', ref: 'w', amount: 4n, from: 'escrow' }).events()).toEqual([{ type: 'Withdrawn', ref: 'w', amount: 4n }]);
    expect(given([credited(10n)]).when({ type: 'Withdraw', ref: 'w', amount: 4n, from: 'escrow' }).rejection().code).toBe('ACCOUNT__FUNDING_MIXED');
  });
  it('settles a hold on chain: the payouts leave the ledger for the buyer’s settlement, with each gross and fee', () => {
    const open = [escrowCredit(100n), held('job-1', 60n)];
    const command: AccountCommand = { type: 'SettleHold', holdId: 'job-1', account: BUYER, payouts: [{ account: 'p1', amount: 30n, fee: 1n }, { account: 'p2', amount: 20n, fee: 1n }], fee: 2n };
    const spec = given(open).when(command);
    const events = spec.events();
    const after = given([...open, ...events]).state;
    expect(balanceOf(after)).toMatchObject({ available: 48n, held: 0n, payoutsSent: 0n, payoutsOnChain: 52n });
    expect(accountDecider.react(after, events[0]!, { commandId: 'c', actor: 'x', now: NOW })).toEqual([
      {
        to: { kind: 'settlement', id: BUYER },
        command: { type: 'QueuePayouts', buyer: BUYER, holdId: 'job-1', payouts: [{ provider: 'p1', net: 30n, fee: 1n, gross: 31n }, { provider: 'p2', net: 20n, fee: 1n, gross: 21n }] },
      },
    ]);
  });
  it('follows the buyer’s own exit from the escrow: takes what left, at most what is available, once', () => {
    expect(given([escrowCredit(10n)]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 10n }).events()).toEqual([{ type: 'Withdrawn', ref: 'x1', amount: 10n }]);
    // Money that left from under a hold cannot be taken out of available twice.
    expect(given([escrowCredit(10n), held('h', 4n)]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 10n }).events()).toEqual([{ type: 'Withdrawn', ref: 'x1', amount: 6n }]);
    expect(given([escrowCredit(10n), held('h', 10n)]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 10n }).events()).toEqual([]);
    expect(given([escrowCredit(10n), { type: 'Withdrawn', ref: 'x1', amount: 10n }]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 10n }).rejection().code).toBe('ACCOUNT__WITHDRAWAL_ALREADY_APPLIED');
    expect(given([credited(10n)]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 10n }).rejection().code).toBe('ACCOUNT__FUNDING_MIXED');
    expect(given([escrowCredit(10n)]).when({ type: 'RecordEscrowExit', ref: 'x1', amount: 0n }).rejection().code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
  });
  it('refuses per-payout fees that do not add up to the fee', () => {
    const open = [escrowCredit(100n), held('job-1', 60n)];
    const command: AccountCommand = { type: 'SettleHold', holdId: 'job-1', account: BUYER, payouts: [{ account: 'p1', amount: 30n, fee: 1n }, { account: 'p2', amount: 20n }], fee: 2n };
    expect(given(open).when(command).rejection().code).toBe('ACCOUNT__SETTLEMENT_FEES_MISMATCH');
    expect(given(open).when({ ...command, payouts: [{ account: 'p1', amount: 30n, fee: 1n }, { account: 'p2', amount: 20n, fee: 2n }] } as AccountCommand).rejection().code).toBe('ACCOUNT__SETTLEMENT_FEES_MISMATCH');
  });
});

describe('a withdrawal', () => {
  it('takes available funds out', () => {
    expect(given([credited(10n)]).when({ type: 'Withdraw', ref: 'w1', amount: 10n }).events()).toEqual([{ type: 'Withdrawn', ref: 'w1', amount: 10n }]);
  });
  it('is refused beyond available funds (held funds do not count)', () => {
    const error = given([credited(10n), held('h', 5n)]).when({ type: 'Withdraw', ref: 'w1', amount: 6n }).rejection();
    expect(error.code).toBe('ACCOUNT__INSUFFICIENT_FUNDS');
    expect(error.context).toMatchObject({ available: 5n, required: 6n });
  });
  it('is applied once per reference', () => {
    const spec = given([credited(10n), { type: 'Withdrawn', ref: 'w1', amount: 1n }]);
    expect(spec.when({ type: 'Withdraw', ref: 'w1', amount: 1n }).rejection().code).toBe('ACCOUNT__WITHDRAWAL_ALREADY_APPLIED');
  });
  it('must be positive', () => {
    expect(given([credited(10n)]).when({ type: 'Withdraw', ref: 'w1', amount: 0n }).rejection().code).toBe('ACCOUNT__AMOUNT_NOT_POSITIVE');
  });
});

// ---- properties ----

const holdIds = ['h0', 'h1', 'h2', 'h3'];
const refs = ['r0', 'r1', 'r2', 'r3', 'r4'];
const smallAmount = fc.bigInt({ min: -2n, max: 200n });
const commandArb: fc.Arbitrary<AccountCommand> = fc.oneof(
  fc.record({ type: fc.constant('Credit' as const), ref: fc.constantFrom(...refs), amount: smallAmount, source: fc.constantFrom('faucet' as const, 'deposit' as const) }),
  fc.record({ type: fc.constant('Hold' as const), holdId: fc.constantFrom(...holdIds), amount: smallAmount, apiKeyId: fc.constantFrom('key00001', 'key00002') }, { requiredKeys: ['type', 'holdId', 'amount'] }),
  fc.record({ type: fc.constant('CreateApiKey' as const), keyId: fc.constantFrom('key00001', 'key00002', 'BAD'), name: fc.constant('k'), secretSha256: fc.constant('a'.repeat(64)), limit: smallAmount, expiresAt: fc.integer({ min: -10_000, max: 200_000 }) }),
  fc.record({ type: fc.constant('RevokeApiKey' as const), keyId: fc.constantFrom('key00001', 'key00002') }),
  fc.record(
    { type: fc.constant('ReleaseHold' as const), holdId: fc.constantFrom(...holdIds, 'zz'), amount: smallAmount },
    { requiredKeys: ['type', 'holdId'] },
  ),
  fc.record({
    type: fc.constant('SettleHold' as const),
    holdId: fc.constantFrom(...holdIds),
    account: fc.constant('me'),
    payouts: fc.array(fc.record({ account: fc.constantFrom('p1', 'p2'), amount: fc.bigInt({ min: 0n, max: 60n }) }), { maxLength: 3 }),
    fee: fc.bigInt({ min: 0n, max: 10n }),
  }),
  fc.record({ type: fc.constant('ReceivePayout' as const), ref: fc.constantFrom(...refs), from: fc.constant('x'), amount: smallAmount, holdId: fc.constant('hx') }),
  fc.record({ type: fc.constant('RecordNonce' as const), nonce: fc.constantFrom('n0', 'n1', 'n2'), timestamp: fc.integer({ min: -70_000, max: 70_000 }) }),
  fc.record({ type: fc.constant('Withdraw' as const), ref: fc.constantFrom(...refs), amount: smallAmount, from: fc.constantFrom('custody' as const, 'escrow' as const) }, { requiredKeys: ['type', 'ref', 'amount'] }),
  fc.record({ type: fc.constant('RecordEscrowExit' as const), ref: fc.constantFrom(...refs), amount: smallAmount }),
  fc.constant({ type: 'RevokeKey' as const }),
);
// Each step: a command and how far the clock moves before it.
const stepsArb = fc.array(fc.tuple(commandArb, fc.integer({ min: 0, max: 90_000 })), { minLength: 10, maxLength: 60 });

function run(steps: [AccountCommand, number][]) {
  const d = accountDecider;
  let state: AccountState = d.initialState();
  let now = NOW;
  const log: { event: AccountEvent; meta: CommandMeta }[] = [];
  for (const [i, [command, dt]] of steps.entries()) {
    now += dt;
    const cmd = command.type === 'RecordNonce' ? { ...command, timestamp: now + command.timestamp } : command.type === 'CreateApiKey' ? { ...command, expiresAt: now + command.expiresAt } : command;
    const meta: CommandMeta = { commandId: `c${i}`, actor: 'me', now };
    const result = d.decide(state, cmd, meta);
    if (!result.ok) continue;
    for (const event of result.value) {
      state = d.evolve(state, event, meta);
      log.push({ event, meta });
    }
    check(state);
  }
  return { state, log };
}

function check(state: AccountState) {
  const b = balanceOf(state);
  for (const v of [b.available, b.held, b.credited, b.withdrawn, b.payoutsSent, b.payoutsReceived, b.payoutsOnChain]) expect(v >= 0n).toBe(true);
  expect(b.available + b.held).toBe(b.credited - b.withdrawn - b.payoutsSent + b.payoutsReceived - b.payoutsOnChain);
  // An account's money is in custody or in its escrow, never both.
  if (b.escrow) expect(b.payoutsSent).toBe(0n);
  else expect(b.payoutsOnChain).toBe(0n);
  expect(b.held).toBe(b.holds.reduce((sum, h) => sum + (h.status === 'open' ? h.remaining : 0n), 0n));
  for (const h of b.holds) expect(h.remaining >= 0n && h.remaining <= h.amount).toBe(true);
  // An API key's spending is what its holds settled and still hold, never past its limit.
  for (const [id, key] of Object.entries(state.apiKeys)) {
    expect(key.spent >= 0n && key.spent <= key.limit).toBe(true);
    const own = Object.values(state.holds).filter((h) => h.apiKeyId === id);
    expect(key.spent >= own.reduce((sum, h) => sum + h.remaining, 0n)).toBe(true);
  }
}

describe('API keys', () => {
  const create = { type: 'CreateApiKey', keyId: 'key00001', name: 'laptop', secretSha256: 'a'.repeat(64), limit: 100n, expiresAt: NOW + 60_000 } as const;
  const made: AccountEvent = { type: 'ApiKeyCreated', keyId: 'key00001', name: 'laptop', secretSha256: 'a'.repeat(64), limit: 100n, expiresAt: NOW + 60_000, scopes: ['chat'] };

  it('are created once, scoped to chat, with terms that hold together', () => {
    expect(given([]).when(create).events()).toEqual([made]);
    expect(given([made]).when(create).rejection().code).toBe('ACCOUNT__API_KEY_EXISTS');
    for (const bad of [{ keyId: 'Upper_case' }, { name: '' }, { secretSha256: 'xyz' }, { limit: 0n }, { expiresAt: NOW }]) {
      expect(given([]).when({ ...create, ...bad } as AccountCommand).rejection().code, JSON.stringify(bad, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe('ACCOUNT__API_KEY_TERMS_INVALID');
    }
  });

  it('hold within their limit, and spend only what settles: a release gives the room back', () => {
    const start = [credited(1_000n), made];
    expect(given(start).when({ type: 'Hold', holdId: 'h', amount: 101n, apiKeyId: 'key00001' }).rejection()).toMatchObject({ code: 'ACCOUNT__API_KEY_LIMIT_REACHED', context: { spent: 0n, limit: 100n, required: 101n } });
    const heldByKey: AccountEvent = { type: 'FundsHeld', holdId: 'h', amount: 60n, apiKeyId: 'key00001' };
    expect(given(start).when({ type: 'Hold', holdId: 'h', amount: 60n, apiKeyId: 'key00001' }).events()).toEqual([heldByKey]);
    expect(given([...start, heldByKey]).when({ type: 'Hold', holdId: 'h2', amount: 41n, apiKeyId: 'key00001' }).rejection().code).toBe('ACCOUNT__API_KEY_LIMIT_REACHED');
    // Settling 30 of the 60 spends 30: 70 is left for the key.
    const settled: AccountEvent = { type: 'HoldSettled', holdId: 'h', account: 'me', payouts: [{ account: 'p', amount: 30n }], fee: 0n, released: 30n };
    expect(given([...start, heldByKey, settled]).when({ type: 'Hold', holdId: 'h2', amount: 70n, apiKeyId: 'key00001' }).events()).toHaveLength(1);
    expect(given([...start, heldByKey, settled]).when({ type: 'Hold', holdId: 'h2', amount: 71n, apiKeyId: 'key00001' }).rejection().code).toBe('ACCOUNT__API_KEY_LIMIT_REACHED');
  });

  it('may not hold once revoked or expired, or when unknown', () => {
    const start = [credited(1_000n), made];
    expect(given([...start, { type: 'ApiKeyRevoked', keyId: 'key00001', at: NOW }]).when({ type: 'Hold', holdId: 'h', amount: 1n, apiKeyId: 'key00001' }).rejection().code).toBe('ACCOUNT__API_KEY_REVOKED');
    expect(given([credited(1_000n), { ...made, expiresAt: NOW - 1 } as AccountEvent]).when({ type: 'Hold', holdId: 'h', amount: 1n, apiKeyId: 'key00001' }).rejection().code).toBe('ACCOUNT__API_KEY_EXPIRED');
    expect(given(start).when({ type: 'Hold', holdId: 'h', amount: 1n, apiKeyId: 'nokey0000' }).rejection().code).toBe('ACCOUNT__API_KEY_NOT_FOUND');
    expect(given(start).when({ type: 'RevokeApiKey', keyId: 'key00001' }).events()).toEqual([{ type: 'ApiKeyRevoked', keyId: 'key00001', at: NOW }]);
    expect(given([...start, { type: 'ApiKeyRevoked', keyId: 'key00001', at: NOW }]).when({ type: 'RevokeApiKey', keyId: 'key00001' }).events()).toEqual([]);
  });

  it('are checked by their secret’s hash, revocation and expiry', () => {
    let state = accountDecider.initialState();
    state = accountDecider.evolve(state, made, { commandId: 'c', actor: 'me', now: NOW });
    expect(apiKeyProblem(state, 'key00001', 'a'.repeat(64), NOW)).toBeNull();
    expect(apiKeyProblem(state, 'key00001', 'b'.repeat(64), NOW)?.code).toBe('ACCOUNT__API_KEY_INVALID');
    expect(apiKeyProblem(state, 'constructor', 'a'.repeat(64), NOW)?.code).toBe('ACCOUNT__API_KEY_INVALID');
    expect(apiKeyProblem(state, 'key00001', 'a'.repeat(64), NOW + 60_000)?.code).toBe('ACCOUNT__API_KEY_EXPIRED');
  });
});

describe('any sequence of account commands', () => {
  it('keeps available + held equal to the flows in and out, never negative', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(stepsArb, (steps) => {
        for (const { event } of run(steps).log) seen.add(event.type);
      }),
      { numRuns: 600, seed: 2 },
    );

    // The sequences exercise every event type.
    expect([...seen].sort()).toEqual(Object.keys(accountDecider.eventVersions).sort());
    fc.assert(fc.property(stepsArb, (steps) => void run(steps)), { numRuns: 300 });
  });

  it('gives the same state by replay from zero as by snapshot, restore and the tail', () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), (steps, cut) => {
        const d = accountDecider;
        const { state, log } = run(steps);
        const at = log.length === 0 ? 0 : cut % (log.length + 1);
        let head = d.initialState();
        for (const { event, meta } of log.slice(0, at)) head = d.evolve(head, event, meta);
        // The snapshot travels as JSON, as it does in storage; events too.
        let restored = d.restore(fromJson(toJson(d.snapshot(head)), d.bigintFields));
        for (const { event, meta } of log.slice(at)) restored = d.evolve(restored, fromJson<AccountEvent>(toJson(event), d.bigintFields), meta);
        expect(canonicalJson(d.snapshot(restored))).toBe(canonicalJson(d.snapshot(state)));
        expect(d.restore(d.snapshot(state))).toEqual(state);
      }),
      { numRuns: 300 },
    );
  });
});
