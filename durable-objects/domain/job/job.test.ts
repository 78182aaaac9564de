import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import type { CommandMeta } from '../decider.ts';
import { specFor } from '../spec.ts';
import type { Fill, JobCommand, JobEvent, JobFailed, JobParams, JobSettled, JobState } from './index.ts';
import { slashAmount, slashEvidence, slashPlan, type CreatedJob } from './index.ts';
import { SLASH_BPS } from '../params.ts';
import { challengeCost, FAILURE_MESSAGE_MAX, failureKindOf, normalizeFailureMessage, jobDecider, jobView, nextDeadline, payloadsExpireAt, PAYLOAD_TTL_MS, replicasToCompare, servableReplica, verifyReplicas, withinTolerance } from './index.ts';

const given = specFor(jobDecider);
const NOW = 1_000_000;
const PARAMS: JobParams = { feeBps: 250, leaseMs: 30_000, maxRematches: 1, challengeWindowMs: 600_000, replicaBidTtlMs: 300_000, failedRunUnits: 2 };
const PRICES = [10_000n, 9_000n, 8_000n, 7_000n, 6_000n];
const fillsFor = (n: number): Fill[] => Array.from({ length: n }, (_, i) => ({ replica: i, askId: `ask-${i}`, provider: `p${i}`, price: PRICES[i]! }));
const createCommand = (replicas: number, tolerance: number | null = null): Extract<JobCommand, { type: 'CreateJob' }> => ({
  type: 'CreateJob',
  jobId: 'bid_cpu_job1',
  buyer: 'buyer',
  units: 100,
  maxPrice: 10_000n,
  replicas,
  requirements: [{ key: 'accelerator', op: 'eq', value: 'cpu' }],
  spec: { modelSha256: 'm'.repeat(64), inputSha256: 'i'.repeat(64), inputBytes: 10, tolerance },
  fills: fillsFor(replicas),
  holdId: 'bid_cpu_job1',
  params: PARAMS,
});
const created = (replicas: number, tolerance: number | null = null): JobEvent => {
  const { type: _t, ...fields } = createCommand(replicas, tolerance);
  return { type: 'JobCreated', ...fields, startBy: NOW + PARAMS.leaseMs };
};
const granted = (replica: number, leaseId = `L${replica}`, at = NOW): JobEvent => ({
  type: 'LeaseGranted',
  replica,
  leaseId,
  provider: `p${replica}`,
  agentKey: `agent-${replica}`,
  expiresAt: at + PARAMS.leaseMs,
});
const submitted = (replica: number, digest: string, fingerprint = 'cpu-ort-1.20', provider = `p${replica}`, leaseId = `L${replica}`): JobEvent => ({
  type: 'ResultSubmitted',
  replica,
  leaseId,
  provider,
  askId: `ask-${replica}`,
  outputDigest: digest,
  outputBytes: 4,
  fingerprint,
  agreement: null,
});
const submit = (replica: number, digest: string, fingerprint = 'cpu-ort-1.20', agreement?: Record<number, boolean>): JobCommand => ({
  type: 'SubmitResult',
  leaseId: `L${replica}`,
  outputDigest: digest,
  outputBytes: 4,
  fingerprint,
  ...(agreement ? { agreement } : {}),
});
const as = (actor: string, now = NOW + 1_000): Partial<CommandMeta> => ({ actor, now });
const meta: CommandMeta = { commandId: 'c', actor: 'system', now: NOW };
const types = (events: JobEvent[]) => events.map((e) => e.type);
const pay = (replica: number, price: bigint, holdId = 'bid_cpu_job1') => {
  const gross = price * 100n;
  const fee = (gross * 250n) / 10_000n;
  return { replica, provider: `p${replica}`, holdId, gross, fee, net: gross - fee };
};
const reactTo = (given: JobEvent[], event: JobEvent) => jobDecider.react(specFor(jobDecider)(given).state, event, meta);

describe('creating a job', () => {
  it('records the match and gives each provider leaseMs to start', () => {
    expect(given([]).when(createCommand(2)).events()).toEqual([created(2)]);
  });
  it('does nothing when repeated', () => {
    expect(given([created(2)]).when(createCommand(2)).events()).toEqual([]);
  });
  it('is refused with invalid terms', () => {
    expect(given([]).when({ ...createCommand(1), units: 0 }).rejection().code).toBe('JOB__INVALID_TERMS');
    expect(given([]).when({ ...createCommand(1), replicas: 6 }).rejection().code).toBe('JOB__INVALID_TERMS');
    expect(given([]).when({ ...createCommand(1), params: { ...PARAMS, feeBps: 10_001 } }).rejection().code).toBe('JOB__INVALID_TERMS');
  });
  it('is refused when the fills do not cover the replicas', () => {
    const error = given([]).when({ ...createCommand(2), fills: fillsFor(1) }).rejection();
    expect(error.code).toBe('JOB__FILLS_MISMATCH');
    expect(given([]).when({ ...createCommand(2), fills: fillsFor(2).map((f) => ({ ...f, replica: 1 })) }).rejection().code).toBe('JOB__FILLS_MISMATCH');
  });
  it('is refused when one provider fills two replicas', () => {
    const fills = fillsFor(2).map((f) => ({ ...f, provider: 'same' }));
    expect(given([]).when({ ...createCommand(2), fills }).rejection().code).toBe('JOB__DUPLICATE_PROVIDER');
  });
  it('is refused when a fill is priced above the bid', () => {
    expect(given([]).when({ ...createCommand(1), maxPrice: 9_999n }).rejection().code).toBe('JOB__PRICE_ABOVE_MAX');
  });
});

describe('a command before the job exists', () => {
  it('is refused', () => {
    expect(given([]).when({ type: 'StartLease', replica: 0, leaseId: 'L0', agentKey: 'a' }, as('p0')).rejection().code).toBe('JOB__NOT_FOUND');
  });
});

describe('starting a lease', () => {
  const start = (replica: number, leaseId = `L${replica}`): JobCommand => ({ type: 'StartLease', replica, leaseId, agentKey: `agent-${replica}` });
  it('grants the replica provider a lease of leaseMs', () => {
    expect(given([created(2)]).when(start(1), as('p1', NOW + 5)).events()).toEqual([
      { type: 'LeaseGranted', replica: 1, leaseId: 'L1', provider: 'p1', agentKey: 'agent-1', expiresAt: NOW + 5 + PARAMS.leaseMs },
    ]);
  });
  it('is refused to anyone but the replica provider', () => {
    expect(given([created(2)]).when(start(1), as('p0')).rejection().code).toBe('JOB__NOT_REPLICA_PROVIDER');
  });
  it('is refused for an unknown replica', () => {
    expect(given([created(2)]).when(start(2), as('p2')).rejection().code).toBe('JOB__REPLICA_NOT_FOUND');
  });
  it('is refused while another lease runs on the replica', () => {
    expect(given([created(2), granted(0)]).when(start(0, 'L9'), as('p0')).rejection().code).toBe('JOB__LEASE_HELD');
  });
  it('does nothing when the same lease is started again', () => {
    expect(given([created(2), granted(0)]).when(start(0), as('p0')).events()).toEqual([]);
  });
  it('is refused when the lease id was used before', () => {
    expect(given([created(2), granted(0)]).when(start(1, 'L0'), as('p1')).rejection().code).toBe('JOB__LEASE_EXISTS');
  });
  it('is refused once the assignment has lapsed', () => {
    expect(given([created(2)]).when(start(0), as('p0', NOW + PARAMS.leaseMs)).rejection().code).toBe('JOB__ASSIGNMENT_EXPIRED');
  });
  it('is refused after the replica submitted', () => {
    expect(given([created(2), granted(0), submitted(0, 'd')]).when(start(0, 'L9'), as('p0')).rejection().code).toBe('JOB__RESULT_ALREADY_SUBMITTED');
  });
  it('is refused on a closed job', () => {
    const refunded: JobEvent = { type: 'JobRefunded', reason: 'cancelled', holds: ['bid_cpu_job1'], releaseSlots: [] };
    expect(given([created(2), refunded]).when(start(0), as('p0')).rejection().code).toBe('JOB__CLOSED');
  });
});

