import { defineErrors } from '../define-errors.ts';

/** Rejections of the account decider (namespace ACCOUNT__). Append-only. */
export const ACCOUNT_ERRORS = defineErrors({
  ACCOUNT__AMOUNT_NOT_POSITIVE: '{field} must be a positive amount, got {amount}',
  ACCOUNT__CREDIT_ALREADY_APPLIED: 'credit {ref} was already applied',
  ACCOUNT__BALANCE_LIMIT_EXCEEDED: 'crediting {amount} would take the balance past {limit}',
  ACCOUNT__INSUFFICIENT_FUNDS: '{required} is needed but only {available} is available',
  ACCOUNT__HOLD_EXISTS: 'hold {holdId} already exists',
  ACCOUNT__HOLD_NOT_FOUND: 'there is no hold {holdId}',
  ACCOUNT__HOLD_RELEASED: 'hold {holdId} was already released and cannot be settled',
  ACCOUNT__SETTLEMENT_AMOUNT_NEGATIVE: 'settlement of hold {holdId} has a negative {field}: {amount}',
  ACCOUNT__SETTLEMENT_EXCEEDS_HOLD: 'settling {total} exceeds the {remaining} left in hold {holdId}',
  ACCOUNT__NONCE_REPLAYED: 'nonce {nonce} was already used',
  ACCOUNT__NONCE_STALE: 'nonce {nonce} has timestamp {timestamp}, {skewMs} ms from now; the window is {windowMs} ms',
  ACCOUNT__WITHDRAWAL_ALREADY_APPLIED: 'withdrawal {ref} was already applied',
  ACCOUNT__KEY_REVOKED: 'this key was revoked at {revokedAt} and may not sign requests',
  ACCOUNT__FUNDING_MIXED: '{problem}',
  ACCOUNT__SETTLEMENT_FEES_MISMATCH: 'the payouts’ fees of hold {holdId} sum to {sum}, not to its fee {fee}',
  ACCOUNT__API_KEY_EXISTS: 'API key {keyId} already exists',
  ACCOUNT__API_KEY_NOT_FOUND: 'there is no API key {keyId}',
  ACCOUNT__API_KEY_INVALID: 'the API key is not valid',
  ACCOUNT__API_KEY_REVOKED: 'API key {keyId} was revoked',
  ACCOUNT__API_KEY_EXPIRED: 'API key {keyId} expired at {expiresAt}',
  ACCOUNT__API_KEY_LIMIT_REACHED: 'API key {keyId} has {spent} of its limit {limit} spent or held; {required} more is needed',
  ACCOUNT__TOO_MANY_API_KEYS: 'an account may hold at most {max} API keys that are neither revoked nor expired',
  ACCOUNT__API_KEY_TERMS_INVALID: '{field}: {problem}',
});
