import type { Custody } from '../../durable-objects/domain/custody/custody.ts';
import { depositMemo, verifyDeposit } from '../../durable-objects/domain/custody/deposit.ts';
import { chainFailure } from './errors.ts';
import { solanaRpc } from './rpc.ts';
import { buildWithdrawal, observeWithdrawal, sendWithdrawal, type WithdrawalChainConfig } from './transfer.ts';
import { signerFromSecretKey } from './tx.ts';

/*
 * Custody in a token account (DOUG_CUSTODY=token-account): an SPL token account
 * (custodyTokenAccount) owned by a custody authority (custodyAuthority) whose secret key the
 * deployment holds (authorityKey). Deposits and the balance only read the chain; withdrawals are
 * signed with that key, which deposits do not need.
 */

/** Where $DOUG lives and where custody holds it. */
export interface ChainConfig {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
}

/** The chain, and the custody authority's 64-byte secret key (base58) when this deployment withdraws. */
export interface CustodyConfig extends ChainConfig {
  authorityKey?: string;
}

export interface CustodyOptions {
  /** Per-call RPC deadline for every step (default: 5,000 ms for withdrawal steps, the client's default for reads). */
  timeoutMs?: number;
}

/** Per-call RPC deadline for withdrawal steps: a hung node costs one step this long, then a retry. */
export const WITHDRAWAL_RPC_TIMEOUT_MS = 5_000;

/**
 * Custody in a token account held by the custody authority, over the configured chain. The key is
 * imported on first use and must be the key of custodyAuthority; without one, building a withdrawal
 * throws CUSTODY__NOT_CONFIGURED.
 */
export function tokenAccountCustody(chain: CustodyConfig, o: CustodyOptions = {}): Custody {
  const secret = chain.authorityKey?.trim();
  const noKey = (): never => {
    throw chainFailure('CUSTODY__NOT_CONFIGURED', { missing: 'the custody authority key' });
  };
  const reads = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs });
  const steps = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs ?? WITHDRAWAL_RPC_TIMEOUT_MS });
  let config: Promise<WithdrawalChainConfig> | null = null;
  const configured = () => {
    if (!secret) return noKey();
    return (config ??= signerFromSecretKey(secret).then((authority) => {
      if (authority.publicKey !== chain.custodyAuthority) throw new Error(`the custody authority key is the key of ${authority.publicKey}, not of the custody authority ${chain.custodyAuthority}`);
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
      return verifyDeposit({ signature, transaction, config: { mint: chain.mint, custodyTokenAccount: chain.custodyTokenAccount, decimals: chain.decimals } });
    },
    buildWithdrawal: async (w) => buildWithdrawal(steps, await configured(), w),
    send: (transaction) => sendWithdrawal(steps, transaction),
    observe: (signatures) => observeWithdrawal(steps, signatures),
    balance: async () => BigInt((await reads.getTokenAccountBalance(chain.custodyTokenAccount, 'finalized')).value.amount),
  };
}
