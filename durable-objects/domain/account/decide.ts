import type { CommandMeta, Outgoing } from '../decider.ts';
import { makeError } from '../define-errors.ts';
import { MAX_AMOUNT, type Amount } from '../money.ts';
import { FEE_POOL_ACCOUNT } from '../params.ts';
import { fail, ok, type Result } from '../result.ts';
import type { AccountCommand } from './commands.ts';
import { ACCOUNT_ERRORS } from './errors.ts';
import type { QueuePayouts } from '../custody/settlement-commands.ts';
import type { AccountEvent, CreditSource } from './events.ts';
import { MAX_API_KEYS, NONCE_RETENTION_MS, NONCE_WINDOW_MS, type AccountState } from './state.ts';

const reject = (code: keyof typeof ACCOUNT_ERRORS & string, context: Record<string, unknown>) =>
  fail(makeError(ACCOUNT_ERRORS, code, context));

const notPositive = (field: string, amount: Amount) => reject('ACCOUNT__AMOUNT_NOT_POSITIVE', { field, amount });

/** Turns an account command into events or a coded rejection. */
export function decide(state: AccountState, command: AccountCommand, meta: CommandMeta): Result<AccountEvent[]> {
  switch (command.type) {
    case 'Credit': {
      if (state.creditRefs.has(command.ref)) return reject('ACCOUNT__CREDIT_ALREADY_APPLIED', { ref: command.ref });
      if (command.amount <= 0n) return notPositive('amount', command.amount);
      const mixed = fundingMixed(state, command.source);
      if (mixed) return reject('ACCOUNT__FUNDING_MIXED', { problem: mixed, source: command.source });
      if (state.available + state.held + command.amount > MAX_AMOUNT) {
        return reject('ACCOUNT__BALANCE_LIMIT_EXCEEDED', { amount: command.amount, limit: MAX_AMOUNT, balance: state.available + state.held });
      }
      return ok([{ type: 'Credited', ref: command.ref, amount: command.amount, source: command.source }]);
    }
    case 'Hold': {
      if (state.holds[command.holdId]) return reject('ACCOUNT__HOLD_EXISTS', { holdId: command.holdId });
      if (command.amount <= 0n) return notPositive('amount', command.amount);
      if (command.apiKeyId !== undefined) {
        const key = Object.hasOwn(state.apiKeys, command.apiKeyId) ? state.apiKeys[command.apiKeyId] : undefined;
        if (!key) return reject('ACCOUNT__API_KEY_NOT_FOUND', { keyId: command.apiKeyId });
        if (key.revokedAt !== null) return reject('ACCOUNT__API_KEY_REVOKED', { keyId: command.apiKeyId });
        if (key.expiresAt <= meta.now) return reject('ACCOUNT__API_KEY_EXPIRED', { keyId: command.apiKeyId, expiresAt: new Date(key.expiresAt).toISOString() });
        if (key.spent + command.amount > key.limit) return reject('ACCOUNT__API_KEY_LIMIT_REACHED', { keyId: command.apiKeyId, spent: key.spent, limit: key.limit, required: command.amount });
      }
      if (command.amount > state.available) {
        return reject('ACCOUNT__INSUFFICIENT_FUNDS', { available: state.available, required: command.amount, holdId: command.holdId });
      }
      return ok([{ type: 'FundsHeld', holdId: command.holdId, amount: command.amount, ...(command.apiKeyId !== undefined && { apiKeyId: command.apiKeyId }) }]);
    }
    case 'ReleaseHold': {
      const hold = state.holds[command.holdId];
      if (!hold) return reject('ACCOUNT__HOLD_NOT_FOUND', { holdId: command.holdId });
      if (command.amount !== undefined && command.amount <= 0n) return notPositive('amount', command.amount);
      // A closed hold ignores late releases: the outbox must never jam on them.
      if (hold.status !== 'open') return ok([]);
      const amount = command.amount === undefined || command.amount > hold.remaining ? hold.remaining : command.amount;
      return ok([{ type: 'HoldReleased', holdId: command.holdId, amount, remaining: hold.remaining - amount }]);
    }
    case 'SettleHold': {
      const hold = state.holds[command.holdId];
      if (!hold) return reject('ACCOUNT__HOLD_NOT_FOUND', { holdId: command.holdId });
      if (hold.status === 'settled') return ok([]);
      // A released hold has nothing left to pay from; settling it would be a bug upstream, so say so.
      if (hold.status === 'released') return reject('ACCOUNT__HOLD_RELEASED', { holdId: command.holdId });
      if (command.fee < 0n) return reject('ACCOUNT__SETTLEMENT_AMOUNT_NEGATIVE', { holdId: command.holdId, field: 'fee', amount: command.fee });
      let total = command.fee;
      for (const [i, p] of command.payouts.entries()) {
        if (p.amount < 0n) {
          return reject('ACCOUNT__SETTLEMENT_AMOUNT_NEGATIVE', { holdId: command.holdId, field: `payouts[${i}].amount`, amount: p.amount });
        }
        total += p.amount;
      }
      if (total > hold.remaining) {
        return reject('ACCOUNT__SETTLEMENT_EXCEEDS_HOLD', { holdId: command.holdId, total, remaining: hold.remaining });
      }
      // Per-payout fees (what on-chain settlement needs: each payout's gross) must all be there and add up.
      if (command.payouts.some((p) => p.fee !== undefined)) {
        const fees = command.payouts.map((p) => p.fee);
        if (fees.some((f) => f === undefined || f < 0n) || fees.reduce((sum: Amount, f) => sum + (f ?? 0n), 0n) !== command.fee) {
          const sum = fees.reduce((s: Amount, f) => s + (f ?? 0n), 0n);
          return reject('ACCOUNT__SETTLEMENT_FEES_MISMATCH', { holdId: command.holdId, sum, fee: command.fee });
        }
      }
      return ok([
        {
          type: 'HoldSettled',
          holdId: command.holdId,
          account: command.account,
          payouts: command.payouts.map((p) => ({ account: p.account, amount: p.amount, ...(p.fee !== undefined && { fee: p.fee }) })),
          fee: command.fee,
          released: hold.remaining - total,
        },
      ]);
    }
    case 'ReceivePayout': {
      if (state.payoutRefs.has(command.ref)) return ok([]);
      if (command.amount <= 0n) return notPositive('amount', command.amount);
      return ok([{ type: 'PayoutReceived', ref: command.ref, from: command.from, amount: command.amount, holdId: command.holdId }]);
    }
    case 'RecordNonce': {
      if (state.revokedAt !== null) return reject('ACCOUNT__KEY_REVOKED', { nonce: command.nonce, revokedAt: state.revokedAt });
      const seen = state.nonces.get(command.nonce);
      if (seen !== undefined && seen + NONCE_RETENTION_MS >= meta.now) return reject('ACCOUNT__NONCE_REPLAYED', { nonce: command.nonce });
      // Refusing timestamps outside the window here too makes "a pruned nonce is never replayable" local.
      const skewMs = Math.abs(meta.now - command.timestamp);
      if (skewMs > NONCE_WINDOW_MS) {
        return reject('ACCOUNT__NONCE_STALE', { nonce: command.nonce, timestamp: command.timestamp, skewMs, windowMs: NONCE_WINDOW_MS });
      }
      return ok([{ type: 'NonceRecorded', nonce: command.nonce, timestamp: command.timestamp }]);
    }
    case 'Withdraw': {
      if (state.withdrawalRefs.has(command.ref)) return reject('ACCOUNT__WITHDRAWAL_ALREADY_APPLIED', { ref: command.ref });
      if (state.escrow !== (command.from === 'escrow')) {
        const problem = state.escrow
          ? 'this account’s $DOUG is in its escrow on chain, not in custody: withdraw from the escrow'
          : 'this account’s $DOUG is in custody, not in an escrow';
        return reject('ACCOUNT__FUNDING_MIXED', { problem, ref: command.ref });
      }
      if (command.amount <= 0n) return notPositive('amount', command.amount);
      if (command.amount > state.available) {
        return reject('ACCOUNT__INSUFFICIENT_FUNDS', { available: state.available, required: command.amount, ref: command.ref });
      }
      return ok([{ type: 'Withdrawn', ref: command.ref, amount: command.amount }]);
    }
    case 'RecordEscrowExit': {
      if (state.withdrawalRefs.has(command.ref)) return reject('ACCOUNT__WITHDRAWAL_ALREADY_APPLIED', { ref: command.ref });
      if (command.amount <= 0n) return notPositive('amount', command.amount);
      if (!state.escrow) return reject('ACCOUNT__FUNDING_MIXED', { problem: 'this account’s $DOUG is in custody, not in an escrow', ref: command.ref });
      const amount = command.amount < state.available ? command.amount : state.available;
      return ok(amount > 0n ? [{ type: 'Withdrawn', ref: command.ref, amount }] : []);
    }
    case 'RevokeKey':
      return ok(state.revokedAt === null ? [{ type: 'KeyRevoked', at: meta.now }] : []);
    case 'CreateApiKey': {
      if (Object.hasOwn(state.apiKeys, command.keyId)) return reject('ACCOUNT__API_KEY_EXISTS', { keyId: command.keyId });
      if (!API_KEY_ID.test(command.keyId)) return reject('ACCOUNT__API_KEY_TERMS_INVALID', { field: 'id', problem: 'must be 8-32 characters of a-z, 0-9' });
      if (command.name.length < 1 || command.name.length > 64) return reject('ACCOUNT__API_KEY_TERMS_INVALID', { field: 'name', problem: 'must be 1-64 characters' });
      if (!/^[0-9a-f]{64}$/.test(command.secretSha256)) return reject('ACCOUNT__API_KEY_TERMS_INVALID', { field: 'secretSha256', problem: 'must be 64 lowercase hex characters' });
      if (command.limit <= 0n || command.limit > MAX_AMOUNT) return reject('ACCOUNT__API_KEY_TERMS_INVALID', { field: 'limit', problem: 'must be a positive amount' });
      if (command.expiresAt <= meta.now) return reject('ACCOUNT__API_KEY_TERMS_INVALID', { field: 'expiresAt', problem: 'must lie in the future' });
      const live = Object.values(state.apiKeys).filter((k) => k.revokedAt === null && k.expiresAt > meta.now).length;
      if (live >= MAX_API_KEYS) return reject('ACCOUNT__TOO_MANY_API_KEYS', { max: MAX_API_KEYS });
      return ok([{ type: 'ApiKeyCreated', keyId: command.keyId, name: command.name, secretSha256: command.secretSha256, limit: command.limit, expiresAt: command.expiresAt, scopes: ['chat'] }]);
    }
    case 'RevokeApiKey': {
      const key = Object.hasOwn(state.apiKeys, command.keyId) ? state.apiKeys[command.keyId] : undefined;
      if (!key) return reject('ACCOUNT__API_KEY_NOT_FOUND', { keyId: command.keyId });
      return ok(key.revokedAt === null ? [{ type: 'ApiKeyRevoked', keyId: command.keyId, at: meta.now }] : []);
    }
  }
}

