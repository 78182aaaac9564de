import type { Fill } from '../market/events.ts';
import type { JobSpec, Requirement } from '../market/commands.ts';
import type { Amount } from '../money.ts';
import type { JobParams } from '../params.ts';
import type { RunFailure } from './failure.ts';
import type { SlashOutcome, SlashStep } from '../slash.ts';

// The market's terms, carried into the job unchanged: a match's fills and spec, and the market's params.
export type { Fill } from '../market/events.ts';
export type { JobSpec } from '../market/commands.ts';
export type { JobParams } from '../params.ts';

/** From the market on a match; a repeat does nothing. The hold must equal sum(fill.price * units). */
export interface CreateJob {
  type: 'CreateJob';
  jobId: string;
  buyer: string;
  /** Work units (an integer); a replica earns price * units. */
  units: number;
  maxPrice: Amount;
  replicas: number;
  requirements: Requirement[];
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

/**
 * The lease's provider (meta.actor) reports that the run failed (job/failure.ts): the replica's
 * answer, verified like a result.
 */
export interface ReportFailure {
  type: 'ReportFailure';
  leaseId: string;
  failure: RunFailure;
}

/** Alarm: lapse every lease (or unstarted assignment) whose time has passed (meta.now). */
export interface ExpireLeases {
  type: 'ExpireLeases';
}

/** Dispatch: the lease's agent left before acknowledging it (meta.actor is the replica's provider); it lapses now. */
export interface AbandonLease {
  type: 'AbandonLease';
  leaseId: string;
}

/**
 * The agent of the ask a replica was matched to left before the work reached it (no lease yet): the
 * assignment lapses now. From dispatch (meta.actor is the replica's provider) or the market (system).
 */
export interface AbandonAssignment {
  type: 'AbandonAssignment';
  replica: number;
  askId: string;
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

/** What became of the slash of a rejected replica's provider: a system actor (the job's slash driver) records each step. */
export interface RecordSlash extends SlashStep {
  type: 'RecordSlash';
  replica: number;
}

export type { SlashOutcome };

export type JobCommand =
  | CreateJob
  | StartLease
  | Heartbeat
  | SubmitResult
  | ReportFailure
  | ExpireLeases
  | AbandonLease
  | AbandonAssignment
  | ReplicaMatched
  | ReplicaUnfilled
  | CloseChallengeWindow
  | Tick
  | ChallengeResult
  | CancelJob
  | RecordSlash;
