import type { CommandMeta } from '../domain/decider.ts';
import { accountDecider, balanceOf, type AccountBalance, type AccountCommand, type AccountEvent, type AccountState } from '../domain/account/index.ts';
import type { Result } from '../domain/result.ts';
import type { Decision } from './event-store.ts';
import type { Env } from './env.ts';
import { EventSourcedObject } from './event-sourced-object.ts';
import type { AccountRpc } from './objects.ts';

/** One wallet's ledger (or the fee pool): credits, holds, settlements, payouts, nonces. */
export class AccountObject extends EventSourcedObject<AccountCommand, AccountEvent, AccountState> implements AccountRpc {
  protected readonly kind = 'account' as const;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, accountDecider, 500);
  }

  protected timer() {
    return null;
  }

  /** The balances only: an account's holds are read from the object, and thousands of them would not fit a queue message. */
  protected override projectionView(state: AccountState): unknown {
    const { holds: _holds, ...figures } = balanceOf(state);
    return figures;
  }

  /** Runs one ledger command. */
  async execute(account: string, command: AccountCommand, meta: CommandMeta): Promise<Result<Decision<AccountEvent>>> {
    return this.runOne(account, command, meta);
  }

  /** Records a request nonce; a nonce seen within the replay window is refused. */
  async recordNonce(account: string, nonce: string, timestamp: number, now: number): Promise<Result<Decision<AccountEvent>>> {
    return this.runOne(account, { type: 'RecordNonce', nonce, timestamp }, { commandId: `nonce:${nonce}`, actor: account, now });
  }

  /** Revokes this account's key for good; answers when it was revoked (the first time, for a repeat). */
  async revokeKey(key: string, meta: CommandMeta): Promise<Result<{ revokedAt: number }>> {
    const result = this.runOne(key, { type: 'RevokeKey' }, meta);
    if (!result.ok) return result;
    return { ok: true, value: { revokedAt: this.store.state.revokedAt ?? meta.now } };
  }

  /** Balances and holds. */
  async balance(): Promise<AccountBalance> {
    return balanceOf(this.store.state);
  }
}
