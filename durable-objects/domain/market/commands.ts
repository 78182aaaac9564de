import type { Amount } from '../money.ts';
import type { MarketParams } from '../params.ts';

/** An attribute value an ask declares (accelerator, memoryGb, region, fingerprint, ...). */
export type AttributeValue = string | number;

/** One constraint a bid puts on the asks it accepts. */
export interface Requirement {
  key: string;
  op: 'eq' | 'neq' | 'gte' | 'lte' | 'in';
  value: AttributeValue | AttributeValue[];
}

/** What the job will run: the job object keeps it; the market only carries it. */
export interface JobSpec {
  /** SHA-256 (hex) of the ONNX model. */
  modelSha256: string;
  /** SHA-256 (hex) of the canonical input tensors. */
  inputSha256: string;
  inputBytes: number;
  /** Max absolute difference accepted between replicas on different runtimes; null = bit-exact only. */
  tolerance: number | null;
}

/** A provider offers `capacity` concurrent slots at `price` per work unit. */
export interface PlaceAsk {
  type: 'PlaceAsk';
  askId: string;
  owner: string;
  price: Amount;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
}

/** A buyer asks for a job of `units` work units on `replicas` distinct providers. The job id is the bid id. */
export interface PlaceBid {
  type: 'PlaceBid';
  bidId: string;
  owner: string;
  maxPrice: Amount;
  units: number;
  replicas: number;
  requirements: Requirement[];
  expiresAt: number;
  ioc: boolean;
  spec: JobSpec;
}

/** The owner withdraws a resting ask or bid. */
export interface CancelOrder {
  type: 'CancelOrder';
  orderId: string;
}

/** A job gives back the slot it held on an ask. */
export interface ReleaseSlot {
  type: 'ReleaseSlot';
  askId: string;
  jobId: string;
}

/** Expires every order whose expiresAt is at or before meta.now. */
export interface ExpireOrders {
  type: 'ExpireOrders';
}

/** A job asks for one more replica (re-match after a lapsed lease, or a tie-breaker). */
export interface PlaceReplicaBid {
  type: 'PlaceReplicaBid';
  jobId: string;
  replica: number;
  buyer: string;
  maxPrice: Amount;
  units: number;
  requirements: Requirement[];
  excludeProviders: string[];
  expiresAt: number;
}

/** Sets the parameters jobs of this market are created under (system only: configuration, later governance). */
export interface ConfigureMarket {
  type: 'ConfigureMarket';
  params: MarketParams;
}

/** System (dispatch): the ask's agent is gone; the ask stops matching, and is withdrawn after the market's agentGraceMs unless resumed. */
export interface SuspendAsk {
  type: 'SuspendAsk';
  askId: string;
}

/** System (dispatch): the ask's agent is back. */
export interface ResumeAsk {
  type: 'ResumeAsk';
  askId: string;
}

/**
 * From a job that exists: one of its replicas, matched to `askId`, is ready for that ask's agent. The
 * market hands it to dispatch only now, so an agent never takes work its job has not heard of.
 */
export interface DispatchReplica {
  type: 'DispatchReplica';
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
}

export type MarketCommand =
  | PlaceAsk
  | PlaceBid
  | CancelOrder
  | ReleaseSlot
  | ExpireOrders
  | PlaceReplicaBid
  | ConfigureMarket
  | SuspendAsk
  | ResumeAsk
  | DispatchReplica;
