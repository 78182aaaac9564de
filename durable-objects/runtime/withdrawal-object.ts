import type { CommandMeta } from '../domain/decider.ts';
import {
  withdrawalDecider,
  withdrawalView,
  type OpenedWithdrawal,
  type RequestWithdrawal,
  type WithdrawalCommand,
  type WithdrawalEvent,
  type WithdrawalState,
} from '../domain/custody/index.ts';
import type { Result } from '../domain/result.ts';
import { custodyFor, escrowCustodyFor } from './chain.ts';
import type { Decision } from './event-store.ts';
import type { Env } from './env.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import { accountObject, type WithdrawalApiView, type WithdrawalRpc } from './objects.ts';
import { WithdrawalDriver, type WithdrawalCustody } from './withdrawal-driver.ts';

export type { WithdrawalApiView } from './objects.ts';

const apiView = (s: OpenedWithdrawal): WithdrawalApiView => ({
  ...withdrawalView(s),
  requestedAt: s.requestedAt,
  rejection: s.status === 'rejected' ? { code: s.code, message: s.message } : null,
});

/**
 * One withdrawal: the withdrawal decider's shell. The request takes the debit at once; the alarm
 * then drives the rest (WithdrawalDriver: sign, record, send, observe, with backoff on failures)
 * through the base class's housekeeping hook. Refunds leave through the outbox (react).
 */
export class WithdrawalObject extends EventSourcedObject<WithdrawalCommand, WithdrawalEvent, WithdrawalState> implements WithdrawalRpc {
  protected readonly kind = 'withdrawal' as const;
  private chain: WithdrawalCustody | null = null;
  private readonly driver = new WithdrawalDriver({
    state: () => this.store.state,
    record: (command, meta) => this.runOne(this.name, command, meta),
    debit: (account, command, meta) => accountObject(this.env, account).execute(account, command, meta),
    custody: () => (this.chain ??= this.custody()),
    now: () => Date.now(),
    warn: (message) => console.warn(message),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, withdrawalDecider, 200);
  }

  protected timer() {
    return null;
  }

  /** Custody's token account, or for a withdrawal from an escrow the escrow program (co-signing; the buyer sends). */
  private custody(): WithdrawalCustody {
    const s = this.store.state;
    if (s.status === 'none' || s.via !== 'escrow') return custodyFor(this.env, { withdrawals: true });
    const escrow = escrowCustodyFor(this.env, { settles: true });
    return { buildWithdrawal: (w) => escrow.buildCosignedWithdrawal(w), send: (t) => escrow.send(t), observe: (sigs) => escrow.observe(sigs) };
  }

  protected override projectionView(state: WithdrawalState): unknown {
    return state.status === 'none' ? undefined : apiView(state);
  }

  /** Opens the withdrawal (a repeat with the same terms changes nothing), takes the debit at once, and answers the view. */
  async request(command: RequestWithdrawal, meta: CommandMeta): Promise<Result<WithdrawalApiView>> {
    const result = this.runOne(command.withdrawalId, command, meta);
    if (!result.ok) return result;
    // The debit is one call to the account object, taken now so that the caller learns at once
    // whether the funds were there; signing and sending go on in the alarm.
    // From an escrow, the co-signing too: the buyer gets the transaction to sign in this answer.
    if (this.store.state.status === 'requested') await this.driver.drive(command.via === 'escrow' ? 2 : 1);
    this.schedule(Date.now());
    return { ok: true, value: apiView(this.opened()!) };
  }

  /** The withdrawal's view, or null when none was requested here. */
  async view(): Promise<WithdrawalApiView | null> {
    const s = this.opened();
    // A reader also makes sure an open withdrawal has its alarm (it costs a write only when this
    // instance has not armed one yet, e.g. after a restart).
    if (s) this.schedule(Date.now());
    return s ? apiView(s) : null;
  }

  /** Runs due steps now, ignoring the backoff, and re-arms the alarm (an operator's nudge). */
  async kick(): Promise<WithdrawalApiView | null> {
    await this.driver.drive(undefined, { ignoreBackoff: true });
    this.schedule(Date.now());
    return this.view();
  }

  /** Gives up a withdrawal whose attempts can no longer land (the amount is refunded); refused while one may. */
  async abandon(reason: string, meta: CommandMeta): Promise<Result<Decision<WithdrawalEvent>>> {
    return this.runOne(this.name, { type: 'Abandon', reason }, meta);
  }

  protected override sweepAt(): number | null {
    return this.driver.dueAt();
  }

  protected override async sweep(): Promise<void> {
    await this.driver.drive();
  }

  private opened(): OpenedWithdrawal | null {
    const s = this.store.state;
    return s.status === 'none' ? null : s;
  }
}