describe('a heartbeat', () => {
  it('renews the lease from now', () => {
    expect(given([created(1), granted(0)]).when({ type: 'Heartbeat', leaseId: 'L0' }, as('p0', NOW + 20_000)).events()).toEqual([
      { type: 'LeaseRenewed', replica: 0, leaseId: 'L0', expiresAt: NOW + 50_000 },
    ]);
  });
  it('is refused for an unknown lease', () => {
    expect(given([created(1), granted(0)]).when({ type: 'Heartbeat', leaseId: 'nope' }, as('p0')).rejection().code).toBe('JOB__LEASE_NOT_FOUND');
  });
  it('is refused once the lease has lapsed, even before the alarm', () => {
    const error = given([created(1), granted(0)]).when({ type: 'Heartbeat', leaseId: 'L0' }, as('p0', NOW + PARAMS.leaseMs)).rejection();
    expect(error.code).toBe('JOB__LEASE_EXPIRED');
    expect(error.context).toMatchObject({ leaseId: 'L0', expiresAt: NOW + PARAMS.leaseMs });
  });
  it('is refused for a lease that the alarm expired', () => {
    const expired: JobEvent = { type: 'LeaseExpired', replica: 0, leaseId: 'L0', provider: 'p0', askId: 'ask-0' };
    expect(given([created(1), granted(0), expired]).when({ type: 'Heartbeat', leaseId: 'L0' }, as('p0')).rejection().code).toBe('JOB__LEASE_EXPIRED');
  });
  it('is refused from another key', () => {
    expect(given([created(1), granted(0)]).when({ type: 'Heartbeat', leaseId: 'L0' }, as('p1')).rejection().code).toBe('JOB__NOT_REPLICA_PROVIDER');
  });
});

describe('results of a job with two replicas', () => {
  const running = [created(2), granted(0), granted(1)];
  it('wait for every replica', () => {
    expect(types(given(running).when(submit(0, 'aaa'), as('p0')).events())).toEqual(['ResultSubmitted']);
  });
  it('release the slot of the replica that submitted', () => {
    expect(reactTo(running, submitted(0, 'aaa'))).toEqual([{ to: { kind: 'market', id: '' }, command: { type: 'ReleaseSlot', askId: 'ask-0', jobId: 'bid_cpu_job1' } }]);
  });
  it('that agree bit-exactly pay every replica price * units less the fee', () => {
    const events = given([...running, submitted(0, 'aaa')]).when(submit(1, 'aaa'), as('p1')).events();
    expect(events.slice(1)).toEqual([
      { type: 'ResultVerified', replicas: [0, 1], basis: 'unanimous' },
      { type: 'JobSettled', payouts: [pay(0, 10_000n), pay(1, 9_000n)], fee: 25_000n + 22_500n, holds: ['bid_cpu_job1'], releaseSlots: [] },
    ]);
  });
  it('settle the buyer hold with the nets and the fee', () => {
    const settled: JobEvent = { type: 'JobSettled', payouts: [pay(0, 10_000n), pay(1, 9_000n)], fee: 47_500n, holds: ['bid_cpu_job1'], releaseSlots: ['ask-9'] };
    expect(reactTo(running, settled)).toEqual([
      {
        to: { kind: 'account', id: 'buyer' },
        command: {
          type: 'SettleHold',
          holdId: 'bid_cpu_job1',
          account: 'buyer',
          payouts: [{ account: 'p0', amount: 975_000n, fee: 25_000n }, { account: 'p1', amount: 877_500n, fee: 22_500n }],
          fee: 47_500n,
        },
      },
      { to: { kind: 'market', id: '' }, command: { type: 'ReleaseSlot', askId: 'ask-9', jobId: 'bid_cpu_job1' } },
    ]);
  });
  it('that disagree ask for a tie-breaker at the lowest price, excluding both providers', () => {
    const events = given([...running, submitted(0, 'aaa')]).when(submit(1, 'bbb'), as('p1', NOW + 7)).events();
    expect(events.slice(1)).toEqual([
      { type: 'TieBreakerRequested', replica: 2, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + 7 + PARAMS.replicaBidTtlMs },
    ]);
    expect(reactTo(running, events[1]!)).toEqual([
      {
        to: { kind: 'market', id: '' },
        command: {
          type: 'PlaceReplicaBid',
          jobId: 'bid_cpu_job1',
          replica: 2,
          buyer: 'buyer',
          maxPrice: 9_000n,
          units: 100,
          requirements: [{ key: 'accelerator', op: 'eq', value: 'cpu' }],
          excludeProviders: ['p0', 'p1'],
          expiresAt: NOW + 7 + PARAMS.replicaBidTtlMs,
        },
      },
    ]);
  });
  const tieBreak: JobEvent[] = [
    ...running,
    submitted(0, 'aaa'),
    submitted(1, 'bbb'),
    { type: 'TieBreakerRequested', replica: 2, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + 1 },
    { type: 'ReplicaReassigned', replica: 2, askId: 'ask-2', provider: 'p2', price: 8_000n, startBy: NOW + PARAMS.leaseMs },
    granted(2),
  ];
  it('pay the majority once the tie-breaker sides with it, and reject the minority', () => {
    const events = given(tieBreak).when(submit(2, 'bbb'), as('p2')).events();
    expect(events.slice(1)).toEqual([
      { type: 'ReplicaRejected', replica: 0, provider: 'p0' },
      { type: 'ResultVerified', replicas: [1, 2], basis: 'majority' },
      { type: 'JobSettled', payouts: [pay(1, 9_000n), pay(2, 8_000n)], fee: 22_500n + 20_000n, holds: ['bid_cpu_job1'], releaseSlots: [] },
    ]);
  });
  it('refund the job when the tie-breaker agrees with neither', () => {
    const events = given(tieBreak).when(submit(2, 'ccc'), as('p2')).events();
    expect(events.slice(1)).toEqual([{ type: 'JobRefunded', reason: 'no-majority', holds: ['bid_cpu_job1'], releaseSlots: [] }]);
  });
  it('are refused twice from one lease', () => {
    expect(given([...running, submitted(0, 'aaa')]).when(submit(0, 'aaa'), as('p0')).rejection().code).toBe('JOB__RESULT_ALREADY_SUBMITTED');
  });
});

describe('results of a job with three replicas', () => {
  it('pay a two-to-one majority at once', () => {
    const given3 = given([created(3), granted(0), granted(1), granted(2), submitted(0, 'aaa'), submitted(1, 'bbb')]);
    expect(types(given3.when(submit(2, 'aaa'), as('p2')).events())).toEqual(['ResultSubmitted', 'ReplicaRejected', 'ResultVerified', 'JobSettled']);
  });
});

describe('results on different runtimes', () => {
  const running = [created(2, 0.001), granted(0), granted(1), submitted(0, 'aaa', 'cpu')];
  it('need the shell agreement with the earlier results', () => {
    const error = given(running).when(submit(1, 'bbb', 'cuda'), as('p1')).rejection();
    expect(error.code).toBe('JOB__AGREEMENT_REQUIRED');
    expect(error.context).toMatchObject({ missing: '0' });
  });
  it('agree within tolerance when the shell says so', () => {
    expect(types(given(running).when(submit(1, 'bbb', 'cuda', { 0: true }), as('p1')).events())).toEqual(['ResultSubmitted', 'ResultVerified', 'JobSettled']);
  });
  it('disagree when the shell says so', () => {
    expect(types(given(running).when(submit(1, 'bbb', 'cuda', { 0: false }), as('p1')).events())).toEqual(['ResultSubmitted', 'TieBreakerRequested']);
  });
  it('compare bit-exactly on one runtime even with a tolerance', () => {
    expect(types(given(running).when(submit(1, 'bbb', 'cpu'), as('p1')).events())).toEqual(['ResultSubmitted', 'TieBreakerRequested']);
  });
});

