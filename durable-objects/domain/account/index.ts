import type { Decider } from '../decider.ts';
import type { AccountCommand } from './commands.ts';
import { decide, react } from './decide.ts';
import type { AccountEvent } from './events.ts';
import { evolve, initialState, restore, snapshot, type AccountState } from './state.ts';

export type * from './commands.ts';
export type * from './events.ts';
export { ACCOUNT_ERRORS } from './errors.ts';
export { apiKeyProblem, apiKeysOf, balanceOf, MAX_API_KEYS, NONCE_RETENTION_MS, NONCE_WINDOW_MS, type AccountBalance, type AccountState, type ApiKeyView, type HoldRecord } from './state.ts';
export { API_KEY_ID, feeRef, payoutRef } from './decide.ts';

/** The account aggregate: one per wallet key, plus the fee pool. */
export const accountDecider: Decider<AccountCommand, AccountEvent, AccountState> = {
  initialState,
  decide,
  evolve,
  react,
  eventVersions: {
    Credited: 1,
    FundsHeld: 1,
    HoldReleased: 1,
    HoldSettled: 1,
    PayoutReceived: 1,
    NonceRecorded: 1,
    Withdrawn: 1,
    KeyRevoked: 1,
    ApiKeyCreated: 1,
    ApiKeyRevoked: 1,
  },
  // Every event is at version 1; conversions of older shapes go here when a version is bumped.
  upcast: (_type, _version, data) => data,
  bigintFields: new Set([
    'amount',
    'remaining',
    'fee',
    'released',
    'available',
    'held',
    'credited',
    'withdrawn',
    'payoutsSent',
    'payoutsReceived',
    'payoutsOnChain',
    'limit',
    'spent',
  ]),
  snapshot,
  restore,
};
