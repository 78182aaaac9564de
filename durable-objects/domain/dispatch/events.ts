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
}

/** Queued work of a job at an ask that the job no longer wants there. */
export interface WorkWithdrawn {
  type: 'WorkWithdrawn';
  jobId: string;
  askId: string;
}

/**
 * An agent's socket closed or went silent. Its unacknowledged assignments are dropped (to be
 * re-matched); `askOrphaned` when no other agent serves the ask.
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
}

export type DispatchEvent =
  | AgentAccepted
  | SlotsAnnounced
  | WorkQueued
  | WorkAged
  | WorkAssigned
  | AssignmentReturned
  | LeaseAcknowledged
  | AgentSeen
  | LeaseClosed
  | WorkWithdrawn
  | AgentLeft;
