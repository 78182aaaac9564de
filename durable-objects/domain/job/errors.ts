import { defineErrors } from '../define-errors.ts';

/** Rejections of the job decider (namespace JOB__). Append-only. */
export const JOB_ERRORS = defineErrors({
  JOB__NOT_FOUND: 'there is no job here yet',
  JOB__CLOSED: 'job {jobId} is already {status}',
  JOB__INVALID_TERMS: '{field} is invalid: {problem}',
  JOB__FILLS_MISMATCH: 'the job wants {replicas} replicas but the fills are {fills}',
  JOB__DUPLICATE_PROVIDER: 'provider {provider} fills more than one replica',
  JOB__PRICE_ABOVE_MAX: 'replica {replica} is priced {price}, above the bid maximum {maxPrice}',
  JOB__REPLICA_NOT_FOUND: 'job {jobId} has no replica {replica}',
  JOB__NOT_REPLICA_PROVIDER: '{actor} is not the provider of replica {replica}',
  JOB__REPLICA_AWAITING_MATCH: 'replica {replica} is waiting for a new provider',
  JOB__ASSIGNMENT_EXPIRED: 'replica {replica} had to be started by {startBy}',
  JOB__LEASE_HELD: 'replica {replica} already runs under lease {leaseId}',
  JOB__LEASE_EXISTS: 'lease {leaseId} was already used',
  JOB__LEASE_NOT_FOUND: 'there is no lease {leaseId}',
  JOB__LEASE_EXPIRED: 'lease {leaseId} expired at {expiresAt}',
  JOB__RESULT_ALREADY_SUBMITTED: 'replica {replica} already submitted its result',
  JOB__AGREEMENT_REQUIRED: 'the result runs on another fingerprint: say whether it agrees with replicas {missing}',
  JOB__NOT_BUYER: '{actor} is not the buyer of job {jobId}',
  JOB__NOT_CHALLENGEABLE: 'job {jobId} is {status}; only a single-replica result in its challenge window can be challenged',
  JOB__CHALLENGE_WINDOW_CLOSED: 'the challenge window closed at {until}',
  JOB__CHALLENGE_HOLD_INVALID: 'a challenge needs its own hold, not {holdId}',
  JOB__CANCEL_AFTER_RESULT: 'job {jobId} has results and can no longer be cancelled',
});
