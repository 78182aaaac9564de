import type { Custody, EscrowCustody } from '../domain/custody/custody.ts';
import { isPublicKey } from '../domain/custody/keys.ts';
import { DECIMALS } from '../domain/money.ts';
import { tokenAccountCustody, type ChainConfig, type CustodyOptions } from '../../programs/client/custody.ts';
import { escrowCustody } from '../../programs/client/escrow-custody.ts';
import { chainFailure } from '../../programs/client/errors.ts';
import { slashing, type Slashing } from '../../programs/client/slashing.ts';
import { readMarketParams } from '../../programs/client/governance.ts';
import { readEscrowConfig } from '../../programs/client/escrow.ts';
import { solanaRpc } from '../../programs/client/rpc.ts';
import { MARKET_PARAM_FIELDS } from '../../programs/governance/constants.ts';
import type { MarketParams } from '../domain/params.ts';
import type { Env } from './env.ts';

/*
 * The Worker's chain configuration, from its vars: SOLANA_RPC_URL, DOUG_MINT, CUSTODY_TOKEN_ACCOUNT,
 * CUSTODY_AUTHORITY (public), and the secrets CUSTODY_AUTHORITY_KEY (withdrawals) and, in local mode,
 * MINT_AUTHORITY_KEY (the faucet). Without SOLANA_RPC_URL the deployment has no chain: the local
 * faucet credits the ledger directly and the custody routes answer CUSTODY__NOT_CONFIGURED.
 */

/** Whether this Worker talks to a chain at all. */
export const hasChain = (env: Env): boolean => typeof env.SOLANA_RPC_URL === 'string' && env.SOLANA_RPC_URL.trim() !== '';

/** The RPC URL, after checking it and DOUG_MINT; the names of those absent or invalid go on `missing`. */
function rpcUrlAndMint(env: Env, missing: string[]): string {
  const url = env.SOLANA_RPC_URL?.trim() ?? '';
  if (!/^https?:\/\/\S+$/.test(url)) missing.push('SOLANA_RPC_URL');
  if (!isPublicKey(env.DOUG_MINT)) missing.push('DOUG_MINT');
  return url;
}

/** The chain configuration; throws CUSTODY__NOT_CONFIGURED naming the vars that are absent or invalid. */
export function chainConfig(env: Env): ChainConfig {
  const missing: string[] = [];
  const url = rpcUrlAndMint(env, missing);
  if (!isPublicKey(env.CUSTODY_TOKEN_ACCOUNT)) missing.push('CUSTODY_TOKEN_ACCOUNT');
  if (!isPublicKey(env.CUSTODY_AUTHORITY)) missing.push('CUSTODY_AUTHORITY');
  if (missing.length > 0) throw chainFailure('CUSTODY__NOT_CONFIGURED', { missing: missing.join(', ') });
  return { rpcUrl: url, mint: env.DOUG_MINT!, decimals: DECIMALS, custodyTokenAccount: env.CUSTODY_TOKEN_ACCOUNT!, custodyAuthority: env.CUSTODY_AUTHORITY! };
}

/**
 * Custody in a token account (DOUG_CUSTODY=token-account; under escrow custody, escrowCustodyFor):
 * routes, the audit and the withdrawal object get it only from this function. Throws CUSTODY__NOT_CONFIGURED when the
 * chain settings (or, with `withdrawals`, the authority's key) are missing.
 */
export function custodyFor(env: Env, o: CustodyOptions & { withdrawals?: boolean } = {}): Custody {
  const chain = chainConfig(env);
  const authorityKey = env.CUSTODY_AUTHORITY_KEY?.trim();
  // A caller that withdraws is refused now rather than at its first buildWithdrawal.
  if (!authorityKey && o.withdrawals) throw chainFailure('CUSTODY__NOT_CONFIGURED', { missing: 'CUSTODY_AUTHORITY_KEY' });
  return tokenAccountCustody({ ...chain, authorityKey }, { timeoutMs: o.timeoutMs });
}

/** Whether custody is the escrow program (ESCROW_PROGRAM set): deposits into escrows, payouts settled on chain. */
export const escrowMode = (env: Env): boolean => hasChain(env) && typeof env.ESCROW_PROGRAM === 'string' && env.ESCROW_PROGRAM.trim() !== '';

/**
 * Custody in the escrow program. Throws CUSTODY__NOT_CONFIGURED when the chain or ESCROW_PROGRAM is
 * missing (or, with `settles`, the settlement authority's key CUSTODY_AUTHORITY_KEY).
 */
export function escrowCustodyFor(env: Env, o: CustodyOptions & { settles?: boolean } = {}): EscrowCustody {
  const missing: string[] = [];
  const url = rpcUrlAndMint(env, missing);
  if (!isPublicKey(env.ESCROW_PROGRAM?.trim())) missing.push('ESCROW_PROGRAM');
  const authorityKey = env.CUSTODY_AUTHORITY_KEY?.trim();
  if (o.settles && !authorityKey) missing.push('CUSTODY_AUTHORITY_KEY');
  const settlementTable = env.SETTLEMENT_TABLE?.trim() || undefined;
  if (settlementTable !== undefined && !isPublicKey(settlementTable)) missing.push('SETTLEMENT_TABLE (a base58 address)');
  if (missing.length > 0) throw chainFailure('CUSTODY__NOT_CONFIGURED', { missing: missing.join(', ') });
  return escrowCustody({ rpcUrl: url, mint: env.DOUG_MINT!, decimals: DECIMALS, escrowProgram: env.ESCROW_PROGRAM!.trim(), authorityKey, settlementTable }, { timeoutMs: o.timeoutMs });
}

/**
 * The verifier's slashing (governance's slash proposer, SLASH_PROPOSER_KEY), under escrow custody;
 * null when this deployment does not slash (no escrow program, or no key).
 */
export function slashingFor(env: Env): Slashing | null {
  const key = env.SLASH_PROPOSER_KEY?.trim();
  if (!key || !escrowMode(env) || !isPublicKey(env.DOUG_MINT)) return null;
  return slashing({ rpcUrl: env.SOLANA_RPC_URL!.trim(), mint: env.DOUG_MINT!, proposerKey: key });
}

/**
 * What governance has set for `market` on chain (escrow custody): its parameter account's values,
 * when it has one, and the fee the escrow charges; null when this deployment has no escrow program.
 */
export async function governedMarketParams(env: Env, market: string): Promise<Partial<MarketParams> | null> {
  if (!escrowMode(env)) return null;
  const rpc = solanaRpc(env.SOLANA_RPC_URL!.trim(), { timeoutMs: 5_000 });
  const [account, escrow] = await Promise.all([readMarketParams(rpc, market, { commitment: 'finalized' }), readEscrowConfig(rpc, env.ESCROW_PROGRAM!.trim())]);
  const values: Partial<MarketParams> = { feeBps: escrow.feeBps };
  if (account) for (const f of MARKET_PARAM_FIELDS) values[f] = Number(account.values[f]);
  return values;
}