describe('lapsed leases', () => {
  const leased = [created(2), granted(0), granted(1)];
  const later = NOW + PARAMS.leaseMs;
  it('are expired and re-matched at the same price, excluding every provider of the job', () => {
    expect(given(leased).when({ type: 'ExpireLeases' }, as('system', later)).events()).toEqual([
      { type: 'LeaseExpired', replica: 0, leaseId: 'L0', provider: 'p0', askId: 'ask-0' },
      { type: 'LeaseExpired', replica: 1, leaseId: 'L1', provider: 'p1', askId: 'ask-1' },
      { type: 'ReplicaRematchRequested', replica: 0, attempt: 1, ceiling: 10_000n, excludeProviders: ['p0', 'p1'], expiresAt: later + PARAMS.replicaBidTtlMs },
      { type: 'ReplicaRematchRequested', replica: 1, attempt: 1, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: later + PARAMS.replicaBidTtlMs },
    ]);
  });
  it('return the slot to the market', () => {
    expect(reactTo(leased, { type: 'LeaseExpired', replica: 0, leaseId: 'L0', provider: 'p0', askId: 'ask-0' })).toEqual([
      { to: { kind: 'market', id: '' }, command: { type: 'ReleaseSlot', askId: 'ask-0', jobId: 'bid_cpu_job1' } },
    ]);
  });
  it('include assignments never started', () => {
    const events = given([created(2), granted(1, 'L1', NOW + 10_000)]).when({ type: 'ExpireLeases' }, as('system', later)).events();
    expect(events[0]).toEqual({ type: 'LeaseExpired', replica: 0, leaseId: null, provider: 'p0', askId: 'ask-0' });
    expect(types(events)).toEqual(['LeaseExpired', 'ReplicaRematchRequested']);
  });
  it('do nothing before they are due', () => {
    expect(given(leased).when({ type: 'ExpireLeases' }, as('system', later - 1)).events()).toEqual([]);
  });
  it('refund the job past maxRematches', () => {
    const again: JobEvent[] = [
      ...leased,
      { type: 'LeaseExpired', replica: 0, leaseId: 'L0', provider: 'p0', askId: 'ask-0' },
      { type: 'ReplicaRematchRequested', replica: 0, attempt: 1, ceiling: 10_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + 1 },
      { type: 'ReplicaReassigned', replica: 0, askId: 'ask-5', provider: 'p5', price: 9_500n, startBy: later + 1_000 },
      { type: 'LeaseRenewed', replica: 1, leaseId: 'L1', expiresAt: later + 10_000 },
    ];
    expect(given(again).when({ type: 'ExpireLeases' }, as('system', later + 1_000)).events()).toEqual([
      { type: 'LeaseExpired', replica: 0, leaseId: null, provider: 'p5', askId: 'ask-5' },
      { type: 'JobRefunded', reason: 'rematch-limit', holds: ['bid_cpu_job1'], releaseSlots: ['ask-1'] },
    ]);
  });
  it('mark a submission through the old lease as expired', () => {
    const expired: JobEvent[] = [...leased, { type: 'LeaseExpired', replica: 0, leaseId: 'L0', provider: 'p0', askId: 'ask-0' }];
    expect(given(expired).when(submit(0, 'aaa'), as('p0')).rejection().code).toBe('JOB__LEASE_EXPIRED');
  });
});

describe('a re-match from the market', () => {
  const awaiting: JobEvent[] = [
    created(2),
    { type: 'LeaseExpired', replica: 0, leaseId: null, provider: 'p0', askId: 'ask-0' },
    { type: 'ReplicaRematchRequested', replica: 0, attempt: 1, ceiling: 10_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + 1 },
  ];
  const matched = (provider: string, price: bigint, askId = 'ask-7'): JobCommand => ({ type: 'ReplicaMatched', jobId: 'bid_cpu_job1', replica: 0, askId, provider, price });
  it('reassigns the replica', () => {
    expect(given(awaiting).when(matched('p7', 9_000n)).events()).toEqual([
      { type: 'ReplicaReassigned', replica: 0, askId: 'ask-7', provider: 'p7', price: 9_000n, startBy: NOW + PARAMS.leaseMs },
    ]);
  });
  it('does nothing when delivered twice', () => {
    const again = [...awaiting, { type: 'ReplicaReassigned', replica: 0, askId: 'ask-7', provider: 'p7', price: 9_000n, startBy: NOW + 1 } as JobEvent];
    expect(given(again).when(matched('p7', 9_000n)).events()).toEqual([]);
  });
  it('is declined, its slot returned, when nothing waits for it', () => {
    const events = given([created(2)]).when(matched('p7', 9_000n)).events();
    expect(events).toEqual([{ type: 'ReplicaMatchDeclined', replica: 0, askId: 'ask-7', provider: 'p7', price: 9_000n, reason: 'not-awaiting' }]);
    expect(reactTo([created(2)], events[0]!)).toEqual([{ to: { kind: 'market', id: '' }, command: { type: 'ReleaseSlot', askId: 'ask-7', jobId: 'bid_cpu_job1' } }]);
  });
  it('is declined after the job closed', () => {
    const closed = [...awaiting, { type: 'JobRefunded', reason: 'unfilled', holds: ['bid_cpu_job1'], releaseSlots: [] } as JobEvent];
    expect(given(closed).when(matched('p7', 9_000n)).events()[0]).toMatchObject({ type: 'ReplicaMatchDeclined', reason: 'job-closed' });
  });
  it('is declined, and the job refunded, with an excluded provider or above the ceiling', () => {
    expect(types(given(awaiting).when(matched('p1', 9_000n)).events())).toEqual(['ReplicaMatchDeclined', 'JobRefunded']);
    expect(given(awaiting).when(matched('p7', 10_001n)).events()[0]).toMatchObject({ reason: 'above-ceiling' });
  });
  it('that never comes refunds the job', () => {
    expect(given(awaiting).when({ type: 'ReplicaUnfilled', jobId: 'bid_cpu_job1', replica: 0 }).events()).toEqual([
      { type: 'JobRefunded', reason: 'unfilled', holds: ['bid_cpu_job1'], releaseSlots: ['ask-1'] },
    ]);
    expect(given([created(2)]).when({ type: 'ReplicaUnfilled', jobId: 'bid_cpu_job1', replica: 0 }).events()).toEqual([]);
  });
});

describe('a single-replica job', () => {
  const done = [created(1), granted(0), submitted(0, 'aaa')];
  const window: JobEvent = { type: 'ChallengeWindowOpened', until: NOW + 1_000 + PARAMS.challengeWindowMs };
  const until = NOW + 1_000 + PARAMS.challengeWindowMs;
  it('opens a challenge window on its result', () => {
    expect(given([created(1), granted(0)]).when(submit(0, 'aaa'), as('p0')).events()).toEqual([submitted(0, 'aaa'), window]);
  });
  it('is settled when the window closes unchallenged', () => {
    expect(given([...done, window]).when({ type: 'CloseChallengeWindow' }, as('system', until)).events()).toEqual([
      { type: 'ResultVerified', replicas: [0], basis: 'unchallenged' },
      { type: 'JobSettled', payouts: [pay(0, 10_000n)], fee: 25_000n, holds: ['bid_cpu_job1'], releaseSlots: [] },
    ]);
    expect(types(given([...done, window]).when({ type: 'Tick' }, as('system', until)).events())).toEqual(['ResultVerified', 'JobSettled']);
  });
  it('ignores an early close', () => {
    expect(given([...done, window]).when({ type: 'CloseChallengeWindow' }, as('system', until - 1)).events()).toEqual([]);
  });
  it('is challenged by the buyer within the window: a re-run at the original price elsewhere', () => {
    const spec = given([...done, window]);
    expect(challengeCost(spec.state)).toBe(1_000_000n);
    expect(spec.when({ type: 'ChallengeResult', holdId: 'ch-1' }, as('buyer', until - 1)).events()).toEqual([
      { type: 'ChallengeRaised', replica: 1, by: 'buyer', holdId: 'ch-1', amount: 1_000_000n, ceiling: 10_000n, excludeProviders: ['p0'], expiresAt: until - 1 + PARAMS.replicaBidTtlMs },
    ]);
  });
  it('is not challenged by others, late, with the job hold, or before its result', () => {
    expect(given([...done, window]).when({ type: 'ChallengeResult', holdId: 'ch-1' }, as('p0')).rejection().code).toBe('JOB__NOT_BUYER');
    expect(given([...done, window]).when({ type: 'ChallengeResult', holdId: 'ch-1' }, as('buyer', until)).rejection().code).toBe('JOB__CHALLENGE_WINDOW_CLOSED');
    expect(given([...done, window]).when({ type: 'ChallengeResult', holdId: 'bid_cpu_job1' }, as('buyer')).rejection().code).toBe('JOB__CHALLENGE_HOLD_INVALID');
    expect(given([created(1)]).when({ type: 'ChallengeResult', holdId: 'ch-1' }, as('buyer')).rejection().code).toBe('JOB__NOT_CHALLENGEABLE');
  });
  const challenged: JobEvent[] = [
    ...done,
    window,
    { type: 'ChallengeRaised', replica: 1, by: 'buyer', holdId: 'ch-1', amount: 1_000_000n, ceiling: 10_000n, excludeProviders: ['p0'], expiresAt: NOW + 9 },
    { type: 'ReplicaReassigned', replica: 1, askId: 'ask-1', provider: 'p1', price: 9_000n, startBy: NOW + PARAMS.leaseMs },
    granted(1),
  ];
  it('pays both runs when the re-run agrees: the re-run from the challenge hold', () => {
    expect(given(challenged).when(submit(1, 'aaa'), as('p1')).events().slice(1)).toEqual([
      { type: 'ResultVerified', replicas: [0, 1], basis: 'challenge-failed' },
      { type: 'JobSettled', payouts: [pay(0, 10_000n), pay(1, 9_000n, 'ch-1')], fee: 47_500n, holds: ['bid_cpu_job1', 'ch-1'], releaseSlots: [] },
    ]);
  });
  it('rejects the original and pays the re-run from the job hold when the re-run disagrees', () => {
    const events = given(challenged).when(submit(1, 'bbb'), as('p1')).events().slice(1);
    expect(events).toEqual([
      { type: 'ReplicaRejected', replica: 0, provider: 'p0' },
      { type: 'ResultVerified', replicas: [1], basis: 'challenge-upheld' },
      { type: 'JobSettled', payouts: [pay(1, 9_000n)], fee: 22_500n, holds: ['bid_cpu_job1', 'ch-1'], releaseSlots: [] },
    ]);
    expect(reactTo(challenged, events[2]!).map((m) => m.command)).toEqual([
      { type: 'SettleHold', holdId: 'bid_cpu_job1', account: 'buyer', payouts: [{ account: 'p1', amount: 877_500n, fee: 22_500n }], fee: 22_500n },
      { type: 'SettleHold', holdId: 'ch-1', account: 'buyer', payouts: [], fee: 0n },
    ]);
  });
  it('pays the original when the re-run finds no provider', () => {
    expect(given(challenged.slice(0, -2)).when({ type: 'ReplicaUnfilled', jobId: 'bid_cpu_job1', replica: 1 }).events()).toEqual([
      { type: 'ResultVerified', replicas: [0], basis: 'challenge-lapsed' },
      { type: 'JobSettled', payouts: [pay(0, 10_000n)], fee: 25_000n, holds: ['bid_cpu_job1', 'ch-1'], releaseSlots: [] },
    ]);
  });
});

