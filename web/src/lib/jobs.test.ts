import { describe, expect, it } from 'vitest';
import { toWire } from '$contracts/tensors.ts';
import type { HistoryEntry } from '$sdk/client.ts';
import { failureInWords, failureSignature } from '$domain/job/failure.ts';
import {
  canCancel,
  challengeCost,
  challengeOpen,
  countdown,
  failedRunKind,
  isFinalStatus,
  jobCost,
  jobRows,
  listCost,
  marketOf,
  previewTensor,
  replicaDetails,
  replicaStatus,
  resultFile,
  resultServable,
  shortDigest,
  shortJobId,
  statusTone,
  timelineSteps,
  type BidWire,
  type JobWire,
} from './jobs.ts';

const ID = 'bid_cpu_987dc2b6a81aecaedf0fda6e';
const P0 = 'Bt3uSPkwdE6FdgudDtYwoaq9hdgWKJC2TMKRN5yWijE5';
const P1 = 'A4vfsPibVX3q5UBUNGKT2Fb7R4K2MshmbGuLSxDce9NG';
const P2 = '9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin';
const FAILURE = { kind: 'runtime' as const, message: 'Gather: index 40 is out of bounds', digest: 'ab'.repeat(32) };

/** A two-replica job matched at 0.001 under a 0.002 ceiling, at each stage of its life. */
function job(stage: 'matched' | 'running' | 'settled' | 'failed' | 'refunded', over: Partial<JobWire> = {}): JobWire {
  const timeline = [{ at: 1000, event: 'JobCreated' }];
  if (stage !== 'matched') timeline.push({ at: 1005, event: 'LeaseGranted', replica: 0 } as never, { at: 1009, event: 'LeaseGranted', replica: 1 } as never);
  if (stage === 'settled') timeline.push({ at: 1050, event: 'ResultSubmitted' }, { at: 1052, event: 'ResultSubmitted' }, { at: 1052, event: 'ResultVerified' }, { at: 1052, event: 'JobSettled' });
  if (stage === 'refunded') timeline.push({ at: 1100, event: 'JobRefunded' });
  if (stage === 'failed') timeline.push({ at: 1040, event: 'RunFailed', replica: 0 } as never, { at: 1041, event: 'RunFailed', replica: 1 } as never, { at: 1041, event: 'JobFailed' });
  const replica = (i: number, provider: string) => ({
    replica: i,
    role: 'primary',
    status: stage === 'settled' || stage === 'failed' ? 'paid' : stage === 'running' ? 'leased' : 'assigned',
    provider,
    askId: `ask_cpu_${String(i).repeat(24)}`,
    price: '1000000',
    lease: null,
    digest: stage === 'settled' ? 'e75d83ca6c830703a7251c23f3cb85e8de9176e93ed73a47fe6c16f569b1a619' : null,
    rematches: 0,
  });
  const payout = (i: number, provider: string) => ({ replica: i, provider, holdId: ID, gross: '1000000', fee: '25000', net: '975000' });
  const failedPayout = payout;
  return {
    jobId: ID,
    status: stage === 'settled' || stage === 'failed' || stage === 'refunded' ? stage : 'active',
    buyer: '2nJqc4t1f2T9D8jxvRX7B2j59sWRqL8wPTsPvNq69VhK',
    units: 1,
    maxPrice: '2000000',
    replicaCount: 2,
    holdId: ID,
    replicas: [replica(0, P0), replica(1, P1)],
    challengeUntil: null,
    challenged: false,
    // A failed job pays each failing provider the failed-run fee (one unit at its matched price, 0.001).
    payouts: stage === 'settled' ? [payout(0, P0), payout(1, P1)] : stage === 'failed' ? [failedPayout(0, P0), failedPayout(1, P1)] : [],
    fee: stage === 'settled' || stage === 'failed' ? '50000' : '0',
    refundReason: stage === 'refunded' ? 'cancelled' : null,
    failure: stage === 'failed' ? { kind: FAILURE.kind, message: FAILURE.message, reason: failureInWords(FAILURE) } : null,
    timeline,
    ...over,
  };
}

const step = (steps: ReturnType<typeof timelineSteps>, id: string) => steps.find((s) => s.id === id);

