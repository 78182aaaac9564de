import type { Custody } from '../../durable-objects/domain/custody/custody.ts';
import { depositMemo, verifyDeposit } from '../../durable-objects/domain/custody/deposit.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { refuse } from '../http.ts';
import { chainConfig } from './config.ts';
import { solanaRpc } from './rpc.ts';
import { buildWithdrawal, observeWithdrawal, sendWithdrawal, type WithdrawalChainConfig } from './transfer.ts';
import { signerFromSecretKey } from './tx.ts';

/*
 * This custody: an SPL token account (CUSTODY_TOKEN_ACCOUNT) owned by a custody authority
 * (CUSTODY_AUTHORITY) whose secret key is the Worker secret CUSTODY_AUTHORITY_KEY. Deposits and the
 * balance only read the chain; withdrawals are signed with that key, which deposits do not need.
 */

export interface CustodyOptions {
  /** Per-call RPC deadline for every step (default: 5,000 ms for withdrawal steps, the client's default for reads). */
  timeoutMs?: number;
  /**
   * The caller withdraws: refuse CUSTODY__NOT_CONFIGURED now when withdrawals cannot be signed,
   * rather than at the first buildWithdrawal.
   */
  withdrawals?: boolean;
}

/** Per-call RPC deadline for withdrawal steps: a hung node costs one step this long, then a retry. */
export const WITHDRAWAL_RPC_TIMEOUT_MS = 5_000;

/**
 * The custody in use. The escrow program's implementation plugs in here: routes, the audit and the
 * withdrawal object get custody only from this function. Refuses CUSTODY__NOT_CONFIGURED when the
 * chain settings (or, with `withdrawals`, the authority's key) are missing.
 */
export function custodyFor(env: Env, o: CustodyOptions = {}): Custody {
  return tokenAccountCustody(env, o);
}

/**
 * Custody in a token account held by the custody authority, over the configured chain. The key is
 * imported on first use and must be the key of CUSTODY_AUTHORITY.
 */
export function tokenAccountCustody(env: Env, o: CustodyOptions = {}): Custody {
  const chain = chainConfig(env);
  const secret = env.CUSTODY_AUTHORITY_KEY?.trim();
  const noKey = () => refuse('CUSTODY__NOT_CONFIGURED', { missing: 'CUSTODY_AUTHORITY_KEY' });
  if (!secret && o.withdrawals) noKey();
  const reads = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs });
  const steps = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs ?? WITHDRAWAL_RPC_TIMEOUT_MS });
  let config: Promise<WithdrawalChainConfig> | null = null;
  const configured = () => {
    if (!secret) return noKey();
    return (config ??= signerFromSecretKey(secret).then((authority) => {
      if (authority.publicKey !== chain.custodyAuthority) throw new Error(`CUSTODY_AUTHORITY_KEY is the key of ${authority.publicKey}, not of CUSTODY_AUTHORITY ${chain.custodyAuthority}`);
      return { mint: chain.mint, decimals: chain.decimals, custodyTokenAccount: chain.custodyTokenAccount, authority };
    })).catch((err: unknown) => {
      config = null;
      throw err;
    });
  };
  const where = { tokenAccount: chain.custodyTokenAccount, mint: chain.mint, decimals: chain.decimals };
  return {
    holding: () => ({ ...where, authority: chain.custodyAuthority }),
    depositAddress: (account) => ({ ...where, memo: depositMemo(account) }),
    verifyDeposit: async (signature) => {
      const transaction = await reads.getTransaction(signature, { commitment: 'finalized', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 });
      return verifyDeposit({ signature, transaction, config: chain });
    },
    buildWithdrawal: async (w) => buildWithdrawal(steps, await configured(), w),
    send: (transaction) => sendWithdrawal(steps, transaction),
    observe: (signatures) => observeWithdrawal(steps, signatures),
    balance: async () => BigInt((await reads.getTokenAccountBalance(chain.custodyTokenAccount, 'finalized')).value.amount),
  };
}
