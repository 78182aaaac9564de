import { describe, expect, it } from 'vitest';
import { UNITS_PER_DOUG } from '$domain/money.ts';
import { PROTOCOL } from '$domain/params.ts';
import { changeFromForm, currentValues, isOpen, statusLabel, tally, type Governed } from './governance.ts';

const KEY = 'FiTTvaBtLFhTXm1cLpRBWvUjQdv7FpaGEn6p7ZVkXfTz';
const governed = {
  escrow: { feeBps: 250, stakersShareBps: 7_000, withdrawTimelockSeconds: 86_400n, admin: KEY },
  staking: { minProviderStake: 0n, cooldownSeconds: 604_800n, maxSlashBpsPerEvent: 1_000, maxSlashBpsPerEpoch: 500, slashAuthority: KEY, admin: KEY },
  governance: { quorumBps: 2_000, vetoBps: 1_000, proposalThreshold: UNITS_PER_DOUG, votingSeconds: 259_200n, holdUpSeconds: 86_400n, appealSeconds: 172_800n, slashProposer: KEY },
} as unknown as Governed;

describe('the proposal form', () => {
  it('starts from the values in force, a market from the protocol’s until governance sets it', () => {
    expect(currentValues('escrow', governed)).toEqual({ feeBps: '250', stakersShareBps: '7000', withdrawTimelockSeconds: '86400' });
    expect(currentValues('governance', governed)).toMatchObject({ proposalThreshold: '1', quorumBps: '2000' });
    expect(currentValues('market', governed, { name: 'cpu', values: null })).toMatchObject({ market: 'cpu', leaseMs: String(PROTOCOL.leaseMs) });
  });

  it('makes the change the form describes, keeping governance the admin', () => {
    const inForce = currentValues('escrow', governed);
    const r = changeFromForm('escrow', { ...inForce, feeBps: '300' }, governed, inForce);
    expect(r).toEqual({ ok: true, change: { action: 'updateEscrow', escrow: { feeBps: 300, stakersShareBps: 7_000, withdrawTimelockSeconds: 86_400n, newAdmin: KEY } } });
    const s = currentValues('staking', governed);
    expect(changeFromForm('staking', { ...s, minProviderStake: '1.5' }, governed, s)).toMatchObject({ ok: true, change: { staking: { minProviderStake: 1_500_000_000n } } });
  });

  it('refuses no change, a value that is not a number, and one the programs would refuse at execution', () => {
    const inForce = currentValues('escrow', governed);
    expect(changeFromForm('escrow', inForce, governed, inForce)).toEqual({ ok: false, error: 'Change at least one value: this is what is in force.' });
    expect(changeFromForm('escrow', { ...inForce, feeBps: '2.5' }, governed, inForce)).toEqual({ ok: false, error: 'Protocol fee: a whole number.' });
    expect(changeFromForm('escrow', { ...inForce, feeBps: '2001' }, governed, inForce)).toEqual({ ok: false, error: 'This could never run: feeBps must be 0 to 2000.' });
    const m = currentValues('market', governed, { name: 'cpu', values: null });
    expect(changeFromForm('market', { ...m, leaseMs: '499' }, governed, m)).toEqual({ ok: false, error: 'This could never run: leaseMs must be 500 to 600000.' });
    expect(changeFromForm('market', { ...m, market: 'CPU', leaseMs: '600' }, governed, m).ok).toBe(false);
    const g = currentValues('governance', governed);
    expect(changeFromForm('governance', { ...g, votingSeconds: '59' }, governed, g)).toEqual({ ok: false, error: 'This could never run: votingSeconds must be 60 to 2592000.' });
  });
});

describe('a proposal’s tally', () => {
  const D = UNITS_PER_DOUG;
  it('shows for and against in percent of the weight at the opening, and the progress to what it needs', () => {
    expect(tally({ action: 'updateEscrow', weightAtOpen: 10n * D, forWeight: 1n * D, againstWeight: 3n * D, needed: 2n * D })).toEqual({ forPercent: 10, againstPercent: 30, neededPercent: 20, progress: 50 });
    // A slash counts the veto (against) toward its bound.
    expect(tally({ action: 'slash', weightAtOpen: 10n * D, forWeight: 0n, againstWeight: 2n * D, needed: 1n * D })).toMatchObject({ progress: 100, againstPercent: 20 });
    expect(tally({ action: 'updateEscrow', weightAtOpen: 0n, forWeight: 0n, againstWeight: 0n, needed: 0n })).toEqual({ forPercent: 0, againstPercent: 0, neededPercent: 0, progress: 100 });
  });
  it('says each status in words, and which are open', () => {
    expect(statusLabel('holdUp')).toBe('Passed: hold-up');
    expect(['voting', 'appeal', 'holdUp', 'executable'].every((s) => isOpen(s as never))).toBe(true);
    expect(['executed', 'defeated', 'vetoed'].some((s) => isOpen(s as never))).toBe(false);
  });
});
