import type { Work } from './commands.ts';
import type { DispatchEvent } from './events.ts';

/** An accepted agent socket. */
export interface AgentRecord {
  askId: string;
  agentKey: string;
  provider: string;
  fingerprint: string;
  /** Announced slots not yet filled. */
  free: number;
  /** Announced prefetch window: assignments it may hold unstarted beyond its free slots (0 for agents that announce none). */
  window: number;
  /** Last time the agent spoke (hello, ready, heartbeat, result). */
  seenAt: number;
}

export interface QueuedWork extends Work {
  queuedAt: number;
}

/**
 * Which agent holds a lease. Its expiry is the job's alone (the job's lease events): dispatch keeps
 * no second copy that could drift.
 */
export interface Assignment extends Work {
  socketId: string;
  agentKey: string;
  /** Whether the agent has named it in a heartbeat (or started it, when prefetched). */
  acknowledged: boolean;
  /** It went into the agent's prefetch window, not a free slot (it never took one of the announced slots). */
  prefetched?: true;
  /** Prefetched and not yet started by the agent: no lease with its job yet, nothing to renew. */
  waiting?: true;
}

export interface DispatchState {
  agents: Record<string, AgentRecord>;
  /** Keyed by `jobId#replica`. */
  queue: Record<string, QueuedWork>;
  /** Keyed by lease id. */
  assignments: Record<string, Assignment>;
}

export const workKey = (w: { jobId: string; replica: number }): string => `${w.jobId}#${w.replica}`;

export const initialState = (): DispatchState => ({ agents: {}, queue: {}, assignments: {} });

/** Folds one event into the state (in place). */
export function evolve(state: DispatchState, event: DispatchEvent): DispatchState {
  switch (event.type) {
    case 'AgentAccepted':
      state.agents[event.socketId] = { askId: event.askId, agentKey: event.agentKey, provider: event.provider, fingerprint: event.fingerprint, free: 0, window: 0, seenAt: event.at };
      break;
    case 'SlotsAnnounced': {
      const a = state.agents[event.socketId];
      if (a) Object.assign(a, { free: event.slots, window: event.prefetch ?? 0, seenAt: event.at });
      break;
    }
    case 'WorkQueued': {
      const { type: _t, ...w } = event;
      state.queue[workKey(w)] = w;
      break;
    }
    case 'WorkAged':
      delete state.queue[workKey(event)];
      break;
    case 'WorkAssigned': {
      delete state.queue[workKey(event)];
      const a = state.agents[event.socketId];
      const { type: _t, leaseId, prefetched, ...rest } = event;
      if (prefetched) {
        state.assignments[leaseId] = { ...rest, acknowledged: false, prefetched, waiting: true };
      } else {
        if (a) a.free = Math.max(0, a.free - 1);
        state.assignments[leaseId] = { ...rest, acknowledged: false };
      }
      break;
    }
    case 'WorkStarted': {
      const l = state.assignments[event.leaseId];
      if (!l) break;
      delete l.waiting;
      l.acknowledged = true;
      // It runs in a slot now: one the agent announced free, if its ready crossed this work in flight.
      const a = state.agents[l.socketId];
      if (a) a.free = Math.max(0, a.free - 1);
      break;
    }
    case 'AssignmentReturned': {
      const l = state.assignments[event.leaseId];
      if (!l) break;
      delete state.assignments[event.leaseId];
      const a = state.agents[l.socketId];
      if (a && !l.prefetched) a.free += 1;
      break;
    }
    case 'LeaseAcknowledged': {
      const l = state.assignments[event.leaseId];
      if (l) l.acknowledged = true;
      break;
    }
    case 'AgentSeen': {
      const a = state.agents[event.socketId];
      if (a) a.seenAt = event.at;
      break;
    }
    case 'LeaseClosed':
      delete state.assignments[event.leaseId];
      break;
    case 'WorkWithdrawn':
      for (const [k, q] of Object.entries(state.queue)) if (q.jobId === event.jobId && q.askId === event.askId) delete state.queue[k];
      break;
    case 'AgentLeft':
      delete state.agents[event.socketId];
      for (const u of event.unacknowledged) delete state.assignments[u.leaseId];
      for (const w of event.unassigned) delete state.queue[workKey(w)];
      for (const p of event.prefetched ?? []) delete state.assignments[p.leaseId];
      break;
  }
  return state;
}

/** The lease `leaseId` when the agent `agentKey` holds it. */
export function leaseHeldBy(state: DispatchState, leaseId: string, agentKey: string): (Assignment & { leaseId: string }) | null {
  const l = state.assignments[leaseId];
  return l && l.agentKey === agentKey ? { ...l, leaseId } : null;
}

/** Leases an agent key holds, for its welcome after a reconnect. */
export function leasesOf(state: DispatchState, agentKey: string): (Assignment & { leaseId: string })[] {
  return Object.entries(state.assignments)
    .filter(([, l]) => l.agentKey === agentKey)
    .map(([leaseId, l]) => ({ ...l, leaseId }));
}

/** Sockets that serve an ask. */
export function socketsOf(state: DispatchState, askId: string): string[] {
  return Object.entries(state.agents)
    .filter(([, a]) => a.askId === askId)
    .map(([id]) => id);
}

/** Prefetched assignments each socket holds unstarted. */
export function waitingBySocket(state: DispatchState): Map<string, number> {
  const n = new Map<string, number>();
  for (const l of Object.values(state.assignments)) if (l.waiting) n.set(l.socketId, (n.get(l.socketId) ?? 0) + 1);
  return n;
}

/**
 * What a socket may take now: `slots`, work for its free slots, and `room`, work for its prefetch
 * window. Prefetched work it holds unstarted has first claim on the free slots: a ready saying a slot
 * is free while such work was on its way means that work takes the slot when it arrives (its start
 * then uses it up); the rest of it fills the window.
 */
export function openings(state: DispatchState): Map<string, { slots: number; room: number }> {
  const waiting = waitingBySocket(state);
  return new Map(
    Object.entries(state.agents).map(([id, a]) => {
      const w = waiting.get(id) ?? 0;
      return [id, { slots: Math.max(0, a.free - w), room: Math.max(0, a.window - Math.max(0, w - a.free)) }];
    }),
  );
}

/** Whether an agent with a free slot or prefetch room serves one of these asks. */
export function waitingFor(state: DispatchState, askIds: Iterable<string>): boolean {
  const asks = new Set(askIds);
  const serving = Object.entries(state.agents).filter(([, a]) => asks.has(a.askId));
  if (!serving.some(([, a]) => a.free > 0 || a.window > 0)) return false;
  const open = openings(state);
  return serving.some(([id]) => {
    const o = open.get(id)!;
    return o.slots + o.room > 0;
  });
}

export const snapshot = (state: DispatchState): unknown => state;
/** Rebuilds the state from snapshot data; sections it does not know (from older versions) are left out. */
export function restore(data: unknown): DispatchState {
  const d = (data ? structuredClone(data) : {}) as Partial<DispatchState>;
  const agents = d.agents ?? {};
  for (const a of Object.values(agents)) a.window ??= 0; // records from before the prefetch window
  return { agents, queue: d.queue ?? {}, assignments: d.assignments ?? {} };
}