describe('cancelling', () => {
  it('refunds the buyer and frees the slots before any result', () => {
    const events = given([created(2), granted(0)]).when({ type: 'CancelJob' }, as('buyer')).events();
    expect(events).toEqual([{ type: 'JobRefunded', reason: 'cancelled', holds: ['bid_cpu_job1'], releaseSlots: ['ask-0', 'ask-1'] }]);
    expect(reactTo([created(2)], events[0]!).map((m) => [m.to, m.command.type])).toEqual([
      [{ kind: 'account', id: 'buyer' }, 'ReleaseHold'],
      [{ kind: 'market', id: '' }, 'ReleaseSlot'],
      [{ kind: 'market', id: '' }, 'ReleaseSlot'],
    ]);
  });
  it('is only for the buyer', () => {
    expect(given([created(2)]).when({ type: 'CancelJob' }, as('p0')).rejection().code).toBe('JOB__NOT_BUYER');
  });
  it('is refused once a result is in', () => {
    expect(given([created(2), granted(0), submitted(0, 'a')]).when({ type: 'CancelJob' }, as('buyer')).rejection().code).toBe('JOB__CANCEL_AFTER_RESULT');
  });
  it('is refused on a closed job', () => {
    const refunded: JobEvent = { type: 'JobRefunded', reason: 'cancelled', holds: [], releaseSlots: [] };
    expect(given([created(2), refunded]).when({ type: 'CancelJob' }, as('buyer')).rejection().code).toBe('JOB__CLOSED');
  });
});

describe('the views', () => {
  it('give the next deadline: the earliest lease or start-by, then the window, then none', () => {
    expect(nextDeadline(jobDecider.initialState())).toBeNull();
    expect(nextDeadline(given([created(2), granted(0, 'L0', NOW - 5_000)]).state)).toBe(NOW - 5_000 + PARAMS.leaseMs);
    expect(nextDeadline(given([created(1), granted(0), submitted(0, 'a'), { type: 'ChallengeWindowOpened', until: 77 }]).state)).toBe(77);
    expect(nextDeadline(given([created(1), { type: 'JobRefunded', reason: 'cancelled', holds: [], releaseSlots: [] }]).state)).toBeNull();
  });
  it('show replicas, leases, digests, timeline and payouts', () => {
    const view = jobView(given([created(2), granted(0), submitted(0, 'aaa')]).state)!;
    expect(view.status).toBe('active');
    expect(view.replicas[0]).toMatchObject({ provider: 'p0', status: 'submitted', digest: 'aaa', lease: null });
    expect(view.replicas[1]).toMatchObject({ provider: 'p1', status: 'assigned', digest: null });
    expect(view.timeline.map((t) => t.event)).toEqual(['JobCreated', 'LeaseGranted', 'ResultSubmitted']);
    expect(jobView(jobDecider.initialState())).toBeNull();
  });
});

describe('withinTolerance', () => {
  const t = (data: number[], name = 'y', dims = [data.length]) => [{ name, dtype: 'float32', dims, data }];
  it('accepts differences up to the tolerance', () => {
    expect(withinTolerance(t([1, 2]), t([1.0005, 2]), 0.001)).toBe(true);
    expect(withinTolerance(t([1, 2]), t([1.002, 2]), 0.001)).toBe(false);
  });
  it('is bit-exact without a tolerance', () => {
    expect(withinTolerance(t([1, 2]), t([1, 2]), null)).toBe(true);
    expect(withinTolerance(t([1, 2]), t([1, 2.0000001]), null)).toBe(false);
  });
  it('needs the same names, dtypes and dims', () => {
    expect(withinTolerance(t([1]), t([1], 'z'), 1)).toBe(false);
    expect(withinTolerance(t([1, 2], 'y', [2]), t([1, 2], 'y', [1, 2]), 1)).toBe(false);
    expect(withinTolerance(t([1]), [{ name: 'y', dtype: 'float16', dims: [1], data: [1] }], 1)).toBe(false);
    expect(withinTolerance(t([NaN]), t([0]), 1)).toBe(false);
  });
});

describe('verifyReplicas', () => {
  const r = (replica: number, digest: string, price = 10n) => ({ replica, price, outputDigest: digest, fingerprint: 'f', agreement: null });
  it('waits for outstanding replicas', () => {
    expect(verifyReplicas({ results: [r(0, 'a')], outstanding: 1, maxResults: 3, tolerance: null })).toEqual({ kind: 'pending' });
  });
  it('gives up when no majority is reachable within maxResults', () => {
    expect(verifyReplicas({ results: [r(0, 'a'), r(1, 'b'), r(2, 'c')], outstanding: 0, maxResults: 3, tolerance: null })).toEqual({ kind: 'no-majority' });
    expect(verifyReplicas({ results: [r(0, 'a'), r(1, 'b'), r(2, 'c')], outstanding: 0, maxResults: 5, tolerance: null })).toEqual({ kind: 'tie-breaker', ceiling: 10n });
  });
});

// ---- property: a job driven at random never pays more than its holds, nor any replica twice ----

interface Sim {
  state: JobState;
  now: number;
  log: { event: JobEvent; meta: CommandMeta }[];
  nextProvider: number;
  seq: number;
}

function step(sim: Sim, command: JobCommand, actor: string): boolean {
  const m: CommandMeta = { commandId: `c${sim.seq++}`, actor, now: sim.now };
  const result = jobDecider.decide(sim.state, command, m);
  if (!result.ok) return false;
  for (const event of result.value) {
    sim.state = jobDecider.evolve(sim.state, event, m);
    sim.log.push({ event, meta: m });
  }
  return true;
}

