import { parseDoug } from '$domain/money.ts';
import { PROTOCOL } from '$domain/params.ts';
import { MARKET_PARAM_FIELDS, type ProposalStatus } from '$programs/governance/constants.ts';
import type { MarketValues, ProposalChange } from '$programs/client/governance.ts';
import { checkChange, type ProposalView } from '$sdk/governance.ts';
import type { governedParameters } from '$sdk/governance.ts';
import { doug } from './format.ts';

/**
 * Governance as its page shows it: the form of the governed parameters (each field's current value,
 * its unit, the change it makes), a proposal's tally against what it needs, and statuses in words.
 */

export type Governed = Awaited<ReturnType<typeof governedParameters>>;
export type Target = 'escrow' | 'staking' | 'market' | 'governance';

/** A field of the form: its key, label and unit; `doug` fields are typed in DOUG, the rest as whole numbers. */
export interface Field {
  key: string;
  label: string;
  unit: string;
  doug?: boolean;
}

export const TARGETS: { target: Target; label: string; fields: Field[] }[] = [
  {
    target: 'escrow',
    label: 'Fees and withdrawals (escrow)',
    fields: [
      { key: 'feeBps', label: 'Protocol fee', unit: 'bps' },
      { key: 'stakersShareBps', label: 'Stakers’ share of the fee', unit: 'bps' },
      { key: 'withdrawTimelockSeconds', label: 'Withdrawal timelock', unit: 's' },
    ],
  },
  {
    target: 'staking',
    label: 'Staking and slashing',
    fields: [
      { key: 'minProviderStake', label: 'Provider minimum stake', unit: 'DOUG', doug: true },
      { key: 'cooldownSeconds', label: 'Cooldown after a lock', unit: 's' },
      { key: 'maxSlashBpsPerEvent', label: 'Most one slash takes of a position', unit: 'bps' },
      { key: 'maxSlashBpsPerEpoch', label: 'Most slashed of all stake per epoch', unit: 'bps' },
    ],
  },
  {
    target: 'market',
    label: 'A market’s parameters',
    fields: [{ key: 'market', label: 'Market', unit: '' }, ...MARKET_PARAM_FIELDS.map((f) => ({ key: f, label: f.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase()).replace(/ Ms$/, ''), unit: f.endsWith('Ms') ? 'ms' : '' }))],
  },
  {
    target: 'governance',
    label: 'Governance itself',
    fields: [
      { key: 'quorumBps', label: 'Quorum', unit: 'bps' },
      { key: 'vetoBps', label: 'Veto of a slash', unit: 'bps' },
      { key: 'proposalThreshold', label: 'Weight to propose', unit: 'DOUG', doug: true },
      { key: 'votingSeconds', label: 'Voting period', unit: 's' },
      { key: 'holdUpSeconds', label: 'Hold-up before execution', unit: 's' },
      { key: 'appealSeconds', label: 'Appeal window of a slash', unit: 's' },
    ],
  },
];

const text = (v: bigint | number, field: Field) => (field.doug ? doug(BigInt(v)).replace(/,/g, '') : String(v));

/** The form's fields for `target`, filled with the values in force (a market: governance's, else the protocol's). */
export function currentValues(target: Target, g: Governed, market: { name: string; values: MarketValues | null } = { name: '', values: null }): Record<string, string> {
  const fields = TARGETS.find((t) => t.target === target)!.fields;
  const source: Record<string, bigint | number | string> =
    target === 'escrow'
      ? { feeBps: g.escrow.feeBps, stakersShareBps: g.escrow.stakersShareBps, withdrawTimelockSeconds: g.escrow.withdrawTimelockSeconds }
      : target === 'staking'
        ? { minProviderStake: g.staking.minProviderStake, cooldownSeconds: g.staking.cooldownSeconds, maxSlashBpsPerEvent: g.staking.maxSlashBpsPerEvent, maxSlashBpsPerEpoch: g.staking.maxSlashBpsPerEpoch }
        : target === 'market'
          ? { market: market.name, ...Object.fromEntries(MARKET_PARAM_FIELDS.map((f) => [f, market.values?.[f] ?? BigInt(PROTOCOL[f])])) }
          : { quorumBps: g.governance.quorumBps, vetoBps: g.governance.vetoBps, proposalThreshold: g.governance.proposalThreshold, votingSeconds: g.governance.votingSeconds, holdUpSeconds: g.governance.holdUpSeconds, appealSeconds: g.governance.appealSeconds };
  return Object.fromEntries(fields.map((f) => [f.key, typeof source[f.key] === 'string' ? (source[f.key] as string) : text(source[f.key] as bigint | number, f)]));
}

