import type { ChatFaultView, ChatModelView, ChatRequest } from '../contracts/chat.ts';
import type { AccountBalance, AccountCommand, AccountEvent, ApiKeyView } from '../domain/account/index.ts';
import type { WithdrawalView, RequestWithdrawal, WithdrawalEvent } from '../domain/custody/index.ts';
import type { SettlementEvent, SettlementView } from '../domain/custody/settlement.ts';
import type { CommandMeta } from '../domain/decider.ts';
import type { JobCommand, JobEvent, JobView } from '../domain/job/index.ts';
import type { MarketCommand, MarketEvent } from '../domain/market/index.ts';
import type { BookDepth, OrderView } from '../domain/market/view.ts';
import type { Amount } from '../domain/money.ts';
import type { PlacementEvent, PlacementTerms } from '../domain/placement/index.ts';
import type { Result } from '../domain/result.ts';
import type { WireTensor } from '../contracts/tensors.ts';
import type { Decision } from './event-store.ts';

/*
 * The typed boundary between objects (docs/architecture.md, "Objects"). Each object class
 * `implements` its interface here, so the compiler checks both sides of every cross-object call;
 * callers reach an object only through the accessors at the end, never through a cast of their own.
 * This file imports no object class: the Worker's Env (env.ts) and the classes both depend on it.
 */

/** A message from another object's outbox, as handed to `receive`. */
export interface Envelope {
  id: string;
  from: string;
  to: string;
  body: string;
}

/** What every event-sourced object answers. */
export interface ObjectRpc<E> {
  /** Applies a message from another object's outbox exactly once. */
  receive(envelope: Envelope): Promise<Result<Decision<E>>>;
  history(after: number, limit: number): Promise<{ seq: number; type: string; at: number; actor: string; data: string }[]>;
  integrity(): Promise<{ seq: number; hash: string; snapshot: { seq: number; hash: string } | null; replay: { seq: number; hash: string } }>;
  deadLetters(): Promise<{ id: string; body: string; error: string }[]>;
}

/** Outcome of an order command: the events, the order as it stands after them, and whether it was a repeat. */
export interface OrderOutcome {
  events: MarketEvent[];
  order: OrderView | null;
  repeated: boolean;
}

export interface MarketRpc extends ObjectRpc<MarketEvent> {
  place(market: string, command: MarketCommand, meta: CommandMeta): Promise<Result<OrderOutcome>>;
  placeMany(market: string, commands: MarketCommand[], meta: CommandMeta, commandIds?: string[]): Promise<Result<OrderOutcome>[]>;
  depth(market: string, levels: number): Promise<BookDepth>;
  order(id: string): Promise<OrderView | null>;
  fetch(request: Request): Promise<Response>;
  chatModels(market: string): Promise<ChatModelView[]>;
  chatFaults(market: string): Promise<ChatFaultView[]>;
  chat(market: string, request: ChatRequest): Promise<Result<ReadableStream<Uint8Array>>>;
}

export interface JobRpc extends ObjectRpc<JobEvent> {
  execute(jobId: string, command: JobCommand, meta: CommandMeta): Promise<Result<Decision<JobEvent>>>;
  /** What a challenge by `actor` would cost now, or why it would be refused; writes nothing. */
  challengeTerms(actor: string, now: number): Promise<Result<{ cost: Amount }>>;
  workOrder(): Promise<{ spec: { modelSha256: string; inputSha256: string; inputBytes: number; tolerance: number | null }; units: number } | null>;
  submitResult(
    jobId: string,
    o: { replica: number; leaseId: string; outputDigest: string; outputBytes: number; fingerprint: string },
    meta: CommandMeta,
  ): Promise<Result<Decision<JobEvent>>>;
  deletePayloads(): Promise<void>;
  result(actor: string): Promise<Result<{ replica: number; outputDigest: string; outputs: WireTensor[] }>>;
  view(): Promise<JobView | null>;
}

