import type { CommandMeta } from '../domain/decider.ts';
import { accountDecider, apiKeyProblem, apiKeysOf, balanceOf, type AccountBalance, type AccountCommand, type AccountEvent, type AccountState, type ApiKeyView } from '../domain/account/index.ts';
import { domainError } from '../domain/errors.ts';
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

  /** Whether a presented API key (its id and its secret's SHA-256) may be used now. */
  async checkApiKey(keyId: string, secretSha256: string, now: number): Promise<Result<null>> {
    const problem = apiKeyProblem(this.store.state, keyId, secretSha256, now);
    return problem ? { ok: false, error: domainError(problem.code, problem.context) } : { ok: true, value: null };
  }

  /** The account's API keys (never their secrets' hashes). */
  async apiKeys(): Promise<ApiKeyView[]> {
    return apiKeysOf(this.store.state);
  }

  /** Balances and holds. */
  async balance(): Promise<AccountBalance> {
    return balanceOf(this.store.state);
  }
}
