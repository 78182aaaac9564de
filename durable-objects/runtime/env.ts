import type { AggregateKind } from '../domain/decider.ts';
import type { AccountNamespace, JobNamespace, MarketNamespace, PlacementNamespace, SettlementNamespace, WithdrawalNamespace } from './objects.ts';

/** Bindings of the Worker and its objects (wrangler.toml). */
export interface Env {
  MARKETS: MarketNamespace;
  JOBS: JobNamespace;
  ACCOUNTS: AccountNamespace;
  /** One object per withdrawal (id derived from owner and clientId). */
  WITHDRAWALS: WithdrawalNamespace;
  /** One placement process per bid (id = bid id) and per challenge (`challenge_<jobId>`). */
  PLACEMENTS: PlacementNamespace;
  /** One settlement process per buyer (escrow custody): the buyer's verified payouts, paid from their escrow in batches. */
  SETTLEMENTS: SettlementNamespace;
  DB: D1Database;
  /** Each account's request budget (wrangler.toml [[ratelimits]]); absent: no limit (a deployment without the binding). */
  API_RATE?: RateLimit;
  /** Content-addressed models (models/<sha256>), job inputs (inputs/<sha256>) and results (results/<job>/<replica>). */
  BLOBS: R2Bucket;
  PROJECTIONS: Queue<ProjectionMessage>;
  /** JSON list of `{ id, description }`: the markets this deployment serves. */
  MARKET_LIST: string;
  /** "true" only under `npm start` / tests: enables the faucet. Never set in a deployment. */
  LOCAL_MODE?: string;
  /** Local mode only, for the chaos suite: `duplicate` delivers every outbox message and projection run twice (the projection's first copy reversed). */
  CHAOS_DELIVERY?: string;
  /** Solana JSON-RPC URL. Unset: no chain (deposits and withdrawals answer CUSTODY__NOT_CONFIGURED; the local faucet credits the ledger directly). */
  SOLANA_RPC_URL?: string;
  /** The RPC URL clients are told (GET /v1/chain) when SOLANA_RPC_URL must stay private (an API key in it); default SOLANA_RPC_URL. */
  SOLANA_PUBLIC_RPC_URL?: string;
  /** The $DOUG mint (base58, 9 decimals). */
  DOUG_MINT?: string;
  /** Custody's token account for DOUG_MINT (base58): where deposits go, where withdrawals come from. */
  CUSTODY_TOKEN_ACCOUNT?: string;
  /**
   * The escrow program (base58). Set: custody is the escrow program (deposits into each buyer's
   * escrow, payouts settled on chain from it, CUSTODY_AUTHORITY_KEY being its settlement
   * authority). Unset: custody is CUSTODY_TOKEN_ACCOUNT.
   */
  ESCROW_PROGRAM?: string;
  /** The settlement authority's address lookup table: settle transactions load accounts from it (larger batches). */
  SETTLEMENT_TABLE?: string;
  /** Public key of the custody authority, owner of CUSTODY_TOKEN_ACCOUNT. */
  CUSTODY_AUTHORITY?: string;
  /** Secret: the custody authority's 64-byte Solana secret key, base58 (`wrangler secret put CUSTODY_AUTHORITY_KEY`). */
  CUSTODY_AUTHORITY_KEY?: string;
  /**
   * Secret: the verifier's 64-byte Solana secret key, base58: governance's slash proposer. Set (with
   * escrow custody): a provider proven wrong gets a slash proposed on chain. Unset: nobody is slashed.
   */
  SLASH_PROPOSER_KEY?: string;
  /** Secret, local mode only: the mint authority's 64-byte secret key, base58, for the on-chain faucet. */
  MINT_AUTHORITY_KEY?: string;
}

/** One event of an object's log as the projector receives it (data is the event's JSON). */
export interface ProjectedEvent {
  seq: number;
  type: string;
  at: number;
  actor: string;
  data: string;
}

/**
 * A run of consecutive events of one object (`first`..`last` of its log) on its way to the D1
 * projector, with the object's current view when `last` is its head. A message applies whole or
 * not at all; the projector's cursor moves only over runs without a gap.
 */
export interface ProjectionMessage {
  source: AggregateKind;
  object: string;
  first: number;
  last: number;
  /** The object's sequence when it sent this (at least `last`). */
  head: number;
  events: ProjectedEvent[];
  /** The object's view (JSON) as of `last`, when `last` is its head and it has one. */
  view?: string;
}