describe('the timeline of a job', () => {
  it('marks every step reached, with its time, once settled', () => {
    const history: HistoryEntry[] = [{ seq: 6, type: 'ResultVerified', at: 1052, data: { replicas: [0, 1], basis: 'unanimous' } }];
    const steps = timelineSteps({ job: job('settled'), history });
    expect(steps.map((s) => [s.id, s.reached, s.at, s.state])).toEqual([
      ['placed', true, 1000, 'done'],
      ['matched', true, 1000, 'done'],
      ['running', true, 1005, 'done'],
      ['verified', true, 1052, 'done'],
      ['settled', true, 1052, 'current'],
    ]);
    expect(step(steps, 'verified')?.note).toBe('All replicas returned the same result.');
  });
  it('shows the next step in progress while the job runs', () => {
    const steps = timelineSteps({ job: job('running'), bid: { status: 'matched', createdAt: 900 } });
    expect(steps.map((s) => s.state)).toEqual(['done', 'done', 'current', 'next', 'todo']);
    expect(step(steps, 'placed')?.at).toBe(900);
  });
  it('ends with cancelled or refunded and skips what never happened', () => {
    const cancelled = timelineSteps({ job: job('refunded') });
    expect(cancelled.map((s) => [s.id, s.state])).toEqual([
      ['placed', 'done'],
      ['matched', 'done'],
      ['running', 'done'],
      ['verified', 'skipped'],
      ['cancelled', 'current'],
    ]);
    expect(cancelled.at(-1)?.at).toBe(1100);
    const refunded = timelineSteps({ job: job('refunded', { refundReason: 'no-majority' }) });
    expect(refunded.at(-1)).toMatchObject({ id: 'refunded', note: expect.stringMatching(/disagreed/) });
  });
  it('inserts the challenge before verification and explains the open window', () => {
    const open = timelineSteps({ job: job('running', { status: 'challengeable', replicaCount: 1, challengeUntil: 5000 }) });
    expect(step(open, 'verified')).toMatchObject({ reached: false, state: 'next', note: expect.stringMatching(/challenge/) });
    const challenged = timelineSteps({ job: job('running', { challenged: true, timeline: [...job('running').timeline!, { at: 2000, event: 'ChallengeRaised', replica: 1 }] }) });
    expect(challenged.map((s) => s.id)).toEqual(['placed', 'matched', 'running', 'challenged', 'verified', 'settled']);
    expect(step(challenged, 'challenged')).toMatchObject({ reached: true, at: 2000, state: 'current' });
  });
  it('ends with failed, its note the reason in words, when the replicas agreed that the input fails', () => {
    const steps = timelineSteps({ job: job('failed') });
    expect(steps.map((s) => [s.id, s.state, s.at])).toEqual([
      ['placed', 'done', 1000],
      ['matched', 'done', 1000],
      ['running', 'done', 1005],
      ['verified', 'skipped', null],
      ['failed', 'current', 1041],
    ]);
    expect(steps.at(-1)?.note).toBe("the model failed while running on these inputs: Gather: index 40 is out of bounds");
    // Without the view's words (an older read), the history's JobFailed says it the same way.
    const history: HistoryEntry[] = [{ seq: 9, type: 'JobFailed', at: 1041, data: { failure: FAILURE, payouts: [], fee: '0' } }];
    expect(timelineSteps({ job: job('failed', { failure: null }), history }).at(-1)?.note).toBe(failureInWords(FAILURE));
    expect(step(steps, 'running')?.details.map((d) => [d.replica, d.kind])).toEqual([
      [0, 'run-failed'],
      [1, 'run-failed'],
    ]);
  });
  it('follows a bid that is not a job yet', () => {
    expect(timelineSteps({ job: null, bid: { status: 'open', createdAt: 700 } }).map((s) => [s.id, s.state, s.at])).toEqual([
      ['placed', 'current', 700],
      ['matched', 'next', null],
      ['running', 'todo', null],
      ['verified', 'todo', null],
      ['settled', 'todo', null],
    ]);
    const expired = timelineSteps({ job: null, bid: { status: 'expired', createdAt: 700 } });
    expect(expired.at(-1)).toMatchObject({ id: 'expired', reached: true });
    expect(expired[1]?.state).toBe('skipped');
  });
});

