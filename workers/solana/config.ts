import type { Env } from '../../durable-objects/runtime/env.ts';
import { isPublicKey } from '../../durable-objects/domain/custody/keys.ts';
import { DECIMALS } from '../../durable-objects/domain/money.ts';
import { refuse } from '../http.ts';
import { SolanaRpcError, solanaRpc, type SolanaRpc } from './rpc.ts';

/*
 * The Worker's chain configuration, from its vars: SOLANA_RPC_URL, DOUG_MINT, CUSTODY_TOKEN_ACCOUNT,
 * CUSTODY_AUTHORITY (public), and the secrets CUSTODY_AUTHORITY_KEY (withdrawals) and, in local mode,
 * MINT_AUTHORITY_KEY (the faucet). Without SOLANA_RPC_URL the deployment has no chain: the local
 * faucet credits the ledger directly and the custody routes answer CUSTODY__NOT_CONFIGURED.
 */

/** Where $DOUG lives and where custody holds it. */
export interface ChainConfig {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
}

/** Whether this Worker talks to a chain at all. */
export const hasChain = (env: Env): boolean => typeof env.SOLANA_RPC_URL === 'string' && env.SOLANA_RPC_URL.trim() !== '';

/** The chain configuration; refuses CUSTODY__NOT_CONFIGURED when it is absent or incomplete. */
export function chainConfig(env: Env): ChainConfig {
  const missing: string[] = [];
  const url = env.SOLANA_RPC_URL?.trim() ?? '';
  if (!/^https?:\/\/\S+$/.test(url)) missing.push('SOLANA_RPC_URL');
  if (!isPublicKey(env.DOUG_MINT)) missing.push('DOUG_MINT');
  if (!isPublicKey(env.CUSTODY_TOKEN_ACCOUNT)) missing.push('CUSTODY_TOKEN_ACCOUNT');
  if (!isPublicKey(env.CUSTODY_AUTHORITY)) missing.push('CUSTODY_AUTHORITY');
  if (missing.length > 0) refuse('CUSTODY__NOT_CONFIGURED', { missing: missing.join(', ') });
  return { rpcUrl: url, mint: env.DOUG_MINT!, decimals: DECIMALS, custodyTokenAccount: env.CUSTODY_TOKEN_ACCOUNT!, custodyAuthority: env.CUSTODY_AUTHORITY! };
}

/** The RPC client for the configured chain. */
export function chainRpc(config: ChainConfig): SolanaRpc {
  return solanaRpc(config.rpcUrl);
}

/**
 * Runs an RPC step, turning "no answer" into CUSTODY__CHAIN_UNAVAILABLE (503, retry) and a node's
 * JSON-RPC error into CUSTODY__CHAIN_REFUSED (502): neither is the client's fault.
 */
export async function onChain<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (!(err instanceof SolanaRpcError)) throw err;
    if (err.kind === 'rpc' || err.kind === 'malformed') refuse('CUSTODY__CHAIN_REFUSED', { method: err.method, problem: err.message, code: err.code });
    return refuse('CUSTODY__CHAIN_UNAVAILABLE', { method: err.method, problem: err.message, kind: err.kind });
  }
}
