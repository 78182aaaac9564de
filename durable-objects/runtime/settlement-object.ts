import { settlementDecider, settlementView, type SettlementCommand, type SettlementEvent, type SettlementState, type SettlementView } from '../domain/custody/settlement.ts';
import type { Result } from '../domain/result.ts';
import { escrowCustodyFor } from './chain.ts';
import type { Decision } from './event-store.ts';
import type { Env } from './env.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import type { Envelope, SettlementRpc } from './objects.ts';
import { SettlementDriver, type SettlementCustody } from './settlement-driver.ts';

/**
 * One buyer's settlement on chain: the settlement decider's shell. Payouts arrive from the buyer's
 * account (its outbox); the alarm drives batches (SettlementDriver: open, sign, record, send,
 * observe, sync, with backoff on failures) through the base class's housekeeping hook.
 */
export class SettlementObject extends EventSourcedObject<SettlementCommand, SettlementEvent, SettlementState> implements SettlementRpc {
  protected readonly kind = 'settlement' as const;
  private chain: SettlementCustody | null = null;
  private readonly driver = new SettlementDriver({
    state: () => this.store.state,
    record: (command, meta) => this.runOne(this.name, command, meta),
    custody: () => (this.chain ??= escrowCustodyFor(this.env, { settles: true })),
    now: () => Date.now(),
    warn: (message) => console.warn(message),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, settlementDecider, 500);
  }

  protected timer() {
    return null;
  }

  protected override projectionView(state: SettlementState): unknown {
    return settlementView(state) ?? undefined;
  }

  /** Applies the account's payouts, then starts the batch at once rather than at the next alarm. */
  override async receive(envelope: Envelope): Promise<Result<Decision<SettlementEvent>>> {
    const r = await super.receive(envelope);
    if (r.ok && !r.value.repeated && r.value.events.length > 0) this.ctx.waitUntil(this.driver.drive());
    return r;
  }

  async view(): Promise<SettlementView | null> {
    // A reader also makes sure pending payouts have their alarm (after a restart).
    if (this.store.state.buyer !== null) this.schedule(Date.now());
    return settlementView(this.store.state);
  }

  async kick(): Promise<SettlementView | null> {
    await this.driver.drive(undefined, { ignoreBackoff: true });
    this.schedule(Date.now());
    return this.view();
  }

  protected override sweepAt(): number | null {
    return this.driver.dueAt();
  }

  protected override async sweep(): Promise<void> {
    await this.driver.drive();
  }
}
