import type { Withdraw } from '../domain/account/commands.ts';
import type { CommandMeta } from '../domain/decider.ts';
import { nextAction, type Custody, type OpenedWithdrawal, type WithdrawalAction, type WithdrawalCommand, type WithdrawalState } from '../domain/custody/index.ts';
import type { Result } from '../domain/result.ts';
import { attemptsOf, ChainDriver } from './chain-driver.ts';

export { MAX_BACKOFF_MS, MAX_STEPS, MIN_BACKOFF_MS } from './chain-driver.ts';

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

type Own = Extract<WithdrawalAction, { type: 'debit' | 'sign' | 'abandon' }>;

/**
 * A withdrawal's steps (chain-driver.ts does send and wait, backoff and the reading before a resend):
 *   debit → the account's Withdraw (ALREADY_APPLIED is a debit done earlier) → RecordDebit;
 *   sign  → a fresh blockhash and a signed transfer → RecordSigned (committed before any send).
 * Only the decider decides to sign anew, and it does so only once the previous attempt is proven
 * expired.
 */
export class WithdrawalDriver {
  private readonly driver: ChainDriver<Own>;

  constructor(private readonly ports: WithdrawalPorts) {
    const opened = (): OpenedWithdrawal | null => {
      const s = ports.state();
      return s.status === 'none' ? null : s;
    };
    const meta = (s: OpenedWithdrawal, commandId: string, now: number): CommandMeta => ({ commandId, actor: `system:withdrawal:${s.withdrawalId}`, now });
    const record = (command: WithdrawalCommand, m: CommandMeta) => {
      const r = ports.record(command, m);
      if (!r.ok) throw new Error(`${command.type} refused: ${r.error.code} ${r.error.message}`);
    };
    this.driver = new ChainDriver<Own>({
      label: () => `withdrawal ${opened()?.withdrawalId ?? ''}`,
      next: (now) => {
        const s = opened();
        return s ? nextAction(s, now) : { type: 'idle' };
      },
      attempts: () => attemptsOf(opened()?.attempts ?? []),
      perform: async (step, now) => {
        const s = opened()!;
        if (step.type === 'debit') {
          const r = await ports.debit(step.account, { type: 'Withdraw', ref: step.ref, amount: step.amount, ...(step.from === 'escrow' && { from: 'escrow' as const }) }, meta(s, step.ref, now));
          // A retry after a lost answer finds the debit applied: the decider documents it as done.
          const command: WithdrawalCommand =
            r.ok || r.error.code === 'ACCOUNT__WITHDRAWAL_ALREADY_APPLIED'
              ? { type: 'RecordDebit', outcome: 'debited' }
              : { type: 'RecordDebit', outcome: 'refused', code: r.error.code, message: r.error.message };
          return record(command, meta(s, `debit:${s.withdrawalId}`, now));
        }
        if (step.type === 'abandon') return record({ type: 'Abandon', reason: step.reason }, meta(s, `abandon:${s.withdrawalId}`, now));
        const signed = await ports.custody().buildWithdrawal(step);
        // Committed before anything is sent: whatever happens next, the signature is known.
        return record({ type: 'RecordSigned', ...signed }, meta(s, `sign:${signed.signature}`, now));
      },
      send: (transaction) => ports.custody().send(transaction),
      observe: (signatures) => ports.custody().observe(signatures),
      recordSend: (signature, now) => record({ type: 'RecordSend', signature }, meta(opened()!, `send:${signature}:${now}`, now)),
      recordObservation: (o, at, i) => record({ type: 'ObserveChain', ...o }, meta(opened()!, `observe:${o.signature}:${at}:${i}`, at)),
      now: () => ports.now(),
      warn: (message) => ports.warn(message),
    });
  }

  /** When the next step is due (now for debit, sign, send; a wait's end or the next poll); null once done. */
  dueAt(): number | null {
    return this.driver.dueAt();
  }

  /** Takes up to `max` due steps, one drive at a time: concurrent callers wait for the running drive first. */
  drive(max?: number, o: { ignoreBackoff?: boolean } = {}): Promise<void> {
    return this.driver.drive(max, o);
  }
}
