import type { CommandMeta } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { fail, ok, type Result } from '../result.ts';
import type { DispatchCommand, Work } from './commands.ts';
import { DISPATCH_ERRORS } from './errors.ts';
import type { AgentLeft, DispatchEvent } from './events.ts';
import { openings, workKey, type DispatchState } from './state.ts';

/** Heartbeats go at most this far apart, and at least three times per lease. */
export const HEARTBEAT_MS = 5_000;
/** Largest result an agent may send (all output tensors together). */
export const MAX_RESULT_BYTES = 8 * 1024 * 1024;
/**
 * Limits on an agent's socket, whoever is on the other end: a frame larger than the largest result
 * (base64, with room for its JSON) closes the socket; a socket that has not said hello within
 * HELLO_TIMEOUT_MS is closed, and no more than MAX_PENDING_SOCKETS wait for theirs at once; an agent
 * sends at most AGENT_MESSAGE_RATE messages (a chat stage answers one per token, hundreds a second).
 */
export const MAX_AGENT_FRAME_BYTES = Math.ceil((MAX_RESULT_BYTES * 4) / 3) + 1024 * 1024;
export const HELLO_TIMEOUT_MS = 10_000;
export const MAX_PENDING_SOCKETS = 64;
export const AGENT_MESSAGE_RATE = { perSecond: 1_000, burst: 2_000 } as const;

/** How long a replica may wait for its agent: past it the job's start-by time has lapsed and the job re-matches or refunds. */
export const MAX_QUEUE_AGE_MS = 60_000;
/** Most slots an agent may announce. */
export const MAX_SLOTS = 1024;
/**
 * Largest prefetch window an agent may announce: assignments it may hold unstarted beyond its free
 * slots, so that the next one is already there when a run ends. Small on purpose: work held there
 * still has to be started by its replica's start-by time.
 */
export const MAX_PREFETCH = 16;

/** The heartbeat interval an agent is told: HEARTBEAT_MS, or a third of the lease when that is shorter (never under 100 ms). */
export function heartbeatInterval(leaseMs: number): number {
  return Math.max(100, Math.min(HEARTBEAT_MS, Math.floor(leaseMs / 3)));
}

type Code = keyof typeof DISPATCH_ERRORS & string;
const reject = (code: Code, context: Record<string, unknown> = {}) => fail(makeError(DISPATCH_ERRORS, code, context));

