import type { Decider } from '../decider.ts';
import type { PlacementCommand } from './commands.ts';
import { decide } from './decide.ts';
import type { PlacementEvent } from './events.ts';
import { evolve, initialState, type PlacementState } from './state.ts';

export type * from './commands.ts';
export type * from './events.ts';
export type { PlacementState } from './state.ts';
export { nextStep, outcomeOf, type PlacementOutcome, type PlacementStep } from './decide.ts';

/** The placement process: one per bid (id = bid id) and one per challenge (id = `challenge_<jobId>`). */
export const placementDecider: Decider<PlacementCommand, PlacementEvent, PlacementState> = {
  initialState,
  decide,
  evolve,
  // A placement sends its commands itself, step by step (nextStep), never through the outbox.
  react: () => [],
  eventVersions: {
    PlacementStarted: 1,
    EscrowHeld: 1,
    EscrowRefused: 1,
    PlacementAccepted: 1,
    PlacementRefused: 1,
    EscrowReleased: 1,
  },
  upcast: (_type, _version, data) => data,
  bigintFields: new Set(['amount', 'maxPrice']),
  // The state is plain data: it is its own snapshot.
  snapshot: (state) => state,
  restore: (data) => data as PlacementState,
};
