import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '$sdk/client.ts';
import { cursorAfter, depositAmount, faucetAmount, holdSubject, jobEarning, ledgerRow, mergeLedger, signedDoug } from './ledger.ts';

const BID = 'bid_cpu_987dc2b6a81aecaedf0fda6e';
const PROVIDER = 'Bt3uSPkwdE6FdgudDtYwoaq9hdgWKJC2TMKRN5yWijE5';
const OTHER = 'A4vfsPibVX3q5UBUNGKT2Fb7R4K2MshmbGuLSxDce9NG';

const entry = (seq: number, type: string, data: Record<string, unknown>): HistoryEntry => ({ seq, type, at: 1_000 + seq, data });

describe('ledgerRow, given the events of a buyer', () => {
  it('reads a faucet deposit as test money into available', () => {
    const r = ledgerRow(entry(2, 'Credited', { ref: 'faucet:x:y', amount: '100000000000', source: 'faucet' }));
    expect(r).toMatchObject({ title: 'Deposit via faucet (test money)', available: 100_000_000_000n, held: 0n, malformed: false });
  });

  it('reads an escrow as a move from available to held, naming the bid', () => {
    const r = ledgerRow(entry(6, 'FundsHeld', { holdId: BID, amount: '4000000' }));
    expect(r).toMatchObject({ title: 'Escrow held for bid', jobId: BID, available: -4_000_000n, held: 4_000_000n });
  });

  it('reads a partial release with what is still held', () => {
    const r = ledgerRow(entry(7, 'HoldReleased', { holdId: BID, amount: '2000000', remaining: '2000000' }));
    expect(r).toMatchObject({ title: 'Escrow released from bid', jobId: BID, available: 2_000_000n, held: -2_000_000n, detail: '0.002 DOUG still held' });
  });

  it('reads a settlement as payouts and fee leaving held, the rest back to available', () => {
    const r = ledgerRow(
      entry(8, 'HoldSettled', { holdId: BID, account: 'me', payouts: [{ account: PROVIDER, amount: '975000' }, { account: OTHER, amount: '975000' }], fee: '50000', released: '1000' }),
    );
    expect(r).toMatchObject({ title: 'Paid for job', jobId: BID, available: 1000n, held: -2_001_000n });
    expect(r.detail).toBe('0.00195 DOUG to 2 providers, fee 0.00005 DOUG, 0.000001 DOUG back to available');
  });

  it('names the job of a challenge deposit', () => {
    const r = ledgerRow(entry(9, 'FundsHeld', { holdId: `challenge_${BID}`, amount: '5' }));
    expect(r).toMatchObject({ title: 'Challenge deposit held for job', jobId: BID });
  });
});

describe('ledgerRow, given the events of a provider and the odd ones', () => {
  it('reads a payout with its job and payer', () => {
    const r = ledgerRow(entry(2, 'PayoutReceived', { ref: `${BID}:0:${PROVIDER}`, from: OTHER, amount: '975000', holdId: BID }));
    expect(r).toMatchObject({ title: 'Payout received for job', jobId: BID, available: 975_000n, held: 0n, detail: 'from A4vf…e9NG' });
  });

  it('reads a withdrawal and a revoked key', () => {
    expect(ledgerRow(entry(3, 'Withdrawn', { ref: 'tx1', amount: '5' }))).toMatchObject({ title: 'Withdrawal', ref: 'tx1', available: -5n });
    expect(ledgerRow(entry(4, 'KeyRevoked', { at: 1 }))).toMatchObject({ title: 'Session key revoked', available: 0n, held: 0n });
  });

  it('keeps an unknown type by name and flags an unreadable amount instead of reading it as 0', () => {
    expect(ledgerRow(entry(5, 'SomethingNew', {}))).toMatchObject({ title: 'SomethingNew', available: 0n, malformed: false });
    expect(ledgerRow(entry(6, 'Credited', { amount: 12, source: 'deposit' }))).toMatchObject({ title: 'Deposit', malformed: true });
  });

  it('keeps a hold id that names no job as a plain reference', () => {
    expect(holdSubject('h-1')).toEqual({ kind: 'other', jobId: null, ref: 'h-1' });
    expect(holdSubject(undefined)).toEqual({ kind: 'other', jobId: null, ref: null });
  });
});

describe('paging the ledger', () => {
  it('merges pages by sequence, without duplicates, oldest first', () => {
    const a = [ledgerRow(entry(2, 'KeyRevoked', {})), ledgerRow(entry(6, 'KeyRevoked', {}))];
    const b = [ledgerRow(entry(6, 'KeyRevoked', {})), ledgerRow(entry(9, 'KeyRevoked', {}))];
    expect(mergeLedger(b, a).map((r) => r.seq)).toEqual([2, 6, 9]);
  });

  it('asks for entries after the last one shown', () => {
    expect(cursorAfter([])).toBeNull();
    expect(cursorAfter([ledgerRow(entry(2, 'KeyRevoked', {})), ledgerRow(entry(17, 'KeyRevoked', {}))])).toBe('s17');
  });
});

describe('signedDoug', () => {
  it('signs changes with a plus or a true minus, and leaves no change blank', () => {
    expect(signedDoug(1_500_000_000n)).toBe('+1.5');
    expect(signedDoug(-2_000_000n)).toBe('−0.002');
    expect(signedDoug(0n)).toBe('');
  });
});

describe('jobEarning', () => {
  it('sums the net and gross of the payouts to this provider only', () => {
    const job = {
      replicas: [{ provider: PROVIDER }, { provider: OTHER }] as never,
      payouts: [
        { replica: 0, provider: PROVIDER, gross: '1000000', fee: '25000', net: '975000' },
        { replica: 1, provider: OTHER, gross: '1000000', fee: '25000', net: '975000' },
      ],
    };
    expect(jobEarning(job, PROVIDER)).toEqual({ net: 975_000n, gross: 1_000_000n, replicas: 1 });
    expect(jobEarning({ replicas: [] }, PROVIDER)).toEqual({ net: 0n, gross: 0n, replicas: 0 });
  });
});

describe('faucetAmount', () => {
  it('takes an exact DOUG amount up to the faucet limit', () => {
    expect(faucetAmount(' 100 ')).toEqual({ ok: true, amount: 100_000_000_000n });
    expect(faucetAmount('0.000000001')).toEqual({ ok: true, amount: 1n });
    expect(faucetAmount('1000000')).toMatchObject({ ok: true });
  });

  it('refuses nothing, zero, malformed and too much', () => {
    for (const text of ['', '0', '-1', '1.0000000001', 'ten', '1000000.000000001']) expect(faucetAmount(text).ok, text).toBe(false);
  });
});

describe('depositAmount', () => {
  it('takes an exact DOUG amount up to what the wallet holds', () => {
    expect(depositAmount('2.5', 3_000_000_000n)).toEqual({ ok: true, amount: 2_500_000_000n });
    expect(depositAmount('3', 3_000_000_000n)).toEqual({ ok: true, amount: 3_000_000_000n });
    expect(depositAmount('5000000', null)).toMatchObject({ ok: true });
  });
  it('refuses empty, malformed, zero and more than the wallet holds, saying why', () => {
    for (const text of ['', '0', '-1', 'ten', '1.0000000001']) expect(depositAmount(text, null).ok, text).toBe(false);
    expect(depositAmount('3.000000001', 3_000_000_000n)).toEqual({ ok: false, error: 'Your wallet holds 3 DOUG on chain.' });
  });
});