/** Turns a dispatch command into events; time and ids come in on the command and its meta. */
export function decide(state: DispatchState, command: DispatchCommand, meta: CommandMeta): Result<DispatchEvent[]> {
  const now = meta.now;
  switch (command.type) {
    case 'AcceptAgent': {
      const { type: _t, ...agent } = command;
      return ok([{ type: 'AgentAccepted', ...agent, at: now }]);
    }
    case 'AnnounceReady': {
      if (!state.agents[command.socketId]) return reject('AGENT__NOT_AUTHENTICATED');
      if (!Number.isSafeInteger(command.slots) || command.slots < 0 || command.slots > MAX_SLOTS) return reject('AGENT__MALFORMED_MESSAGE', { problem: `slots must be an integer from 0 to ${MAX_SLOTS}` });
      const prefetch = command.prefetch ?? 0;
      if (!Number.isSafeInteger(prefetch) || prefetch < 0 || prefetch > MAX_PREFETCH) return reject('AGENT__MALFORMED_MESSAGE', { problem: `prefetch must be an integer from 0 to ${MAX_PREFETCH}` });
      return ok([{ type: 'SlotsAnnounced', socketId: command.socketId, slots: command.slots, ...(prefetch > 0 ? { prefetch } : {}), at: now }]);
    }
    case 'StartWork': {
      const agent = state.agents[command.socketId];
      if (!agent) return reject('AGENT__NOT_AUTHENTICATED');
      const l = state.assignments[command.leaseId];
      if (!l || l.agentKey !== agent.agentKey) return reject('AGENT__LEASE_UNKNOWN', { leaseId: command.leaseId });
      // Work that went to a free slot started with its assignment; a repeated start changes nothing.
      if (!l.waiting) return ok([]);
      return ok([
        { type: 'AgentSeen', socketId: command.socketId, at: now },
        { type: 'WorkStarted', leaseId: command.leaseId, jobId: l.jobId, replica: l.replica, provider: l.provider },
      ]);
    }
    case 'QueueWork': {
      const events: DispatchEvent[] = aged(state, now);
      // A repeat is work already queued or held at the same ask; a replica matched again goes to its new ask.
      const at = (w: Work) => `${workKey(w)}@${w.askId}`;
      const known = new Set([...Object.values(state.queue), ...Object.values(state.assignments)].map(at));
      for (const w of command.work) if (!known.has(at(w))) events.push({ type: 'WorkQueued', ...w, queuedAt: now });
      return ok(events);
    }
    case 'AssignWork':
      return ok(assign(state, command.leaseIds, now));
    case 'ReturnAssignment':
      if (!state.assignments[command.leaseId]) return ok([]);
      return ok([{ type: 'AssignmentReturned', leaseId: command.leaseId }]);
    case 'RecordHeartbeat': {
      const agent = state.agents[command.socketId];
      if (!agent) return reject('AGENT__NOT_AUTHENTICATED');
      const events: DispatchEvent[] = [{ type: 'AgentSeen', socketId: command.socketId, at: now }];
      for (const leaseId of new Set(command.leases)) {
        const l = state.assignments[leaseId];
        // Prefetched work not yet started has no lease to keep: its start acknowledges it.
        if (l && l.agentKey === agent.agentKey && !l.acknowledged && !l.waiting) events.push({ type: 'LeaseAcknowledged', leaseId });
      }
      return ok(events);
    }
    case 'AcceptResult': {
      const agent = state.agents[command.socketId];
      if (!agent) return reject('AGENT__NOT_AUTHENTICATED');
      const l = state.assignments[command.leaseId];
      if (!l || l.agentKey !== agent.agentKey || l.jobId !== command.jobId) return reject('AGENT__LEASE_UNKNOWN', { leaseId: command.leaseId });
      if (command.bytes > MAX_RESULT_BYTES) return reject('AGENT__RESULT_TOO_LARGE', { bytes: command.bytes, limit: MAX_RESULT_BYTES });
      return ok([
        { type: 'AgentSeen', socketId: command.socketId, at: now },
        { type: 'LeaseClosed', leaseId: command.leaseId, reason: 'result' },
      ]);
    }
    case 'ReportError': {
      const agent = state.agents[command.socketId];
      if (!agent) return reject('AGENT__NOT_AUTHENTICATED');
      const l = state.assignments[command.leaseId];
      if (!l || l.agentKey !== agent.agentKey) return ok([]);
      // Prefetched work given back unstarted (a draining agent, a model it cannot load): its job re-matches it now.
      const unstarted = l.waiting ? { unstarted: { jobId: l.jobId, replica: l.replica, askId: l.askId, provider: l.provider } } : {};
      return ok([{ type: 'LeaseClosed', leaseId: command.leaseId, reason: 'error', ...unstarted }]);
    }
    case 'EndLeases': {
      const events: DispatchEvent[] = [];
      if (Object.values(state.queue).some((q) => q.jobId === command.jobId && q.askId === command.askId)) events.push({ type: 'WorkWithdrawn', jobId: command.jobId, askId: command.askId });
      for (const [leaseId, l] of Object.entries(state.assignments)) if (l.jobId === command.jobId && l.askId === command.askId) events.push({ type: 'LeaseClosed', leaseId, reason: 'ended' });
      return ok(events);
    }
    case 'CloseSocket':
      return ok(state.agents[command.socketId] ? [left(state, command.socketId, command.lost ? 'lost' : 'closed', new Set())] : []);
    case 'CheckSilence': {
      const silent = Object.entries(state.agents)
        .filter(([, a]) => now - a.seenAt > command.silenceMs)
        .map(([id]) => id);
      const gone = new Set<string>();
      return ok(silent.map((id) => (gone.add(id), left(state, id, 'silent', gone))));
    }
  }
}

