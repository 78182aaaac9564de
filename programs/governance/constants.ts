/**
 * The governance program's constants, apart from its IDL (idl.ts) so that the Worker, the SDK and
 * the portal can use them without Codama: its address, instruction and action numbers, account
 * kinds, bounds and errors.
 */
import { bps } from '../../durable-objects/domain/money.ts';
import { PARAM_BOUNDS } from '../../durable-objects/domain/params.ts';

export const GOVERNANCE_PROGRAM_ID = 'FiTTvaBtLFhTXm1cLpRBWvUjQdv7FpaGEn6p7ZVkXfTz';

export const GOVERNANCE_INSTRUCTIONS = {
  initialize: 0,
  propose: 1,
  proposeSlash: 2,
  vote: 3,
  execute: 4,
  executeSlash: 5,
} as const;

export const GOVERNANCE_ACCOUNT_KINDS = { governance: 1, proposal: 2, marketParams: 3, voteRecord: 4 } as const;

/** What a proposal does once it passes (its `action` byte). */
export const PROPOSAL_ACTIONS = {
  /** The escrow program's updateConfig (fee, stakers' share, withdrawal timelock, fee accounts, admin), by CPI. */
  updateEscrow: 0,
  /** The staking program's updateConfig (minimum provider stake, cooldown, slash bounds, slashing authority, admin), by CPI. */
  updateStaking: 1,
  /** A market's parameters (its parameter account, created when absent), which the Worker reads. */
  setMarket: 2,
  /** Governance's own parameters. */
  updateGovernance: 3,
  /** A provider's stake slashed: proposed by the verifier, executed after the appeal window unless vetoed. */
  slash: 4,
} as const;

export type ProposalAction = keyof typeof PROPOSAL_ACTIONS;

/** The sides of a vote; on a slash, `against` is a veto. */
export const VOTE_SIDES = { against: 0, for: 1 } as const;

/** The market parameters a setMarket proposal carries, in payload order after the market's name (each a u64). */
export const MARKET_PARAM_FIELDS = ['leaseMs', 'maxRematches', 'challengeWindowMs', 'replicaBidTtlMs', 'agentGraceMs', 'failedRunUnits', 'chatTokenPrice', 'chatVerifyBps'] as const;

export type MarketParamField = (typeof MARKET_PARAM_FIELDS)[number];

const DAY = 86_400;

const marketBounds = Object.fromEntries(
  MARKET_PARAM_FIELDS.flatMap((f, i) => [
    [`GOVERNANCE_MARKET_MIN_${i}`, PARAM_BOUNDS[f][0]],
    [`GOVERNANCE_MARKET_MAX_${i}`, PARAM_BOUNDS[f][1]],
  ]),
);

/** Bounds and fixed rules the C program is built with (its header carries them). */
export const GOVERNANCE_CONSTANTS = {
  /** A proposal's payload (the target instruction's data, or a market's parameters). */
  GOVERNANCE_PAYLOAD_SIZE: 128,
  GOVERNANCE_MIN_VOTING_SECONDS: 60,
  GOVERNANCE_MAX_PERIOD_SECONDS: 30 * DAY,
  /** How long after its appeal window a proposed slash still holds the position, so that anyone may execute it. */
  GOVERNANCE_SLASH_GRACE_SECONDS: DAY,
  /** Bytes of a market's name in its parameter account (MARKET_ID allows 32). */
  GOVERNANCE_MARKET_NAME_SIZE: 32,
  GOVERNANCE_MARKET_FIELDS: MARKET_PARAM_FIELDS.length,
  /** Each market parameter's bounds, by its place in MARKET_PARAM_FIELDS (the marketplace's PARAM_BOUNDS). */
  ...marketBounds,
} as Record<string, number>;

export const GOVERNANCE_ERRORS = [
  [6000, 'invalidInstruction', 'The instruction is unknown or its data is malformed'],
  [6001, 'missingSigner', 'A required signature is missing'],
  [6002, 'wrongOwner', 'An account is not owned by the program it must belong to'],
  [6003, 'wrongAddress', 'An account is not the address this instruction derives for it'],
  [6004, 'wrongProgram', 'A program account is not the program this instruction calls'],
  [6005, 'invalidParameter', 'A parameter is outside its bounds'],
  [6006, 'alreadyInitialized', 'The account exists already'],
  [6007, 'belowThreshold', 'The proposer’s position weighs less than the proposal threshold'],
  [6008, 'notOwner', 'Only the position’s owner may do this'],
  [6009, 'positionTooNew', 'The position did not exist, or its weight grew, after the proposal opened'],
  [6010, 'noWeight', 'The position is unstaked and has no weight to vote with'],
  [6011, 'alreadyVoted', 'This position has voted on this proposal already'],
  [6012, 'votingClosed', 'The proposal’s voting period (or a slash’s appeal window) has ended'],
  [6013, 'tooEarly', 'The proposal’s voting period and hold-up (or a slash’s appeal window) have not ended'],
  [6014, 'notPassed', 'The proposal did not pass: fewer votes for it than the quorum, or no more for it than against'],
  [6015, 'vetoed', 'Governance vetoed the slash'],
  [6016, 'alreadyExecuted', 'The proposal has been executed already'],
  [6017, 'notSlashProposer', 'Only the marketplace’s verifier may propose a slash'],
  [6018, 'slashTooLarge', 'The slash exceeds its bound for one event'],
  [6019, 'notEligible', 'A provider may not vote on a slash of its own stake'],
  [6020, 'wrongAction', 'The proposal’s action or target does not fit this instruction'],
  [6021, 'tooManyAccounts', 'The instruction names more accounts than the program reads'],
  [6022, 'wrongMint', 'A token account holds another mint than the staking mint'],
] as const;

export type GovernanceErrorName = (typeof GOVERNANCE_ERRORS)[number][1];

/** Where a proposal stands; a slash is in `appeal` while it may be vetoed, a change `holdUp` between passing and execution. */
export type ProposalStatus = 'voting' | 'defeated' | 'holdUp' | 'executable' | 'executed' | 'appeal' | 'vetoed';

/** What quorumBps (or vetoBps) of the weight staked at a proposal's opening comes to, floored as governance.c's mul_bps. */
export const weightShare = (weightAtOpen: bigint, basisPoints: number): bigint => bps(weightAtOpen, basisPoints);

/**
 * A proposal's status at `nowSeconds`, as governance.c decides execute and executeSlash: a change
 * passes with for-weight at the quorum and more than against-weight; a slash is vetoed by
 * against-weight (more than none) at the veto bound.
 */
export function proposalStatus(
  p: { action: ProposalAction; executed: boolean; votingEndsAt: number; executableAt: number; weightAtOpen: bigint; forWeight: bigint; againstWeight: bigint },
  g: { quorumBps: number; vetoBps: number },
  nowSeconds: number,
): ProposalStatus {
  if (p.executed) return 'executed';
  if (p.action === 'slash') {
    if (p.againstWeight > 0n && p.againstWeight >= weightShare(p.weightAtOpen, g.vetoBps)) return nowSeconds < p.votingEndsAt ? 'appeal' : 'vetoed';
    return nowSeconds < p.votingEndsAt ? 'appeal' : 'executable';
  }
  if (nowSeconds < p.votingEndsAt) return 'voting';
  if (p.forWeight < weightShare(p.weightAtOpen, g.quorumBps) || p.forWeight <= p.againstWeight) return 'defeated';
  return nowSeconds < p.executableAt ? 'holdUp' : 'executable';
}
