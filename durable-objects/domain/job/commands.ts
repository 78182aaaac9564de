import type { Amount } from '../money.ts';

/** A provider slot that fills one replica at `price` per unit. */
export interface Fill {
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
}

/** What to run: content-addressed model and input, and how close outputs must be. */
export interface JobSpec {
  modelSha256: string;
  inputSha256: string;
  inputBytes: number;
  /** Max absolute difference between outputs on different runtimes; null: bit-exact only. */
  tolerance: number | null;
}

/** Protocol parameters the job was created under (see params.ts). */
export interface JobParams {
  feeBps: number;
  leaseMs: number;
  maxRematches: number;
  challengeWindowMs: number;
  replicaBidTtlMs: number;
}

/** From the market on a match; a repeat does nothing. The hold must equal sum(fill.price * units). */
export interface CreateJob {
  type: 'CreateJob';
  jobId: string;
  buyer: string;
  /** Work units (an integer); a replica earns price * units. */
  units: number;
  maxPrice: Amount;
  replicas: number;
  requirements: Record<string, unknown>;
  spec: JobSpec;
  fills: Fill[];
  holdId: string;
  params: JobParams;
}

/** The replica's provider (meta.actor) takes the work under a lease. */
export interface StartLease {
  type: 'StartLease';
  replica: number;
  leaseId: string;
  agentKey: string;
}

/** Keeps a lease alive. */
export interface Heartbeat {
  type: 'Heartbeat';
  leaseId: string;
}

/** The replica's output; `agreement` (replica -> agrees) is computed by the shell when runtimes differ. */
export interface SubmitResult {
  type: 'SubmitResult';
  leaseId: string;
  outputDigest: string;
  outputBytes: number;
  fingerprint: string;
  agreement?: Record<number, boolean>;
}

/** Alarm: lapse every lease (or unstarted assignment) whose time has passed (meta.now). */
export interface ExpireLeases {
  type: 'ExpireLeases';
}

/** From the market: a re-match, tie-breaker or challenge bid found a provider. */
export interface ReplicaMatched {
  type: 'ReplicaMatched';
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
}

/** From the market: such a bid expired unfilled. */
export interface ReplicaUnfilled {
  type: 'ReplicaUnfilled';
  jobId: string;
  replica: number;
}

/** Alarm: a single-replica result whose challenge window has passed is verified and settled. */
export interface CloseChallengeWindow {
  type: 'CloseChallengeWindow';
}

/**
 * The buyer (meta.actor) disputes a single-replica result within the window. `holdId` names a
 * hold of challengeCost(state) that the edge placed on the buyer's account first: it pays the
 * re-run if the challenge fails.
 */
export interface ChallengeResult {
  type: 'ChallengeResult';
  holdId: string;
}

/** Alarm at nextDeadline: does whatever ExpireLeases and CloseChallengeWindow would, as due. */
export interface Tick {
  type: 'Tick';
}

/** The buyer (meta.actor) cancels before any result: full refund. */
export interface CancelJob {
  type: 'CancelJob';
}

export type JobCommand =
  | CreateJob
  | StartLease
  | Heartbeat
  | SubmitResult
  | ExpireLeases
  | ReplicaMatched
  | ReplicaUnfilled
  | CloseChallengeWindow
  | Tick
  | ChallengeResult
  | CancelJob;