describe('what happened to single replicas while the job ran', () => {
  const at = (event: string, t: number, replica?: number) => ({ at: t, event, ...(replica === undefined ? {} : { replica }) });
  const base = [at('JobCreated', 1000), at('LeaseGranted', 1005, 0), at('LeaseGranted', 1009, 1)];

  it('shows a lapsed lease and the re-match to its new provider, under Running, with times', () => {
    const timeline = [...base, at('LeaseRenewed', 2000, 1), at('LeaseExpired', 3000, 1), at('ReplicaRematchRequested', 3000, 1), at('ReplicaReassigned', 3400, 1), at('LeaseGranted', 3500, 1)];
    const history: HistoryEntry[] = [
      { seq: 7, type: 'LeaseExpired', at: 3000, data: { replica: 1, leaseId: 'l1', provider: P1, askId: 'a' } },
      { seq: 9, type: 'ReplicaReassigned', at: 3400, data: { replica: 1, askId: 'a2', provider: P2, price: '1000000', startBy: 9000 } },
    ];
    const j = job('running', { timeline, replicas: job('running').replicas.map((r) => (r.replica === 1 ? { ...r, provider: P2, rematches: 1 } : r)) });
    const running = step(timelineSteps({ job: j, history }), 'running')!;
    expect(running.details).toEqual([
      { at: 3000, replica: 1, kind: 'lapsed', provider: P1, text: "Replica #1's lease lapsed: its agent went silent." },
      { at: 3400, replica: 1, kind: 'rematched', provider: P2, text: 'Replica #1 was re-matched to 9xQe…VFin.' },
    ]);
    // Before the history arrives the view's timeline alone tells it; the new provider is the replica's current one.
    expect(replicaDetails(j).running.map((d) => [d.kind, d.provider])).toEqual([
      ['lapsed', null],
      ['rematched', P2],
    ]);
  });

  it('tells a replica never started from a lease that lapsed, and a re-match still looking from one that found nobody', () => {
    const waiting = [at('JobCreated', 1000), at('LeaseGranted', 1005, 0), at('LeaseExpired', 1500, 1), at('ReplicaRematchRequested', 1500, 1)];
    expect(replicaDetails(job('running', { timeline: waiting })).running.map((d) => [d.at, d.kind, d.text])).toEqual([
      [1500, 'not-started', 'Replica #1 was never started: its agent did not pick the work up in time.'],
      [1500, 'rematching', 'Replica #1 is offered to other providers.'],
    ]);
    const gaveUp = job('refunded', { refundReason: 'unfilled', timeline: [...waiting, at('JobRefunded', 9000)] });
    expect(replicaDetails(gaveUp).running.at(-1)).toMatchObject({ kind: 'unfilled', text: 'No other provider took replica #1.' });
    // A second lapse of the re-matched replica is told again, each with its own time.
    const twice = [...waiting, at('ReplicaReassigned', 1600, 1), at('LeaseGranted', 1700, 1), at('LeaseExpired', 2700, 1), at('ReplicaRematchRequested', 2700, 1), at('ReplicaReassigned', 2800, 1)];
    expect(replicaDetails(job('running', { timeline: twice })).running.map((d) => [d.at, d.kind])).toEqual([
      [1500, 'not-started'],
      [1600, 'rematched'],
      [2700, 'lapsed'],
      [2800, 'rematched'],
    ]);
  });

  it('shows a tie-breaker, whom it went to, and the outvoted replica', () => {
    const timeline = [...base, at('ResultSubmitted', 1050, 0), at('ResultSubmitted', 1052, 1), at('TieBreakerRequested', 1052, 2), at('ReplicaReassigned', 1060, 2), at('LeaseGranted', 1061, 2), at('ResultSubmitted', 1090, 2), at('ReplicaRejected', 1090, 1), at('ResultVerified', 1090), at('JobSettled', 1090)];
    const history: HistoryEntry[] = [
      { seq: 8, type: 'ReplicaReassigned', at: 1060, data: { replica: 2, askId: 'a3', provider: P2, price: '1000000', startBy: 5000 } },
      { seq: 12, type: 'ReplicaRejected', at: 1090, data: { replica: 1, provider: P1 } },
    ];
    const steps = timelineSteps({ job: job('settled', { timeline }), history });
    expect(step(steps, 'running')!.details.map((d) => d.text)).toEqual([
      'The results disagreed: Replica #2 was added as a tie-breaker.',
      'Replica #2 (tie-breaker) was matched to 9xQe…VFin.',
      "Replica #1's result was rejected: its provider A4vf…e9NG is not paid.",
    ]);
    // The tie-breaker is told in the details, not again in a note.
    expect(step(steps, 'running')!.note).toBeNull();
  });

  it('puts what happened after a challenge under the challenge, and quotes a single failed run', () => {
    const timeline = [at('JobCreated', 1000), at('LeaseGranted', 1005, 0), at('ResultSubmitted', 1050, 0), at('ChallengeRaised', 2000, 1), at('ReplicaReassigned', 2010, 1), at('LeaseGranted', 2020, 1), at('RunFailed', 2030, 1)];
    const history: HistoryEntry[] = [{ seq: 9, type: 'RunFailed', at: 2030, data: { replica: 1, leaseId: 'l', provider: P1, askId: 'a', failure: { ...FAILURE, kind: 'out_of_memory', message: 'x'.repeat(400) } } }];
    const j = job('running', { challenged: true, replicaCount: 1, timeline });
    const { running, challenged } = replicaDetails(j, history);
    expect(running).toEqual([]);
    expect(challenged.map((d) => d.kind)).toEqual(['matched', 'run-failed']);
    expect(challenged[0]!.text).toBe('Replica #1 (challenge re-run) was matched to A4vf…e9NG.');
    expect(challenged[1]!.text).toMatch(/^Replica #1's run failed: the run ran out of memory: x+…$/);
    expect(challenged[1]!.text.length).toBeLessThan(200);
    expect(step(timelineSteps({ job: j, history }), 'challenged')!.details).toEqual(challenged);
  });
});

describe("a replica's status as the pages show it", () => {
  const failed = failureSignature(FAILURE);
  it('tells a failed run paid its fee on a failed job from one rejected for failing alone', () => {
    expect(replicaStatus({ status: 'paid', digest: failed }, 'failed')).toEqual({ text: 'run failed · fee paid', tone: '' });
    expect(replicaStatus({ status: 'rejected', digest: failed }, 'settled')).toEqual({ text: 'run failed · rejected', tone: 'bad' });
    expect(replicaStatus({ status: 'submitted', digest: failed }, 'active')).toEqual({ text: 'run failed', tone: '' });
  });
  it('names the other statuses in words, and work a closed job never ran as not run', () => {
    expect(replicaStatus({ status: 'paid', digest: 'e75d83ca' }, 'settled')).toEqual({ text: 'paid', tone: 'ok' });
    expect(replicaStatus({ status: 'leased', digest: null }, 'active')).toEqual({ text: 'running', tone: 'live' });
    expect(replicaStatus({ status: 'leased', digest: null }, 'failed')).toEqual({ text: 'not run', tone: '' });
    expect(replicaStatus({ status: 'lapsed', digest: null }, 'refunded')).toEqual({ text: 'lapsed', tone: 'bad' });
  });
});

describe('what a job cost', () => {
  it('splits a settled job into providers, fee and the refunded rest of the escrow', () => {
    expect(jobCost(job('settled'))).toEqual({
      escrow: 4_000_000n,
      expected: 2_000_000n,
      paid: 2_000_000n,
      toProviders: 1_950_000n,
      fee: 50_000n,
      fromEscrow: 2_000_000n,
      fromChallenge: 0n,
      refunded: 2_000_000n,
      final: true,
    });
  });
  it('counts a failed challenge’s re-run against the challenge hold, not the escrow', () => {
    const j = job('settled', {
      replicaCount: 1,
      payouts: [
        { replica: 0, provider: P0, holdId: ID, gross: '1000000', fee: '25000', net: '975000' },
        { replica: 1, provider: P1, holdId: `challenge_${ID}`, gross: '1000000', fee: '25000', net: '975000' },
      ],
    });
    expect(jobCost(j)).toMatchObject({ escrow: 2_000_000n, paid: 2_000_000n, fromEscrow: 1_000_000n, fromChallenge: 1_000_000n, refunded: 1_000_000n });
  });
  it('charges a failed job only the failed-run fees and refunds the rest of the escrow', () => {
    const failed = job('failed', { units: 10 });
    expect(jobCost(failed)).toEqual({
      escrow: 40_000_000n,
      expected: 20_000_000n,
      paid: 2_000_000n,
      toProviders: 1_950_000n,
      fee: 50_000n,
      fromEscrow: 2_000_000n,
      fromChallenge: 0n,
      // Not the whole escrow: the fees went to the failing providers.
      refunded: 38_000_000n,
      final: true,
    });
    expect(listCost(failed)).toEqual({ label: 'failed-run fees', amount: 2_000_000n });
  });
  it('refunds everything of a refunded job and leaves the refund open while it runs', () => {
    expect(jobCost(job('refunded'))).toMatchObject({ paid: 0n, refunded: 4_000_000n });
    expect(jobCost(job('running'))).toMatchObject({ refunded: null, expected: 2_000_000n, final: false });
    expect(listCost(job('running'))).toEqual({ label: 'escrow', amount: 4_000_000n });
    expect(listCost(job('settled'))).toEqual({ label: 'paid', amount: 2_000_000n });
    expect(listCost(job('refunded'))).toEqual({ label: 'refunded', amount: 4_000_000n });
  });
});

describe('what the buyer may do', () => {
  it('cancels when the job view says the job decider would take it, and not otherwise', () => {
    expect(canCancel(job('running', { cancellable: true }))).toBe(true);
    expect(canCancel(job('running', { cancellable: false }))).toBe(false);
    expect(canCancel(job('running'))).toBe(false);
  });
  it('challenges inside the window, for what the job view prices the challenge at', () => {
    const j = job('running', { status: 'challengeable', replicaCount: 1, challengeUntil: 5000, units: 3, challengeCost: '3000000' });
    expect(challengeOpen(j, 4999)).toBe(true);
    expect(challengeOpen(j, 5000)).toBe(false);
    expect(challengeOpen(job('settled'), 0)).toBe(false);
    expect(challengeCost(j)).toBe(3_000_000n);
    expect(resultServable(j)).toBe(true);
    expect(resultServable(job('running'))).toBe(false);
  });
});

describe('the jobs list', () => {
  it('merges open bids that are not jobs yet, newest first, and labels the cost', () => {
    const bids: BidWire[] = [
      { id: 'bid_cpu_aaaaaaaaaaaaaaaaaaaaaaaa', kind: 'bid', market: 'cpu', owner: 'o', status: 'open', maxPrice: '3000000', units: 2, replicas: 2, createdAt: 1500 },
      // Already a job (the read model lags): listed once.
      { id: ID, kind: 'bid', market: 'cpu', owner: 'o', status: 'open', maxPrice: '2000000', units: 1, replicas: 2, createdAt: 990 },
    ];
    const rows = jobRows([job('settled'), job('running', { jobId: 'bid_gpu-24gb_bbbbbbbbbbbbbbbbbbbbbbbb', timeline: [{ at: 1200, event: 'JobCreated' }] })], bids);
    expect(rows.map((r) => [r.id, r.kind, r.market, r.cost.label, r.cost.amount])).toEqual([
      ['bid_cpu_aaaaaaaaaaaaaaaaaaaaaaaa', 'bid', 'cpu', 'escrow', 12_000_000n],
      ['bid_gpu-24gb_bbbbbbbbbbbbbbbbbbbbbbbb', 'job', 'gpu-24gb', 'escrow', 4_000_000n],
      [ID, 'job', 'cpu', 'paid', 2_000_000n],
    ]);
  });
  it('reads ids, statuses and digests', () => {
    expect(marketOf(ID)).toBe('cpu');
    expect(marketOf('nope')).toBeNull();
    expect(shortJobId('bid_gpu-24gb_0123456789abcdef01234567')).toBe('01234…34567');
    expect(['settled', 'failed', 'refunded', 'cancelled', 'expired', 'active', 'challengeable'].map(isFinalStatus)).toEqual([true, true, true, true, true, false, false]);
    expect([statusTone('settled'), statusTone('refunded'), statusTone('failed'), statusTone('active'), statusTone('cancelled')]).toEqual(['ok', 'bad', 'bad', 'live', '']);
    expect(shortDigest('e75d83ca6c830703a7251c23')).toBe('e75d83ca6c83…');
    expect(shortDigest(null)).toBe('—');
    expect(failedRunKind(failureSignature({ kind: 'out_of_memory', digest: 'ab'.repeat(32) }))).toBe('out_of_memory');
    expect([failedRunKind('e75d83ca6c830703a7251c23f3cb85e8de9176e93ed73a47fe6c16f569b1a619'), failedRunKind(null)]).toEqual([null, null]);
    expect([countdown(599_001), countdown(3_723_000), countdown(-5)]).toEqual(['10:00', '1:02:03', '0:00']);
  });
});

describe('a result', () => {
  it('previews the first values of each dtype', () => {
    const f = previewTensor(toWire('y', 'float32', [1, 4], new Uint8Array(new Float32Array([0.1, -2, 3.5, 1e-7]).buffer)), 3);
    expect(f).toEqual({ name: 'y', dtype: 'float32', dims: [1, 4], count: 4, values: ['0.1', '-2', '3.5'], more: 1 });
    expect(previewTensor(toWire('i', 'int64', [2], new Uint8Array(new BigInt64Array([-3n, 9007199254740993n]).buffer))).values).toEqual(['-3', '9007199254740993']);
    expect(previewTensor(toWire('b', 'bool', [2], new Uint8Array([1, 0]))).values).toEqual(['true', 'false']);
    expect(previewTensor({ name: 'bad', dtype: 'int32', dims: [4], data: 'AA' })).toMatchObject({ values: [], more: 4 });
  });
  it('is saved as the API answer with the job id', () => {
    const outputs = [toWire('y', 'float32', [1], new Uint8Array(4))];
    const file = resultFile(ID, { replica: 0, outputDigest: 'abc', outputs });
    expect(file.name).toBe(`${ID}-result.json`);
    expect(JSON.parse(file.text)).toEqual({ jobId: ID, replica: 0, outputDigest: 'abc', outputs });
  });
});
