/**
 * Wire types of the HTTP API (`/v1`), shared by the Worker, the SDK/CLI, the agent and the portal.
 * Money travels as decimal strings of base units (1 DOUG = 10^9). Times are ms since the epoch.
 * Request bodies and query parameters are schemas, with their types, in schemas.ts.
 */

export type AmountString = string;

/** Every error response: `{ error: { code, message, context } }` with a 4xx (5xx only for bugs). */
export interface ApiError {
  error: { code: string; message: string; context: Record<string, unknown> };
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null at the end. */
  nextCursor: string | null;
}

// Order attributes, requirements and job specs are the domain's own types: the wire carries them as is.
import type { AttributeValue, JobSpec, Requirement } from '../domain/market/commands.ts';
export type { AttributeValue, JobSpec, Requirement };

/** Each ask of a batch gets its own outcome. */
export interface PlaceAskBatchResponse {
  results: ({ order: OrderView } | ApiError)[];
}

/** An API key as its owner sees it (amounts as decimal strings of base units). */
export interface ApiKeyResponse {
  id: string;
  name: string;
  scopes: 'chat'[];
  limit: string;
  /** Settled or held now, within the limit. */
  spent: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** POST /v1/sessions/revoke (200). */
export interface RevokeSessionResponse {
  /** The session key, which may never sign again. */
  revoked: string;
  /** When it was revoked (ms since the epoch). */
  at: number;
}

/** 'suspended': an ask whose agent is gone; it matches nothing until the agent returns, and is withdrawn after the market's grace period. */
export type OrderStatus = 'open' | 'suspended' | 'matched' | 'cancelled' | 'expired' | 'rejected';

export interface OrderView {
  id: string;
  kind: 'ask' | 'bid';
  market: string;
  owner: string;
  status: OrderStatus;
  [field: string]: unknown;
}

export interface PlaceOrderResponse {
  order: OrderView;
  /** For bids: the escrow held at placement, and the job id once matched. */
  escrow?: AmountString;
  jobId?: string;
}

export interface MarketSummary {
  market: string;
  description: string;
  bestBid: AmountString | null;
  bestAsk: AmountString | null;
  lastPrice: AmountString | null;
  volume24h: AmountString;
  trades24h: number;
  openAsks: number;
  openBids: number;
  providers: number;
}

/** A bid level: `slots` is the number of replicas its bids are waiting for. */
export interface BookLevel {
  price: AmountString;
  orders: number;
  slots: number;
}

/** An ask level: only asks with a free slot are on the book; `freeSlots` is their sum. */
export interface AskLevel {
  price: AmountString;
  orders: number;
  freeSlots: number;
}

export interface MarketDetail {
  summary: MarketSummary;
  book: { bids: BookLevel[]; asks: AskLevel[] };
}

export interface BalanceView {
  account: string;
  available: AmountString;
  held: AmountString;
  credited: AmountString;
  withdrawn: AmountString;
  payoutsSent: AmountString;
  payoutsReceived: AmountString;
  /** Payouts and fees of settled holds that left the ledger to be paid on chain from the account's escrow. */
  payoutsOnChain: AmountString;
  /** Whether the account's money is in its escrow on chain (escrow custody). */
  escrow: boolean;
  /** With `escrow`: the account's settlement on chain; null before its first settled hold. */
  settlement?: SettlementWire | null;
  holds: { holdId: string; amount: AmountString; remaining: AmountString; status: string }[];
}

/**
 * A buyer's settlement on chain: verified payouts wait (`pending`, gross) until the batch that pays
 * them is final, then count as `paid`. `lastError` says why the last batch failed, if it did.
 */
export interface SettlementWire {
  buyer: string;
  nextBatch: AmountString;
  pending: AmountString;
  queued: number;
  open: { batch: AmountString; payouts: number; gross: AmountString; signature: string | null; status: string | null } | null;
  paid: { batches: number; payouts: number; gross: AmountString; fee: AmountString };
  recent: { batch: AmountString; signature: string; slot: number | null; payouts: number; gross: AmountString; at: number }[];
  failures: number;
  lastError: string | null;
}

export interface LedgerEntry {
  seq: number;
  type: string;
  at: number;
  data: Record<string, unknown>;
}

export interface AuditReport {
  ok: boolean;
  accounts: number;
  available: AmountString;
  held: AmountString;
  credited: AmountString;
  withdrawn: AmountString;
  inFlight: AmountString;
  /** Payouts (and fees) that left the ledger to be paid on chain from escrows, pending or paid. */
  onChain: AmountString;
  feePool: AmountString;
  /** Accounts whose own identity (available + held = credited - withdrawn - sent + received - onChain) fails. */
  violations: string[];
  /**
   * How far the read models (where these figures come from) lag the objects' logs: objects with
   * events not yet applied, and how many events, in all and per kind of object (`account`, `market`,
   * `job`, `withdrawal`; kinds with no lag are absent). While any lag, `stale` is true and `ok` is
   * false: the figures may be short, so they prove nothing.
   */
  readModel: { objectsBehind: number; eventsBehind: number; byKind: Record<string, { objectsBehind: number; eventsBehind: number }> };
  stale: boolean;
  /**
   * With a chain configured: custody's token balance at finalized commitment (`onChain`) against what
   * the ledger owes (`expected`: credited - withdrawn + withdrawals out of custody taken from the
   * ledger but not yet paid or refunded). `ok` (and `ok` above) is false when custody holds less; more is `unclaimed`
   * (transfers into custody not credited yet, or without a usable memo).
   */
  custody?: { onChain: AmountString; expected: AmountString; withdrawalsInFlight: AmountString; unclaimed: AmountString; ok: boolean };
  /**
   * With escrow custody: every escrow vault together (`vaults`, over `escrows` escrows) against what
   * the ledger keeps for escrow-funded accounts plus the payouts not yet final (`pending`) and the
   * co-signed withdrawals not landed (`withdrawalsInFlight`), more being
   * `unclaimed`; and the staking program's reward vault against the fees it shared less the claims
   * (`rewardsOwed`, exactly). `treasury` is shown, not checked (it also takes slashes).
   */
  escrow?: {
    escrows: number;
    vaults: AmountString;
    expected: AmountString;
    pending: AmountString;
    /** Withdrawals taken from the ledger whose co-signed `withdraw` has not landed: still in the vaults. */
    withdrawalsInFlight: AmountString;
    unclaimed: AmountString;
    rewardVault: AmountString;
    rewardsOwed: AmountString;
    treasury: AmountString;
    ok: boolean;
  };
}

/** POST /v1/escrow/exits (201): what left the escrow, and what the ledger took of it (at most what was available). */
export interface EscrowExitResponse {
  account: string;
  amount: AmountString;
  debited: AmountString;
  signature: string;
  slot: number;
}

/** POST /v1/deposits (201). */
export interface DepositResponse {
  /** The account credited (the memo's). */
  account: string;
  amount: AmountString;
  signature: string;
  slot: number;
}

/**
 * GET /v1/chain: where $DOUG lives and where deposits go. With `escrow` (escrow custody), each buyer
 * deposits into their own escrow with the escrow program (open it once, then `deposit`); without,
 * send `mint` to `custodyTokenAccount` with the memo `doug:deposit:<account>`.
 */
export interface ChainInfo {
  rpcUrl: string;
  mint: string;
  decimals: number;
  custodyTokenAccount: string;
  custodyAuthority: string;
  escrow?: EscrowInfo;
  /** The staking program the escrow pays fees to (escrow custody). */
  staking?: StakingInfo;
  /** The governance program that administers the escrow's and staking's configurations, when it does (escrow custody). */
  governance?: GovernanceInfo;
}

/** The governance program: proposals, votes, slashes; `config` is its PDA, the configurations' admin. */
export interface GovernanceInfo {
  program: string;
  config: string;
}

/** The staking program: positions, fee rewards, provider collateral. */
export interface StakingInfo {
  program: string;
  config: string;
}

/** The escrow program as this marketplace uses it. */
export interface EscrowInfo {
  program: string;
  config: string;
  /** The settlement authority: pays providers from escrows, co-signs immediate withdrawals. */
  authority: string;
  /** After a withdrawal request, how long before the buyer may withdraw alone. */
  withdrawTimelockSeconds: number;
  feeBps: number;
}

/** POST /v1/faucet (local mode): with a chain, $DOUG is minted to the wallet, which then deposits; without one the ledger is credited directly. */
export type FaucetResult =
  | { credited: AmountString; available: AmountString }
  | { minted: AmountString; wallet: string; tokenAccount: string; signature: string; airdrop: string | null };

/**
 * A withdrawal: requested (debit pending) → funded (taken from the ledger; transfers signed, sent,
 * confirmed) → paid (final on chain) | refunded (failed on chain or given up; the amount is back on
 * the ledger) | rejected (the debit was refused; nothing moved).
 */
export interface WithdrawalWire {
  withdrawalId: string;
  account: string;
  destination: string;
  amount: AmountString;
  status: 'requested' | 'funded' | 'paid' | 'refunded' | 'rejected';
  /** The paying signature once paid; else the latest attempt's, if any. */
  signature: string | null;
  /** Every signed transfer, oldest first; all but the last are expired (proven never to land). */
  attempts: { signature: string; status: 'live' | 'confirmed' | 'expired' | 'finalized' | 'failed'; lastValidBlockHeight: number; sends: number }[];
  refund: { reason: 'failed' | 'abandoned'; detail: string } | null;
  rejection: { code: string; message: string } | null;
  requestedAt: number;
  /** custody: the marketplace sends the transfer · escrow: the buyer signs and sends `cosigned`. */
  via: 'custody' | 'escrow';
  /**
   * For a withdrawal from an escrow: the `withdraw` the settlement authority co-signed (base64, the
   * buyer's signature slot empty) while it may still land; the buyer signs it and sends it to the
   * chain. Unsent past lastValidBlockHeight, the withdrawal is given up and the amount refunded.
   */
  cosigned: { transaction: string; lastValidBlockHeight: number } | null;
}

/** POST /v1/withdrawals (202) and GET /v1/withdrawals/:id. */
export interface WithdrawalResponse {
  withdrawal: WithdrawalWire;
}

/** API routes, for documentation, the SDK and tests. */
export const ROUTES = {
  health: 'GET /v1/health',
  openapi: 'GET /v1/openapi.json',
  markets: 'GET /v1/markets',
  market: 'GET /v1/markets/:market',
  trades: 'GET /v1/markets/:market/trades',
  asks: 'GET /v1/asks',
  placeAsk: 'POST /v1/asks',
  placeAskBatch: 'POST /v1/asks/batch',
  cancelAsk: 'DELETE /v1/asks/:id',
  bids: 'GET /v1/bids',
  placeBid: 'POST /v1/bids',
  cancelBid: 'DELETE /v1/bids/:id',
  jobs: 'GET /v1/jobs',
  job: 'GET /v1/jobs/:id',
  jobHistory: 'GET /v1/jobs/:id/history',
  jobResult: 'GET /v1/jobs/:id/result',
  challengeJob: 'POST /v1/jobs/:id/challenge',
  cancelJob: 'POST /v1/jobs/:id/cancel',
  agentSocket: 'GET /v1/markets/:market/agent',
  uploadModel: 'PUT /v1/models',
  model: 'GET /v1/models/:sha256',
  modelInfo: 'GET /v1/models/:sha256/info',
  uploadInputs: 'PUT /v1/inputs',
  account: 'GET /v1/accounts/:key',
  holds: 'GET /v1/accounts/:key/holds',
  ledger: 'GET /v1/accounts/:key/ledger',
  audit: 'GET /v1/audit',
  integrity: 'GET /v1/objects/:kind/:id/integrity',
  faucet: 'POST /v1/faucet',
  deposit: 'POST /v1/deposits',
  escrowExit: 'POST /v1/escrow/exits',
  chain: 'GET /v1/chain',
  revokeSession: 'POST /v1/sessions/revoke',
  requestWithdrawal: 'POST /v1/withdrawals',
  withdrawal: 'GET /v1/withdrawals/:id',
  withdrawals: 'GET /v1/accounts/:key/withdrawals',
  createApiKey: 'POST /v1/api-keys',
  apiKeys: 'GET /v1/api-keys',
  revokeApiKey: 'DELETE /v1/api-keys/:id',
  chatModels: 'GET /v1/models',
  chatCompletions: 'POST /v1/chat/completions',
  chatFaults: 'GET /v1/chat/faults',
} as const;

/** Order ids carry their kind and market: `bid_cpu_<24 hex>`. */
export const ORDER_ID = /^(ask|bid)_([a-z0-9-]{1,32})_([0-9a-f]{24})$/;
export const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Withdrawal ids are derived from the owner and its clientId: `wd_<24 hex>`. */
export const WITHDRAWAL_ID = /^wd_[0-9a-f]{24}$/;
export const MARKET_ID = /^[a-z0-9-]{1,32}$/;
/** The object kinds GET /v1/objects/:kind/:id/integrity checks, and the names objects go by. */
export const OBJECT_KINDS = ['market', 'job', 'account', 'withdrawal', 'placement', 'settlement'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];
export const OBJECT_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** GET /v1/objects/:kind/:id/integrity: the log's self-check (live state hash against a replay from zero). */
export interface IntegrityReport {
  kind: ObjectKind;
  id: string;
  seq: number;
  hash: string;
  replay: { seq: number; hash: string };
  snapshot: { seq: number; hash: string } | null;
  /** The live hash equals the replay's at the same sequence. */
  consistent: boolean;
}
