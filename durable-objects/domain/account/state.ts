import type { CommandMeta } from '../decider.ts';
import type { Amount } from '../money.ts';
import type { AccountEvent, ApiKeyScope } from './events.ts';

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
  /** The API key the hold counts against, if any. */
  apiKeyId?: string;
}

/** An API key: only its secret's SHA-256; `spent` is what it has settled or holds now (within `limit`). */
export interface ApiKeyRecord {
  name: string;
  secretSha256: string;
  limit: Amount;
  spent: Amount;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  scopes: ApiKeyScope[];
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
  /** API keys by id. */
  apiKeys: Record<string, ApiKeyRecord>;
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
  apiKeys: {},
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
      state.holds[event.holdId] = { amount: event.amount, remaining: event.amount, status: 'open', ...(event.apiKeyId !== undefined && { apiKeyId: event.apiKeyId }) };
      if (event.apiKeyId !== undefined && state.apiKeys[event.apiKeyId]) state.apiKeys[event.apiKeyId]!.spent += event.amount;
      return state;
    case 'HoldReleased': {
      const hold = state.holds[event.holdId];
      if (!hold) return state;
      hold.remaining = event.remaining;
      if (event.remaining === 0n) hold.status = 'released';
      if (hold.apiKeyId !== undefined && state.apiKeys[hold.apiKeyId]) state.apiKeys[hold.apiKeyId]!.spent -= event.amount;
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
      if (hold.apiKeyId !== undefined && state.apiKeys[hold.apiKeyId]) state.apiKeys[hold.apiKeyId]!.spent -= event.released;
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
    case 'ApiKeyCreated':
      state.apiKeys[event.keyId] = { name: event.name, secretSha256: event.secretSha256, limit: event.limit, spent: 0n, createdAt: meta.now, expiresAt: event.expiresAt, revokedAt: null, scopes: [...event.scopes] };
      return state;
    case 'ApiKeyRevoked': {
      const key = state.apiKeys[event.keyId];
      if (key) key.revokedAt = event.at;
      return state;
    }
  }
}

/** Most API keys an account holds that are neither revoked nor expired. */
export const MAX_API_KEYS = 64;

/** Why a presented API key (its id and its secret's SHA-256) may not be used at `now`, or null. */
export function apiKeyProblem(state: AccountState, keyId: string, secretSha256: string, now: number): { code: 'ACCOUNT__API_KEY_INVALID' | 'ACCOUNT__API_KEY_REVOKED' | 'ACCOUNT__API_KEY_EXPIRED'; context: Record<string, unknown> } | null {
  const key = Object.hasOwn(state.apiKeys, keyId) ? state.apiKeys[keyId] : undefined;
  if (!key || key.secretSha256 !== secretSha256) return { code: 'ACCOUNT__API_KEY_INVALID', context: {} };
  if (key.revokedAt !== null) return { code: 'ACCOUNT__API_KEY_REVOKED', context: { keyId } };
  if (key.expiresAt <= now) return { code: 'ACCOUNT__API_KEY_EXPIRED', context: { keyId, expiresAt: new Date(key.expiresAt).toISOString() } };
  return null;
}

/** An API key as its owner sees it (never the secret's hash). */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  limit: Amount;
  spent: Amount;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

export function apiKeysOf(state: AccountState): ApiKeyView[] {
  return Object.entries(state.apiKeys)
    .sort(([, a], [, b]) => a.createdAt - b.createdAt)
    .map(([id, k]) => ({ id, name: k.name, scopes: k.scopes, limit: k.limit, spent: k.spent, createdAt: k.createdAt, expiresAt: k.expiresAt, revokedAt: k.revokedAt }));
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
    ...(Object.keys(state.apiKeys).length > 0 && { apiKeys: Object.fromEntries(Object.keys(state.apiKeys).sort().map((id) => [id, { ...state.apiKeys[id]!, scopes: [...state.apiKeys[id]!.scopes] }])) }),
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
  apiKeys?: Record<string, ApiKeyRecord>;
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
    apiKeys: Object.fromEntries(Object.entries(s.apiKeys ?? {}).map(([id, k]) => [id, { ...k, scopes: [...k.scopes] }])),
  };
}
