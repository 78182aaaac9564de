import type { Amount } from '../money.ts';
import type { Fill, JobParams, JobSpec, SlashOutcome } from './commands.ts';
import type { Requirement } from '../market/commands.ts';
import type { RunFailure } from './failure.ts';

/** The market matched a bid: escrow is held, every replica is assigned a provider. */
export interface JobCreated {
  type: 'JobCreated';
  jobId: string;
  buyer: string;
  units: number;
  maxPrice: Amount;
  replicas: number;
  requirements: Requirement[];
  spec: JobSpec;
  fills: Fill[];
  holdId: string;
  params: JobParams;
  /** Each assigned provider must start a lease by then (now + leaseMs). */
  startBy: number;
}

export interface LeaseGranted {
  type: 'LeaseGranted';
  replica: number;
  leaseId: string;
  provider: string;
  agentKey: string;
  expiresAt: number;
}

export interface LeaseRenewed {
  type: 'LeaseRenewed';
  replica: number;
  leaseId: string;
  expiresAt: number;
}

/** A lease (or, with leaseId null, an assignment never started) lapsed; the slot goes back to the market. */
export interface LeaseExpired {
  type: 'LeaseExpired';
  replica: number;
  leaseId: string | null;
  provider: string;
  askId: string;
}

/** A lapsed replica is offered again, excluding every provider that worked on the job. */
export interface ReplicaRematchRequested {
  type: 'ReplicaRematchRequested';
  replica: number;
  attempt: number;
  ceiling: Amount;
  excludeProviders: string[];
  expiresAt: number;
}

/** A waiting replica got a provider. */
export interface ReplicaReassigned {
  type: 'ReplicaReassigned';
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
  startBy: number;
}

/** A match the job cannot use (closed job, nothing waiting, excluded provider, over the ceiling): its slot is returned. */
export interface ReplicaMatchDeclined {
  type: 'ReplicaMatchDeclined';
  replica: number;
  askId: string;
  provider: string;
  price: Amount;
  reason: 'job-closed' | 'not-awaiting' | 'provider-excluded' | 'above-ceiling';
}

export interface ResultSubmitted {
  type: 'ResultSubmitted';
  replica: number;
  leaseId: string;
  provider: string;
  askId: string;
  outputDigest: string;
  outputBytes: number;
  fingerprint: string;
  agreement: Record<number, boolean> | null;
}

/** The replica's run failed (its answer in verification is the failure's signature; job/failure.ts). */
export interface RunFailed {
  type: 'RunFailed';
  replica: number;
  leaseId: string;
  provider: string;
  askId: string;
  failure: RunFailure;
}

/** Results disagree without a majority: one more replica decides. */
export interface TieBreakerRequested {
  type: 'TieBreakerRequested';
  replica: number;
  ceiling: Amount;
  excludeProviders: string[];
  expiresAt: number;
}

/** The replicas whose result stands (they are paid). */
export interface ResultVerified {
  type: 'ResultVerified';
  replicas: number[];
  basis: 'unanimous' | 'majority' | 'unchallenged' | 'challenge-failed' | 'challenge-upheld' | 'challenge-lapsed';
}

/** A replica's result lost verification: unpaid, and counted against its provider's reputation. */
export interface ReplicaRejected {
  type: 'ReplicaRejected';
  replica: number;
  provider: string;
}

/** A step of the slash of a rejected replica's provider (RecordSlash). */
export interface SlashRecorded {
  type: 'SlashRecorded';
  replica: number;
  provider: string;
  outcome: SlashOutcome;
  proposal: number | null;
  amount: Amount | null;
  executableAt: number | null;
  reason: string | null;
}

/** A single-replica result awaits the buyer's challenge until `until`. */
export interface ChallengeWindowOpened {
  type: 'ChallengeWindowOpened';
  until: number;
}

/** The buyer challenged: a re-run (replica 1) on another provider, funded by the challenge hold. */
export interface ChallengeRaised {
  type: 'ChallengeRaised';
  replica: number;
  by: string;
  holdId: string;
  amount: Amount;
  ceiling: Amount;
  excludeProviders: string[];
  expiresAt: number;
}

export interface Payout {
  replica: number;
  provider: string;
  /** The hold it is paid from (the job's, or the challenge hold for a failed challenge's re-run). */
  holdId: string;
  gross: Amount;
  fee: Amount;
  net: Amount;
}

/** Paid replicas and the protocol fee; every hold listed is settled (the rest of it released). */
export interface JobSettled {
  type: 'JobSettled';
  payouts: Payout[];
  fee: Amount;
  holds: string[];
  releaseSlots: string[];
}

/**
 * The replicas agreed that the job's own input fails: the failing providers are paid the failed-run
 * fee (payouts, from the job's hold), the rest of every hold listed is released to the buyer.
 */
export interface JobFailed {
  type: 'JobFailed';
  failure: RunFailure;
  payouts: Payout[];
  fee: Amount;
  holds: string[];
  releaseSlots: string[];
}

export type RefundReason = 'cancelled' | 'rematch-limit' | 'unfilled' | 'no-majority';

/** Nobody is paid: every hold listed is released to the buyer. */
export interface JobRefunded {
  type: 'JobRefunded';
  reason: RefundReason;
  holds: string[];
  releaseSlots: string[];
}

export type JobEvent =
  | JobCreated
  | LeaseGranted
  | LeaseRenewed
  | LeaseExpired
  | ReplicaRematchRequested
  | ReplicaReassigned
  | ReplicaMatchDeclined
  | ResultSubmitted
  | RunFailed
  | TieBreakerRequested
  | ResultVerified
  | ReplicaRejected
  | SlashRecorded
  | ChallengeWindowOpened
  | ChallengeRaised
  | JobSettled
  | JobFailed
  | JobRefunded;