/** Interprets a tape of random numbers as agents, market and buyer acting on one job. */
function runJob(replicas: number, prices: bigint[], tape: number[]): Sim {
  const fills = prices.slice(0, replicas).map((price, i) => ({ replica: i, askId: `ask-${i}`, provider: `p${i}`, price }));
  const sim: Sim = { state: jobDecider.initialState(), now: NOW, log: [], nextProvider: replicas, seq: 0 };
  step(sim, { ...createCommand(replicas, tape[0]! % 2 === 0 ? null : 0.5), fills, maxPrice: 1_000n }, 'market');
  for (let i = 1; i + 2 < tape.length; i += 3) {
    const job = sim.state;
    if (job.status === 'none' || job.status === 'settled' || job.status === 'failed' || job.status === 'refunded') break;
    const [a, b, c] = [tape[i]!, tape[i + 1]!, tape[i + 2]!];
    const r = job.replicas[b % job.replicas.length]!;
    const action = ['lease', 'lease', 'lease', 'submit', 'submit', 'submit', 'heartbeat', 'time', 'market', 'market', 'buyer'][a % 11];
    switch (action) {
      case 'lease':
        if (r.provider) step(sim, { type: 'StartLease', replica: r.replica, leaseId: `L${sim.seq}`, agentKey: 'k' }, r.provider);
        break;
      case 'heartbeat':
        if (r.lease && r.provider) step(sim, { type: 'Heartbeat', leaseId: r.lease.leaseId }, r.provider);
        break;
      case 'submit':
        if (r.lease && r.provider) {
          const fingerprint = c % 3 === 0 ? 'gpu' : 'cpu';
          const agreement = Object.fromEntries(job.resultOrder.map((k) => [k, (c >> k) % 4 !== 0]));
          // One answer in eight is a failed run: mostly the input's (the same for all), sometimes the machine's.
          if (c % 8 === 7) step(sim, { type: 'ReportFailure', leaseId: r.lease.leaseId, failure: { kind: 'runtime', digest: c % 3 === 0 ? 'oom' : 'gather', message: 'index out of range' } }, r.provider);
          else step(sim, { type: 'SubmitResult', leaseId: r.lease.leaseId, outputDigest: ['good', 'good', 'good', 'bad', 'odd'][c % 5]!, outputBytes: 1, fingerprint, agreement }, r.provider);
        }
        break;
      case 'time':
        sim.now += c % 4 === 0 ? 40_000 : c % 5_000;
        step(sim, { type: c % 2 ? 'ExpireLeases' : 'Tick' }, 'system');
        break;
      case 'market':
        if (r.status === 'awaiting-match') {
          if (c % 8 === 0) step(sim, { type: 'ReplicaUnfilled', jobId: job.jobId, replica: r.replica }, 'market');
          else {
            // Mostly valid matches; sometimes an excluded provider or a price over the ceiling.
            const provider = c % 13 === 1 ? 'p0' : `p${sim.nextProvider++}`;
            const price = c % 17 === 1 ? r.price + 1n : r.price - BigInt(c % 3);
            step(sim, { type: 'ReplicaMatched', jobId: job.jobId, replica: r.replica, askId: `ask-${sim.seq}`, provider, price }, 'market');
          }
        }
        break;
      case 'buyer':
        if (c % 3 === 0) step(sim, { type: 'ChallengeResult', holdId: 'ch-1' }, 'buyer');
        else if (c % 3 === 1) {
          sim.now += PARAMS.challengeWindowMs;
          step(sim, { type: 'CloseChallengeWindow' }, 'system');
        } else if (c % 30 === 2) step(sim, { type: 'CancelJob' }, 'buyer');
        break;
    }
  }
  return sim;
}

const jobRun = fc.record({
  replicas: fc.integer({ min: 1, max: 5 }),
  prices: fc.array(fc.bigInt({ min: 3n, max: 1_000n }), { minLength: 5, maxLength: 5 }),
  tape: fc.array(fc.nat({ max: 1 << 20 }), { minLength: 150, maxLength: 600 }),
});

describe('a job driven at random', () => {
  const checkRun = ({ replicas, prices, tape }: { replicas: number; prices: bigint[]; tape: number[] }): string[] => {
    const sim = runJob(replicas, prices, tape);
    const outcomes = sim.log.flatMap(({ event: e }) => (e.type === 'ResultVerified' ? [e.basis] : e.type === 'JobRefunded' ? [e.reason] : e.type === 'JobFailed' ? ['failed'] : []));
    const closing = sim.log.filter((l) => l.event.type === 'JobSettled' || l.event.type === 'JobFailed' || l.event.type === 'JobRefunded');
    expect(closing.length).toBeLessThanOrEqual(1);
    const settled = sim.log.map((l) => l.event).find((e): e is JobSettled | JobFailed => e.type === 'JobSettled' || e.type === 'JobFailed');
    if (!settled) return outcomes;
    const job = sim.state;
    if (job.status !== 'settled' && job.status !== 'failed') throw new Error('closing event without a closed state');
    if (settled.type === 'JobFailed') {
      // Only the providers that failed the agreed way are paid, each the failed-run fee, from the job's hold.
      for (const p of settled.payouts) {
        expect(job.replicas[p.replica]?.result?.failure?.digest).toBe(settled.failure.digest);
        expect(p.gross).toBe(job.replicas[p.replica]!.price * 2n);
      }
    }
    const hold = prices.slice(0, replicas).reduce((s, p) => s + p * 100n, 0n);
    const fromHold = (holdId: string) => settled.payouts.filter((p) => p.holdId === holdId).reduce((s, p) => s + p.gross, 0n);
    expect(fromHold(job.holdId)).toBeLessThanOrEqual(hold);
    if (job.challenge) expect(fromHold(job.challenge.holdId)).toBeLessThanOrEqual(job.challenge.amount);
    expect(settled.payouts.every((p) => p.holdId === job.holdId || p.holdId === job.challenge?.holdId)).toBe(true);
    expect(new Set(settled.payouts.map((p) => p.replica)).size).toBe(settled.payouts.length);
    expect(new Set(settled.payouts.map((p) => p.provider)).size).toBe(settled.payouts.length);
    for (const p of settled.payouts) expect(p.gross).toBe(p.fee + p.net);
    expect(settled.fee).toBe(settled.payouts.reduce((s, p) => s + p.fee, 0n));
    return outcomes;
  };

  it('never pays more than a hold keeps, nor any replica or provider twice', () => {
    fc.assert(fc.property(jobRun, (run) => void checkRun(run)), { numRuns: 500, endOnFailure: true });
  });

  it('reaches every outcome within those bounds (fixed seed)', () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(jobRun, (run) => {
        for (const o of checkRun(run)) outcomes.add(o);
      }),
      { numRuns: 500, seed: 1, endOnFailure: true },
    );
    for (const o of ['unanimous', 'majority', 'unchallenged', 'challenge-failed', 'challenge-upheld', 'challenge-lapsed', 'no-majority', 'rematch-limit', 'unfilled', 'cancelled', 'failed']) {
      expect(outcomes.has(o), o).toBe(true);
    }
  });

  it('gives the same state by replay from zero as by snapshot, restore and the tail', () => {
    fc.assert(
      fc.property(jobRun, fc.nat(), ({ replicas, prices, tape }, cut) => {
        const d = jobDecider;
        const sim = runJob(replicas, prices, tape);
        const at = cut % (sim.log.length + 1);
        let head = d.initialState();
        for (const { event, meta } of sim.log.slice(0, at)) head = d.evolve(head, event, meta);
        let restored = d.restore(fromJson(toJson(d.snapshot(head)), d.bigintFields));
        for (const { event, meta } of sim.log.slice(at)) restored = d.evolve(restored, fromJson<JobEvent>(toJson(event), d.bigintFields), meta);
        expect(canonicalJson(d.snapshot(restored))).toBe(canonicalJson(d.snapshot(sim.state)));
      }),
      { numRuns: 200, endOnFailure: true },
    );
  });
});

describe('what the buyer may fetch', () => {
  it('is nothing while replicas run, and a paid replica once the job is settled', () => {
    const running = [created(2), granted(0), granted(1), submitted(0, 'aaa')];
    expect(servableReplica(given(running).state)).toBeNull();
    const settledEvents = given(running).when(submit(1, 'aaa'), as('p1')).events();
    let state = given(running).state;
    for (const e of settledEvents) state = jobDecider.evolve(state, e, meta);
    expect(servableReplica(state)).toEqual({ replica: 0, digest: 'aaa' });
  });

  it('is the only replica while its challenge window is open', () => {
    const events = given([created(1), granted(0)]).when(submit(0, 'ccc'), as('p0')).events();
    let state = given([created(1), granted(0)]).state;
    for (const e of events) state = jobDecider.evolve(state, e, meta);
    expect(state.status).toBe('challengeable');
    expect(servableReplica(state)).toEqual({ replica: 0, digest: 'ccc' });
  });
});

