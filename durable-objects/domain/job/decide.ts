import type { CommandMeta, Outgoing } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { bps, MAX_AMOUNT, type Amount } from '../money.ts';
import { fail, ok, type Result } from '../result.ts';
import type { CreateJob, JobCommand, RecordSlash } from './commands.ts';
import { slashStepProblem } from '../slash.ts';
import { JOB_ERRORS } from './errors.ts';
import type { JobEvent, Payout, RefundReason, ResultVerified } from './events.ts';
import { evolve, type CreatedJob, type JobState, type ReplicaState } from './state.ts';
import { maxResultsFor, resultsAgree, verifyReplicas, type ReplicaResult } from './verify.ts';
import { FAILURE_MESSAGE_MAX, failedRunUnitsOf, type RunFailure } from './failure.ts';

/*
 * Budget. The buyer's hold equals sum(fill.price * units) once the market has released the unused
 * part. Every replacement is priced at most what it replaces: a re-match's ceiling is the lapsed
 * replica's price, a tie-breaker's is the lowest price among the results so far, a challenge
 * re-run's is the original price. Tie-breakers stop at 2R - 1 results, so a winning majority has at
 * most R members, at least as many unpaid originals as paid tie-breakers: the paid total never
 * exceeds the hold.
 *
 * Challenges (replicas = 1) are funded separately: before sending ChallengeResult the edge holds
 * challengeCost(state) = original price * units on the buyer's account under the command's holdId.
 * Challenge failed (re-run agrees): the original provider is paid from the job's hold and the re-run
 * from the challenge hold (the loser, the buyer, pays both). Challenge upheld (re-run disagrees):
 * the original is rejected and unpaid, the re-run is paid from the job's hold and the challenge hold
 * is released. Re-run never filled or lapsed past maxRematches: the challenge lapses, the original
 * result stands and is paid, the challenge hold is released.
 */

type Code = keyof typeof JOB_ERRORS & string;
const reject = (code: Code, context: Record<string, unknown> = {}) => fail(makeError(JOB_ERRORS, code, context));

/** Collects events while folding them into a private copy, so later rules see earlier events. */
class Draft {
  readonly events: JobEvent[] = [];
  state: JobState;
  constructor(
    state: JobState,
    private readonly meta: CommandMeta,
  ) {
    this.state = structuredClone(state);
  }
  emit(event: JobEvent): this {
    this.events.push(event);
    this.state = evolve(this.state, event, this.meta);
    return this;
  }
  get job(): CreatedJob {
    if (this.state.status === 'none') throw new Error('draft has no job');
    return this.state;
  }
}

/** Market price of one paid replica: gross = price * units, fee = bps(gross), net = gross - fee. */
export function payoutFor(job: CreatedJob, r: ReplicaState, holdId: string, units = job.units): Payout {
  const gross = r.price * BigInt(units);
  const fee = bps(gross, job.params.feeBps);
  return { replica: r.replica, provider: r.provider ?? '', holdId, gross, fee, net: gross - fee };
}

/** What the edge must hold on the buyer's account before a challenge: the re-run at the original price. */
export function challengeCost(state: JobState): Amount | null {
  if (state.status !== 'challengeable') return null;
  const original = state.replicas[0];
  return original ? original.price * BigInt(state.units) : null;
}

/** A settled, failed or refunded job takes no more commands but repeats. */
const isClosed = (job: CreatedJob): boolean => job.status === 'settled' || job.status === 'failed' || job.status === 'refunded';

/** Why the buyer may not cancel the job now, or null when it may: not once closed, nor once a result is in. */
export function cancelBlocker(job: CreatedJob): 'JOB__CLOSED' | 'JOB__CANCEL_AFTER_RESULT' | null {
  if (isClosed(job)) return 'JOB__CLOSED';
  return job.resultOrder.length > 0 ? 'JOB__CANCEL_AFTER_RESULT' : null;
}

