import type { CommandMeta } from '../decider.ts';
import type { DomainError } from '../result.ts';
import type { PlacementTerms } from './commands.ts';
import type { PlacementEvent } from './events.ts';

/**
 * Where a placement stands. `holding`, `placing` and `releasing` each wait for one answer from
 * another object; `placed` and `refused` are final (`refused` with `held: false` may be started
 * again: nothing was ever held).
 */
export type PlacementState =
  | { status: 'none' }
  | { status: 'holding'; terms: PlacementTerms }
  | { status: 'placing'; terms: PlacementTerms }
  | { status: 'releasing'; terms: PlacementTerms; error: DomainError }
  | { status: 'placed'; terms: PlacementTerms }
  | { status: 'refused'; terms: PlacementTerms; error: DomainError; held: boolean };

export const initialState = (): PlacementState => ({ status: 'none' });

export function evolve(state: PlacementState, event: PlacementEvent, _meta: CommandMeta): PlacementState {
  switch (event.type) {
    case 'PlacementStarted':
      return { status: 'holding', terms: event.terms };
    case 'EscrowHeld':
      return state.status === 'none' ? state : { status: 'placing', terms: state.terms };
    case 'EscrowRefused':
      return state.status === 'none' ? state : { status: 'refused', terms: state.terms, error: event.error, held: false };
    case 'PlacementAccepted':
      return state.status === 'none' ? state : { status: 'placed', terms: state.terms };
    case 'PlacementRefused':
      return state.status === 'none' ? state : { status: 'releasing', terms: state.terms, error: event.error };
    case 'EscrowReleased':
      return state.status === 'releasing' ? { status: 'refused', terms: state.terms, error: state.error, held: true } : state;
  }
}