describe('the replicas a result is compared with by value', () => {
  const cross = [created(3, 0.001), granted(0), granted(1), granted(2), submitted(0, 'aaa', 'cpu'), submitted(1, 'bbb', 'cuda', 'p1')];
  const result = { fingerprint: 'rocm', outputDigest: 'ccc' };
  it('are the earlier results of other runtimes with other digests, when the job has a tolerance', () => {
    expect(replicasToCompare(given(cross).state, result)).toEqual([0, 1]);
    expect(replicasToCompare(given(cross).state, { fingerprint: 'cpu', outputDigest: 'ccc' })).toEqual([1]);
    expect(replicasToCompare(given(cross).state, { fingerprint: 'rocm', outputDigest: 'aaa' })).toEqual([1]);
  });
  it('are none without a tolerance: digests alone decide', () => {
    const exact = [created(2), granted(0), granted(1), submitted(0, 'aaa', 'cpu')];
    expect(replicasToCompare(given(exact).state, result)).toEqual([]);
  });
  it('are exactly those the decider needs an agreement for', () => {
    const state = given(cross).state;
    const compare = replicasToCompare(state, result);
    const agreement = Object.fromEntries(compare.map((i) => [i, true]));
    expect(jobDecider.decide(state, submit(2, 'ccc', 'rocm', agreement), { ...meta, actor: 'p2', now: NOW + 1_000 }).ok).toBe(true);
    for (const left of compare) {
      const partial = Object.fromEntries(compare.filter((i) => i !== left).map((i) => [i, true]));
      const r = jobDecider.decide(state, submit(2, 'ccc', 'rocm', partial), { ...meta, actor: 'p2', now: NOW + 1_000 });
      expect(!r.ok && r.error.code).toBe('JOB__AGREEMENT_REQUIRED');
    }
  });
});

describe('the actions a job view offers', () => {
  const histories: JobEvent[][] = [
    [created(2)],
    [created(2), granted(0)],
    [created(2), granted(0), granted(1), submitted(0, 'aaa')],
    [created(1), granted(0), submitted(0, 'aaa'), { type: 'ChallengeWindowOpened', until: NOW + 10_000 }],
    [created(2), granted(0), granted(1), submitted(0, 'aaa'), submitted(1, 'aaa'), { type: 'ResultVerified', replicas: [0, 1], basis: 'unanimous' }],
    [created(2), { type: 'JobRefunded', reason: 'cancelled', holds: ['bid_cpu_job1'], releaseSlots: [] }],
  ];
  it('say the buyer may cancel exactly when the decider would let the buyer cancel', () => {
    for (const history of histories) {
      const state = given(history).state;
      const accepted = jobDecider.decide(state, { type: 'CancelJob' }, { ...meta, actor: 'buyer', now: NOW + 1_000 }).ok;
      expect(jobView(state)?.cancellable, JSON.stringify(types(history))).toBe(accepted);
    }
  });
  it('price a challenge exactly when the decider would take one, at the original price × units', () => {
    for (const history of histories) {
      const state = given(history).state;
      const accepted = jobDecider.decide(state, { type: 'ChallengeResult', holdId: 'ch' }, { ...meta, actor: 'buyer', now: NOW + 1_000 }).ok;
      expect(jobView(state)?.challengeCost !== null, JSON.stringify(types(history))).toBe(accepted);
      if (accepted) expect(jobView(state)?.challengeCost).toBe(10_000n * 100n);
    }
  });
});

describe("a job's stored results", () => {
  it('are kept while the job runs, and deleted PAYLOAD_TTL_MS after its last event once it ends', () => {
    expect(payloadsExpireAt(given([created(2), granted(0)]).state)).toBeNull();
    const refund: JobEvent = { type: 'JobRefunded', reason: 'cancelled', holds: ['bid_cpu_job1'], releaseSlots: [] };
    const refunded = jobDecider.evolve(given([created(2)]).state, refund, { ...meta, now: NOW + 5 });
    expect(payloadsExpireAt(refunded)).toBe(NOW + 5 + PAYLOAD_TTL_MS);
  });
});

describe("a challenge's cost", () => {
  it("is the original replica's fill price times the units, not the bid's ceiling", () => {
    const cheap: JobEvent = { ...created(1), fills: [{ replica: 0, askId: 'ask-0', provider: 'p0', price: 7_000n }] } as JobEvent;
    const until = NOW + 1_000 + PARAMS.challengeWindowMs;
    const spec = given([cheap, granted(0), submitted(0, 'aaa'), { type: 'ChallengeWindowOpened', until }]);
    expect(challengeCost(spec.state)).toBe(700_000n);
    expect(spec.when({ type: 'ChallengeResult', holdId: 'ch-1' }, as('buyer', until - 1)).events()[0]).toMatchObject({ type: 'ChallengeRaised', amount: 700_000n });
  });
});

describe('job: a lease abandoned before its agent acknowledged it', () => {
  it('lapses at once and is offered again, before the lease would expire', () => {
    const events = given([created(2), granted(0), granted(1)]).when({ type: 'AbandonLease', leaseId: 'L0' }, { actor: 'p0', now: NOW + 1 }).events();
    expect(events.map((e) => e.type)).toEqual(['LeaseExpired', 'ReplicaRematchRequested']);
    expect(events[0]).toMatchObject({ replica: 0, leaseId: 'L0', provider: 'p0' });
  });

  it('only the replica’s provider may abandon it; an unknown lease changes nothing', () => {
    expect(given([created(2), granted(0)]).when({ type: 'AbandonLease', leaseId: 'L0' }, { actor: 'p1' }).rejection().code).toBe('JOB__NOT_REPLICA_PROVIDER');
    expect(given([created(2), granted(0)]).when({ type: 'AbandonLease', leaseId: 'other' }, { actor: 'p0' }).events()).toEqual([]);
  });
});

describe('job: matched replicas handed to dispatch', () => {
  const dispatch = (replica: number, askId = `ask-${replica}`, provider = `p${replica}`) => ({
    to: { kind: 'market', id: '' },
    command: { type: 'DispatchReplica', jobId: 'bid_cpu_job1', replica, askId, provider },
  });

  it('each replica of a new job goes to its ask once the job exists', () => {
    // The shell reacts to an event with the state before it: here, no job yet.
    expect(reactTo([], created(3))).toEqual([dispatch(0), dispatch(1), dispatch(2)]);
  });

  it('a replica matched again goes to its new ask', () => {
    const reassigned: JobEvent = { type: 'ReplicaReassigned', replica: 0, askId: 'ask-7', provider: 'p7', price: 9_000n, startBy: NOW + PARAMS.leaseMs };
    const awaiting: JobEvent[] = [
      created(2),
      { type: 'LeaseExpired', replica: 0, leaseId: null, provider: 'p0', askId: 'ask-0' },
      { type: 'ReplicaRematchRequested', replica: 0, attempt: 1, ceiling: 10_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + 1 },
    ];
    expect(reactTo(awaiting, reassigned)).toEqual([dispatch(0, 'ask-7', 'p7')]);
  });

  it('nothing else hands work to dispatch: a lease, a renewal or a result does not', () => {
    const running = [created(1), granted(0)];
    for (const e of [granted(0), { type: 'LeaseRenewed', replica: 0, leaseId: 'L0', expiresAt: NOW + 2 } as JobEvent, submitted(0, 'aaa')]) {
      expect(reactTo(running, e).some((m) => m.command.type === 'DispatchReplica')).toBe(false);
    }
  });
});

describe('job: an assignment abandoned before its agent took the work', () => {
  const abandon = (replica = 0, askId = 'ask-0'): JobCommand => ({ type: 'AbandonAssignment', replica, askId });

  it('lapses at once and is offered again, before its start-by time', () => {
    const events = given([created(2)]).when(abandon(), { actor: 'p0', now: NOW + 1 }).events();
    expect(events.map((e) => e.type)).toEqual(['LeaseExpired', 'ReplicaRematchRequested']);
    expect(events[0]).toEqual({ type: 'LeaseExpired', replica: 0, leaseId: null, provider: 'p0', askId: 'ask-0' });
    expect(given([created(2)]).when(abandon(), { actor: 'system:market:cpu', now: NOW + 1 }).events().map((e) => e.type)).toEqual(['LeaseExpired', 'ReplicaRematchRequested']);
  });

  it('leaves a started lease, another ask assignment and an unknown replica alone', () => {
    expect(given([created(2), granted(0)]).when(abandon(), { actor: 'p0' }).events()).toEqual([]);
    expect(given([created(2)]).when(abandon(0, 'ask-9'), { actor: 'p0' }).events()).toEqual([]);
    expect(given([created(2)]).when(abandon(5), { actor: 'p0' }).events()).toEqual([]);
  });

  it('only the replica provider or the system may abandon it', () => {
    expect(given([created(2)]).when(abandon(), { actor: 'p1' }).rejection().code).toBe('JOB__NOT_REPLICA_PROVIDER');
  });
});

