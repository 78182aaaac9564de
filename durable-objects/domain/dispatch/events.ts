import type { Work } from './commands.ts';

/** An agent's hello was accepted on a socket. */
export interface AgentAccepted {
  type: 'AgentAccepted';
  socketId: string;
  askId: string;
  agentKey: string;
  provider: string;
  fingerprint: string;
  at: number;
}

export interface SlotsAnnounced {
  type: 'SlotsAnnounced';
  socketId: string;
  slots: number;
  /** The agent's prefetch window (absent in events before it existed: 0). */
  prefetch?: number;
  at: number;
}

export interface WorkQueued extends Work {
  type: 'WorkQueued';
  queuedAt: number;
}

/** Work no agent took within MAX_QUEUE_AGE_MS: its job has re-matched or refunded by now. */
export interface WorkAged {
  type: 'WorkAged';
  jobId: string;
  replica: number;
}

export interface WorkAssigned extends Work {
  type: 'WorkAssigned';
  socketId: string;
  agentKey: string;
  leaseId: string;
  /**
   * Into the agent's prefetch window rather than a free slot: the agent holds it unstarted, it takes
   * no slot, and its lease starts with the job only when the agent says it started it (WorkStarted).
   */
  prefetched?: true;
}

/** The agent started prefetched work: it runs in one of the agent's slots, and its lease starts now. */
export interface WorkStarted {
  type: 'WorkStarted';
  leaseId: string;
  jobId: string;
  replica: number;
  provider: string;
}

/** The job refused an assignment: the agent's slot comes back and the work is dropped (the job re-matches or ended it). */
export interface AssignmentReturned {
  type: 'AssignmentReturned';
  leaseId: string;
}

/** The first heartbeat naming a lease: the agent has it. */
export interface LeaseAcknowledged {
  type: 'LeaseAcknowledged';
  leaseId: string;
}

export interface AgentSeen {
  type: 'AgentSeen';
  socketId: string;
  at: number;
}

export interface LeaseClosed {
  type: 'LeaseClosed';
  leaseId: string;
  reason: 'result' | 'error' | 'ended';
  /** Prefetched work the agent gave back unstarted (its error): the job re-matches it at once (AbandonAssignment). */
  unstarted?: Work;
}

/** Queued work of a job at an ask that the job no longer wants there. */
export interface WorkWithdrawn {
  type: 'WorkWithdrawn';
  jobId: string;
  askId: string;
}

/**
 * An agent's socket closed or went silent. Its unacknowledged assignments are dropped (to be
 * re-matched), and so is the prefetched work it held unstarted; `askOrphaned` when no other agent
 * serves the ask.
 */
export interface AgentLeft {
  type: 'AgentLeft';
  socketId: string;
  askId: string;
  /** 'lost': the socket vanished with a restart of the object; its assignments wait for the agent's return. */
  reason: 'closed' | 'silent' | 'lost';
  unacknowledged: { jobId: string; replica: number; leaseId: string; provider: string }[];
  askOrphaned: boolean;
  /** Work queued for an orphaned ask, dropped (to be re-matched by its job). */
  unassigned: Work[];
  /**
   * Prefetched work the agent held unstarted (no lease with its job yet), dropped whatever the
   * reason, a lost socket too: the job re-matches it at once (AbandonAssignment). Absent in older events.
   */
  prefetched?: (Work & { leaseId: string })[];
}

export type DispatchEvent =
  | AgentAccepted
  | SlotsAnnounced
  | WorkQueued
  | WorkAged
  | WorkAssigned
  | WorkStarted
  | AssignmentReturned
  | LeaseAcknowledged
  | AgentSeen
  | LeaseClosed
  | WorkWithdrawn
  | AgentLeft;