/** Turns a job command into events or a coded rejection. */
export function decide(state: JobState, command: JobCommand, meta: CommandMeta): Result<JobEvent[]> {
  if (command.type === 'CreateJob') return state.status === 'none' ? create(command, meta) : ok([]);
  if (state.status === 'none') return reject('JOB__NOT_FOUND');
  const job = state;
  const closed = isClosed(job);

  switch (command.type) {
    case 'RecordSlash':
      return recordSlash(job, command, meta);
    case 'StartLease': {
      if (closed) return reject('JOB__CLOSED', { jobId: job.jobId, status: job.status });
      const r = job.replicas[command.replica];
      if (!r) return reject('JOB__REPLICA_NOT_FOUND', { jobId: job.jobId, replica: command.replica });
      if (r.provider !== meta.actor) return reject('JOB__NOT_REPLICA_PROVIDER', { actor: meta.actor, replica: r.replica });
      const known = job.leases[command.leaseId];
      if (known) {
        if (known.status === 'active' && known.replica === r.replica && r.lease?.leaseId === command.leaseId) return ok([]);
        return reject('JOB__LEASE_EXISTS', { leaseId: command.leaseId });
      }
      if (r.status === 'leased') return reject('JOB__LEASE_HELD', { replica: r.replica, leaseId: r.lease?.leaseId });
      if (r.status !== 'assigned') return reject('JOB__RESULT_ALREADY_SUBMITTED', { replica: r.replica });
      if (r.startBy !== null && meta.now >= r.startBy) return reject('JOB__ASSIGNMENT_EXPIRED', { replica: r.replica, startBy: r.startBy });
      return ok([
        {
          type: 'LeaseGranted',
          replica: r.replica,
          leaseId: command.leaseId,
          provider: meta.actor,
          agentKey: command.agentKey,
          expiresAt: meta.now + job.params.leaseMs,
        },
      ]);
    }
    case 'Heartbeat':
    case 'SubmitResult':
    case 'ReportFailure': {
      if (closed) return reject('JOB__CLOSED', { jobId: job.jobId, status: job.status });
      const lease = job.leases[command.leaseId];
      if (!lease) return reject('JOB__LEASE_NOT_FOUND', { leaseId: command.leaseId });
      if (lease.provider !== meta.actor) return reject('JOB__NOT_REPLICA_PROVIDER', { actor: meta.actor, replica: lease.replica });
      if (lease.status === 'completed') return reject('JOB__RESULT_ALREADY_SUBMITTED', { replica: lease.replica });
      const r = job.replicas[lease.replica];
      if (lease.status === 'expired' || !r?.lease || r.lease.leaseId !== command.leaseId) {
        return reject('JOB__LEASE_EXPIRED', { leaseId: command.leaseId, expiresAt: null });
      }
      if (meta.now >= r.lease.expiresAt) return reject('JOB__LEASE_EXPIRED', { leaseId: command.leaseId, expiresAt: r.lease.expiresAt });
      if (command.type === 'Heartbeat') {
        return ok([{ type: 'LeaseRenewed', replica: r.replica, leaseId: command.leaseId, expiresAt: meta.now + job.params.leaseMs }]);
      }
      if (command.type === 'ReportFailure') {
        const draft = new Draft(job, meta).emit({
          type: 'RunFailed',
          replica: r.replica,
          leaseId: command.leaseId,
          provider: meta.actor,
          askId: r.askId ?? '',
          failure: { kind: command.failure.kind, digest: command.failure.digest, message: command.failure.message.slice(0, FAILURE_MESSAGE_MAX) },
        });
        afterResult(draft, meta);
        return ok(draft.events);
      }
      const agreement = command.agreement ?? null;
      if (job.spec.tolerance !== null) {
        // Failed runs never agree with outputs (failure.ts): no tolerance verdict is needed against them.
        const missing = job.resultOrder.filter((i) => {
          const earlier = job.replicas[i]?.result;
          return (
            earlier &&
            !earlier.failure &&
            earlier.fingerprint !== command.fingerprint &&
            earlier.outputDigest !== command.outputDigest &&
            typeof agreement?.[i] !== 'boolean'
          );
        });
        if (missing.length > 0) return reject('JOB__AGREEMENT_REQUIRED', { replica: r.replica, missing: missing.join(', ') });
      }
      const draft = new Draft(job, meta).emit({
        type: 'ResultSubmitted',
        replica: r.replica,
        leaseId: command.leaseId,
        provider: meta.actor,
        askId: r.askId ?? '',
        outputDigest: command.outputDigest,
        outputBytes: command.outputBytes,
        fingerprint: command.fingerprint,
        agreement,
      });
      afterResult(draft, meta);
      return ok(draft.events);
    }
    case 'Tick': {
      if (job.status === 'challengeable') return decide(job, { type: 'CloseChallengeWindow' }, meta);
      return decide(job, { type: 'ExpireLeases' }, meta);
    }
    case 'ExpireLeases': {
      if (job.status !== 'active') return ok([]);
      const lapsed = job.replicas.filter(
        (r) => (r.status === 'leased' && r.lease && meta.now >= r.lease.expiresAt) || (r.status === 'assigned' && r.startBy !== null && meta.now >= r.startBy),
      );
      return ok(lapse(job, lapsed, meta));
    }
    case 'AbandonLease': {
      // The agent left before naming the lease in a heartbeat: it lapses now rather than at its expiry.
      if (job.status !== 'active') return ok([]);
      const r = job.replicas.find((x) => x.status === 'leased' && x.lease?.leaseId === command.leaseId);
      if (!r) return ok([]);
      if (r.provider !== meta.actor) return reject('JOB__NOT_REPLICA_PROVIDER', { actor: meta.actor, replica: r.replica });
      return ok(lapse(job, [r], meta));
    }
    case 'AbandonAssignment': {
      // The ask's agent left before the work reached it: the replica lapses now rather than at its start-by time.
      if (job.status !== 'active') return ok([]);
      const r = job.replicas[command.replica];
      if (!r || r.status !== 'assigned' || r.askId !== command.askId) return ok([]);
      if (r.provider !== meta.actor && !meta.actor.startsWith('system')) return reject('JOB__NOT_REPLICA_PROVIDER', { actor: meta.actor, replica: r.replica });
      return ok(lapse(job, [r], meta));
    }
    case 'ReplicaMatched': {
      const r = job.replicas[command.replica];
      const decline = (reason: 'job-closed' | 'not-awaiting' | 'provider-excluded' | 'above-ceiling'): JobEvent => ({
        type: 'ReplicaMatchDeclined',
        replica: command.replica,
        askId: command.askId,
        provider: command.provider,
        price: command.price,
        reason,
      });
      if (r && r.askId === command.askId && r.provider === command.provider) return ok([]);
      if (closed) return ok([decline('job-closed')]);
      if (!r || r.status !== 'awaiting-match') return ok([decline('not-awaiting')]);
      const problem = job.providers.includes(command.provider) ? 'provider-excluded' : command.price > r.price ? 'above-ceiling' : null;
      if (problem) {
        const draft = new Draft(job, meta).emit(decline(problem));
        giveUpOn(draft, r, 'unfilled');
        return ok(draft.events);
      }
      return ok([
        {
          type: 'ReplicaReassigned',
          replica: r.replica,
          askId: command.askId,
          provider: command.provider,
          price: command.price,
          startBy: meta.now + job.params.leaseMs,
        },
      ]);
    }
    case 'ReplicaUnfilled': {
      const r = job.replicas[command.replica];
      if (job.status !== 'active' || r?.status !== 'awaiting-match') return ok([]);
      const draft = new Draft(job, meta);
      giveUpOn(draft, r, 'unfilled');
      return ok(draft.events);
    }
    case 'CloseChallengeWindow': {
      // An alarm: early or stale firings do nothing.
      if (job.status !== 'challengeable' || meta.now < job.challengeUntil) return ok([]);
      const draft = new Draft(job, meta);
      settle(draft, [0], 'unchallenged');
      return ok(draft.events);
    }
    case 'ChallengeResult': {
      if (closed) return reject('JOB__CLOSED', { jobId: job.jobId, status: job.status });
      if (meta.actor !== job.buyer) return reject('JOB__NOT_BUYER', { actor: meta.actor, jobId: job.jobId });
      if (job.status !== 'challengeable') return reject('JOB__NOT_CHALLENGEABLE', { jobId: job.jobId, status: job.challenge ? 'challenged' : job.status });
      if (meta.now >= job.challengeUntil) return reject('JOB__CHALLENGE_WINDOW_CLOSED', { until: job.challengeUntil });
      if (command.holdId === job.holdId) return reject('JOB__CHALLENGE_HOLD_INVALID', { holdId: command.holdId });
      const original = job.replicas[0]!;
      return ok([
        {
          type: 'ChallengeRaised',
          replica: job.replicas.length,
          by: meta.actor,
          holdId: command.holdId,
          amount: original.price * BigInt(job.units),
          ceiling: original.price,
          excludeProviders: [...job.providers],
          expiresAt: meta.now + job.params.replicaBidTtlMs,
        },
      ]);
    }
    case 'CancelJob': {
      const blocker = cancelBlocker(job);
      if (blocker === 'JOB__CLOSED') return reject(blocker, { jobId: job.jobId, status: job.status });
      if (meta.actor !== job.buyer) return reject('JOB__NOT_BUYER', { actor: meta.actor, jobId: job.jobId });
      if (blocker) return reject(blocker, { jobId: job.jobId });
      const draft = new Draft(job, meta);
      refund(draft, 'cancelled');
      return ok(draft.events);
    }
  }
}

