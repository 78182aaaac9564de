/** A replica the market matched to an ask, waiting for that ask's agent to take it. */
export interface Work {
  jobId: string;
  replica: number;
  askId: string;
  provider: string;
}

/** The shell verified an agent's hello (signature, delegation, ask owner) on socket `socketId`. */
export interface AcceptAgent {
  type: 'AcceptAgent';
  socketId: string;
  askId: string;
  agentKey: string;
  provider: string;
  fingerprint: string;
}

/**
 * The agent announced how many slots it has free now and its prefetch window (both absolute, not
 * deltas): `prefetch` is how many assignments it may hold unstarted beyond its free slots (absent: 0).
 */
export interface AnnounceReady {
  type: 'AnnounceReady';
  socketId: string;
  slots: number;
  prefetch?: number;
}

/** Matched replicas whose jobs exist (the market's ReplicaDispatched). */
export interface QueueWork {
  type: 'QueueWork';
  work: Work[];
}

/** Pairs queued work with free slots, oldest first; each assignment takes the next of `leaseIds`. */
export interface AssignWork {
  type: 'AssignWork';
  leaseIds: string[];
}

/** The agent started prefetched work it held: its lease starts now. */
export interface StartWork {
  type: 'StartWork';
  socketId: string;
  leaseId: string;
}

/** The job refused an assignment's lease (its replica lapsed or was taken meanwhile). */
export interface ReturnAssignment {
  type: 'ReturnAssignment';
  leaseId: string;
}

/** The agent's heartbeat naming the leases it runs. */
export interface RecordHeartbeat {
  type: 'RecordHeartbeat';
  socketId: string;
  leases: string[];
}

/** The agent sent a result for a lease; `bytes` is the size of all its output tensors. */
export interface AcceptResult {
  type: 'AcceptResult';
  socketId: string;
  jobId: string;
  leaseId: string;
  bytes: number;
}

/** The agent could not run a lease. */
export interface ReportError {
  type: 'ReportError';
  socketId: string;
  leaseId: string;
}

/** The job ended a lease (it lapsed, the job released the slot, or a heartbeat was refused). */
export interface EndLeases {
  type: 'EndLeases';
  jobId: string;
  askId: string;
  reason: string;
}

/** The agent's socket closed; `lost` when it vanished with the object's restart (no sign the agent is gone). */
export interface CloseSocket {
  type: 'CloseSocket';
  socketId: string;
  lost?: boolean;
}

/** Alarm: agents silent longer than `silenceMs` (meta.now) are gone. */
export interface CheckSilence {
  type: 'CheckSilence';
  silenceMs: number;
}

export type DispatchCommand =
  | AcceptAgent
  | AnnounceReady
  | QueueWork
  | AssignWork
  | StartWork
  | ReturnAssignment
  | RecordHeartbeat
  | AcceptResult
  | ReportError
  | EndLeases
  | CloseSocket
  | CheckSilence;
