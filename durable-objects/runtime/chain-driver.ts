import type { Attempt, Observation } from '../domain/custody/attempts.ts';
import { RESEND_INTERVAL_MS, POLL_INTERVAL_MS } from '../domain/custody/attempts.ts';
import { backoffMs } from '../domain/backoff.ts';

/*
 * The driver of a process that pays on chain through signed attempts (attempts.ts): a withdrawal,
 * a buyer's settlement. The decider says what is next (its nextAction); the driver does it, one
 * step at a time, each step's outcome a command recorded through the object's store:
 *   send → the recorded bytes as they are → RecordSend; before a resend the chain is read once
 *          more, so a transaction seen landed is not sent again;
 *   wait → when due (its end, or the next poll of a landed transaction): read the chain →
 *          ObserveChain per signature;
 *   any other step (debit, sign, open, sync…) → the process's own `perform`.
 * A step that fails (RPC down, timeout, garbage, an object unreachable, chain not configured, a
 * refusal of the decider) changes no state; the drive stops and the step is retried after a backoff
 * (0.5 s doubling to 30 s). Backoff and the last reading are kept in memory: a restarted object
 * retries at once and reads the chain before it resends.
 */

/** The steps the driver runs itself; a process adds its own. */
export type ChainStep =
  | { type: 'send'; signature: string; transaction: string }
  | { type: 'wait'; until: number; signatures: string[] };

const isWait = (s: { type: string }): s is ChainStep & { type: 'wait' } => s.type === 'wait';
const isSend = (s: { type: string }): s is ChainStep & { type: 'send' } => s.type === 'send';

/** What a step of the process is: the driver's own, one of its own, or nothing left to do. */
export type Step<Own extends { type: string }> = ChainStep | Own | { type: 'done' } | { type: 'idle' };

export interface ChainDriverPorts<Own extends { type: string }> {
  /** What the process's decider says is next, at `now`. */
  next(now: number): Step<Own>;
  /**
   * The open transaction's attempts: their signatures (the current one first) and when the current
   * one was last sent (null before its first send; a resend reads the chain first).
   */
  attempts(): { signatures: string[]; lastSentAt: number | null };
  /** Performs one of the process's own steps, recording its outcome; throws on failure. */
  perform(step: Own, now: number): Promise<void>;
  send(transaction: string): Promise<void>;
  observe(signatures: string[]): Promise<Observation[]>;
  /** Records RecordSend / ObserveChain (a refusal throws). */
  recordSend(signature: string, now: number): void;
  recordObservation(o: Observation, at: number, index: number): void;
  now(): number;
  /** Where failures are reported, with what failed. */
  warn(message: string): void;
  /** The process's name in warnings. */
  label(): string;
}

/** The attempts port for a list of attempts in signing order: the current one's signature first. */
export function attemptsOf(attempts: readonly Attempt[]): { signatures: string[]; lastSentAt: number | null } {
  const current = attempts[attempts.length - 1];
  return { signatures: current ? [current.signature, ...attempts.slice(0, -1).map((a) => a.signature)] : [], lastSentAt: current?.lastSentAt ?? null };
}

/** Steps one drive may take before it yields (the alarm re-arms and goes on). */
export const MAX_STEPS = 8;
export const MIN_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;

export class ChainDriver<Own extends { type: string }> {
  private failures = 0;
  private retryAt = 0;
  private observedAt: number | null = null;
  private driving: Promise<void> | null = null;

  constructor(private readonly ports: ChainDriverPorts<Own>) {}

  /** When the next step is due (now, a wait's end or the next poll); null when there is nothing to do. */
  dueAt(): number | null {
    const now = this.ports.now();
    const step = this.ports.next(now);
    if (step.type === 'done' || step.type === 'idle') return null;
    const due = isWait(step) ? Math.min(step.until, step.signatures.length > 0 ? this.observeDueAt() : Infinity) : now;
    return Math.max(due, this.retryAt);
  }

  /** Takes up to `max` due steps, one drive at a time: concurrent callers wait for the running drive first. */
  async drive(max = MAX_STEPS, o: { ignoreBackoff?: boolean } = {}): Promise<void> {
    while (this.driving) await this.driving;
    if (o.ignoreBackoff) this.retryAt = 0;
    const run = this.steps(max).finally(() => {
      this.driving = null;
    });
    this.driving = run;
    await run;
  }

  private observeDueAt(): number {
    return this.observedAt === null ? 0 : this.observedAt + POLL_INTERVAL_MS;
  }

  private async steps(max: number): Promise<void> {
    for (let i = 0; i < max; i++) {
      const now = this.ports.now();
      if (now < this.retryAt) return;
      const step = this.ports.next(now);
      if (step.type === 'done' || step.type === 'idle') return;
      // A wait with signatures is also due at its next poll; one without (a process's own pause) only at its end.
      if (isWait(step) && now < step.until && (step.signatures.length === 0 || now < this.observeDueAt())) return;
      // A wait that reads the chain, or a resend read first, is named for what it does.
      const name = this.observesFirst(step) || (isWait(step) && step.signatures.length > 0) ? 'observe' : step.type;
      try {
        await this.perform(step, now);
        this.failures = 0;
        this.retryAt = 0;
      } catch (error) {
        this.failures += 1;
        const wait = backoffMs(this.failures, { minMs: MIN_BACKOFF_MS, maxMs: MAX_BACKOFF_MS });
        this.retryAt = this.ports.now() + wait;
        this.ports.warn(`${this.ports.label()}: ${name} failed (${this.failures} in a row, next try in ${wait} ms): ${String(error)}`);
        return;
      }
    }
  }

  private async perform(step: Step<Own>, now: number): Promise<void> {
    if (step.type === 'done' || step.type === 'idle') return;
    if (isSend(step)) {
      if (this.observesFirst(step)) return this.observe(this.ports.attempts().signatures);
      await this.ports.send(step.transaction);
      return this.ports.recordSend(step.signature, now);
    }
    // A process's own pause (no signatures) has nothing to read: it is over, go on.
    if (isWait(step)) return step.signatures.length > 0 ? this.observe(step.signatures) : undefined;
    return this.ports.perform(step as Own, now);
  }

  /** Whether a send is a resend not yet preceded by a reading of the chain (then the reading comes first). */
  private observesFirst(step: Step<Own>): boolean {
    if (!isSend(step)) return false;
    const sentAt = this.ports.attempts().lastSentAt;
    return sentAt !== null && (this.observedAt ?? 0) < sentAt + RESEND_INTERVAL_MS;
  }

  /** Reads the chain for these signatures (height first) and records ObserveChain for each, in order. */
  private async observe(signatures: string[]): Promise<void> {
    const readings = await this.ports.observe(signatures);
    const at = this.ports.now();
    this.observedAt = at;
    for (const [i, o] of readings.entries()) this.ports.recordObservation(o, at, i);
  }
}
