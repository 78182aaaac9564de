import type { Decider } from '../decider.ts';
import type { JobCommand } from './commands.ts';
import { decide, react } from './decide.ts';
import type { JobEvent } from './events.ts';
import { evolve, initialState, restore, snapshot, type JobState } from './state.ts';

export type * from './commands.ts';
export type * from './events.ts';
export { JOB_ERRORS } from './errors.ts';
export type { CreatedJob, JobData, JobState, LeaseRecord, ReplicaState, SlashState, TimelineEntry } from './state.ts';
export { challengeCost, payoutFor } from './decide.ts';
export { slashEvidence } from './slash.ts';
export { slashAmount, slashPlan } from '../slash.ts';
export { jobView, nextDeadline, payloadsExpireAt, PAYLOAD_TTL_MS, servableReplica, type JobView } from './view.ts';
export { replicasToCompare } from './agreement.ts';
export {
  FAILURE_KINDS,
  FAILURE_MESSAGE_MAX,
  failedRunUnitsOf,
  failureInWords,
  failureKindOf,
  failureSignature,
  isFailureSignature,
  normalizeFailureMessage,
  type FailureKind,
  type RunFailure,
} from './failure.ts';
export { maxResultsFor, resultsAgree, verifyReplicas, withinTolerance, type NamedTensor, type ReplicaResult, type Verdict } from './verify.ts';

/** The job aggregate: one per matched bid (job id = bid id). */
export const jobDecider: Decider<JobCommand, JobEvent, JobState> = {
  initialState,
  decide,
  evolve,
  react,
  eventVersions: {
    JobCreated: 1,
    LeaseGranted: 1,
    LeaseRenewed: 1,
    LeaseExpired: 1,
    ReplicaRematchRequested: 1,
    ReplicaReassigned: 1,
    ReplicaMatchDeclined: 1,
    ResultSubmitted: 1,
    RunFailed: 1,
    TieBreakerRequested: 1,
    ResultVerified: 1,
    ReplicaRejected: 1,
    SlashRecorded: 1,
    ChallengeWindowOpened: 1,
    ChallengeRaised: 1,
    JobSettled: 1,
    JobFailed: 1,
    JobRefunded: 1,
  },
  // Every event is at version 1; conversions of older shapes go here when a version is bumped.
  upcast: (_type, _version, data) => data,
  bigintFields: new Set(['maxPrice', 'price', 'ceiling', 'amount', 'gross', 'fee', 'net']),
  snapshot,
  restore,
};
