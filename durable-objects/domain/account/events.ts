import type { Amount } from '../money.ts';

/**
 * Money entered the account from outside: the faucet, a deposit into custody (or a refund from
 * it), or a deposit into the account's own escrow on chain (`escrow`: from then on the account's
 * settlements are paid from that escrow, see HoldSettled).
 */
export interface Credited {
  type: 'Credited';
  ref: string;
  amount: Amount;
  source: CreditSource;
}

export type CreditSource = 'faucet' | 'deposit' | 'escrow';

/** Available funds were set aside under a hold (escrow for a bid or a challenge). */
export interface FundsHeld {
  type: 'FundsHeld';
  holdId: string;
  amount: Amount;
  /** The API key the hold counts against (a chat completion). */
  apiKeyId?: string;
}

/** Part or all of a hold went back to available; remaining is what the hold still keeps. */
export interface HoldReleased {
  type: 'HoldReleased';
  holdId: string;
  amount: Amount;
  remaining: Amount;
}

/**
 * A hold paid its payees and the fee; released is what went back to available. The hold is closed.
 * In an escrow-funded account the payouts and fee leave the ledger for the chain (the buyer's
 * settlement process pays them from the escrow); otherwise they go to the payees' ledgers.
 */
export interface HoldSettled {
  type: 'HoldSettled';
  holdId: string;
  /** This account (the payer), named on the payees' records. */
  account: string;
  /** Each payee's net, and (since on-chain settlement) the fee taken from its gross. */
  payouts: { account: string; amount: Amount; fee?: Amount }[];
  fee: Amount;
  released: Amount;
}

/** A payout from another account's settled hold arrived. */
export interface PayoutReceived {
  type: 'PayoutReceived';
  ref: string;
  from: string;
  amount: Amount;
  holdId: string;
}

/** A request nonce was used; kept for the replay window only. */
export interface NonceRecorded {
  type: 'NonceRecorded';
  nonce: string;
  timestamp: number;
}

/** Available funds left the ledger (to the chain). */
export interface Withdrawn {
  type: 'Withdrawn';
  ref: string;
  amount: Amount;
}

/** The account's key was revoked (a session key disconnected): its nonces are refused from now on. */
export interface KeyRevoked {
  type: 'KeyRevoked';
  at: number;
}

/** An API key was created (only its secret's SHA-256 is kept). */
export interface ApiKeyCreated {
  type: 'ApiKeyCreated';
  keyId: string;
  name: string;
  secretSha256: string;
  limit: Amount;
  expiresAt: number;
  scopes: ApiKeyScope[];
}

export type ApiKeyScope = 'chat';

export interface ApiKeyRevoked {
  type: 'ApiKeyRevoked';
  keyId: string;
  at: number;
}

export type AccountEvent = Credited | FundsHeld | HoldReleased | HoldSettled | PayoutReceived | NonceRecorded | Withdrawn | KeyRevoked | ApiKeyCreated | ApiKeyRevoked;
