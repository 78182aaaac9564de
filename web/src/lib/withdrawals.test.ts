import { describe, expect, it } from 'vitest';
import type { WithdrawalWire } from '$contracts/api.ts';
import { mergeWithdrawals, retryClientId, withdrawalProgress, withdrawAmount, withdrawDestination } from './withdrawals.ts';

const WALLET = 'Bt3uSPkwdE6FdgudDtYwoaq9hdgWKJC2TMKRN5yWijE5';
const SIG = '5'.repeat(87);

const attempt = (status: WithdrawalWire['attempts'][number]['status'], sends = 1) => ({ signature: SIG, status, lastValidBlockHeight: 150, sends });
const withdrawal = (o: Partial<WithdrawalWire> = {}): WithdrawalWire => ({
  withdrawalId: 'wd_000000000000000000000001',
  account: WALLET,
  destination: WALLET,
  amount: '1500000000',
  status: 'funded',
  signature: null,
  attempts: [],
  refund: null,
  rejection: null,
  requestedAt: 1_000,
  via: 'custody',
  cosigned: null,
  ...o,
});

describe('withdrawalProgress, given a withdrawal on its way', () => {
  it('follows requested, debited, signed, sent to finalized', () => {
    expect(withdrawalProgress(withdrawal({ status: 'requested' }))).toMatchObject({ step: 'requested', reached: 0, final: false });
    expect(withdrawalProgress(withdrawal())).toMatchObject({ step: 'debited', reached: 1, final: false });
    expect(withdrawalProgress(withdrawal({ attempts: [attempt('live', 0)] }))).toMatchObject({ step: 'signed', reached: 2, final: false });
    expect(withdrawalProgress(withdrawal({ attempts: [attempt('live', 2)] }))).toMatchObject({ step: 'sent', reached: 3, final: false });
    expect(withdrawalProgress(withdrawal({ attempts: [attempt('confirmed')] }))).toMatchObject({ step: 'sent', label: expect.stringContaining('confirmed'), final: false });
    expect(withdrawalProgress(withdrawal({ status: 'paid', signature: SIG, attempts: [attempt('finalized')] }))).toMatchObject({ step: 'finalized', reached: 4, final: true, tone: 'ok' });
  });

  it('goes back to signing when the last attempt expired', () => {
    expect(withdrawalProgress(withdrawal({ attempts: [attempt('expired')] }))).toMatchObject({ step: 'debited', label: expect.stringContaining('expired'), final: false });
  });

  it('ends refunded after a failure on chain, or refused with the code', () => {
    expect(withdrawalProgress(withdrawal({ status: 'refunded', attempts: [attempt('failed')], refund: { reason: 'failed', detail: 'x' } }))).toMatchObject({ step: 'refunded', reached: 3, final: true, tone: 'bad' });
    expect(withdrawalProgress(withdrawal({ status: 'refunded', refund: { reason: 'abandoned', detail: 'x' } })).label).toContain('given up');
    expect(withdrawalProgress(withdrawal({ status: 'rejected', rejection: { code: 'ACCOUNT__INSUFFICIENT_FUNDS', message: 'm' } }))).toMatchObject({ step: 'rejected', final: true, label: expect.stringContaining('ACCOUNT__INSUFFICIENT_FUNDS') });
  });
});

describe('withdrawAmount', () => {
  it('takes an exact DOUG amount up to the available balance', () => {
    expect(withdrawAmount(' 1.5 ', 2_000_000_000n)).toEqual({ ok: true, amount: 1_500_000_000n });
    expect(withdrawAmount('2', 2_000_000_000n)).toEqual({ ok: true, amount: 2_000_000_000n });
    expect(withdrawAmount('0.000000001', null)).toEqual({ ok: true, amount: 1n });
  });
  it('refuses empty, malformed, zero and more than is available, saying why', () => {
    for (const text of ['', '0', '-1', 'ten', '1.0000000001', '1e3']) expect(withdrawAmount(text, null).ok, text).toBe(false);
    expect(withdrawAmount('2.000000001', 2_000_000_000n)).toEqual({ ok: false, error: 'Your available balance is 2 DOUG.' });
  });
});

describe('withdrawDestination', () => {
  it('takes a base58 public key, trimmed', () => {
    expect(withdrawDestination(` ${WALLET} `)).toEqual({ ok: true, destination: WALLET });
  });
  it('refuses empty text, other characters, and keys of the wrong length', () => {
    for (const text of ['', 'not a key', WALLET.replace('B', '0'), WALLET.slice(0, 30), SIG]) expect(withdrawDestination(text).ok, text).toBe(false);
  });
});

describe('mergeWithdrawals', () => {
  const listed = [withdrawal({ withdrawalId: 'wd_000000000000000000000002', requestedAt: 2_000 }), withdrawal()];
  it('puts the watched withdrawal first while the read model lacks it', () => {
    const watched = withdrawal({ withdrawalId: 'wd_000000000000000000000003', status: 'requested' });
    expect(mergeWithdrawals(listed, watched).map((w) => w.withdrawalId)).toEqual(['wd_000000000000000000000003', 'wd_000000000000000000000002', 'wd_000000000000000000000001']);
  });
  it('shows the watched state in its row, unless the row is already final', () => {
    const paid = withdrawal({ status: 'paid', signature: SIG, attempts: [attempt('finalized')] });
    expect(mergeWithdrawals(listed, paid)[1]).toBe(paid);
    const sent = withdrawal({ attempts: [attempt('live')] });
    expect(mergeWithdrawals([paid], sent)).toEqual([paid]);
    expect(mergeWithdrawals(listed, null)).toEqual(listed);
  });
});

describe('retryClientId', () => {
  const fresh = () => 'c-new';
  it('keeps the client id for a retry of the same amount to the same wallet', () => {
    expect(retryClientId({ clientId: 'c-old', amount: 5n, destination: WALLET }, { amount: 5n, destination: WALLET }, fresh)).toBe('c-old');
  });
  it('makes a new one for anything else', () => {
    expect(retryClientId(null, { amount: 5n, destination: WALLET }, fresh)).toBe('c-new');
    expect(retryClientId({ clientId: 'c-old', amount: 5n, destination: WALLET }, { amount: 6n, destination: WALLET }, fresh)).toBe('c-new');
  });
});
