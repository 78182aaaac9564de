import type { Outgoing } from './messages.ts';
import type { Result } from './result.ts';

export type { Message, Outgoing } from './messages.ts';

/** Which kind of object a message or event belongs to. */
export type AggregateKind = 'market' | 'job' | 'account' | 'withdrawal' | 'placement' | 'settlement';

/** Facts every command carries: the decider never reads a clock or invents ids. */
export interface CommandMeta {
  /** Client- or system-chosen id; repeats of one id are answered with the first result by the shell. */
  commandId: string;
  /** Wallet key (base58) or a system actor such as "system:market:cpu". */
  actor: string;
  /** Milliseconds since the Unix epoch, supplied by the caller. */
  now: number;
}

/**
 * An aggregate: decide turns a command into events (or a rejection); evolve folds an event into
 * state. evolve may update state in place and return it: the shell owns the only copy.
 */
export interface Decider<C extends { type: string }, E extends { type: string }, S> {
  initialState: () => S;
  decide: (state: S, command: C, meta: CommandMeta) => Result<E[]>;
  evolve: (state: S, event: E, meta: CommandMeta) => S;
  /** Commands for other objects caused by an event (the outbox); ids are assigned by the shell. */
  react: (state: S, event: E, meta: CommandMeta) => Outgoing[];
  /** Current schema version of each event type; older stored versions go through upcast. */
  eventVersions: Record<E['type'], number>;
  upcast: (type: string, version: number, data: Record<string, unknown>) => Record<string, unknown>;
  /** Field names holding bigints, revived when events and snapshots are read back. */
  bigintFields: ReadonlySet<string>;
  /** Plain, deterministic data for snapshots and the state hash; restore is its inverse. */
  snapshot: (state: S) => unknown;
  restore: (data: unknown) => S;
}
