import { describe, expect, it } from 'vitest';
import { UNITS_PER_DOUG } from '$domain/money.ts';
import { feeHistory, lockDays, MAX_LOCK_DAYS, positionActions, rewardRate, shareEstimate, stakeAmount, statusLabel, timeLeft, weightByLock, weightOf } from './staking.ts';

const DOUG = UNITS_PER_DOUG;

describe('the stake form', () => {
  it('takes an amount up to what the wallet holds', () => {
    expect(stakeAmount('2.5', 3n * DOUG)).toEqual({ ok: true, amount: 2_500_000_000n });
    expect(stakeAmount('3.000000001', 3n * DOUG)).toEqual({ ok: false, error: 'Your wallet holds 3 DOUG on chain.' });
    expect(stakeAmount('3', 3n * DOUG).ok).toBe(true);
    expect(stakeAmount('abc', null).ok).toBe(false);
    expect(stakeAmount('0', null).ok).toBe(false);
  });
  it('takes a lock of whole days from 0 to a year', () => {
    expect(lockDays('0')).toEqual({ ok: true, days: 0 });
    expect(lockDays(` ${MAX_LOCK_DAYS} `)).toEqual({ ok: true, days: 365 });
    for (const bad of ['366', '-1', '1.5', '', 'year']) expect(lockDays(bad).ok, bad).toBe(false);
    // An extension: longer than the lock now.
    expect(lockDays('30', 30)).toEqual({ ok: false, error: 'An extension must be longer than the 30 days locked now.' });
    expect(lockDays('31', 30)).toEqual({ ok: true, days: 31 });
  });
  it('weighs a stake as the program does: 1× without a lock, 4× for a year', () => {
    expect(weightOf(2n * DOUG, 0)).toEqual({ weight: 2n * DOUG, multiplier: '1×' });
    expect(weightOf(2n * DOUG, 365)).toEqual({ weight: 8n * DOUG, multiplier: '4×' });
    expect(weightOf(10n * DOUG, 30)).toEqual({ weight: 12_465_000_000n, multiplier: '1.25×' });
  });
  it('estimates a new position’s share of each fee against the weight staked now', () => {
    expect(shareEstimate(DOUG, 0n)).toBe('100.0%');
    expect(shareEstimate(DOUG, 3n * DOUG)).toBe('25.0%');
    expect(shareEstimate(DOUG, 999n * DOUG)).toBe('0.10%');
    expect(shareEstimate(0n, DOUG)).toBe('0%');
  });
});

describe('a position’s actions', () => {
  const NOW = 1_800_000_000_000;
  it('claims a whole unit, unstakes a staked position, withdraws a ready one, and says how long an unstaking one waits', () => {
    expect(positionActions({ status: 'staked', claimable: 0n, unlockAt: null, lockDays: 365 }, NOW)).toEqual([
      { kind: 'topUp', label: 'Add DOUG' },
      { kind: 'unstake', label: 'Unstake' },
    ]);
    expect(positionActions({ status: 'staked', claimable: 1_500_000_000n, unlockAt: null, lockDays: 30 }, NOW)).toEqual([
      { kind: 'claim', label: 'Claim 1.5 DOUG' },
      { kind: 'topUp', label: 'Add DOUG' },
      { kind: 'extend', label: 'Extend lock' },
      { kind: 'unstake', label: 'Unstake' },
    ]);
    expect(positionActions({ status: 'unstaking', claimable: 0n, unlockAt: NOW / 1000 + 7 * 86_400 - 3_600, lockDays: 0 }, NOW)).toEqual([{ kind: 'wait', label: 'Withdraw in 6 d 23 h' }]);
    expect(positionActions({ status: 'withdrawable', claimable: 0n, unlockAt: NOW / 1000 - 1, lockDays: 0 }, NOW)).toEqual([{ kind: 'withdraw', label: 'Withdraw' }]);
    expect(positionActions({ status: 'withdrawn', claimable: 0n, unlockAt: NOW / 1000 - 1, lockDays: 0 }, NOW)).toEqual([]);
    expect(statusLabel({ status: 'withdrawable' })).toBe('Ready to withdraw');
  });
  it('counts time left in the largest units that matter', () => {
    expect(timeLeft(45_000)).toBe('45 s');
    expect(timeLeft(3 * 3_600_000 + 20 * 60_000)).toBe('3 h 20 min');
    expect(timeLeft(2 * 86_400_000)).toBe('2 d');
    expect(timeLeft(-5)).toBe('0 s');
  });
});

describe('the network’s figures', () => {
  it('sums weight by lock band, every day of a year in exactly one band', () => {
    const bands = weightByLock([
      { lockDays: 0, weight: 10n },
      { lockDays: 1, weight: 5n },
      { lockDays: 30, weight: 5n },
      { lockDays: 31, weight: 20n },
      { lockDays: 365, weight: 60n },
      { lockDays: 200, weight: 0n },
    ]);
    expect(bands.map((b) => [b.label, b.weight, b.percent])).toEqual([
      ['No lock', 10n, 10],
      ['1–30 days', 10n, 10],
      ['31–90 days', 20n, 20],
      ['91–180 days', 0n, 0],
      ['181–365 days', 60n, 60],
    ]);
    for (let d = 0; d <= MAX_LOCK_DAYS; d++) expect(weightByLock([{ lockDays: d, weight: 1n }]).filter((b) => b.weight === 1n), `day ${d}`).toHaveLength(1);
    expect(weightByLock([]).every((b) => b.percent === 0)).toBe(true);
  });
  it('draws fees shared over time as the running total ending at today’s, claims left out', () => {
    const flows = [
      { at: 3_000, delta: 50n },
      { at: 1_000, delta: 100n },
      { at: 2_000, delta: -30n }, // a claim
      { at: 2_500, delta: 25n },
    ];
    expect(feeHistory(flows, 1_175n)).toEqual([
      { at: 1_000, price: '1100' },
      { at: 2_500, price: '1125' },
      { at: 3_000, price: '1175' },
    ]);
    expect(feeHistory([], 7n)).toEqual([]);
  });
});

describe('the reward estimate', () => {
  const DAY_MS = 86_400_000;
  const NOW = 1_800_000_000_000;
  it('is the window’s fees per day times the new position’s share of the weight', () => {
    // 7 DOUG of fees over the last week: 1 a day; a position of weight 1 beside 3 takes a quarter.
    const flows = [
      { at: NOW - 7 * DAY_MS, delta: 3n * DOUG },
      { at: NOW - DAY_MS, delta: 4n * DOUG },
      { at: NOW - 2 * DAY_MS, delta: -5n * DOUG }, // a claim: not a fee
    ];
    expect(rewardRate(flows, NOW, 1n * DOUG, 3n * DOUG)).toBe(DOUG / 4n);
  });
  it('counts only the window, over at least a day, and is null with no fee in it', () => {
    expect(rewardRate([{ at: NOW - 8 * DAY_MS, delta: DOUG }], NOW, DOUG, 0n)).toBeNull();
    expect(rewardRate([], NOW, DOUG, 0n)).toBeNull();
    // A fee an hour ago with nothing older: spread over a day, not an hour.
    expect(rewardRate([{ at: NOW - 3_600_000, delta: DOUG }], NOW, DOUG, 0n)).toBe(DOUG);
    expect(rewardRate([{ at: NOW - DAY_MS, delta: DOUG }], NOW, 0n, DOUG)).toBeNull();
  });
});
