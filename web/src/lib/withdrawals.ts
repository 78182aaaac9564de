import type { WithdrawalWire } from '$contracts/api.ts';
import { decodePublicKey } from '$contracts/auth.ts';
import { amountInput, doug } from './format.ts';

/**
 * Withdrawals as the Account page shows them: the form's checks, where a withdrawal has got to
 * (GET /v1/withdrawals/:id), and the list beside the one being watched.
 */

/** The road of a withdrawal that is paid; a refund or a rejection leaves it. */
export const WITHDRAWAL_STEPS = ['requested', 'debited', 'signed', 'sent', 'finalized'] as const;
export type WithdrawalStep = (typeof WITHDRAWAL_STEPS)[number] | 'refunded' | 'rejected';

export interface WithdrawalProgress {
  step: WithdrawalStep;
  /** How far along WITHDRAWAL_STEPS it got (a refund: as far as it went before; a rejection: 0). */
  reached: number;
  /** What is happening, in words. */
  label: string;
  /** Paid, refunded or rejected: nothing more will happen. */
  final: boolean;
  tone: 'live' | 'ok' | 'bad';
}

/** Where a withdrawal stands, from its status and its latest signed attempt. */
export function withdrawalProgress(w: Pick<WithdrawalWire, 'status' | 'attempts' | 'refund' | 'rejection'>): WithdrawalProgress {
  const at = (step: (typeof WITHDRAWAL_STEPS)[number]) => WITHDRAWAL_STEPS.indexOf(step);
  const last = w.attempts.at(-1);
  switch (w.status) {
    case 'paid':
      return { step: 'finalized', reached: at('finalized'), label: 'Paid: the transfer is finalized on chain', final: true, tone: 'ok' };
    case 'rejected':
      return { step: 'rejected', reached: 0, label: `Refused${w.rejection ? `: ${w.rejection.code}` : ''}; nothing left your balance`, final: true, tone: 'bad' };
    case 'refunded':
      return {
        step: 'refunded',
        reached: last ? at(last.sends > 0 ? 'sent' : 'signed') : at('debited'),
        label: w.refund?.reason === 'abandoned' ? 'Refunded: the withdrawal was given up and the amount returned to your balance' : 'Refunded: the transfer failed on chain and the amount returned to your balance',
        final: true,
        tone: 'bad',
      };
    case 'requested':
      return { step: 'requested', reached: at('requested'), label: 'Requested: taking the amount from your balance', final: false, tone: 'live' };
    case 'funded':
      if (!last) return { step: 'debited', reached: at('debited'), label: 'Debited: signing the transfer', final: false, tone: 'live' };
      if (last.status === 'expired') return { step: 'debited', reached: at('debited'), label: 'The last transfer expired unsent: signing it again', final: false, tone: 'live' };
      if (last.status === 'live' && last.sends === 0) return { step: 'signed', reached: at('signed'), label: 'Signed: sending the transfer', final: false, tone: 'live' };
      if (last.status === 'confirmed') return { step: 'sent', reached: at('sent'), label: 'Sent and confirmed: waiting until it is final', final: false, tone: 'live' };
      if (last.status === 'failed') return { step: 'sent', reached: at('sent'), label: 'The transfer failed on chain: refunding', final: false, tone: 'live' };
      return { step: 'sent', reached: at('sent'), label: 'Sent: waiting for the chain', final: false, tone: 'live' };
  }
}

/** The withdraw form's amount in base units, or what is wrong with it (at most the available balance, when known). */
export function withdrawAmount(text: string, available: bigint | null): { ok: true; amount: bigint } | { ok: false; error: string } {
  const check = amountInput(text, '25.5');
  if (check.ok && available !== null && check.amount > available) return { ok: false, error: `Your available balance is ${doug(available)} DOUG.` };
  return check;
}

/** The wallet to pay, or what is wrong with it. */
export function withdrawDestination(text: string): { ok: true; destination: string } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '') return { ok: false, error: 'Enter the wallet address to pay.' };
  if (!decodePublicKey(t)) return { ok: false, error: 'Not a Solana wallet address (base58, 32 bytes).' };
  return { ok: true, destination: t };
}

/**
 * The listed withdrawals (the read model, which may lag a moment) with the one being watched
 * (read from its object): it replaces its row unless the row already shows it final, and comes
 * first when the list does not have it yet.
 */
export function mergeWithdrawals(listed: readonly WithdrawalWire[], watched: WithdrawalWire | null): WithdrawalWire[] {
  if (!watched) return [...listed];
  const i = listed.findIndex((w) => w.withdrawalId === watched.withdrawalId);
  if (i < 0) return [watched, ...listed];
  const row = listed[i]!;
  const keep = withdrawalProgress(row).final && !withdrawalProgress(watched).final ? row : watched;
  return listed.map((w, j) => (j === i ? keep : w));
}

/**
 * A form's client id, kept while the same withdrawal is retried after a failure that got no answer
 * (so a lost answer cannot make it pay twice) and new for anything else.
 */
export function retryClientId(previous: { clientId: string; amount: bigint; destination: string } | null, next: { amount: bigint; destination: string }, fresh: () => string): string {
  return previous && previous.amount === next.amount && previous.destination === next.destination ? previous.clientId : fresh();
}
