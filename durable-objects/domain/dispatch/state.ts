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
  /** Whether the agent has named it in a heartbeat. */
  acknowledged: boolean;
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
      state.agents[event.socketId] = { askId: event.askId, agentKey: event.agentKey, provider: event.provider, fingerprint: event.fingerprint, free: 0, seenAt: event.at };
      break;
    case 'SlotsAnnounced': {
      const a = state.agents[event.socketId];
      if (a) Object.assign(a, { free: event.slots, seenAt: event.at });
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
      if (a) a.free = Math.max(0, a.free - 1);
      const { type: _t, leaseId, ...rest } = event;
      state.assignments[leaseId] = { ...rest, acknowledged: false };
      break;
    }
    case 'AssignmentReturned': {
      const l = state.assignments[event.leaseId];
      if (!l) break;
      delete state.assignments[event.leaseId];
      const a = state.agents[l.socketId];
      if (a) a.free += 1;
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

/** Whether an agent with a free slot serves one of these asks. */
export function waitingFor(state: DispatchState, askIds: Iterable<string>): boolean {
  const asks = new Set(askIds);
  return Object.values(state.agents).some((a) => a.free > 0 && asks.has(a.askId));
}

export const snapshot = (state: DispatchState): unknown => state;
/** Rebuilds the state from snapshot data; sections it does not know (from older versions) are left out. */
export function restore(data: unknown): DispatchState {
  const d = (data ? structuredClone(data) : {}) as Partial<DispatchState>;
  return { agents: d.agents ?? {}, queue: d.queue ?? {}, assignments: d.assignments ?? {} };
}
