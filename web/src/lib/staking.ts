import { positionWeight, STAKING_CONSTANTS } from '$programs/staking/constants.ts';
import type { PositionView } from '$sdk/staking.ts';
import { doug } from './format.ts';
import { depositAmount } from './ledger.ts';

/**
 * Staking as the Stake page shows it: the form's checks, the weight a lock gives, the share of the
 * stakers' fees a new position would have, and what each position may do now.
 */

export const MAX_LOCK_DAYS = STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS;

/** The stake form's amount: from the wallet, checked as a deposit's (at most what the wallet holds, when known). */
export const stakeAmount = depositAmount;

/** The lock in whole days, 0 (or more than `above`, for an extension) to a year, or what is wrong with it. */
export function lockDays(text: string, above = -1): { ok: true; days: number } | { ok: false; error: string } {
  const t = text.trim();
  const days = /^[0-9]+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(days) || days > MAX_LOCK_DAYS) return { ok: false, error: `A lock is a whole number of days from 0 to ${MAX_LOCK_DAYS}.` };
  if (days <= above) return { ok: false, error: `An extension must be longer than the ${above} days locked now.` };
  return { ok: true, days };
}

/** The weight a stake would have, and its multiplier in words (1× without a lock, 4× for a year). */
export function weightOf(amount: bigint, days: number): { weight: bigint; multiplier: string } {
  const weight = positionWeight(amount, days);
  const bps = positionWeight(10_000n, days);
  return { weight, multiplier: `${(Number(bps) / 10_000).toFixed(2).replace(/\.?0+$/, '')}×` };
}

/**
 * The share of each fee to stakers a new position of `weight` would receive, in percent, given the
 * weight staked now: an estimate, since others stake and leave.
 */
export function shareEstimate(weight: bigint, totalWeight: bigint): string {
  if (weight <= 0n) return '0%';
  const ppm = (weight * 1_000_000n) / (totalWeight + weight);
  return `${(Number(ppm) / 10_000).toFixed(Number(ppm) < 10_000 ? 2 : 1)}%`;
}

export type PositionAction = { kind: 'claim' | 'topUp' | 'extend' | 'unstake' | 'withdraw'; label: string } | { kind: 'wait'; label: string };

/**
 * What a position may do now: claim when it has a whole unit to claim; take more and extend its lock
 * (under a year) while staked; then unstake or withdraw, or wait with the time left.
 */
export function positionActions(p: Pick<PositionView, 'status' | 'claimable' | 'unlockAt' | 'lockDays'>, nowMs: number): PositionAction[] {
  const actions: PositionAction[] = [];
  if (p.claimable > 0n) actions.push({ kind: 'claim', label: `Claim ${doug(p.claimable)} DOUG` });
  if (p.status === 'staked') actions.push({ kind: 'topUp', label: 'Add DOUG' });
  if (p.status === 'staked' && p.lockDays < MAX_LOCK_DAYS) actions.push({ kind: 'extend', label: 'Extend lock' });
  if (p.status === 'staked') actions.push({ kind: 'unstake', label: 'Unstake' });
  else if (p.status === 'withdrawable') actions.push({ kind: 'withdraw', label: 'Withdraw' });
  else if (p.status === 'unstaking') actions.push({ kind: 'wait', label: `Withdraw in ${timeLeft(p.unlockAt! * 1000 - nowMs)}` });
  return actions;
}

/** A duration ahead in the largest units that matter: 6 d 3 h, 3 h 20 min, 45 s. */
export function timeLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

/** A position's status in words. */
export function statusLabel(p: Pick<PositionView, 'status'>): string {
  return { staked: 'Earning', unstaking: 'Unstaking', withdrawable: 'Ready to withdraw', withdrawn: 'Withdrawn' }[p.status];
}

/** How far back the reward estimate looks at the fees stakers received. */
export const RATE_WINDOW_DAYS = 7;

/**
 * An estimate of what a new position of `weight` would earn a day: the fees that reached the
 * stakers' reward vault in the last RATE_WINDOW_DAYS (or since the oldest movement read, if that is
 * younger; claims do not count), per day, times the position's share of the weight at today's
 * total. Null without any fee in the window. Base units, floored.
 */
export function rewardRate(flows: readonly { at: number; delta: bigint }[], nowMs: number, weight: bigint, totalWeight: bigint): bigint | null {
  const from = nowMs - RATE_WINDOW_DAYS * 86_400_000;
  const fees = flows.filter((f) => f.delta > 0n && f.at >= from && f.at <= nowMs);
  if (fees.length === 0 || weight <= 0n) return null;
  const oldest = Math.min(...flows.map((f) => f.at));
  const spanMs = BigInt(Math.max(86_400_000, nowMs - Math.max(from, oldest)));
  const total = fees.reduce((s, f) => s + f.delta, 0n);
  return (total * 86_400_000n * weight) / (spanMs * (totalWeight + weight));
}

/** Lock ranges for the network's weight by lock. */
export const LOCK_BANDS = [
  { label: 'No lock', from: 0, to: 0 },
  { label: '1–30 days', from: 1, to: 30 },
  { label: '31–90 days', from: 31, to: 90 },
  { label: '91–180 days', from: 91, to: 180 },
  { label: '181–365 days', from: 181, to: MAX_LOCK_DAYS },
] as const;

/** The weight of the earning positions in each lock band, and its share of all of it (percent, one decimal). */
export function weightByLock(positions: readonly { lockDays: number; weight: bigint }[]): { label: string; weight: bigint; percent: number }[] {
  const total = positions.reduce((s, p) => s + p.weight, 0n);
  return LOCK_BANDS.map((band) => {
    const weight = positions.filter((p) => p.lockDays >= band.from && p.lockDays <= band.to).reduce((s, p) => s + p.weight, 0n);
    return { label: band.label, weight, percent: total === 0n ? 0 : Number((weight * 1000n) / total) / 10 };
  });
}

/**
 * Fees shared with stakers over time, as the chart draws them: the running total after each fee
 * that reached the reward vault (`flows`, newest first or in any order), ending at `totalNow`, the
 * configuration's feesToStakers. Claims (outflows) do not count.
 */
export function feeHistory(flows: readonly { at: number; delta: bigint }[], totalNow: bigint): { at: number; price: string }[] {
  const fees = flows.filter((f) => f.delta > 0n).sort((a, b) => b.at - a.at);
  const points: { at: number; price: string }[] = [];
  let after = totalNow;
  for (const f of fees) {
    points.push({ at: f.at, price: after.toString() });
    after -= f.delta;
  }
  return points.reverse();
}