/** Queued work older than MAX_QUEUE_AGE_MS leaves the queue. */
function aged(state: DispatchState, now: number): DispatchEvent[] {
  return Object.values(state.queue)
    .filter((q) => now - q.queuedAt > MAX_QUEUE_AGE_MS)
    .map((q) => ({ type: 'WorkAged', jobId: q.jobId, replica: q.replica }));
}

/**
 * Oldest work first (then job id and replica, so the order is total), each to a socket of its own
 * ask with an announced free slot, or else with room left in its prefetch window (the agent holds
 * that work unstarted until a slot frees); work whose ask has neither waits. Stops when lease ids run out.
 */
function assign(state: DispatchState, leaseIds: string[], now: number): DispatchEvent[] {
  const events = aged(state, now);
  const open = openings(state);
  const free = new Map([...open].map(([id, o]) => [id, o.slots]));
  const room = new Map([...open].map(([id, o]) => [id, o.room]));
  const sockets = Object.entries(state.agents).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const queue = Object.values(state.queue)
    .filter((q) => now - q.queuedAt <= MAX_QUEUE_AGE_MS)
    .sort((a, b) => a.queuedAt - b.queuedAt || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0) || a.replica - b.replica);
  let next = 0;
  for (const q of queue) {
    if (next >= leaseIds.length) break;
    const slot = sockets.find(([id, a]) => a.askId === q.askId && free.get(id)! > 0);
    const socket = slot ?? sockets.find(([id, a]) => a.askId === q.askId && room.get(id)! > 0);
    if (!socket) continue;
    const [socketId, agent] = socket;
    const taken = slot ? free : room;
    taken.set(socketId, taken.get(socketId)! - 1);
    const work = { type: 'WorkAssigned', jobId: q.jobId, replica: q.replica, askId: q.askId, provider: q.provider, socketId, agentKey: agent.agentKey, leaseId: leaseIds[next++]! } as const;
    events.push(slot ? work : { ...work, prefetched: true });
  }
  return events;
}

/**
 * An agent leaves: its unacknowledged assignments go with it; the ask is orphaned when no other live
 * socket serves it, and then the work queued for the ask goes too (`unassigned`). A socket lost to a
 * restart takes nothing of that: its agent is likely to come back. Prefetched work the agent held
 * unstarted goes whatever the reason: it has no lease to resume, and its job re-matches it at once.
 */
function left(state: DispatchState, socketId: string, reason: AgentLeft['reason'], gone: Set<string>): AgentLeft {
  const agent = state.agents[socketId]!;
  const unacknowledged = Object.entries(state.assignments)
    .filter(([, l]) => reason !== 'lost' && l.socketId === socketId && !l.acknowledged && !l.waiting)
    .map(([leaseId, l]) => ({ jobId: l.jobId, replica: l.replica, leaseId, provider: l.provider }));
  const prefetched = Object.entries(state.assignments)
    .filter(([, l]) => l.socketId === socketId && l.waiting)
    .map(([leaseId, l]) => ({ jobId: l.jobId, replica: l.replica, askId: l.askId, provider: l.provider, leaseId }));
  const askOrphaned = !Object.entries(state.agents).some(([id, a]) => id !== socketId && !gone.has(id) && a.askId === agent.askId);
  const unassigned = askOrphaned && reason !== 'lost' ? Object.values(state.queue).filter((q) => q.askId === agent.askId).map(({ queuedAt: _at, ...w }) => w) : [];
  return { type: 'AgentLeft', socketId, askId: agent.askId, reason, unacknowledged, askOrphaned, unassigned, prefetched };
}

