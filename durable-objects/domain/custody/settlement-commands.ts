import type { Amount } from '../money.ts';
import type { Observation, SignedTransaction } from './attempts.ts';

/*
 * The settlement decider's commands (settlement.ts), apart so that the outbox's message types can
 * name them without importing the decider.
 */

/** One job replica's payment: `gross` leaves the escrow, `fee` of it goes to the fee accounts, `net` to the provider. */
export interface Payout {
  /** The provider's wallet (the owner of the token account paid). */
  provider: string;
  gross: Amount;
  fee: Amount;
  net: Amount;
}

/** A payout with the hold it settles. */
export interface QueuedPayout extends Payout {
  holdId: string;
}

/**
 * A settle transaction's encoding: `legacy` (every account's 32 bytes in the message) or `table` (a
 * v0 message whose accounts come from the settlement authority's address lookup table).
 */
export type SettleEncoding = 'legacy' | 'table';

// ---- Commands ----

/** A settled hold's payouts, sent by the buyer's account; applied once per hold. */
export interface QueuePayouts {
  type: 'QueuePayouts';
  buyer: string;
  holdId: string;
  payouts: Payout[];
}

/** Turns the head of the queue into the next batch (the shell asks when nextAction says open). */
export interface OpenBatch {
  type: 'OpenBatch';
  /** How the shell will encode the batch's settle (settlement.ts BATCH_LIMITS); legacy when absent. */
  encoding?: SettleEncoding;
  /**
   * The fee the escrow program charges now (its configuration, which governance changes): each
   * payout of the batch is priced at it (fee = bps(gross), net = gross − fee), since the program
   * checks every payout's fee against it. Absent: the payouts keep the fee they were queued with.
   */
  feeBps?: number;
}

/** A signed `settle` of the open batch (`batch`: the number it carries), recorded before it is sent. */
export interface RecordSigned extends SignedTransaction {
  type: 'RecordSigned';
  batch: bigint;
}

/** The open batch's transaction was sent (whatever RPC answered). */
export interface RecordSend {
  type: 'RecordSend';
  signature: string;
}

/** One reading of the chain for one of the open batch's attempts. */
export type ObserveChain = { type: 'ObserveChain' } & Observation;

/** The escrow's nextBatch as read on chain (finalized) after a failed batch. */
export interface SyncNextBatch {
  type: 'SyncNextBatch';
  nextBatch: bigint;
}

export type SettlementCommand = QueuePayouts | OpenBatch | RecordSigned | RecordSend | ObserveChain | SyncNextBatch;

