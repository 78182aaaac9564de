import type { Decider } from '../decider.ts';
import type { DispatchCommand } from './commands.ts';
import { decide } from './decide.ts';
import type { DispatchEvent } from './events.ts';
import { evolve, initialState, restore, snapshot, type DispatchState } from './state.ts';

export type * from './commands.ts';
export type * from './events.ts';
export { DISPATCH_ERRORS } from './errors.ts';
export { AGENT_MESSAGE_RATE, heartbeatInterval, HEARTBEAT_MS, HELLO_TIMEOUT_MS, MAX_AGENT_FRAME_BYTES, MAX_PENDING_SOCKETS, MAX_PREFETCH, MAX_QUEUE_AGE_MS, MAX_RESULT_BYTES, MAX_SLOTS } from './decide.ts';
export { leaseHeldBy, leasesOf, openings, socketsOf, waitingFor, workKey, type AgentRecord, type Assignment, type DispatchState, type QueuedWork } from './state.ts';

/**
 * Dispatch: which agent socket gets which matched replica, against the slots its agent announced.
 * One per market object; its state is the object's, none of it market history.
 */
export const dispatchDecider: Decider<DispatchCommand, DispatchEvent, DispatchState> = {
  initialState,
  decide,
  evolve: (state, event) => evolve(state, event),
  react: () => [],
  eventVersions: {
    AgentAccepted: 1,
    SlotsAnnounced: 1,
    WorkQueued: 1,
    WorkAged: 1,
    WorkAssigned: 1,
    WorkStarted: 1,
    AssignmentReturned: 1,
    LeaseAcknowledged: 1,
    AgentSeen: 1,
    LeaseClosed: 1,
    WorkWithdrawn: 1,
    AgentLeft: 1,
  },
  upcast: (_type, _version, data) => data,
  bigintFields: new Set(),
  snapshot,
  restore,
};
