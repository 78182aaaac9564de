/**
 * The escrow program's constants, apart from its IDL (idl.ts) so that the Worker and the portal can
 * use them without Codama: its address, instruction numbers, account kinds, bounds and errors.
 */
import { PARAM_BOUNDS } from '../../durable-objects/domain/params.ts';

/**
 * Bounds on the configuration, checked on chain (the C header carries them): the fee bound is the
 * marketplace's own (domain/params.ts), the timelock from a minute to 30 days.
 */
export const ESCROW_BOUNDS = {
  ESCROW_MAX_FEE_BPS: PARAM_BOUNDS.feeBps[1],
  ESCROW_MIN_WITHDRAW_TIMELOCK_SECONDS: 60,
  ESCROW_MAX_WITHDRAW_TIMELOCK_SECONDS: 30 * 86_400,
} as const;

export const ESCROW_PROGRAM_ID = '7HnpSkz3xgT77mQMQcpJK2ZuXqGJ9FPeXZKKDYeQcU3T';

/** Instruction numbers: the first byte of every instruction's data. */
export const ESCROW_INSTRUCTIONS = {
  initializeConfig: 0,
  updateConfig: 1,
  setAuthority: 2,
  openEscrow: 3,
  deposit: 4,
  settle: 5,
  requestWithdrawal: 6,
  cancelWithdrawalRequest: 7,
  withdraw: 8,
} as const;

/** Account kinds: the first byte of every account the program owns. */
export const ESCROW_ACCOUNT_KINDS = { escrowConfig: 1, escrow: 2 } as const;

/** Most payouts one settle carries (the u8 count; a transaction fits far fewer). */
export const MAX_PAYOUTS = 255;

/** The program's error codes (ProgramError::Custom); escrow.c defines the same numbers. */
export const ESCROW_ERRORS = [
  [6000, 'invalidInstruction', 'The instruction is unknown or its data is malformed'],
  [6001, 'missingSigner', 'A required signature is missing'],
  [6002, 'wrongOwner', 'An account is not owned by the program it must belong to'],
  [6003, 'wrongAddress', 'An account is not the address this instruction derives for it'],
  [6004, 'wrongMint', 'A token account holds another mint than the escrow’s'],
  [6005, 'wrongProgram', 'A program account is not the program this instruction calls'],
  [6006, 'notAuthority', 'Only the settlement authority may do this'],
  [6007, 'notAdmin', 'Only the configuration’s admin may do this'],
  [6008, 'notBuyer', 'Only the escrow’s buyer may do this'],
  [6009, 'batchOutOfOrder', 'The batch number is not the escrow’s next batch (a replayed or skipped batch)'],
  [6010, 'payeeIsAuthority', 'A payout goes to a token account the settlement authority owns'],
  [6011, 'insufficientFunds', 'The escrow holds less than this pays out'],
  [6012, 'timelockNotElapsed', 'The withdrawal timelock has not elapsed'],
  [6013, 'noWithdrawalRequested', 'The buyer has not requested a withdrawal'],
  [6014, 'invalidParameter', 'A parameter is outside its bounds'],
  [6015, 'overflow', 'An amount overflows 64 bits'],
  [6016, 'alreadyInitialized', 'The account exists already'],
  [6017, 'wrongFeeAccount', 'A fee account is not the one the configuration names'],
  [6018, 'emptyBatch', 'A batch must pay at least one payout'],
  [6019, 'zeroAmount', 'The amount must be positive'],
  [6020, 'tooManyAccounts', 'The instruction names more accounts than the program reads'],
  [6021, 'feeChanged', 'The batch was priced at another fee than the configuration charges now'],
] as const;

export type EscrowErrorName = (typeof ESCROW_ERRORS)[number][1];
