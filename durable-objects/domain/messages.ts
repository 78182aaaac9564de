import type { AccountCommand } from './account/commands.ts';
import type { SettlementCommand } from './custody/settlement-commands.ts';
import type { JobCommand } from './job/commands.ts';
import type { MarketCommand } from './market/commands.ts';

/**
 * A command addressed to another object, produced by a decider's react and delivered through the
 * outbox. Each kind of receiver takes only its own commands: the compiler checks every message
 * against the command union of the object it goes to.
 */
export type Message = { id: string } & (
  | { to: { kind: 'market'; id: string }; command: MarketCommand }
  | { to: { kind: 'job'; id: string }; command: JobCommand }
  | { to: { kind: 'account'; id: string }; command: AccountCommand }
  | { to: { kind: 'settlement'; id: string }; command: SettlementCommand }
);

/** A message before the shell gives it its id. */
export type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'id'> : never) : never;
