import type { Amount } from '../money.ts';
import type { CreditSource } from './events.ts';

/** Adds outside money once per external reference. */
export interface Credit {
  type: 'Credit';
  ref: string;
  amount: Amount;
  source: CreditSource;
}

/** Moves available funds into a new hold; with `apiKeyId`, within that API key's spending limit. */
export interface Hold {
  type: 'Hold';
  holdId: string;
  amount: Amount;
  apiKeyId?: string;
}

/**
 * Creates an API key (OpenAI clients send it as a Bearer token): the client made its secret and
 * sends only the secret's SHA-256; the key may commit at most `limit` until `expiresAt`.
 */
export interface CreateApiKey {
  type: 'CreateApiKey';
  keyId: string;
  name: string;
  secretSha256: string;
  limit: Amount;
  expiresAt: number;
}

/** Revokes an API key for good. Repeats do nothing. */
export interface RevokeApiKey {
  type: 'RevokeApiKey';
  keyId: string;
}

/** Returns part of a hold (amount given) or all that is left of it to available. */
export interface ReleaseHold {
  type: 'ReleaseHold';
  holdId: string;
  amount?: Amount;
}

/** Pays payees and the fee pool out of a hold, releases the rest, and closes the hold. */
export interface SettleHold {
  type: 'SettleHold';
  holdId: string;
  /** The account being settled (the receiver of this command); payees see it as `from`. */
  account: string;
  /** Each payee's net and the fee taken from its gross (the fees sum to `fee`). */
  payouts: { account: string; amount: Amount; fee?: Amount }[];
  fee: Amount;
}

/** Receives a payout sent by another account's settlement; applied once per ref. */
export interface ReceivePayout {
  type: 'ReceivePayout';
  ref: string;
  from: string;
  amount: Amount;
  holdId: string;
}

/** Records a signed request's nonce, refusing one seen within the replay window. */
export interface RecordNonce {
  type: 'RecordNonce';
  nonce: string;
  timestamp: number;
}

/** Takes available funds out of the ledger, from custody or (`from: 'escrow'`) from the account's escrow. */
export interface Withdraw {
  type: 'Withdraw';
  ref: string;
  amount: Amount;
  from?: 'custody' | 'escrow';
}

/**
 * Follows the chain after the buyer withdrew from their escrow alone (after the timelock): takes
 * what left the vault out of available, at most all of it (money that left from under holds or
 * pending payouts cannot be taken twice: those payouts fail on chain). Applied once per ref.
 */
export interface RecordEscrowExit {
  type: 'RecordEscrowExit';
  ref: string;
  amount: Amount;
}

/** Revokes the key this account belongs to: it may never sign a request again. Repeats do nothing. */
export interface RevokeKey {
  type: 'RevokeKey';
}

export type AccountCommand = Credit | Hold | ReleaseHold | SettleHold | ReceivePayout | RecordNonce | Withdraw | RecordEscrowExit | RevokeKey | CreateApiKey | RevokeApiKey;
