import { bps, MAX_AMOUNT, type Amount } from './money.ts';
import { SLASH_BPS } from './params.ts';

/*
 * The slash of a provider proven wrong by verification (a job's replica rejected against a
 * tie-breaker or a lost challenge; a chat stage outvoted by a third holder): what the verifier
 * proposes on chain, and the course each slash takes. The job object and the chat router both
 * drive their slashes through runtime/slash-driver.ts with these rules.
 */

/**
 * A slash's course: proposed on chain by the verifier, then executed after the appeal window or
 * vetoed by stakers; skipped when the provider has nothing staked to slash; refused when the chain
 * would not take it (a bound, an account gone).
 */
export type SlashOutcome = 'proposed' | 'executed' | 'vetoed' | 'skipped' | 'refused';

/** One step of a slash's course, as the driver records it. */
export interface SlashStep {
  outcome: SlashOutcome;
  /** The governance proposal (proposed, executed, vetoed). */
  proposal?: number;
  /** Base units proposed (proposed). */
  amount?: Amount;
  /** Unix ms, by the chain's clock, from which the slash may run (proposed). */
  executableAt?: number;
  /** Why nothing was slashed (skipped, refused). */
  reason?: string;
}

/** What each slash outcome may follow: the verifier proposes (or finds nothing to slash), then governance's outcome. */
const SLASH_STEPS: Record<SlashOutcome, readonly ('pending' | SlashOutcome)[]> = {
  proposed: ['pending'],
  skipped: ['pending'],
  refused: ['pending', 'proposed'],
  executed: ['proposed'],
  vetoed: ['proposed'],
};

/**
 * Why `step` cannot follow a slash at `from` (with the proposal it has, if any): a field that is
 * wrong, or a transition its course does not take. Null when it may, or when it repeats the outcome
 * the slash has (done already: the caller records nothing).
 */
export function slashStepProblem(from: 'pending' | SlashOutcome, proposal: number | null, step: SlashStep): { field: string; problem: string } | { from: string; to: string } | null {
  if (!Object.hasOwn(SLASH_STEPS, step.outcome)) return { field: 'outcome', problem: `must be one of ${Object.keys(SLASH_STEPS).join(', ')}` };
  if (step.outcome === from) return null;
  if (!SLASH_STEPS[step.outcome].includes(from)) return { from, to: step.outcome };
  const proposed = step.outcome === 'proposed';
  if (proposed || step.outcome === 'executed' || step.outcome === 'vetoed') {
    const p = step.proposal ?? proposal;
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) return { field: 'proposal', problem: 'must be the governance proposal’s index' };
  }
  if (proposed && (typeof step.amount !== 'bigint' || step.amount <= 0n || step.amount > MAX_AMOUNT)) return { field: 'amount', problem: 'must be a positive u64 amount' };
  if (proposed && (typeof step.executableAt !== 'number' || !Number.isSafeInteger(step.executableAt) || step.executableAt <= 0)) return { field: 'executableAt', problem: 'must be a time in ms' };
  if ((step.outcome === 'skipped' || step.outcome === 'refused') && (typeof step.reason !== 'string' || step.reason === '' || step.reason.length > 300)) return { field: 'reason', problem: 'must say why, in 1 to 300 characters' };
  return null;
}

/** Base units to propose of a position of `positionAmount`: SLASH_BPS of it, within governance's per-event bound. */
export const slashAmount = (positionAmount: Amount, maxSlashBpsPerEvent: number): Amount => bps(positionAmount, Math.min(SLASH_BPS, maxSlashBpsPerEvent));

/**
 * What the verifier proposes against a provider proven wrong: slashAmount of its largest position
 * still holding tokens (an unstaking one too: it stays slashable until withdrawn), or why nothing.
 */
export function slashPlan<P extends { amount: Amount }>(provider: string, positions: readonly P[], maxSlashBpsPerEvent: number): { position: P; amount: Amount } | { skipped: string } {
  const largest = positions.filter((p) => p.amount > 0n).reduce<P | null>((best, p) => (best === null || p.amount > best.amount ? p : best), null);
  if (!largest) return { skipped: `${provider} has no stake to slash` };
  const amount = slashAmount(largest.amount, maxSlashBpsPerEvent);
  if (amount === 0n) return { skipped: `${provider}'s stake is too small for a slash within the bound of ${maxSlashBpsPerEvent} bps per event` };
  return { position: largest, amount };
}