function create(command: CreateJob, meta: CommandMeta): Result<JobEvent[]> {
  const { replicas, fills, units, params } = command;
  const invalid = (field: string, problem: string) => reject('JOB__INVALID_TERMS', { field, problem });
  if (!Number.isSafeInteger(units) || units <= 0) return invalid('units', 'must be a positive integer');
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) return invalid('replicas', 'must be 1 to 5');
  if (command.maxPrice < 0n) return invalid('maxPrice', 'must not be negative');
  if (!Number.isInteger(params.feeBps) || params.feeBps < 0 || params.feeBps > 10_000) return invalid('params.feeBps', 'must be 0 to 10000');
  if (!Number.isInteger(params.maxRematches) || params.maxRematches < 0) return invalid('params.maxRematches', 'must be a non-negative integer');
  const failedRunUnits = (params as Partial<typeof params>).failedRunUnits;
  if (failedRunUnits !== undefined && (!Number.isSafeInteger(failedRunUnits) || failedRunUnits < 0)) return invalid('params.failedRunUnits', 'must be a non-negative integer');
  for (const key of ['leaseMs', 'challengeWindowMs', 'replicaBidTtlMs'] as const) {
    if (!(params[key] > 0)) return invalid(`params.${key}`, 'must be positive');
  }
  const indices = fills.map((f) => f.replica).sort((a, b) => a - b);
  if (fills.length !== replicas || indices.some((v, i) => v !== i)) {
    return reject('JOB__FILLS_MISMATCH', { replicas, fills: indices.join(', ') || 'none' });
  }
  const seen = new Set<string>();
  for (const f of fills) {
    if (seen.has(f.provider)) return reject('JOB__DUPLICATE_PROVIDER', { provider: f.provider });
    seen.add(f.provider);
    if (f.price < 0n || f.price > command.maxPrice) return reject('JOB__PRICE_ABOVE_MAX', { replica: f.replica, price: f.price, maxPrice: command.maxPrice });
  }
  const { type: _t, ...fields } = command;
  return ok([{ type: 'JobCreated', ...fields, fills: fills.map((f) => ({ ...f })), startBy: meta.now + params.leaseMs }]);
}