export interface AccountRpc extends ObjectRpc<AccountEvent> {
  execute(account: string, command: AccountCommand, meta: CommandMeta): Promise<Result<Decision<AccountEvent>>>;
  recordNonce(account: string, nonce: string, timestamp: number, now: number): Promise<Result<Decision<AccountEvent>>>;
  checkApiKey(keyId: string, secretSha256: string, now: number): Promise<Result<null>>;
  apiKeys(): Promise<ApiKeyView[]>;
  revokeKey(key: string, meta: CommandMeta): Promise<Result<{ revokedAt: number }>>;
  balance(): Promise<AccountBalance>;
}

/** A withdrawal as the API shows it: the decider's view, when it was requested, and why a refused debit was refused. */
export type WithdrawalApiView = WithdrawalView & { requestedAt: number; rejection: { code: string; message: string } | null };

export interface WithdrawalRpc extends ObjectRpc<WithdrawalEvent> {
  request(command: RequestWithdrawal, meta: CommandMeta): Promise<Result<WithdrawalApiView>>;
  view(): Promise<WithdrawalApiView | null>;
  kick(): Promise<WithdrawalApiView | null>;
  abandon(reason: string, meta: CommandMeta): Promise<Result<Decision<WithdrawalEvent>>>;
}

export interface SettlementRpc extends ObjectRpc<SettlementEvent> {
  /** The buyer's settlement on chain; null when nothing was ever queued. */
  view(): Promise<SettlementView | null>;
  /** Runs due steps now, ignoring the backoff (an operator's nudge), and answers the view. */
  kick(): Promise<SettlementView | null>;
}

export interface PlacementRpc extends ObjectRpc<PlacementEvent> {
  /** Holds the bid's escrow, places the bid, releases the escrow if the market refuses; answers the market's outcome. */
  placeBid(terms: PlacementTerms, meta: CommandMeta): Promise<Result<OrderOutcome>>;
  /** Vets and funds the buyer's challenge of a job, then raises it; answers what is held and the job. */
  challenge(jobId: string, meta: CommandMeta): Promise<Result<{ held: Amount; job: JobView | null }>>;
}

/** The object namespaces of the Worker's Env, typed by these interfaces. */
type Namespace<T> = DurableObjectNamespace<T & Rpc.DurableObjectBranded>;
export type MarketNamespace = Namespace<MarketRpc>;
export type JobNamespace = Namespace<JobRpc>;
export type AccountNamespace = Namespace<AccountRpc>;
export type WithdrawalNamespace = Namespace<WithdrawalRpc>;
export type PlacementNamespace = Namespace<PlacementRpc>;
export type SettlementNamespace = Namespace<SettlementRpc>;

/**
 * An object reached by name, typed exactly as its class declares. Workers' own stub types rewrite
 * every answer (and lose the narrowing of Result unions); the interface is what the class returns.
 */
function reach<T>(ns: DurableObjectNamespace<T & Rpc.DurableObjectBranded>, name: string): T {
  return ns.get(ns.idFromName(name)) as unknown as T;
}

interface Namespaces {
  MARKETS: MarketNamespace;
  JOBS: JobNamespace;
  ACCOUNTS: AccountNamespace;
  WITHDRAWALS: WithdrawalNamespace;
  PLACEMENTS: PlacementNamespace;
  SETTLEMENTS: SettlementNamespace;
}

export const marketObject = (env: Pick<Namespaces, 'MARKETS'>, market: string): MarketRpc => reach(env.MARKETS, market);
export const jobObject = (env: Pick<Namespaces, 'JOBS'>, jobId: string): JobRpc => reach(env.JOBS, jobId);
export const accountObject = (env: Pick<Namespaces, 'ACCOUNTS'>, key: string): AccountRpc => reach(env.ACCOUNTS, key);
export const withdrawalObject = (env: Pick<Namespaces, 'WITHDRAWALS'>, id: string): WithdrawalRpc => reach(env.WITHDRAWALS, id);
export const placementObject = (env: Pick<Namespaces, 'PLACEMENTS'>, id: string): PlacementRpc => reach(env.PLACEMENTS, id);
/** One buyer's settlement on chain (escrow custody), by the buyer's key. */
export const settlementObject = (env: Pick<Namespaces, 'SETTLEMENTS'>, buyer: string): SettlementRpc => reach(env.SETTLEMENTS, buyer);
