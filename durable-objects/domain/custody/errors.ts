import { defineErrors } from '../define-errors.ts';

/** Refusals of deposit verification and of the withdrawal decider (namespace CUSTODY__). Append-only. */
export const CUSTODY_ERRORS = defineErrors({
  CUSTODY__DEPOSIT_UNKNOWN: 'no finalized transaction {signature} was found',
  CUSTODY__DEPOSIT_FAILED: 'transaction {signature} failed on chain ({error}): nothing was transferred',
  CUSTODY__DEPOSIT_WRONG_DESTINATION: 'transaction {signature} does not transfer {mint} to the custody account {custodyTokenAccount}',
  CUSTODY__DEPOSIT_WRONG_MINT: 'transaction {signature} transfers mint {mint} ({decimals} decimals); deposits must be {expectedMint} ({expectedDecimals} decimals)',
  CUSTODY__DEPOSIT_NO_MEMO: 'transaction {signature} has no memo "doug:deposit:<account>" naming the account to credit',
  CUSTODY__DEPOSIT_BAD_MEMO: 'transaction {signature}: {problem}',
  CUSTODY__DEPOSIT_MALFORMED: 'transaction {signature} as read from RPC is malformed: {problem}',
  CUSTODY__WITHDRAWAL_NOT_FOUND: 'there is no withdrawal here yet',
  CUSTODY__WITHDRAWAL_EXISTS: 'withdrawal {withdrawalId} was already requested with other terms',
  CUSTODY__WITHDRAWAL_INVALID: '{field} is invalid: {problem}',
  CUSTODY__WITHDRAWAL_CLOSED: 'withdrawal {withdrawalId} is already {status}',
  CUSTODY__WITHDRAWAL_NOT_DEBITED: 'withdrawal {withdrawalId} has not taken its funds from the account yet',
  CUSTODY__WITHDRAWAL_ATTEMPT_LIVE: 'attempt {signature} may still land (valid through block height {lastValidBlockHeight}): resend it, or sign anew once it is proven expired',
  CUSTODY__WITHDRAWAL_ATTEMPT_STALE: 'the new attempt is valid through block height {lastValidBlockHeight}, which the chain already passed ({blockHeight})',
  CUSTODY__WITHDRAWAL_SIGNATURE_REUSED: 'signature {signature} is already an attempt of withdrawal {withdrawalId}',
  CUSTODY__WITHDRAWAL_UNKNOWN_SIGNATURE: '{signature} is not an attempt of withdrawal {withdrawalId}',
  CUSTODY__WITHDRAWAL_CHAIN_CONTRADICTION: 'the chain reports {signature} as {status}, which contradicts withdrawal {withdrawalId}: {problem}',
  CUSTODY__NOT_CONFIGURED: 'this deployment has no Solana custody configured (missing {missing}): deposits, withdrawals and the on-chain faucet are off',
  CUSTODY__CHAIN_UNAVAILABLE: 'the Solana RPC did not answer {method} ({problem}); retry the request',
  CUSTODY__CHAIN_REFUSED: 'the Solana RPC refused {method}: {problem}',
  CUSTODY__DEPOSIT_ALREADY_CREDITED: 'deposit {signature} was already credited to {account}',
});
