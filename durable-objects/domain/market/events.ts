import type { MarketParams } from '../params.ts';
import type { Amount } from '../money.ts';
import type { AttributeValue, JobSpec, Requirement } from './commands.ts';

/** One replica of a matched bid: which ask (and so which provider) runs it, at what price per unit. */
export interface Fill {
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
}

/** An ask entered the book with all its slots free. */
export interface AskPlaced {
  type: 'AskPlaced';
  askId: string;
  owner: string;
  price: Amount;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
}

/** A bid could not be matched on arrival and now rests in the book. */
export interface BidPlaced {
  type: 'BidPlaced';
  bidId: string;
  owner: string;
  maxPrice: Amount;
  units: number;
  replicas: number;
  requirements: Requirement[];
  expiresAt: number;
  spec: JobSpec;
}

/**
 * A bid got all its replicas: on arrival (it never rested) or later, from an arriving ask or a
 * released slot. Each fill takes one slot of its ask.
 */
export interface BidMatched {
  type: 'BidMatched';
  bidId: string;
  buyer: string;
  units: number;
  maxPrice: Amount;
  replicas: number;
  spec: JobSpec;
  requirements: Requirement[];
  fills: Fill[];
}

/** The owner cancelled an ask: no new fills; slots in use run on until released. */
export interface AskCancelled {
  type: 'AskCancelled';
  askId: string;
  owner: string;
  /** 'agent gone': withdrawn by the market (ExpireOrders) once its agent stayed away past the grace period. */
  reason: 'owner' | 'agent gone';
}

/** The ask's agent is gone (socket closed or silent): it leaves the book until the agent returns. */
export interface AskSuspended {
  type: 'AskSuspended';
  askId: string;
  owner: string;
  /** When the market withdraws it unless its agent returns first (now + agentGraceMs). */
  withdrawAt: number;
}

/** The ask's agent came back: the ask returns to the book (when it has a free slot) and matches resting bids. */
export interface AskResumed {
  type: 'AskResumed';
  askId: string;
  owner: string;
}

/** A bid left the book unfilled: cancelled by its owner, or an IOC bid that found no match (never rested). */
export interface BidCancelled {
  type: 'BidCancelled';
  bidId: string;
  buyer: string;
  reason: 'owner' | 'ioc';
}

/** An ask reached its expiry: like a cancel, slots in use run on. */
export interface AskExpired {
  type: 'AskExpired';
  askId: string;
  owner: string;
}

/** A resting bid reached its expiry unfilled. */
export interface BidExpired {
  type: 'BidExpired';
  bidId: string;
  buyer: string;
}

/** A job gave a slot back; an open ask that was full re-enters the back of its price level. */
export interface SlotReleased {
  type: 'SlotReleased';
  askId: string;
  jobId: string;
}

/** A replica bid could not be matched on arrival and now rests in the book. */
export interface ReplicaBidPlaced {
  type: 'ReplicaBidPlaced';
  jobId: string;
  replica: number;
  buyer: string;
  maxPrice: Amount;
  units: number;
  requirements: Requirement[];
  excludeProviders: string[];
  expiresAt: number;
}

/** A replica bid was matched (on arrival or later): one slot of the ask is taken for the job. */
export interface ReplicaMatched {
  type: 'ReplicaMatched';
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
}

/** A resting replica bid reached its expiry unfilled. */
export interface ReplicaBidExpired {
  type: 'ReplicaBidExpired';
  jobId: string;
  replica: number;
}

/** A matched replica's job exists: the replica goes to its ask's agent (dispatch queues it). */
export interface ReplicaDispatched {
  type: 'ReplicaDispatched';
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
}

/** A replica handed to dispatch while its ask's agent is gone (suspended): its job re-matches it now. */
export interface ReplicaAbandoned {
  type: 'ReplicaAbandoned';
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
}

/** The parameters new jobs of this market are created under changed. */
export interface MarketConfigured {
  type: 'MarketConfigured';
  /** Events from before agentGraceMs existed lack it: the protocol's value applies. */
  params: MarketParams;
}

export type MarketEvent =
  | MarketConfigured
  | AskPlaced
  | BidPlaced
  | BidMatched
  | AskCancelled
  | BidCancelled
  | AskExpired
  | BidExpired
  | SlotReleased
  | ReplicaBidPlaced
  | ReplicaMatched
  | ReplicaBidExpired
  | AskSuspended
  | AskResumed
  | ReplicaDispatched
  | ReplicaAbandoned;

/** Current schema version of each event type; bump one and teach upcast the old shape. */
export const EVENT_VERSIONS: Record<MarketEvent['type'], number> = {
  MarketConfigured: 1,
  AskPlaced: 1,
  BidPlaced: 1,
  BidMatched: 1,
  AskCancelled: 1,
  BidCancelled: 1,
  AskExpired: 1,
  BidExpired: 1,
  SlotReleased: 1,
  ReplicaBidPlaced: 1,
  ReplicaMatched: 1,
  ReplicaBidExpired: 1,
  AskSuspended: 1,
  AskResumed: 1,
  ReplicaDispatched: 1,
  ReplicaAbandoned: 1,
};

/** Field names that hold bigints in events, snapshots and outbox messages. */
export const BIGINT_FIELDS: ReadonlySet<string> = new Set(['price', 'maxPrice', 'amount', 'escrow']);
