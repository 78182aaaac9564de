import type { ProviderStake } from '../collateral.ts';
import type { Amount } from '../money.ts';
import type { Result } from '../result.ts';
import type { Deposit } from './deposit.ts';
import type { SignedTransaction } from './attempts.ts';
import type { QueuedPayout, SettleEncoding } from './settlement.ts';
import type { ObserveChain } from './withdrawal.ts';

/*
 * The custody ports: what the Worker and the withdrawal and settlement shells program against.
 * Custody holds every buyer's $DOUG in one SPL token account owned by a custody authority whose key
 * is a Worker secret; EscrowCustody (below) in each buyer's escrow of the escrow program.
 *
 * Types only: implementations live outside domain/ (they do I/O). Conventions:
 *   - Business refusals are values (Result with a CUSTODY__ code); an RPC that fails, times out or
 *     answers garbage throws, and the caller retries. A throw never means "no".
 *   - Everything read for money decisions is read at `finalized` commitment.
 *   - Amounts are bigint base units of the mint (9 decimals).
 */

/** Where custody holds $DOUG: the token account deposits go to, and the authority that owns it. */
export interface CustodyHolding {
  tokenAccount: string;
  mint: string;
  decimals: number;
  /** The token account's owner (a key or a program address): what signs transfers out. */
  authority: string;
}

/** What a depositor needs: send `mint` to `tokenAccount` with `memo` in the same transaction. */
export interface DepositInstructions {
  tokenAccount: string;
  mint: string;
  decimals: number;
  /** depositMemo(account): "doug:deposit:<account>". */
  memo: string;
}

/** A signed transfer out of custody, ready to record (RecordSigned) and then send. */
export interface SignedWithdrawal {
  signature: string;
  /** The serialized signed transaction, base64. */
  transaction: string;
  lastValidBlockHeight: number;
}

/** One chain reading for ObserveChain: the command without its type. */
export type Observation = Omit<ObserveChain, 'type'>;

export interface Custody {
  /** Where custody holds $DOUG, for clients that show or check it (GET /v1/chain). */
  holding(): CustodyHolding;
  /** Where and how an account deposits. */
  depositAddress(account: string): DepositInstructions;
  /** Reads the transaction at finalized commitment and runs verifyDeposit on it. */
  verifyDeposit(signature: string): Promise<Result<Deposit>>;
  /**
   * Builds and signs a transfer of `amount` to the wallet `destination` (creating its associated
   * token account if needed), on a fresh blockhash. Sends nothing: the caller records it first.
   */
  buildWithdrawal(w: { withdrawalId: string; destination: string; amount: Amount }): Promise<SignedWithdrawal>;
  /** Sends a recorded transaction as is (skipPreflight; "already processed" counts as sent). */
  send(transaction: string): Promise<void>;
  /**
   * Reads the finalized block height (getEpochInfo, finalized) and then the signatures' statuses
   * (getSignatureStatuses with searchTransactionHistory), one Observation per signature, in order.
   */
  observe(signatures: string[]): Promise<Observation[]>;
  /** Custody's token balance at finalized commitment, for the audit's reconciliation. */
  balance(): Promise<Amount>;
}

/** Where the escrow program holds buyers' $DOUG, for clients that deposit (GET /v1/chain). */
export interface EscrowHolding {
  program: string;
  config: string;
  mint: string;
  decimals: number;
  /** The settlement authority (co-signs immediate withdrawals). */
  authority: string;
  /** Who may change the configuration: governance's PDA once handed over (then `governance` names its program). */
  admin: string;
  governanceProgram: string | null;
  /** Seconds after a buyer's request before they may withdraw alone. */
  withdrawTimelockSeconds: bigint;
  feeBps: number;
  /** The staking program the escrow pays fees to, and its configuration. */
  stakingProgram: string;
  stakingConfig: string;
}

/** One buyer's escrow as the chain holds it (finalized). */
export interface EscrowState {
  escrow: string;
  vault: string;
  nextBatch: bigint;
  /** Unix seconds of a pending withdrawal request; 0n when none. */
  withdrawalRequestedAt: bigint;
  settledTotal: Amount;
  balance: Amount;
}

/**
 * Custody in the escrow program (programs/escrow): each buyer's $DOUG in their own escrow, paid to
 * providers by the settlement authority in numbered batches (the settlement decider). Same
 * conventions as Custody: refusals are values, RPC failures throw, reads are finalized.
 */
export interface EscrowCustody {
  holding(): Promise<EscrowHolding>;
  /** Reads the transaction at finalized commitment and runs verifyEscrowDeposit on it. */
  verifyDeposit(signature: string): Promise<Result<Deposit>>;
  /** Reads the transaction at finalized commitment and runs verifyEscrowExit on it (a buyer's own withdrawal). */
  verifyExit(signature: string): Promise<Result<Deposit>>;
  /** A provider's stake in the staking program the escrow pays fees to, and that program's minimum for asks. */
  providerStake(owner: string): Promise<ProviderStake>;
  /** A buyer's escrow; null when they have opened none. */
  escrow(buyer: string): Promise<EscrowState | null>;
  /**
   * The escrow `withdraw` of `amount` to the buyer's own token account (created when missing), paid
   * for and co-signed by the settlement authority on a fresh blockhash, the buyer's signature slot
   * left empty: the buyer signs and sends it. Its signature (the authority's, as fee payer) names it.
   */
  buildCosignedWithdrawal(w: { withdrawalId: string; destination: string; amount: Amount }): Promise<SignedWithdrawal>;
  /** How this deployment encodes settle transactions, and so how large a batch may be (BATCH_LIMITS). */
  settlementEncoding(): SettleEncoding;
  /**
   * The fee the escrow's configuration charges now (governance changes it), read finalized at most
   * CHAIN_PARAMS_MAX_AGE_MS ago (`fresh`: read now, as after a batch failed): each batch is priced
   * at it when it opens.
   */
  feeBps(o?: { fresh?: boolean }): Promise<number>;
  /**
   * Builds and signs the `settle` of one batch on a fresh blockhash (receipts hash over
   * batchReceipts); sends nothing of it. Encoded through the lookup table, it first creates the
   * providers' missing token accounts and adds to the table what it lacks (transactions of their own).
   */
  buildSettlement(b: { buyer: string; batch: bigint; payouts: readonly QueuedPayout[]; feeBps?: number }): Promise<SignedTransaction>;
  send(transaction: string): Promise<void>;
  observe(signatures: string[]): Promise<Observation[]>;
  /**
   * What the programs hold, finalized: every escrow vault together, the reward vault and the
   * treasury, and the staking program's counters of fees shared among positions and claimed.
   */
  balances(): Promise<{ escrows: number; vaults: Amount; rewardVault: Amount; treasury: Amount; feesToStakers: Amount; claimed: Amount }>;
}