/** After a result: open the challenge window, settle, ask for a tie-breaker, or refund. */
function afterResult(draft: Draft, meta: CommandMeta): void {
  const job = draft.job;
  const results: ReplicaResult[] = job.resultOrder.map((i) => {
    const r = job.replicas[i]!;
    const res = r.result!;
    return { replica: i, price: r.price, outputDigest: res.outputDigest, fingerprint: res.fingerprint, agreement: res.agreement };
  });
  const failureOf = (replicas: number[]): RunFailure | undefined => job.replicas[replicas[0]!]?.result?.failure;
  if (job.challenge) {
    const [original, rerun] = results;
    if (!original || !rerun) return;
    if (failureOf([rerun.replica])) {
      // The original ran on these inputs, so a re-run that fails is its own machine's fault: the
      // challenge lapses and the original stands.
      draft.emit({ type: 'ReplicaRejected', replica: rerun.replica, provider: job.replicas[rerun.replica]!.provider ?? '' });
      settle(draft, [original.replica], 'challenge-lapsed');
      return;
    }
    if (resultsAgree(original, rerun, job.spec.tolerance)) {
      settle(draft, [original.replica, rerun.replica], 'challenge-failed');
    } else {
      draft.emit({ type: 'ReplicaRejected', replica: original.replica, provider: job.replicas[original.replica]!.provider ?? '' });
      settle(draft, [rerun.replica], 'challenge-upheld');
    }
    return;
  }
  if (job.replicaCount === 1) {
    // One replica, no second opinion: the buyer chose to trust a single provider, for its failure as for its result.
    const failure = failureOf([results[0]!.replica]);
    if (failure) return failJob(draft, [results[0]!.replica], failure);
    draft.emit({ type: 'ChallengeWindowOpened', until: meta.now + job.params.challengeWindowMs });
    return;
  }
  const outstanding = job.replicas.filter((r) => r.result === null).length;
  const verdict = verifyReplicas({ results, outstanding, maxResults: maxResultsFor(job.replicaCount), tolerance: job.spec.tolerance });
  switch (verdict.kind) {
    case 'pending':
      return;
    case 'unanimous': {
      const failure = failureOf(verdict.replicas);
      if (failure) return failJob(draft, verdict.replicas, failure);
      settle(draft, verdict.replicas, 'unanimous');
      return;
    }
    case 'majority': {
      // Failing the same way outvotes an output: the input fails on most runtimes. Those that ran it are not penalised.
      const failure = failureOf(verdict.winners);
      if (failure) return failJob(draft, verdict.winners, failure);
      for (const loser of verdict.losers) draft.emit({ type: 'ReplicaRejected', replica: loser, provider: job.replicas[loser]!.provider ?? '' });
      settle(draft, verdict.winners, 'majority');
      return;
    }
    case 'tie-breaker':
      draft.emit({
        type: 'TieBreakerRequested',
        replica: job.replicas.length,
        ceiling: verdict.ceiling,
        excludeProviders: [...job.providers],
        expiresAt: meta.now + job.params.replicaBidTtlMs,
      });
      return;
    case 'no-majority':
      refund(draft, 'no-majority');
      return;
  }
}

