import type { ChallengeResult } from '../job/commands.ts';
import type { PlaceBid } from '../market/commands.ts';
import type { Amount } from '../money.ts';
import type { DomainError } from '../result.ts';

/** Where a placement goes once its escrow is held: a bid to its market, or a challenge to its job. */
export type PlacementTarget = { kind: 'bid'; market: string; command: PlaceBid } | { kind: 'challenge'; jobId: string; command: ChallengeResult };

/** What a placement does: hold `amount` on `account` under `holdId`, then hand `target` its command. */
export interface PlacementTerms {
  /** The bid id, or `challenge_<jobId>`: one placement per id. */
  placementId: string;
  account: string;
  holdId: string;
  amount: Amount;
  target: PlacementTarget;
}

/** Opens the placement; a repeat with the same terms changes nothing (or retries a hold the account refused). */
export interface StartPlacement {
  type: 'StartPlacement';
  terms: PlacementTerms;
}

/** The account's answer to the hold. */
export type RecordHold = { type: 'RecordHold'; outcome: 'held' } | { type: 'RecordHold'; outcome: 'refused'; error: DomainError };

/** The market's (or job's) answer to the placement. */
export type RecordPlacement = { type: 'RecordPlacement'; outcome: 'accepted' } | { type: 'RecordPlacement'; outcome: 'refused'; error: DomainError };

/** The account released the escrow of a refused placement. */
export interface RecordRelease {
  type: 'RecordRelease';
}

export type PlacementCommand = StartPlacement | RecordHold | RecordPlacement | RecordRelease;
