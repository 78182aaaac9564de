import { describe, expect, it } from 'vitest';
import { specFor } from '../spec.ts';
import type { DispatchEvent } from './index.ts';
import { dispatchDecider, heartbeatInterval, HEARTBEAT_MS, leasesOf, MAX_PREFETCH, MAX_QUEUE_AGE_MS, MAX_RESULT_BYTES, socketsOf, waitingFor } from './index.ts';

const given = specFor(dispatchDecider);
const NOW = 1_000_000;
const accepted = (socketId: string, askId = 'ask-1', agentKey = `key-${socketId}`): DispatchEvent => ({ type: 'AgentAccepted', socketId, askId, agentKey, provider: 'p1', fingerprint: 'fp', at: NOW });
const ready = (socketId: string, slots: number): DispatchEvent => ({ type: 'SlotsAnnounced', socketId, slots, at: NOW });
const queued = (jobId: string, askId = 'ask-1', queuedAt = NOW, replica = 0): DispatchEvent => ({ type: 'WorkQueued', jobId, replica, askId, provider: 'p1', queuedAt });
const assigned = (jobId: string, socketId: string, leaseId: string, askId = 'ask-1'): DispatchEvent => ({
  type: 'WorkAssigned',
  jobId,
  replica: 0,
  askId,
  provider: 'p1',
  socketId,
  agentKey: `key-${socketId}`,
  leaseId,
});
const announced = (socketId: string, slots: number, prefetch: number): DispatchEvent => ({ type: 'SlotsAnnounced', socketId, slots, prefetch, at: NOW });
const prefetchedTo = (jobId: string, socketId: string, leaseId: string): DispatchEvent => ({ ...(assigned(jobId, socketId, leaseId) as Extract<DispatchEvent, { type: 'WorkAssigned' }>), prefetched: true });
const assignments = (events: DispatchEvent[]) => events.filter((e) => e.type === 'WorkAssigned').map((e) => (e.type === 'WorkAssigned' ? [e.jobId, e.socketId, e.leaseId] : []));