/**
 * The change the form describes, or what is wrong with it: whole numbers (DOUG for DOUG fields),
 * something different from what is in force, and within the bounds the programs enforce.
 */
export function changeFromForm(target: Target, form: Record<string, string>, g: Governed, inForce: Record<string, string>): { ok: true; change: Exclude<ProposalChange, { action: 'slash' }> } | { ok: false; error: string } {
  const fields = TARGETS.find((t) => t.target === target)!.fields;
  const values: Record<string, bigint> = {};
  for (const f of fields) {
    if (f.key === 'market') continue;
    const t = (form[f.key] ?? '').trim();
    const v = f.doug ? parseDoug(t) : /^[0-9]+$/.test(t) ? BigInt(t) : null;
    if (v === null) return { ok: false, error: `${f.label}: ${f.doug ? 'an amount of DOUG, e.g. 1.5' : 'a whole number'}.` };
    values[f.key] = v;
  }
  if (fields.every((f) => (form[f.key] ?? '').trim() === inForce[f.key])) return { ok: false, error: 'Change at least one value: this is what is in force.' };
  const n = (k: string) => Number(values[k]);
  const change: Exclude<ProposalChange, { action: 'slash' }> =
    target === 'escrow'
      ? { action: 'updateEscrow', escrow: { feeBps: n('feeBps'), stakersShareBps: n('stakersShareBps'), withdrawTimelockSeconds: values.withdrawTimelockSeconds!, newAdmin: g.escrow.admin } }
      : target === 'staking'
        ? {
            action: 'updateStaking',
            staking: { minProviderStake: values.minProviderStake!, cooldownSeconds: values.cooldownSeconds!, maxSlashBpsPerEvent: n('maxSlashBpsPerEvent'), maxSlashBpsPerEpoch: n('maxSlashBpsPerEpoch'), slashAuthority: g.staking.slashAuthority, newAdmin: g.staking.admin },
          }
        : target === 'market'
          ? { action: 'setMarket', market: (form.market ?? '').trim(), values: Object.fromEntries(MARKET_PARAM_FIELDS.map((f) => [f, values[f]!])) as MarketValues }
          : {
              action: 'updateGovernance',
              governance: {
                quorumBps: n('quorumBps'),
                vetoBps: n('vetoBps'),
                proposalThreshold: values.proposalThreshold!,
                votingSeconds: values.votingSeconds!,
                holdUpSeconds: values.holdUpSeconds!,
                appealSeconds: values.appealSeconds!,
                slashProposer: g.governance.slashProposer,
              },
            };
  const bad = checkChange(change);
  return bad ? { ok: false, error: `This could never run: ${bad}.` } : { ok: true, change };
}

/** A proposal's tally as bars: for and against in percent of the weight at its opening, and where the bar it must reach sits. */
export function tally(p: Pick<ProposalView, 'action' | 'weightAtOpen' | 'forWeight' | 'againstWeight' | 'needed'>): { forPercent: number; againstPercent: number; neededPercent: number; progress: number } {
  const pct = (w: bigint) => (p.weightAtOpen === 0n ? 0 : Math.min(100, Number((w * 1000n) / p.weightAtOpen) / 10));
  const counted = p.action === 'slash' ? p.againstWeight : p.forWeight;
  const progress = p.needed === 0n ? 100 : Math.min(100, Number((counted * 100n) / p.needed));
  return { forPercent: pct(p.forWeight), againstPercent: pct(p.againstWeight), neededPercent: pct(p.needed), progress };
}

/** A status in words. */
export function statusLabel(s: ProposalStatus): string {
  return { voting: 'Voting', defeated: 'Did not pass', holdUp: 'Passed: hold-up', executable: 'Ready to execute', executed: 'Executed', appeal: 'Appeal window', vetoed: 'Vetoed' }[s];
}

/** Whether a proposal is still open (votes may come) rather than past. */
export const isOpen = (s: ProposalStatus): boolean => s === 'voting' || s === 'appeal' || s === 'holdUp' || s === 'executable';