/** A replica cannot be (re)filled: a challenge lapses and the original stands; any other replica refunds the job. */
function giveUpOn(draft: Draft, r: ReplicaState, reason: RefundReason): void {
  if (r.role === 'challenge') settle(draft, [0], 'challenge-lapsed');
  else refund(draft, reason);
}

/** Verifies the winners and pays them (challenge re-runs that lost the buyer's challenge are paid from its hold). */
function settle(draft: Draft, winners: number[], basis: ResultVerified['basis']): void {
  draft.emit({ type: 'ResultVerified', replicas: [...winners].sort((a, b) => a - b), basis });
  const job = draft.job;
  const payouts = [...winners]
    .sort((a, b) => a - b)
    .map((i) => {
      const r = job.replicas[i]!;
      const fromChallenge = basis === 'challenge-failed' && r.role === 'challenge' && job.challenge;
      return payoutFor(job, r, fromChallenge ? job.challenge!.holdId : job.holdId);
    });
  draft.emit({
    type: 'JobSettled',
    payouts,
    fee: payouts.reduce((sum, p) => sum + p.fee, 0n),
    holds: holdsOf(job),
    releaseSlots: slotsOf(job),
  });
}

/** The agreeing replicas failed the same way: each is paid the failed-run fee, the rest goes back to the buyer. */
function failJob(draft: Draft, failing: number[], failure: RunFailure): void {
  const job = draft.job;
  const units = failedRunUnitsOf(job.params, job.units);
  const payouts = [...failing].sort((a, b) => a - b).map((i) => payoutFor(job, job.replicas[i]!, job.holdId, units));
  draft.emit({
    type: 'JobFailed',
    failure,
    payouts,
    fee: payouts.reduce((sum, p) => sum + p.fee, 0n),
    holds: holdsOf(job),
    releaseSlots: slotsOf(job),
  });
}

function refund(draft: Draft, reason: RefundReason): void {
  const job = draft.job;
  draft.emit({ type: 'JobRefunded', reason, holds: holdsOf(job), releaseSlots: slotsOf(job) });
}

const holdsOf = (job: CreatedJob): string[] => (job.challenge ? [job.holdId, job.challenge.holdId] : [job.holdId]);
const slotsOf = (job: CreatedJob): string[] => job.replicas.filter((r) => r.slotHeld && r.askId !== null).map((r) => r.askId!);

/** Records a step of a rejected replica's slash (system only; a closed job takes it too: slashes outlive settlement). */
function recordSlash(job: CreatedJob, c: RecordSlash, meta: CommandMeta): Result<JobEvent[]> {
  if (!meta.actor.startsWith('system')) return reject('JOB__NOT_SYSTEM', { actor: meta.actor, action: 'record a slash' });
  const slash = job.slashes?.[c.replica];
  if (!slash) return reject('JOB__SLASH_NOT_FOUND', { jobId: job.jobId, replica: c.replica });
  const problem = slashStepProblem(slash.outcome, slash.proposal, c);
  if (problem) return 'from' in problem ? reject('JOB__SLASH_TRANSITION', { replica: c.replica, ...problem }) : reject('JOB__SLASH_INVALID', problem);
  if (slash.outcome === c.outcome) return ok([]);
  const proposed = c.outcome === 'proposed';
  return ok([
    {
      type: 'SlashRecorded',
      replica: c.replica,
      provider: slash.provider,
      outcome: c.outcome,
      proposal: c.proposal ?? slash.proposal,
      amount: proposed ? c.amount! : slash.amount,
      executableAt: proposed ? c.executableAt! : slash.executableAt,
      reason: c.reason ?? null,
    },
  ]);
}

