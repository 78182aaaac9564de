import type { CommandMeta } from '../domain/decider.ts';
import type { EscrowCustody } from '../domain/custody/custody.ts';
import { nextAction, type SettlementAction, type SettlementCommand, type SettlementState } from '../domain/custody/settlement.ts';
import type { Result } from '../domain/result.ts';
import { attemptsOf, ChainDriver } from './chain-driver.ts';

/** The part of escrow custody a settlement uses. */
export type SettlementCustody = Pick<EscrowCustody, 'settlementEncoding' | 'feeBps' | 'buildSettlement' | 'escrow' | 'send' | 'observe'>;

/** What the driver needs from the object around it (and what a test gives it instead). */
export interface SettlementPorts {
  state(): SettlementState;
  /** Decides, appends and evolves one settlement command (the object's event store). */
  record(command: SettlementCommand, meta: CommandMeta): Result<unknown>;
  /** The chain; may throw (not configured), which fails the step like an RPC failure. */
  custody(): SettlementCustody;
  now(): number;
  warn(message: string): void;
}

type Own = Extract<SettlementAction, { type: 'open' | 'sign' | 'sync' }>;

/**
 * A buyer's settlement steps (chain-driver.ts does send and wait, backoff and the reading before a
 * resend):
 *   open → OpenBatch (the decider takes the head of the queue, as much as custody's encoding fits,
 *          priced at the fee the escrow's configuration charges now);
 *   sign → a fresh blockhash and the batch's signed `settle` → RecordSigned (committed before any send);
 *   sync → the escrow's nextBatch read on chain (finalized) → SyncNextBatch.
 */
export class SettlementDriver {
  private readonly driver: ChainDriver<Own>;

  constructor(ports: SettlementPorts) {
    const buyer = () => ports.state().buyer ?? '';
    const meta = (commandId: string, now: number): CommandMeta => ({ commandId, actor: `system:settlement:${buyer()}`, now });
    const record = (command: SettlementCommand, m: CommandMeta) => {
      const r = ports.record(command, m);
      if (!r.ok) throw new Error(`${command.type} refused: ${r.error.code} ${r.error.message}`);
    };
    this.driver = new ChainDriver<Own>({
      label: () => `settlement of ${buyer()}`,
      next: (now) => nextAction(ports.state(), now),
      attempts: () => attemptsOf(ports.state().open?.attempts ?? []),
      perform: async (step, now) => {
        switch (step.type) {
          case 'open': {
            const custody = ports.custody();
            // After a failed batch the fee is read again at once: governance may just have changed it.
            const feeBps = await custody.feeBps({ fresh: ports.state().failures > 0 });
            return record({ type: 'OpenBatch', encoding: custody.settlementEncoding(), feeBps }, meta(`open:${ports.state().nextBatch}:${now}`, now));
          }
          case 'sign': {
            const signed = await ports.custody().buildSettlement(step);
            return record({ type: 'RecordSigned', batch: step.batch, ...signed }, meta(`sign:${signed.signature}`, now));
          }
          case 'sync': {
            const escrow = await ports.custody().escrow(step.buyer);
            if (!escrow) throw new Error(`${step.buyer} has no escrow on chain`);
            return record({ type: 'SyncNextBatch', nextBatch: escrow.nextBatch }, meta(`sync:${escrow.nextBatch}:${now}`, now));
          }
        }
      },
      send: (transaction) => ports.custody().send(transaction),
      observe: (signatures) => ports.custody().observe(signatures),
      recordSend: (signature, now) => record({ type: 'RecordSend', signature }, meta(`send:${signature}:${now}`, now)),
      recordObservation: (o, at, i) => record({ type: 'ObserveChain', ...o }, meta(`observe:${o.signature}:${at}:${i}`, at)),
      now: () => ports.now(),
      warn: (message) => ports.warn(message),
    });
  }

  dueAt(): number | null {
    return this.driver.dueAt();
  }

  drive(max?: number, o: { ignoreBackoff?: boolean } = {}): Promise<void> {
    return this.driver.drive(max, o);
  }
}
