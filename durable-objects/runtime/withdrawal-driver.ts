import type { Withdraw } from '../domain/account/commands.ts';
import type { CommandMeta } from '../domain/decider.ts';
import { POLL_INTERVAL_MS, RESEND_INTERVAL_MS, nextAction, type Custody, type OpenedWithdrawal, type WithdrawalAction, type WithdrawalCommand, type WithdrawalState } from '../domain/custody/index.ts';
import type { Result } from '../domain/result.ts';
import { backoffMs } from './backoff.ts';

/** The part of custody a withdrawal uses. */
export type WithdrawalCustody = Pick<Custody, 'buildWithdrawal' | 'send' | 'observe'>;

/** What the driver needs from the object around it (and what a test gives it instead). */
export interface WithdrawalPorts {
  /** The withdrawal's current state. */
  state(): WithdrawalState;
  /** Decides, appends and evolves one withdrawal command (the object's event store). */
  record(command: WithdrawalCommand, meta: CommandMeta): Result<unknown>;
  /** Runs the debit on the account's ledger (the account object); throws when it cannot be reached. */
  debit(account: string, command: Withdraw, meta: CommandMeta): Promise<Result<unknown>>;
  /** The chain; may throw (not configured), which fails the step like an RPC failure. */
  custody(): WithdrawalCustody;
  now(): number;
  /** Where failures are reported (console.warn in the object). */
  warn(message: string): void;
}

/** Steps one drive may take before it yields (the alarm re-arms and goes on). */
export const MAX_STEPS = 8;
export const MIN_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;

/**
 * Does what nextAction asks, one step at a time, each step's outcome a command:
 *   debit → the account's Withdraw (ALREADY_APPLIED is a debit done earlier) → RecordDebit;
 *   sign  → a fresh blockhash and a signed transfer → RecordSigned (committed before any send);
 *   send  → the recorded bytes as they are → RecordSend; before a resend the chain is read once
 *           more, so a transfer seen landed is not sent again;
 *   wait  → when due (its end, or the next poll of a landed transfer): read the chain →
 *           ObserveChain per signature.
 * A step that fails (RPC down, timeout, garbage, account unreachable, chain not configured, a
 * refusal of the decider) changes no state; the drive stops and the step is retried after a backoff
 * (0.5 s doubling to 30 s). Only the decider decides to sign anew, and it does so only once the
 * previous attempt is proven expired. Backoff and the last reading are kept in memory: a restarted
 * object retries at once and reads the chain before it resends.
 */
export class WithdrawalDriver {
  private failures = 0;
  private retryAt = 0;
  private observedAt: number | null = null;
  private driving: Promise<void> | null = null;

  constructor(private readonly ports: WithdrawalPorts) {}

  /** When the next step is due (now for debit, sign, send; a wait's end or the next poll); null once done. */
  dueAt(): number | null {
    const s = opened(this.ports.state());
    if (!s) return null;
    const now = this.ports.now();
    const action = nextAction(s, now);
    if (action.type === 'done') return null;
    const due = action.type === 'wait' ? Math.min(action.until, this.observeDueAt()) : now;
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
      const s = opened(this.ports.state());
      if (!s) return;
      const now = this.ports.now();
      if (now < this.retryAt) return;
      const action = nextAction(s, now);
      if (action.type === 'done') return;
      if (action.type === 'wait' && now < action.until && now < this.observeDueAt()) return;
      const step = this.observesFirst(action, s) ? 'observe' : action.type;
      try {
        await this.perform(action, s, now);
        this.failures = 0;
        this.retryAt = 0;
      } catch (error) {
        this.failures += 1;
        const wait = backoffMs(this.failures, { minMs: MIN_BACKOFF_MS, maxMs: MAX_BACKOFF_MS });
        this.retryAt = this.ports.now() + wait;
        this.ports.warn(`withdrawal ${s.withdrawalId}: ${step} failed (${this.failures} in a row, next try in ${wait} ms): ${String(error)}`);
        return;
      }
    }
  }

  private async perform(action: Exclude<WithdrawalAction, { type: 'done' }>, s: OpenedWithdrawal, now: number): Promise<void> {
    const meta = (commandId: string): CommandMeta => ({ commandId, actor: `system:withdrawal:${s.withdrawalId}`, now });
    switch (action.type) {
      case 'debit': {
        const r = await this.ports.debit(action.account, { type: 'Withdraw', ref: action.ref, amount: action.amount }, meta(action.ref));
        // A retry after a lost answer finds the debit applied: the decider documents it as done.
        const command: WithdrawalCommand =
          r.ok || r.error.code === 'ACCOUNT__WITHDRAWAL_ALREADY_APPLIED'
            ? { type: 'RecordDebit', outcome: 'debited' }
            : { type: 'RecordDebit', outcome: 'refused', code: r.error.code, message: r.error.message };
        return this.record(command, meta(`debit:${s.withdrawalId}`));
      }
      case 'sign': {
        const signed = await this.ports.custody().buildWithdrawal(action);
        // Committed before anything is sent: whatever happens next, the signature is known.
        return this.record({ type: 'RecordSigned', ...signed }, meta(`sign:${signed.signature}`));
      }
      case 'send': {
        if (this.observesFirst(action, s)) return this.observe([action.signature, ...s.attempts.slice(0, -1).map((a) => a.signature)], s.withdrawalId);
        await this.ports.custody().send(action.transaction);
        return this.record({ type: 'RecordSend', signature: action.signature }, meta(`send:${action.signature}:${now}`));
      }
      case 'wait':
        return this.observe(action.signatures, s.withdrawalId);
    }
  }

  /** Whether a send is a resend not yet preceded by a reading of the chain (then the reading comes first). */
  private observesFirst(action: WithdrawalAction, s: OpenedWithdrawal): boolean {
    if (action.type !== 'send') return false;
    const attempt = s.attempts[s.attempts.length - 1]!;
    return attempt.lastSentAt !== null && (this.observedAt ?? 0) < attempt.lastSentAt + RESEND_INTERVAL_MS;
  }

  /** Reads the chain for these signatures (height first) and decides ObserveChain for each, in order. */
  private async observe(signatures: string[], withdrawalId: string): Promise<void> {
    const readings = await this.ports.custody().observe(signatures);
    const at = this.ports.now();
    this.observedAt = at;
    for (const [i, o] of readings.entries()) {
      this.record({ type: 'ObserveChain', ...o }, { commandId: `observe:${o.signature}:${at}:${i}`, actor: `system:withdrawal:${withdrawalId}`, now: at });
    }
  }

  /** A refusal of the decider fails the step (logged, retried after a backoff). */
  private record(command: WithdrawalCommand, meta: CommandMeta): void {
    const r = this.ports.record(command, meta);
    if (!r.ok) throw new Error(`${command.type} refused: ${r.error.code} ${r.error.message}`);
  }
}

const opened = (s: WithdrawalState): OpenedWithdrawal | null => (s.status === 'none' ? null : s);
