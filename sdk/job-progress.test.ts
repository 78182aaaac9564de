import { describe, expect, it } from 'vitest';
import type { JobView } from './client.ts';
import { jobProgress } from './job-progress.ts';

const replica = (status: string, i = 0) => ({ replica: i, role: 'primary', status, provider: `P${i}`, askId: null, price: '1000000', lease: null, digest: null, rematches: 0 });
const job = (status: string, replicas: ReturnType<typeof replica>[], extra: Record<string, unknown> = {}): JobView =>
  ({ jobId: 'bid_cpu_0123456789abcdef01234567', status, buyer: 'B', units: 1, maxPrice: '5000000', replicaCount: replicas.length, replicas, ...extra }) as JobView;

describe('a job on its way, phase by phase', () => {
  it('is placed while no job exists: the bid waits for its match', () => {
    expect(jobProgress(null)).toMatchObject({ phase: 'placed', done: false, resultReady: false });
  });

  it.each([
    [['assigned', 'assigned'], 'matched', 'matched: 2 providers, starting'],
    [['leased', 'assigned'], 'running', 'running: 0 of 2 replicas done'],
    [['submitted', 'leased'], 'running', 'running: 1 of 2 replicas done'],
    [['submitted', 'awaiting-match'], 're-matching', 're-matching: 1 of 2 replicas looking for another provider (1 done)'],
    [['lapsed', 'leased'], 're-matching', 're-matching: 1 of 2 replicas looking for another provider (0 done)'],
    [['submitted', 'submitted'], 'verifying', 'verifying: 2 results in, comparing'],
    [['submitted', 'submitted', 'rejected'], 'verifying', 'verifying: 2 results in, comparing'],
  ])('an active job with replicas %j is %s', (statuses, phase, text) => {
    const p = jobProgress(job('active', statuses.map((s, i) => replica(s, i))));
    expect(p).toEqual({ phase, text, done: false, resultReady: false });
  });

  it('is settled, with what was paid, and its result ready', () => {
    const p = jobProgress(job('settled', [replica('paid', 0), replica('paid', 1)], { payouts: [{ gross: '1000000' }, { gross: '1000000' }] }));
    expect(p).toEqual({ phase: 'settled', text: 'settled: 2 replicas paid, 0.002 DOUG in all', done: true, resultReady: true });
  });

  it('has its result ready while a single replica can be challenged', () => {
    expect(jobProgress(job('challengeable', [replica('submitted')], { challengeUntil: 0 }))).toMatchObject({ phase: 'verified', done: true, resultReady: true });
  });

  it('ends failed with the reason in words, and refunded with its reason, neither with a result', () => {
    const failed = jobProgress(job('failed', [replica('paid')], { failure: { kind: 'shape', message: 'x', reason: 'the inputs do not fit the model' } }));
    expect(failed).toEqual({ phase: 'failed', text: 'failed: the inputs do not fit the model', done: true, resultReady: false });
    const refunded = jobProgress(job('refunded', [replica('lapsed')], { refundReason: 'unfilled' }));
    expect(refunded).toMatchObject({ phase: 'refunded', done: true, resultReady: false });
    expect(refunded.text).toMatch(/^refunded \(unfilled\)/);
  });
});
