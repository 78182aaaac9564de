import type { CommandMeta } from '../decider.ts';
import type { Amount } from '../money.ts';
import type { AccountEvent } from './events.ts';

/** A nonce is kept this long beyond its timestamp: the edge's ±60 s window plus a margin. */
export const NONCE_RETENTION_MS = 120_000;
/** Largest distance between a nonce's timestamp and now that the account accepts (the edge's window). */
export const NONCE_WINDOW_MS = 60_000;

export interface HoldRecord {
  /** Amount first held. */
  amount: Amount;
  /** Amount still held (0 once closed). */
  remaining: Amount;
  status: 'open' | 'released' | 'settled';
}

/**
 * One wallet's ledger. Invariant: available + held == credited - withdrawn - payoutsSent +
 * payoutsReceived - payoutsOnChain, every figure >= 0. Closed holds stay (as ids) so late messages
 * are no-ops.
 */
export interface AccountState {
  available: Amount;
  held: Amount;
  holds: Record<string, HoldRecord>;
  credited: Amount;
  withdrawn: Amount;
  /** Payouts and fees that left through settled holds. */
  payoutsSent: Amount;
  payoutsReceived: Amount;
  /** Payouts and fees of settled holds paid from the account's escrow on chain (they left the ledger). */
  payoutsOnChain: Amount;
  /** Whether the account's money is in its escrow on chain (set by its first escrow deposit). */
  escrow: boolean;
  creditRefs: Set<string>;
  payoutRefs: Set<string>;
  withdrawalRefs: Set<string>;
  /** nonce -> its request timestamp; pruned past NONCE_RETENTION_MS. */
  nonces: Map<string, number>;
  /** When the account's key was revoked (it may not sign again); null while it may. */
  revokedAt: number | null;
}

export const initialState = (): AccountState => ({
  available: 0n,
  held: 0n,
  holds: {},
  credited: 0n,
  withdrawn: 0n,
  payoutsSent: 0n,
  payoutsReceived: 0n,
  payoutsOnChain: 0n,
  escrow: false,
  creditRefs: new Set(),
  payoutRefs: new Set(),
  withdrawalRefs: new Set(),
  nonces: new Map(),
  revokedAt: null,
});

/** Folds one event into the state (in place). */
export function evolve(state: AccountState, event: AccountEvent, meta: CommandMeta): AccountState {
  switch (event.type) {
    case 'Credited':
      state.available += event.amount;
      state.credited += event.amount;
      state.creditRefs.add(event.ref);
      if (event.source === 'escrow') state.escrow = true;
      return state;
    case 'FundsHeld':
      state.available -= event.amount;
      state.held += event.amount;
      state.holds[event.holdId] = { amount: event.amount, remaining: event.amount, status: 'open' };
      return state;
    case 'HoldReleased': {
      const hold = state.holds[event.holdId];
      if (!hold) return state;
      hold.remaining = event.remaining;
      if (event.remaining === 0n) hold.status = 'released';
      state.held -= event.amount;
      state.available += event.amount;
      return state;
    }
    case 'HoldSettled': {
      const hold = state.holds[event.holdId];
      if (!hold) return state;
      const sent = event.payouts.reduce((sum, p) => sum + p.amount, 0n) + event.fee;
      state.held -= hold.remaining;
      state.available += event.released;
      if (state.escrow) state.payoutsOnChain += sent;
      else state.payoutsSent += sent;
      hold.remaining = 0n;
      hold.status = 'settled';
      return state;
    }
    case 'PayoutReceived':
      state.available += event.amount;
      state.payoutsReceived += event.amount;
      state.payoutRefs.add(event.ref);
      return state;
    case 'NonceRecorded':
      for (const [nonce, timestamp] of state.nonces) {
        if (timestamp + NONCE_RETENTION_MS < meta.now) state.nonces.delete(nonce);
      }
      state.nonces.set(event.nonce, event.timestamp);
      return state;
    case 'Withdrawn':
      state.available -= event.amount;
      state.withdrawn += event.amount;
      state.withdrawalRefs.add(event.ref);
      return state;
    case 'KeyRevoked':
      state.revokedAt = event.at;
      return state;
  }
}

/** Balances and holds of an account, for the API and the audit. */
export interface AccountBalance {
  available: Amount;
  held: Amount;
  credited: Amount;
  withdrawn: Amount;
  payoutsSent: Amount;
  payoutsReceived: Amount;
  payoutsOnChain: Amount;
  /** Whether the account's money is in its escrow on chain. */
  escrow: boolean;
  holds: { holdId: string; amount: Amount; remaining: Amount; status: HoldRecord['status'] }[];
}

/** Pure view of an account's balances; holds sorted by id. */
export function balanceOf(state: AccountState): AccountBalance {
  return {
    available: state.available,
    held: state.held,
    credited: state.credited,
    withdrawn: state.withdrawn,
    payoutsSent: state.payoutsSent,
    payoutsReceived: state.payoutsReceived,
    payoutsOnChain: state.payoutsOnChain,
    escrow: state.escrow,
    holds: Object.keys(state.holds)
      .sort()
      .map((holdId) => ({ holdId, ...state.holds[holdId]! })),
  };
}

/** Plain, deterministic snapshot: sets and maps become sorted arrays. */
export function snapshot(state: AccountState): unknown {
  return {
    available: state.available,
    held: state.held,
    holds: Object.fromEntries(Object.keys(state.holds).sort().map((id) => [id, { ...state.holds[id]! }])),
    credited: state.credited,
    withdrawn: state.withdrawn,
    payoutsSent: state.payoutsSent,
    payoutsReceived: state.payoutsReceived,
    creditRefs: [...state.creditRefs].sort(),
    payoutRefs: [...state.payoutRefs].sort(),
    withdrawalRefs: [...state.withdrawalRefs].sort(),
    nonces: [...state.nonces].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    // Present only once revoked (escrow: once escrow-funded), so the snapshots and state hashes of every other account stay as they were.
    ...(state.revokedAt !== null && { revokedAt: state.revokedAt }),
    ...(state.escrow && { escrow: true, payoutsOnChain: state.payoutsOnChain }),
  };
}

interface AccountSnapshot {
  available: Amount;
  held: Amount;
  holds: Record<string, HoldRecord>;
  credited: Amount;
  withdrawn: Amount;
  payoutsSent: Amount;
  payoutsReceived: Amount;
  creditRefs: string[];
  payoutRefs: string[];
  withdrawalRefs: string[];
  nonces: [string, number][];
  revokedAt?: number;
  escrow?: boolean;
  payoutsOnChain?: Amount;
}

/** Inverse of snapshot. */
export function restore(data: unknown): AccountState {
  const s = data as AccountSnapshot;
  return {
    available: s.available,
    held: s.held,
    holds: Object.fromEntries(Object.entries(s.holds).map(([id, h]) => [id, { ...h }])),
    credited: s.credited,
    withdrawn: s.withdrawn,
    payoutsSent: s.payoutsSent,
    payoutsReceived: s.payoutsReceived,
    creditRefs: new Set(s.creditRefs),
    payoutRefs: new Set(s.payoutRefs),
    withdrawalRefs: new Set(s.withdrawalRefs),
    nonces: new Map(s.nonces),
    revokedAt: s.revokedAt ?? null,
    escrow: s.escrow ?? false,
    payoutsOnChain: s.payoutsOnChain ?? 0n,
  };
}
