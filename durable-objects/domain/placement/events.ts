import type { DomainError } from '../result.ts';
import type { PlacementTerms } from './commands.ts';

/** The placement opened (or, after the account refused the hold, opened again): the hold is next. */
export interface PlacementStarted {
  type: 'PlacementStarted';
  terms: PlacementTerms;
}

/** The account holds the escrow: the placement is next. */
export interface EscrowHeld {
  type: 'EscrowHeld';
}

/** The account refused the hold (not enough funds): nothing was held, nothing placed. */
export interface EscrowRefused {
  type: 'EscrowRefused';
  error: DomainError;
}

/** The market took the bid (or the job the challenge): the escrow now belongs to it. */
export interface PlacementAccepted {
  type: 'PlacementAccepted';
}

/** The market (or job) refused: the escrow must go back. */
export interface PlacementRefused {
  type: 'PlacementRefused';
  error: DomainError;
}

/** The refused placement's escrow is back on the account. */
export interface EscrowReleased {
  type: 'EscrowReleased';
}

export type PlacementEvent = PlacementStarted | EscrowHeld | EscrowRefused | PlacementAccepted | PlacementRefused | EscrowReleased;
