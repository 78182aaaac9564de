import type { Hold, ReleaseHold } from '../account/commands.ts';
import { canonicalJson } from '../canonical.ts';
import type { CommandMeta } from '../decider.ts';
import { domainError } from '../errors.ts';
import { fail, ok, type DomainError, type Result } from '../result.ts';
import type { PlacementCommand, PlacementTarget } from './commands.ts';
import type { PlacementEvent } from './events.ts';
import type { PlacementState } from './state.ts';

/*
 * A placement is the process that puts money behind an order (docs/architecture.md, "Processes"):
 *   hold the escrow on the buyer's account → hand the order to its market (or the challenge to its
 *   job) → accepted: done; refused: release the escrow → done.
 * Each arrow is one call to another object, named by nextStep and answered by a Record* command.
 * Every call is idempotent on the receiving side (command ids `hold:`/`unhold:` + hold id, and the
 * order's own id), so the shell may repeat a step whose answer was lost, as often as it must, until
 * an answer is recorded: an escrow is never left held behind a refused or unplaced order.
 */

export function decide(state: PlacementState, command: PlacementCommand, _meta: CommandMeta): Result<PlacementEvent[]> {
  switch (command.type) {
    case 'StartPlacement': {
      if (state.status === 'none') return ok([{ type: 'PlacementStarted', terms: command.terms }]);
      if (canonicalJson(state.terms) !== canonicalJson(command.terms)) return fail(domainError('API__IDEMPOTENCY_CONFLICT', { id: command.terms.placementId }));
      // The account refused the hold and nothing happened since: the same request may try again.
      if (state.status === 'refused' && !state.held) return ok([{ type: 'PlacementStarted', terms: command.terms }]);
      return ok([]);
    }
    case 'RecordHold':
      // An answer to a step no longer waited for (a repeat after a lost answer) changes nothing.
      if (state.status !== 'holding') return ok([]);
      return ok([command.outcome === 'held' ? { type: 'EscrowHeld' } : { type: 'EscrowRefused', error: command.error }]);
    case 'RecordPlacement':
      if (state.status !== 'placing') return ok([]);
      return ok([command.outcome === 'accepted' ? { type: 'PlacementAccepted' } : { type: 'PlacementRefused', error: command.error }]);
    case 'RecordRelease':
      return ok(state.status === 'releasing' ? [{ type: 'EscrowReleased' }] : []);
  }
}

/** The one call a placement waits for now, with the command to send; `done` once it is final. */
export type PlacementStep =
  | { type: 'hold'; account: string; commandId: string; command: Hold }
  | { type: 'place'; target: PlacementTarget }
  | { type: 'release'; account: string; commandId: string; command: ReleaseHold }
  | { type: 'done' };

export function nextStep(state: PlacementState): PlacementStep {
  switch (state.status) {
    case 'holding': {
      const { account, holdId, amount } = state.terms;
      return { type: 'hold', account, commandId: `hold:${holdId}`, command: { type: 'Hold', holdId, amount } };
    }
    case 'placing':
      return { type: 'place', target: state.terms.target };
    case 'releasing': {
      const { account, holdId } = state.terms;
      return { type: 'release', account, commandId: `unhold:${holdId}`, command: { type: 'ReleaseHold', holdId } };
    }
    default:
      return { type: 'done' };
  }
}

/** What the placement's caller is told: placed, refused (why), or still under way. */
export type PlacementOutcome = { status: 'placed' } | { status: 'refused'; error: DomainError } | { status: 'pending' };

export function outcomeOf(state: PlacementState): PlacementOutcome {
  if (state.status === 'placed') return { status: 'placed' };
  // A refusal is final for the caller as soon as it is known; the release follows in the background.
  if (state.status === 'refused' || state.status === 'releasing') return { status: 'refused', error: state.error };
  return { status: 'pending' };
}