describe('a run that fails (job/failure.ts)', () => {
  const failure = (digest = 'gather-oob', kind: 'runtime' | 'shape' = 'runtime') => ({ kind, digest, message: 'indices element out of data bounds' });
  const report = (replica: number, digest?: string, kind?: 'runtime' | 'shape'): JobCommand => ({ type: 'ReportFailure', leaseId: `L${replica}`, failure: failure(digest, kind) });
  const failed = (replica: number, digest?: string): JobEvent => ({ type: 'RunFailed', replica, leaseId: `L${replica}`, provider: `p${replica}`, askId: `ask-${replica}`, failure: failure(digest) });
  /** The failed-run fee: failedRunUnits (2 here) at the replica's matched price. */
  const fee = (replica: number, price: bigint) => {
    const gross = price * 2n;
    const cut = (gross * 250n) / 10_000n;
    return { replica, provider: `p${replica}`, holdId: 'bid_cpu_job1', gross, fee: cut, net: gross - cut };
  };

  it('waits while another replica has not answered', () => {
    expect(given([created(2), granted(0), granted(1)]).when(report(0), as('p0')).events()).toEqual([failed(0)]);
  });
  it('fails the job when every replica fails the same way: each is paid the failed-run fee, nobody is rejected', () => {
    const events = given([created(2), granted(0), granted(1), failed(0)]).when(report(1), as('p1')).events();
    expect(events).toEqual([
      failed(1),
      { type: 'JobFailed', failure: failure(), payouts: [fee(0, 10_000n), fee(1, 9_000n)], fee: 500n + 450n, holds: ['bid_cpu_job1'], releaseSlots: [] },
    ]);
  });
  it('takes the protocol default fee for jobs created before the parameter existed', () => {
    const { failedRunUnits: _new, ...older } = PARAMS;
    const createdOlder: JobEvent = { ...(created(1) as Extract<JobEvent, { type: 'JobCreated' }>), params: older as JobParams };
    const events = given([createdOlder, granted(0)]).when(report(0), as('p0')).events();
    const closing = events.find((e): e is JobFailed => e.type === 'JobFailed');
    expect(closing?.payouts[0]?.gross).toBe(10_000n * 1n);
  });
  it('never charges more units than the job has', () => {
    const small = { ...createCommand(1), units: 1 };
    const { type: _t, ...fields } = small;
    const events = given([{ type: 'JobCreated', ...fields, startBy: NOW + PARAMS.leaseMs }, granted(0)]).when(report(0), as('p0')).events();
    expect(events.find((e): e is JobFailed => e.type === 'JobFailed')?.payouts[0]?.gross).toBe(10_000n);
  });
  it('fails a single-replica job at once (no second opinion was bought)', () => {
    const events = given([created(1), granted(0)]).when(report(0), as('p0')).events();
    expect(types(events)).toEqual(['RunFailed', 'JobFailed']);
  });
  it("asks a tie-breaker when one replica fails and the other ran: the failure is that machine's", () => {
    const events = given([created(2), granted(0), granted(1), failed(0)]).when(submit(1, 'good'), as('p1')).events();
    expect(types(events)).toEqual(['ResultSubmitted', 'TieBreakerRequested']);
  });
  it('rejects the failing provider (its reputation) when the tie-breaker agrees with the output', () => {
    const tieBreaker: JobEvent[] = [
      { type: 'TieBreakerRequested', replica: 2, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + PARAMS.replicaBidTtlMs },
      { type: 'ReplicaReassigned', replica: 2, askId: 'ask-2', provider: 'p2', price: 8_000n, startBy: NOW + PARAMS.leaseMs },
      granted(2),
    ];
    const events = given([created(2), granted(0), granted(1), failed(0), submitted(1, 'good'), ...tieBreaker]).when(submit(2, 'good'), as('p2')).events();
    expect(types(events)).toEqual(['ResultSubmitted', 'ReplicaRejected', 'ResultVerified', 'JobSettled']);
    expect(events).toContainEqual({ type: 'ReplicaRejected', replica: 0, provider: 'p0' });
  });
  it('does not count failures of different kinds or messages as agreeing', () => {
    expect(types(given([created(2), granted(0), granted(1), failed(0)]).when(report(1, 'other'), as('p1')).events())).toEqual(['RunFailed', 'TieBreakerRequested']);
    expect(types(given([created(2), granted(0), granted(1), failed(0)]).when(report(1, 'gather-oob', 'shape'), as('p1')).events())).toEqual(['RunFailed', 'TieBreakerRequested']);
  });
  it('never agrees with an output under a tolerance, and needs no tolerance verdict against a failure', () => {
    const events = given([created(2, 0.5), granted(0), granted(1), failed(0)]).when(submit(1, 'good', 'gpu-ort'), as('p1')).events();
    expect(types(events)).toEqual(['ResultSubmitted', 'TieBreakerRequested']);
    // Even a shell's verdict claiming agreement with the failure does not make one.
    const claimed = given([created(2, 0.5), granted(0), granted(1), failed(0)]).when(submit(1, 'good', 'gpu-ort', { 0: true }), as('p1')).events();
    expect(types(claimed)).toEqual(['ResultSubmitted', 'TieBreakerRequested']);
  });
  it('lets a challenge lapse when its re-run fails: the original ran on these inputs', () => {
    const challenged: JobEvent[] = [
      created(1),
      granted(0),
      submitted(0, 'good'),
      { type: 'ChallengeWindowOpened', until: NOW + PARAMS.challengeWindowMs },
      { type: 'ChallengeRaised', replica: 1, by: 'buyer', holdId: 'ch-1', amount: 1_000_000n, ceiling: 10_000n, excludeProviders: ['p0'], expiresAt: NOW + 1 },
      { type: 'ReplicaReassigned', replica: 1, askId: 'ask-1', provider: 'p1', price: 9_000n, startBy: NOW + PARAMS.leaseMs },
      granted(1),
    ];
    const events = given(challenged).when(report(1), as('p1')).events();
    expect(types(events)).toEqual(['RunFailed', 'ReplicaRejected', 'ResultVerified', 'JobSettled']);
    expect(events.find((e) => e.type === 'ResultVerified')).toMatchObject({ replicas: [0], basis: 'challenge-lapsed' });
  });
  it('is refused to anyone but the lease holder, and on a closed job', () => {
    expect(given([created(2), granted(0)]).when(report(0), as('p1')).rejection().code).toBe('JOB__NOT_REPLICA_PROVIDER');
    const closed = [created(1), granted(0), failed(0), { type: 'JobFailed', failure: failure(), payouts: [fee(0, 10_000n)], fee: 500n, holds: ['bid_cpu_job1'], releaseSlots: [] } as JobEvent];
    expect(given(closed).when(report(0), as('p0')).rejection().code).toBe('JOB__CLOSED');
  });
  it('keeps at most FAILURE_MESSAGE_MAX characters of the message', () => {
    const long: JobCommand = { type: 'ReportFailure', leaseId: 'L0', failure: { ...failure(), message: 'x'.repeat(5_000) } };
    const [event] = given([created(2), granted(0)]).when(long, as('p0')).events();
    expect((event as Extract<JobEvent, { type: 'RunFailed' }>).failure.message).toHaveLength(FAILURE_MESSAGE_MAX);
  });
  it("frees the failed replica's slot at once and pays the fee from the buyer's hold", () => {
    const jobFailed: JobEvent = { type: 'JobFailed', failure: failure(), payouts: [fee(0, 10_000n), fee(1, 9_000n)], fee: 950n, holds: ['bid_cpu_job1'], releaseSlots: [] };
    expect(reactTo([created(2), granted(0)], failed(0))).toEqual([{ to: { kind: 'market', id: '' }, command: { type: 'ReleaseSlot', askId: 'ask-0', jobId: 'bid_cpu_job1' } }]);
    expect(reactTo([created(2), granted(0), granted(1), failed(0), failed(1)], jobFailed)).toEqual([
      {
        to: { kind: 'account', id: 'buyer' },
        command: { type: 'SettleHold', holdId: 'bid_cpu_job1', account: 'buyer', payouts: [{ account: 'p0', amount: 19_500n, fee: 500n }, { account: 'p1', amount: 17_550n, fee: 450n }], fee: 950n },
      },
    ]);
  });
  it('shows the job failed with its reason in words', () => {
    const state = given([created(1), granted(0)]).when(report(0), as('p0')).events();
    const view = jobView(specFor(jobDecider)([created(1), granted(0), ...state]).state)!;
    expect(view.status).toBe('failed');
    expect(view.failure).toEqual({ kind: 'runtime', message: 'indices element out of data bounds', reason: 'the model failed while running on these inputs: indices element out of data bounds' });
    expect(view.cancellable).toBe(false);
    expect(view.payouts).toHaveLength(1);
  });
});

