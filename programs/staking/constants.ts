/**
 * The staking program's constants, apart from its IDL (idl.ts) so that the Worker and the portal
 * can use them without Codama: its address, instruction numbers, account kinds, the weight rule and
 * errors.
 */

export const STAKING_PROGRAM_ID = '6AgauSgnKWShz4xLAW8xKwwaae9My2vkca23EHBEpBT2';

export const STAKING_INSTRUCTIONS = {
  initialize: 0,
  updateConfig: 1,
  stake: 2,
  topUp: 3,
  extend: 4,
  unstake: 5,
  withdraw: 6,
  claim: 7,
  distribute: 8,
  slash: 9,
  hold: 10,
} as const;

export const STAKING_ACCOUNT_KINDS = { stakingConfig: 1, position: 2 } as const;

/** Bounds and fixed rules the C program is built with (its header carries them). */
export const STAKING_CONSTANTS = {
  STAKING_MAX_LOCK_DAYS: 365,
  /** Weight multiplier in basis points: 10,000 + STAKING_LOCK_BONUS_BPS × days / 365 (4× at a year). */
  STAKING_LOCK_BONUS_BPS: 30_000,
  STAKING_MAX_COOLDOWN_SECONDS: 30 * 86_400,
  /** The most one slash may take of a position, and of all stake in one epoch, that any config allows. */
  STAKING_MAX_SLASH_BPS_PER_EVENT: 5_000,
  STAKING_MAX_SLASH_BPS_PER_EPOCH: 1_000,
} as const;

/** A position's weight, as staking.c computes it (floors exactly as the program does). */
export function positionWeight(amount: bigint, lockDays: number): bigint {
  const multiplier = 10_000n + (BigInt(STAKING_CONSTANTS.STAKING_LOCK_BONUS_BPS) * BigInt(lockDays)) / BigInt(STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS);
  return (amount / 10_000n) * multiplier + ((amount % 10_000n) * multiplier) / 10_000n;
}

export const STAKING_ERRORS = [
  [6000, 'invalidInstruction', 'The instruction is unknown or its data is malformed'],
  [6001, 'missingSigner', 'A required signature is missing'],
  [6002, 'wrongOwner', 'An account is not owned by the program it must belong to'],
  [6003, 'wrongAddress', 'An account is not the address this instruction derives for it'],
  [6004, 'wrongMint', 'A token account holds another mint than the staking mint'],
  [6005, 'wrongProgram', 'A program account is not the program this instruction calls'],
  [6006, 'notAdmin', 'Only the configuration’s admin may do this'],
  [6007, 'notOwner', 'Only the position’s owner may do this'],
  [6008, 'notSlashAuthority', 'Only the slashing authority may slash'],
  [6009, 'invalidParameter', 'A parameter is outside its bounds'],
  [6010, 'overflow', 'An amount overflows 64 bits'],
  [6011, 'alreadyInitialized', 'The account exists already'],
  [6012, 'zeroAmount', 'The amount must be positive'],
  [6013, 'stillLocked', 'The position’s lock and cooldown have not ended since it was unstaked'],
  [6014, 'shorterLock', 'An extension cannot shorten the lock'],
  [6015, 'notUnstaked', 'The position must be unstaked first'],
  [6016, 'alreadyUnstaked', 'The position is unstaked and earns no more; it may only be withdrawn'],
  [6017, 'slashTooLarge', 'The slash exceeds its bound for one event or for the epoch'],
  [6018, 'nothingToClaim', 'The position has no rewards to claim'],
  [6019, 'tooManyAccounts', 'The instruction names more accounts than the program reads'],
  [6020, 'wrongFeeAccount', 'A fee account is not the one the configuration names'],
  [6021, 'positionHeld', 'The position is held by an open vote or a proposed slash and may not unstake or withdraw yet'],
] as const;

export type StakingErrorName = (typeof STAKING_ERRORS)[number][1];