describe('dispatch: which agent gets which work', () => {
  it('assigns queued work to its ask agent with a free slot, taking the lease ids in order', () => {
    const events = given([accepted('s1'), ready('s1', 2), queued('j1')]).when({ type: 'AssignWork', leaseIds: ['L1', 'L2'] }).events();
    expect(assignments(events)).toEqual([['j1', 's1', 'L1']]);
  });

  it('assigns nothing to an agent that announced no free slot', () => {
    expect(given([accepted('s1'), queued('j1')]).when({ type: 'AssignWork', leaseIds: ['L1'] }).events()).toEqual([]);
  });

  it('never gives one ask’s work to another ask’s agent', () => {
    const events = given([accepted('s1', 'ask-1'), ready('s1', 1), queued('j1', 'ask-2')]).when({ type: 'AssignWork', leaseIds: ['L1'] }).events();
    expect(assignments(events)).toEqual([]);
  });

  it('serves the oldest work first, and no more than the free slots', () => {
    const events = given([accepted('s1'), ready('s1', 2), queued('late', 'ask-1', NOW + 20), queued('first', 'ask-1', NOW), queued('middle', 'ask-1', NOW + 10)])
      .when({ type: 'AssignWork', leaseIds: ['L1', 'L2', 'L3'] }, { now: NOW + 30 })
      .events();
    expect(assignments(events)).toEqual([
      ['first', 's1', 'L1'],
      ['middle', 's1', 'L2'],
    ]);
  });

  it('spreads an ask’s work over its agents’ slots and stops when lease ids run out', () => {
    const events = given([accepted('s1'), ready('s1', 1), accepted('s2'), ready('s2', 1), queued('a', 'ask-1', NOW), queued('b', 'ask-1', NOW + 1), queued('c', 'ask-1', NOW + 2)])
      .when({ type: 'AssignWork', leaseIds: ['L1', 'L2'] }, { now: NOW + 5 })
      .events();
    expect(assignments(events)).toEqual([
      ['a', 's1', 'L1'],
      ['b', 's2', 'L2'],
    ]);
  });

  it('an assignment takes its slot: a second round assigns nothing more', () => {
    const { state } = given([accepted('s1'), ready('s1', 1), queued('a'), queued('b', 'ask-1', NOW + 1), assigned('a', 's1', 'L1')]);
    expect(state.agents.s1!.free).toBe(0);
    expect(state.queue['a#0']).toBeUndefined();
    expect(given([accepted('s1'), ready('s1', 1), queued('a'), queued('b', 'ask-1', NOW + 1), assigned('a', 's1', 'L1')]).when({ type: 'AssignWork', leaseIds: ['L2'] }).events()).toEqual([]);
  });

  it('ready sets the free slots (absolute, not added) and refuses a count out of range', () => {
    expect(given([accepted('s1'), ready('s1', 3), ready('s1', 1)]).state.agents.s1!.free).toBe(1);
    expect(given([accepted('s1')]).when({ type: 'AnnounceReady', socketId: 's1', slots: 1025 }).rejection().code).toBe('AGENT__MALFORMED_MESSAGE');
    expect(given([accepted('s1')]).when({ type: 'AnnounceReady', socketId: 's1', slots: 1.5 }).rejection().code).toBe('AGENT__MALFORMED_MESSAGE');
    expect(given([]).when({ type: 'AnnounceReady', socketId: 's1', slots: 1 }).rejection().code).toBe('AGENT__NOT_AUTHENTICATED');
  });

  it('queues matched work once, and not work already held at the same ask', () => {
    const work = { jobId: 'j1', replica: 0, askId: 'ask-1', provider: 'p1' };
    expect(given([queued('j1')]).when({ type: 'QueueWork', work: [work] }).events()).toEqual([]);
    expect(given([accepted('s1'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')]).when({ type: 'QueueWork', work: [work] }).events()).toEqual([]);
    expect(given([]).when({ type: 'QueueWork', work: [work] }).events()).toEqual([{ type: 'WorkQueued', ...work, queuedAt: NOW }]);
  });

  it('a replica matched again to another ask is queued there, though its old assignment has not closed yet', () => {
    const moved = { jobId: 'j1', replica: 0, askId: 'ask-2', provider: 'p2' };
    const base = [accepted('s1'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')];
    expect(given(base).when({ type: 'QueueWork', work: [moved] }).events()).toEqual([{ type: 'WorkQueued', ...moved, queuedAt: NOW }]);
    expect(given([queued('j1')]).when({ type: 'QueueWork', work: [moved] }).events()).toEqual([{ type: 'WorkQueued', ...moved, queuedAt: NOW }]);
    expect(given([queued('j1'), { type: 'WorkQueued', ...moved, queuedAt: NOW + 1 }]).state.queue).toEqual({ 'j1#0': { ...moved, queuedAt: NOW + 1 } });
  });

  it('a job that refuses an assignment gives the slot back and the work is dropped, never queued again', () => {
    const base = [accepted('s1'), ready('s1', 1), queued('j1', 'ask-1', NOW - 5), assigned('j1', 's1', 'L1')];
    expect(given(base).when({ type: 'ReturnAssignment', leaseId: 'L1' }).events()).toEqual([{ type: 'AssignmentReturned', leaseId: 'L1' }]);
    const returned = given([...base, { type: 'AssignmentReturned', leaseId: 'L1' }]).state;
    expect(returned.agents.s1!.free).toBe(1);
    expect(returned.queue).toEqual({});
    expect(returned.assignments).toEqual({});
    expect(given([...base, { type: 'AssignmentReturned', leaseId: 'L1' }]).when({ type: 'ReturnAssignment', leaseId: 'L1' }).events()).toEqual([]);
  });
});

describe('dispatch: an agent’s prefetch window', () => {
  const work = (n: number) => Array.from({ length: n }, (_, i) => queued(`j${i}`, 'ask-1', NOW + i));
  const kinds = (events: DispatchEvent[]) => events.filter((e) => e.type === 'WorkAssigned').map((e) => (e.type === 'WorkAssigned' ? `${e.jobId}${e.prefetched ? ' prefetched' : ''}` : ''));

  it('fills the free slots first, then up to the window beyond them, and no further', () => {
    const events = given([accepted('s1'), announced('s1', 1, 2), ...work(5)]).when({ type: 'AssignWork', leaseIds: ['L1', 'L2', 'L3', 'L4', 'L5'] }, { now: NOW + 10 }).events();
    expect(kinds(events)).toEqual(['j0', 'j1 prefetched', 'j2 prefetched']);
  });

  it('an agent that announces no window (an older agent) gets work for its free slots only', () => {
    const events = given([accepted('s1'), ready('s1', 1), ...work(3)]).when({ type: 'AssignWork', leaseIds: ['L1', 'L2', 'L3'] }, { now: NOW + 10 }).events();
    expect(kinds(events)).toEqual(['j0']);
    expect(given([accepted('s1'), announced('s1', 1, 2), ready('s1', 1), ...work(3)]).when({ type: 'AssignWork', leaseIds: ['L1', 'L2'] }, { now: NOW + 10 }).events().length).toBe(1);
  });

  it('prefetched work takes no slot; it counts against the window until the agent starts it, and then against a slot', () => {
    const base = [accepted('s1'), announced('s1', 1, 1), ...work(3), assigned('j0', 's1', 'L0'), prefetchedTo('j1', 's1', 'L1')];
    const full = given(base);
    expect(full.state.agents.s1).toMatchObject({ free: 0, window: 1 });
    expect(full.state.assignments.L1).toMatchObject({ waiting: true, acknowledged: false });
    expect(full.when({ type: 'AssignWork', leaseIds: ['L2'] }, { now: NOW + 10 }).events()).toEqual([]);
    expect(waitingFor(full.state, ['ask-1'])).toBe(false);

    // j0 ends, the agent starts j1 from its window: the window has room again, the slot stays taken.
    const started = given([...base, { type: 'LeaseClosed', leaseId: 'L0', reason: 'result' }]).when({ type: 'StartWork', socketId: 's1', leaseId: 'L1' }, { now: NOW + 20 }).events();
    expect(started).toEqual([
      { type: 'AgentSeen', socketId: 's1', at: NOW + 20 },
      { type: 'WorkStarted', leaseId: 'L1', jobId: 'j1', replica: 0, provider: 'p1' },
    ]);
    const after = given([...base, { type: 'LeaseClosed', leaseId: 'L0', reason: 'result' }, ...started]);
    expect(after.state.assignments.L1).toEqual(expect.objectContaining({ acknowledged: true }));
    expect(after.state.assignments.L1!.waiting).toBeUndefined();
    expect(kinds(after.when({ type: 'AssignWork', leaseIds: ['L2', 'L3'] }, { now: NOW + 30 }).events())).toEqual(['j2 prefetched']);
  });

  it('a start uses up a free slot that a ready announced while the prefetched work was in flight', () => {
    // The agent said "1 free" before the prefetched j1 reached it; j1 started in that slot.
    const base = [accepted('s1'), announced('s1', 0, 1), ...work(3), prefetchedTo('j0', 's1', 'L0'), announced('s1', 1, 1)];
    const after = given([...base, { type: 'WorkStarted', leaseId: 'L0', jobId: 'j0', replica: 0, provider: 'p1' }]);
    expect(after.state.agents.s1!.free).toBe(0);
    expect(kinds(after.when({ type: 'AssignWork', leaseIds: ['L1', 'L2'] }, { now: NOW + 30 }).events())).toEqual(['j1 prefetched']);
  });

  it('a ready saying a slot is free while prefetched work is on its way: that work takes the slot, and no work is assigned to it twice', () => {
    // Two prefetched assigns in flight when the agent, its own window empty, says "1 free": the first
    // to arrive takes the slot, the second waits in the window; only one more fits (the window's other place).
    const base = [accepted('s1'), announced('s1', 0, 2), ...work(5), prefetchedTo('j0', 's1', 'L0'), prefetchedTo('j1', 's1', 'L1'), announced('s1', 1, 2)];
    const events = given(base).when({ type: 'AssignWork', leaseIds: ['L2', 'L3', 'L4'] }, { now: NOW + 10 }).events();
    expect(kinds(events)).toEqual(['j2 prefetched']);
    // j0 arrives and starts in the slot: nothing more until a run ends.
    const started = given([...base, ...events, { type: 'WorkStarted', leaseId: 'L0', jobId: 'j0', replica: 0, provider: 'p1' }]);
    expect(started.when({ type: 'AssignWork', leaseIds: ['L5'] }, { now: NOW + 20 }).events()).toEqual([]);
    expect(waitingFor(started.state, ['ask-1'])).toBe(false);
  });

  it('a start names a lease the agent holds: another agent’s, or an unknown one, is refused; a repeat changes nothing', () => {
    const base = [accepted('s1'), accepted('s2'), announced('s1', 0, 1), queued('j0'), prefetchedTo('j0', 's1', 'L0')];
    expect(given(base).when({ type: 'StartWork', socketId: 's2', leaseId: 'L0' }).rejection().code).toBe('AGENT__LEASE_UNKNOWN');
    expect(given(base).when({ type: 'StartWork', socketId: 's1', leaseId: 'nope' }).rejection().code).toBe('AGENT__LEASE_UNKNOWN');
    expect(given([]).when({ type: 'StartWork', socketId: 's1', leaseId: 'L0' }).rejection().code).toBe('AGENT__NOT_AUTHENTICATED');
    expect(given([...base, { type: 'WorkStarted', leaseId: 'L0', jobId: 'j0', replica: 0, provider: 'p1' }]).when({ type: 'StartWork', socketId: 's1', leaseId: 'L0' }).events()).toEqual([]);
    // Work given a free slot started with its assignment.
    expect(given([accepted('s1'), ready('s1', 1), queued('j0'), assigned('j0', 's1', 'L0')]).when({ type: 'StartWork', socketId: 's1', leaseId: 'L0' }).events()).toEqual([]);
  });

  it('a job refusing a prefetched assignment gives back no slot (it never took one)', () => {
    const base = [accepted('s1'), announced('s1', 0, 1), queued('j0'), prefetchedTo('j0', 's1', 'L0')];
    expect(given([...base, { type: 'AssignmentReturned', leaseId: 'L0' }]).state.agents.s1!.free).toBe(0);
  });

  it('a heartbeat does not acknowledge prefetched work not yet started (it has no lease to keep)', () => {
    const base = [accepted('s1'), announced('s1', 0, 1), queued('j0'), prefetchedTo('j0', 's1', 'L0')];
    expect(given(base).when({ type: 'RecordHeartbeat', socketId: 's1', leases: ['L0'] }).events()).toEqual([{ type: 'AgentSeen', socketId: 's1', at: NOW }]);
  });

  it('prefetched work held unstarted when the socket closes is dropped for its job to re-match at once, a lost socket’s too', () => {
    const base = [accepted('s1'), announced('s1', 1, 2), ...work(3), assigned('j0', 's1', 'L0'), prefetchedTo('j1', 's1', 'L1'), prefetchedTo('j2', 's1', 'L2'), { type: 'WorkStarted', leaseId: 'L1', jobId: 'j1', replica: 0, provider: 'p1' } as DispatchEvent];
    const events = given(base).when({ type: 'CloseSocket', socketId: 's1' }).events();
    expect(events).toEqual([
      {
        type: 'AgentLeft',
        socketId: 's1',
        askId: 'ask-1',
        reason: 'closed',
        // j0 had a free slot and was never acknowledged: its lease is abandoned; j1 started (acknowledged) and stays.
        unacknowledged: [{ jobId: 'j0', replica: 0, leaseId: 'L0', provider: 'p1' }],
        askOrphaned: true,
        unassigned: [],
        prefetched: [{ jobId: 'j2', replica: 0, askId: 'ask-1', provider: 'p1', leaseId: 'L2' }],
      },
    ]);
    expect(Object.keys(given([...base, ...events]).state.assignments)).toEqual(['L1']);
    expect(given(base).when({ type: 'CloseSocket', socketId: 's1', lost: true }).events()[0]).toMatchObject({ unacknowledged: [], prefetched: [{ jobId: 'j2', leaseId: 'L2' }] });
    expect(given(base).when({ type: 'CheckSilence', silenceMs: 10 }, { now: NOW + 11 }).events()[0]).toMatchObject({ reason: 'silent', prefetched: [{ jobId: 'j2', leaseId: 'L2' }] });
  });

  it('prefetched work the agent gives back unstarted goes to its job for a re-match; a started one does not', () => {
    const base = [accepted('s1'), announced('s1', 0, 2), queued('j0'), queued('j1', 'ask-1', NOW + 1), prefetchedTo('j0', 's1', 'L0'), prefetchedTo('j1', 's1', 'L1'), { type: 'WorkStarted', leaseId: 'L1', jobId: 'j1', replica: 0, provider: 'p1' } as DispatchEvent];
    expect(given(base).when({ type: 'ReportError', socketId: 's1', leaseId: 'L0' }).events()).toEqual([
      { type: 'LeaseClosed', leaseId: 'L0', reason: 'error', unstarted: { jobId: 'j0', replica: 0, askId: 'ask-1', provider: 'p1' } },
    ]);
    expect(given(base).when({ type: 'ReportError', socketId: 's1', leaseId: 'L1' }).events()).toEqual([{ type: 'LeaseClosed', leaseId: 'L1', reason: 'error' }]);
  });

  it(`a window out of range (over MAX_PREFETCH = ${MAX_PREFETCH}, negative, fractional) is refused with a code and changes nothing`, () => {
    for (const prefetch of [MAX_PREFETCH + 1, -1, 0.5, Number.NaN]) {
      const r = given([accepted('s1')]).when({ type: 'AnnounceReady', socketId: 's1', slots: 1, prefetch }).rejection();
      expect([prefetch, r.code, r.message]).toEqual([prefetch, 'AGENT__MALFORMED_MESSAGE', `prefetch must be an integer from 0 to ${MAX_PREFETCH}`]);
    }
    expect(given([accepted('s1')]).when({ type: 'AnnounceReady', socketId: 's1', slots: 1, prefetch: MAX_PREFETCH }).events()).toEqual([{ type: 'SlotsAnnounced', socketId: 's1', slots: 1, prefetch: MAX_PREFETCH, at: NOW }]);
    // A later ready without one closes the window (absolute, like the slots).
    expect(given([accepted('s1'), announced('s1', 1, 3), ready('s1', 1)]).state.agents.s1!.window).toBe(0);
  });

  it('an agent record stored before the window existed reads as window 0', () => {
    const restored = dispatchDecider.restore({ agents: { s1: { askId: 'ask-1', agentKey: 'k', provider: 'p1', fingerprint: 'fp', free: 1, seenAt: NOW } } });
    expect(restored.agents.s1!.window).toBe(0);
  });
});

describe('dispatch: queue ageing', () => {
  it(`work waits at most MAX_QUEUE_AGE_MS (${MAX_QUEUE_AGE_MS} ms)`, () => {
    const events = given([accepted('s1'), ready('s1', 2), queued('old', 'ask-1', NOW), queued('new', 'ask-1', NOW + 1)])
      .when({ type: 'AssignWork', leaseIds: ['L1', 'L2'] }, { now: NOW + MAX_QUEUE_AGE_MS + 1 })
      .events();
    expect(events).toEqual([
      { type: 'WorkAged', jobId: 'old', replica: 0 },
      { type: 'WorkAssigned', jobId: 'new', replica: 0, askId: 'ask-1', provider: 'p1', socketId: 's1', agentKey: 'key-s1', leaseId: 'L1' },
    ]);
  });

  it('work exactly MAX_QUEUE_AGE_MS old is still served', () => {
    const events = given([accepted('s1'), ready('s1', 1), queued('j1')]).when({ type: 'AssignWork', leaseIds: ['L1'] }, { now: NOW + MAX_QUEUE_AGE_MS }).events();
    expect(assignments(events)).toEqual([['j1', 's1', 'L1']]);
  });

  it('aged work leaves the queue when new work arrives, even with no agent listening', () => {
    const events = given([queued('old')]).when({ type: 'QueueWork', work: [] }, { now: NOW + MAX_QUEUE_AGE_MS + 1 }).events();
    expect(events).toEqual([{ type: 'WorkAged', jobId: 'old', replica: 0 }]);
  });
});

describe('dispatch: heartbeats, results and errors', () => {
  it(`the heartbeat interval is HEARTBEAT_MS (${HEARTBEAT_MS}) or a third of the lease, never under 100 ms`, () => {
    expect(heartbeatInterval(60_000)).toBe(HEARTBEAT_MS);
    expect(heartbeatInterval(9_000)).toBe(3_000);
    expect(heartbeatInterval(3 * HEARTBEAT_MS)).toBe(HEARTBEAT_MS);
    expect(heartbeatInterval(150)).toBe(100);
  });

  it('the first heartbeat naming a lease acknowledges it; later ones only mark the agent seen', () => {
    const base = [accepted('s1'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')];
    const first = given(base).when({ type: 'RecordHeartbeat', socketId: 's1', leases: ['L1', 'L1', 'other'] }, { now: NOW + 7 }).events();
    expect(first).toEqual([
      { type: 'AgentSeen', socketId: 's1', at: NOW + 7 },
      { type: 'LeaseAcknowledged', leaseId: 'L1' },
    ]);
    expect(given([...base, { type: 'LeaseAcknowledged', leaseId: 'L1' }]).when({ type: 'RecordHeartbeat', socketId: 's1', leases: ['L1'] }).events()).toEqual([{ type: 'AgentSeen', socketId: 's1', at: NOW }]);
  });

  it('a heartbeat does not acknowledge another agent’s lease', () => {
    const events = given([accepted('s1'), accepted('s2'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')]).when({ type: 'RecordHeartbeat', socketId: 's2', leases: ['L1'] }).events();
    expect(events).toEqual([{ type: 'AgentSeen', socketId: 's2', at: NOW }]);
  });

  it(`a result closes its lease; one over MAX_RESULT_BYTES (${MAX_RESULT_BYTES}) is refused and the lease stays`, () => {
    const base = [accepted('s1'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')];
    expect(given(base).when({ type: 'AcceptResult', socketId: 's1', jobId: 'j1', leaseId: 'L1', bytes: MAX_RESULT_BYTES }).events()).toContainEqual({ type: 'LeaseClosed', leaseId: 'L1', reason: 'result' });
    expect(given(base).when({ type: 'AcceptResult', socketId: 's1', jobId: 'j1', leaseId: 'L1', bytes: MAX_RESULT_BYTES + 1 }).rejection().code).toBe('AGENT__RESULT_TOO_LARGE');
  });

  it('a result for a lease the agent does not hold, or for another job, is refused', () => {
    const base = [accepted('s1'), accepted('s2'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')];
    expect(given(base).when({ type: 'AcceptResult', socketId: 's2', jobId: 'j1', leaseId: 'L1', bytes: 1 }).rejection().code).toBe('AGENT__LEASE_UNKNOWN');
    expect(given(base).when({ type: 'AcceptResult', socketId: 's1', jobId: 'j2', leaseId: 'L1', bytes: 1 }).rejection().code).toBe('AGENT__LEASE_UNKNOWN');
    expect(given([]).when({ type: 'AcceptResult', socketId: 's1', jobId: 'j1', leaseId: 'L1', bytes: 1 }).rejection().code).toBe('AGENT__NOT_AUTHENTICATED');
  });

  it('an agent error closes its own lease only', () => {
    const base = [accepted('s1'), accepted('s2'), ready('s1', 1), queued('j1'), assigned('j1', 's1', 'L1')];
    expect(given(base).when({ type: 'ReportError', socketId: 's1', leaseId: 'L1' }).events()).toEqual([{ type: 'LeaseClosed', leaseId: 'L1', reason: 'error' }]);
    expect(given(base).when({ type: 'ReportError', socketId: 's2', leaseId: 'L1' }).events()).toEqual([]);
  });

  it('a job that ends its replica at an ask withdraws the queued work and closes the lease there', () => {
    const base = [accepted('s1'), ready('s1', 1), queued('j1', 'ask-1', NOW, 0), queued('j1', 'ask-1', NOW, 1), assigned('j1', 's1', 'L1'), queued('j2')];
    const events = given(base).when({ type: 'EndLeases', jobId: 'j1', askId: 'ask-1', reason: 'lapsed' }).events();
    expect(events).toEqual([
      { type: 'WorkWithdrawn', jobId: 'j1', askId: 'ask-1' },
      { type: 'LeaseClosed', leaseId: 'L1', reason: 'ended' },
    ]);
    const state = given([...base, ...events]).state;
    expect(Object.keys(state.queue)).toEqual(['j2#0']);
  });
});

describe('dispatch: agents that leave', () => {
  const base = [accepted('s1'), ready('s1', 2), queued('j1'), queued('j2', 'ask-1', NOW + 1), assigned('j1', 's1', 'L1'), assigned('j2', 's1', 'L2'), { type: 'LeaseAcknowledged', leaseId: 'L2' } as DispatchEvent];

  it('a closed socket takes its unacknowledged assignments with it and orphans its ask', () => {
    const events = given(base).when({ type: 'CloseSocket', socketId: 's1' }).events();
    expect(events).toEqual([{ type: 'AgentLeft', socketId: 's1', askId: 'ask-1', reason: 'closed', unacknowledged: [{ jobId: 'j1', replica: 0, leaseId: 'L1', provider: 'p1' }], askOrphaned: true, unassigned: [], prefetched: [] }]);
    const state = given([...base, ...events]).state;
    expect(state.agents).toEqual({});
    // The acknowledged lease stays: its agent may come back and finish it before the job's lease lapses.
    expect(leasesOf(state, 'key-s1').map((l) => l.leaseId)).toEqual(['L2']);
  });

  it('a socket lost to a restart of the object keeps its unacknowledged assignments for the agent’s return', () => {
    const events = given(base).when({ type: 'CloseSocket', socketId: 's1', lost: true }).events();
    expect(events).toEqual([{ type: 'AgentLeft', socketId: 's1', askId: 'ask-1', reason: 'lost', unacknowledged: [], askOrphaned: true, unassigned: [], prefetched: [] }]);
    expect(leasesOf(given([...base, ...events]).state, 'key-s1').map((l) => l.leaseId)).toEqual(['L1', 'L2']);
  });

  it('an agent leaving its ask orphaned takes the work queued for the ask with it (re-matched by its jobs)', () => {
    const waiting = [...base, queued('j3'), queued('j4', 'ask-2')];
    const events = given(waiting).when({ type: 'CloseSocket', socketId: 's1' }).events();
    expect(events[0]).toMatchObject({ type: 'AgentLeft', askOrphaned: true, unassigned: [{ jobId: 'j3', replica: 0, askId: 'ask-1', provider: 'p1' }] });
    expect(Object.keys(given([...waiting, ...events]).state.queue)).toEqual(['j4#0']);
    // Not while another agent serves the ask, nor when the socket was lost to a restart.
    expect(given([...waiting, accepted('s2')]).when({ type: 'CloseSocket', socketId: 's1' }).events()[0]).toMatchObject({ askOrphaned: false, unassigned: [] });
    expect(given(waiting).when({ type: 'CloseSocket', socketId: 's1', lost: true }).events()[0]).toMatchObject({ askOrphaned: true, unassigned: [] });
  });

  it('the ask is not orphaned while another agent serves it', () => {
    const events = given([...base, accepted('s2')]).when({ type: 'CloseSocket', socketId: 's1' }).events();
    expect(events[0]).toMatchObject({ type: 'AgentLeft', askOrphaned: false });
  });

  it('closing an unknown socket changes nothing', () => {
    expect(given(base).when({ type: 'CloseSocket', socketId: 'nope' }).events()).toEqual([]);
  });

  it('agents silent longer than silenceMs leave; those heard from within it stay', () => {
    const events = given([...base, accepted('s2', 'ask-2'), accepted('s3', 'ask-2'), { type: 'AgentSeen', socketId: 's3', at: NOW + 900 }])
      .when({ type: 'CheckSilence', silenceMs: 1_000 }, { now: NOW + 1_001 })
      .events();
    expect(events.map((e) => (e.type === 'AgentLeft' ? [e.socketId, e.reason, e.askOrphaned] : e.type))).toEqual([
      ['s1', 'silent', true],
      ['s2', 'silent', false],
    ]);
    expect(given(base).when({ type: 'CheckSilence', silenceMs: 1_000 }, { now: NOW + 1_000 }).events()).toEqual([]);
  });

  it('two silent agents of one ask: the last to go orphans it', () => {
    const events = given([accepted('s1'), accepted('s2')]).when({ type: 'CheckSilence', silenceMs: 10 }, { now: NOW + 11 }).events();
    expect(events.map((e) => e.type === 'AgentLeft' && e.askOrphaned)).toEqual([false, true]);
  });

  it('lookups: sockets of an ask, and whether an ask has a free slot waiting', () => {
    const { state } = given([accepted('s1'), accepted('s2', 'ask-2'), ready('s2', 1)]);
    expect(socketsOf(state, 'ask-1')).toEqual(['s1']);
    expect(waitingFor(state, ['ask-1'])).toBe(false);
    expect(waitingFor(state, ['ask-2'])).toBe(true);
  });
});