/** Outbox messages: matched replicas to dispatch, slots back to the market, bids for replacement replicas, settlement or refund to the buyer's account. */
export function react(state: JobState, event: JobEvent, _meta: CommandMeta): Outgoing[] {
  const market = { kind: 'market' as const, id: '' /* the shell fills in the job's market */ };
  const dispatch = (jobId: string, replica: number, askId: string, provider: string): Outgoing => ({ to: market, command: { type: 'DispatchReplica', jobId, replica, askId, provider } });
  // The job exists and holds the match: only now may the ask's agent take the replica. (Reactions
  // see the state before their event: JobCreated's comes from the event alone.)
  if (event.type === 'JobCreated') return event.fills.map((f) => dispatch(event.jobId, f.replica, f.askId, f.provider));
  if (state.status === 'none') return [];
  const job = state;
  const releaseSlot = (askId: string): Outgoing => ({ to: market, command: { type: 'ReleaseSlot', askId, jobId: job.jobId } });
  const bid = (replica: number, maxPrice: Amount, excludeProviders: string[], expiresAt: number): Outgoing => ({
    to: market,
    command: {
      type: 'PlaceReplicaBid',
      jobId: job.jobId,
      replica,
      buyer: job.buyer,
      maxPrice,
      units: job.units,
      requirements: job.requirements,
      excludeProviders,
      expiresAt,
    },
  });
  const buyer = { kind: 'account' as const, id: job.buyer };
  switch (event.type) {
    case 'ReplicaReassigned':
      return [dispatch(job.jobId, event.replica, event.askId, event.provider)];
    case 'LeaseExpired':
    case 'ResultSubmitted':
    case 'RunFailed':
    case 'ReplicaMatchDeclined':
      return event.askId ? [releaseSlot(event.askId)] : [];
    case 'ReplicaRematchRequested':
    case 'TieBreakerRequested':
    case 'ChallengeRaised':
      return [bid(event.replica, event.ceiling, event.excludeProviders, event.expiresAt)];
    case 'JobSettled':
    case 'JobFailed':
      return [
        ...event.holds.map((holdId) => {
          const paid = event.payouts.filter((p) => p.holdId === holdId);
          return {
            to: buyer,
            command: {
              type: 'SettleHold' as const,
              holdId,
              account: job.buyer,
              payouts: paid.map((p) => ({ account: p.provider, amount: p.net, fee: p.fee })),
              fee: paid.reduce((sum, p) => sum + p.fee, 0n),
            },
          };
        }),
        ...event.releaseSlots.map(releaseSlot),
      ];
    case 'JobRefunded':
      return [...event.holds.map((holdId) => ({ to: buyer, command: { type: 'ReleaseHold' as const, holdId } })), ...event.releaseSlots.map(releaseSlot)];
    default:
      return [];
  }
}

/** Lapses replicas: each one's lease expires and it is offered again, or given up past maxRematches. */
function lapse(job: CreatedJob, lapsed: ReplicaState[], meta: CommandMeta): JobEvent[] {
  if (lapsed.length === 0) return [];
  const draft = new Draft(job, meta);
  for (const r of lapsed) {
    draft.emit({ type: 'LeaseExpired', replica: r.replica, leaseId: r.lease?.leaseId ?? null, provider: r.provider ?? '', askId: r.askId ?? '' });
  }
  for (const r of lapsed) {
    if (draft.state.status !== 'active') break;
    if (r.rematches >= job.params.maxRematches) {
      giveUpOn(draft, r, 'rematch-limit');
      continue;
    }
    draft.emit({
      type: 'ReplicaRematchRequested',
      replica: r.replica,
      attempt: r.rematches + 1,
      ceiling: r.price,
      excludeProviders: [...draft.job.providers],
      expiresAt: meta.now + job.params.replicaBidTtlMs,
    });
  }
  return draft.events;
}