/** An API key's id: chosen by its client, lowercase so it reads in a Bearer token. */
export const API_KEY_ID = /^[a-z0-9]{8,32}$/;

/** Ref of the payout message for the i-th payee of a hold (unique even when a payee repeats). */
export const payoutRef = (holdId: string, index: number, account: string): string => `${holdId}:${index}:${account}`;
/** Ref of the fee payout message of a hold. */
export const feeRef = (holdId: string): string => `${holdId}:fee`;

/**
 * Why a credit from `source` may not join this account's money, or null when it may. An account's
 * money is either in custody (faucet and custody deposits, payouts received in the ledger) or in its
 * own escrow on chain, never both: its settlements are paid from one place. An account with custody
 * money withdraws it before its first escrow deposit; an escrow account takes only escrow deposits.
 */
function fundingMixed(state: AccountState, source: CreditSource): string | null {
  if (source === 'escrow') {
    return !state.escrow && state.available + state.held > 0n
      ? `this account holds ${state.available + state.held} in custody: withdraw it before depositing into your escrow`
      : null;
  }
  return state.escrow ? 'this account’s $DOUG is in its escrow on chain: deposit into the escrow' : null;
}

/**
 * Outbox messages of a settled hold. In an escrow-funded account: one message to the buyer's
 * settlement process with each payout's gross, fee and net (paid on chain from the escrow). Else:
 * each payee's ledger and the fee pool (zero amounts send nothing).
 */
export function react(state: AccountState, event: AccountEvent, _meta: CommandMeta): Outgoing[] {
  if (event.type !== 'HoldSettled') return [];
  if (state.escrow) {
    const payouts = event.payouts.map((p) => ({ provider: p.account, net: p.amount, fee: p.fee ?? 0n, gross: p.amount + (p.fee ?? 0n) }));
    return [{ to: { kind: 'settlement', id: event.account }, command: { type: 'QueuePayouts', buyer: event.account, holdId: event.holdId, payouts } satisfies QueuePayouts }];
  }
  const messages: Outgoing[] = [];
  for (const [i, p] of event.payouts.entries()) {
    if (p.amount === 0n) continue;
    messages.push({
      to: { kind: 'account', id: p.account },
      command: { type: 'ReceivePayout', ref: payoutRef(event.holdId, i, p.account), from: event.account, amount: p.amount, holdId: event.holdId },
    });
  }
  if (event.fee > 0n) {
    messages.push({
      to: { kind: 'account', id: FEE_POOL_ACCOUNT },
      command: { type: 'ReceivePayout', ref: feeRef(event.holdId), from: event.account, amount: event.fee, holdId: event.holdId },
    });
  }
  return messages;
}