describe("a failed run's message", () => {
  it('is classified by what the runtime says', () => {
    expect(failureKindOf('Got invalid dimensions for input: x for the following indices index: 1 Got: 4 Expected: 16')).toBe('shape');
    expect(failureKindOf('Unexpected input data type. Actual: (tensor(double)) , expected: (tensor(float))')).toBe('dtype');
    expect(failureKindOf('input "x" is int32; the model takes float32')).toBe('dtype');
    expect(failureKindOf('unknown input "y"; the model takes "x"')).toBe('shape');
    expect(failureKindOf('Failed to allocate memory for requested buffer of size 17179869184')).toBe('out_of_memory');
    expect(failureKindOf('the run timed out after 60000 ms')).toBe('timeout');
    expect(failureKindOf("Non-zero status code returned while running Gather node. Name:'g' Status Message: indices element out of data bounds, idx=9 must be within the inclusive range [-4,3]")).toBe('runtime');
  });
  it('is compared without what differs between two processes failing alike', () => {
    expect(normalizeFailureMessage('bad  thing at 0x7ffd12345678\n  in run')).toBe(normalizeFailureMessage('bad thing at 0x55aa00112233 in run'));
    expect(normalizeFailureMessage('idx=9')).not.toBe(normalizeFailureMessage('idx=8'));
    expect(normalizeFailureMessage('x'.repeat(9_000))).toHaveLength(FAILURE_MESSAGE_MAX);
  });
});

describe('the slash of a rejected replica’s provider', () => {
  const tieBreaker: JobEvent[] = [
    { type: 'TieBreakerRequested', replica: 2, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + PARAMS.replicaBidTtlMs },
    { type: 'ReplicaReassigned', replica: 2, askId: 'ask-2', provider: 'p2', price: 8_000n, startBy: NOW + PARAMS.leaseMs },
    granted(2),
  ];
  /** A settled job whose replica 0 (p0) lost to the tie-breaker. */
  const rejected = (): JobEvent[] => {
    const before = [created(2), granted(0), granted(1), submitted(0, 'bad'), submitted(1, 'good'), ...tieBreaker];
    return [...before, ...given(before).when(submit(2, 'good'), as('p2')).events()];
  };
  const system = as('system:slash');
  const proposed = { type: 'RecordSlash', replica: 0, outcome: 'proposed', proposal: 4, amount: 500n, executableAt: NOW + 9_000 } as const;

  it('is pending from the rejection, shown in the view, and taken after settlement', () => {
    const state = given(rejected()).state;
    expect(state.status).toBe('settled');
    expect(jobView(state)!.slashes).toEqual([{ replica: 0, provider: 'p0', outcome: 'pending', proposal: null, amount: null, executableAt: null, reason: null }]);
    expect(given(rejected()).when(proposed, system).events()).toEqual([{ type: 'SlashRecorded', replica: 0, provider: 'p0', outcome: 'proposed', proposal: 4, amount: 500n, executableAt: NOW + 9_000, reason: null }]);
  });

  it('follows proposed by executed or vetoed, keeping the proposal and amount; a repeat changes nothing', () => {
    const after = [...rejected(), ...given(rejected()).when(proposed, system).events()];
    expect(given(after).when({ type: 'RecordSlash', replica: 0, outcome: 'executed' }, system).events()).toEqual([
      { type: 'SlashRecorded', replica: 0, provider: 'p0', outcome: 'executed', proposal: 4, amount: 500n, executableAt: NOW + 9_000, reason: null },
    ]);
    expect(given(after).when({ type: 'RecordSlash', replica: 0, outcome: 'vetoed' }, system).events()[0]).toMatchObject({ outcome: 'vetoed', proposal: 4 });
    expect(given(after).when(proposed, system).events()).toEqual([]);
    const executed = [...after, ...given(after).when({ type: 'RecordSlash', replica: 0, outcome: 'executed' }, system).events()];
    expect(jobView(given(executed).state)!.slashes[0]).toMatchObject({ outcome: 'executed', amount: 500n });
    expect(given(executed).when({ type: 'RecordSlash', replica: 0, outcome: 'vetoed' }, system).rejection().code).toBe('JOB__SLASH_TRANSITION');
  });

  it('is skipped, with the reason, when there is nothing to slash', () => {
    expect(given(rejected()).when({ type: 'RecordSlash', replica: 0, outcome: 'skipped', reason: 'p0 has no stake' }, system).events()[0]).toMatchObject({ outcome: 'skipped', reason: 'p0 has no stake', proposal: null });
  });

  it('is refused to anyone but the marketplace, for a replica not rejected, out of order, or malformed', () => {
    expect(given(rejected()).when(proposed, as('p1')).rejection().code).toBe('JOB__NOT_SYSTEM');
    expect(given(rejected()).when({ ...proposed, replica: 1 }, system).rejection().code).toBe('JOB__SLASH_NOT_FOUND');
    expect(given(rejected()).when({ type: 'RecordSlash', replica: 0, outcome: 'executed', proposal: 4 }, system).rejection().code).toBe('JOB__SLASH_TRANSITION');
    for (const [bad, field] of [
      [{ ...proposed, amount: 0n }, 'amount'],
      [{ ...proposed, amount: undefined }, 'amount'],
      [{ ...proposed, proposal: -1 }, 'proposal'],
      [{ ...proposed, executableAt: undefined }, 'executableAt'],
      [{ type: 'RecordSlash', replica: 0, outcome: 'skipped' }, 'reason'],
      [{ type: 'RecordSlash', replica: 0, outcome: 'slashed' }, 'outcome'],
    ] as const) {
      const r = given(rejected()).when(bad as JobCommand, system).rejection();
      expect(r.code, field).toBe('JOB__SLASH_INVALID');
      expect(r.context.field).toBe(field);
    }
  });
});

describe('what a slash proposes, and its evidence', () => {
  it('proposes SLASH_BPS of the position, within governance’s per-event bound, floored', () => {
    expect(SLASH_BPS).toBe(1_000);
    expect(slashAmount(2_000_000_000n, 1_000)).toBe(200_000_000n);
    expect(slashAmount(2_000_000_000n, 500)).toBe(100_000_000n); // governance's bound is lower
    expect(slashAmount(2_000_000_000n, 5_000)).toBe(200_000_000n); // …or higher: SLASH_BPS stands
    expect(slashAmount(9n, 1_000)).toBe(0n);
  });

  it('takes the provider’s largest position still holding tokens, or says why nothing', () => {
    const positions = [{ id: 1, amount: 500n }, { id: 2, amount: 2_000n }, { id: 3, amount: 0n }];
    expect(slashPlan('p0', positions, 1_000)).toEqual({ position: { id: 2, amount: 2_000n }, amount: 200n });
    expect(slashPlan('p0', [{ amount: 0n }], 1_000)).toEqual({ skipped: 'p0 has no stake to slash' });
    expect(slashPlan('p0', [{ amount: 9n }], 1_000)).toEqual({ skipped: "p0's stake is too small for a slash within the bound of 1000 bps per event" });
  });

  it('names the rejected replica’s answer and every replica’s, and nothing for a replica not rejected', () => {
    const before = [created(2), granted(0), granted(1), submitted(0, 'bad'), submitted(1, 'good')];
    const tie: JobEvent[] = [
      { type: 'TieBreakerRequested', replica: 2, ceiling: 9_000n, excludeProviders: ['p0', 'p1'], expiresAt: NOW + PARAMS.replicaBidTtlMs },
      { type: 'ReplicaReassigned', replica: 2, askId: 'ask-2', provider: 'p2', price: 8_000n, startBy: NOW + PARAMS.leaseMs },
      granted(2),
    ];
    const events = [...before, ...tie, ...given([...before, ...tie]).when(submit(2, 'good'), as('p2')).events()];
    const job = given(events).state as CreatedJob;
    const evidence = slashEvidence(job, 0)!;
    expect(JSON.parse(evidence.receipt)).toEqual({ jobId: job.jobId, replica: 0, provider: 'p0', digest: 'bad' });
    expect(JSON.parse(evidence.digests).replicas).toEqual([
      { replica: 0, provider: 'p0', digest: 'bad' },
      { replica: 1, provider: 'p1', digest: 'good' },
      { replica: 2, provider: 'p2', digest: 'good' },
    ]);
    expect(slashEvidence(job, 1)).toBeNull();
    expect(slashEvidence(job, 7)).toBeNull();
  });
});
