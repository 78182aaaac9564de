/**
 * The staking program's interface, in the Codama format (see escrow/idl.ts for how it is used).
 *
 * The rules it carries (staking.c implements them):
 * - a position commits $DOUG with a lock of 0 to 365 days; its weight is amount × (1 + 3 × days / 365),
 *   so a year's lock counts 4× (floors in basis points: multiplier = 10,000 + 30,000 × days / 365).
 *   The lock is a notice period, as in Nosana's staking: `unstake` stops the position earning at once,
 *   and its tokens may be withdrawn lockDays plus the cooldown later. (A lock counted from the stake
 *   instead would keep its 4× weight after the year ends, for as long as its owner waits to unstake.)
 *   `extend` lengthens the lock of a staked position (more weight), never shortens it;
 * - fees arrive by `distribute` (the escrow program calls it in each settlement) and are shared by
 *   weight through a reward-per-weight accumulator in units of 2^-64 base units, exact: the division's
 *   remainder is carried to the next fee, and each position keeps its own fraction, so nothing
 *   drifts; a fee that arrives while nothing is staked goes to the treasury; a stake made after a fee
 *   earns none of it;
 * - rewards already earned are never lost: top-up, extension, unstake and slashing settle them first;
 * - governance (the configuration's admin) may `hold` a position while it votes or a slash of it is
 *   proposed: a held position can neither unstake nor withdraw;
 * - `slash` by the slashing authority alone is bounded per event (a fraction of the position) and per
 *   epoch (a fraction of all stake), recorded with the evidence hash; proceeds go to the treasury.
 */
import {
  accountNode,
  constantPdaSeedNodeFromString,
  fieldDiscriminatorNode,
  pdaLinkNode,
  pdaNode,
  pdaValueNode,
  programNode,
  publicKeyTypeNode,
  rootNode,
  structTypeNode,
  variablePdaSeedNode,
  type RootNode,
} from 'codama';
import { STAKING_PROGRAM_ID, STAKING_INSTRUCTIONS, STAKING_ACCOUNT_KINDS, STAKING_ERRORS } from './constants.ts';
import { account, arg, errorsOf, field, hash, i64, instructionsOf, kindField, systemProgram, tokenProgram, u128, u16, u64, u8 } from '../build/idl-kit.ts';

const instruction = instructionsOf(STAKING_INSTRUCTIONS);
const configAccount = (writable = false) => account('config', { writable, defaultValue: pdaValueNode('stakingConfig') });
const positionAccount = (writable = true) => account('position', { writable, docs: 'The position: PDA "position", owner, id (see addresses).' });
const stakeVault = () => account('stakeVault', { writable: true, docs: 'The staked tokens: PDA "stake-vault".' });
const rewardVault = () => account('rewardVault', { writable: true, docs: 'The stakers’ fees: PDA "reward-vault".' });

export function stakingIdl(): RootNode {
  return rootNode(
    programNode({
      name: 'dougStaking',
      publicKey: STAKING_PROGRAM_ID,
      version: '0.1.0',
      docs: ['DougAI staking: locks worth up to 4×, fee rewards by weight with no drift, bounded slashing.'],
      pdas: [
        pdaNode({ name: 'stakingConfig', seeds: [constantPdaSeedNodeFromString('utf8', 'config')] }),
        pdaNode({ name: 'position', seeds: [constantPdaSeedNodeFromString('utf8', 'position'), variablePdaSeedNode('owner', publicKeyTypeNode()), variablePdaSeedNode('id', u64())] }),
      ],
      accounts: [
        accountNode({
          name: 'stakingConfig',
          docs: ['The program’s one configuration and totals (PDA "config").'],
          size: 272,
          data: structTypeNode([
            kindField(STAKING_ACCOUNT_KINDS.stakingConfig),
            field('bump', u8()),
            field('stakeVaultBump', u8()),
            field('rewardVaultBump', u8()),
            field('maxSlashBpsPerEvent', u16()),
            field('maxSlashBpsPerEpoch', u16()),
            field('admin', publicKeyTypeNode()),
            field('slashAuthority', publicKeyTypeNode()),
            field('mint', publicKeyTypeNode()),
            field('treasury', publicKeyTypeNode(), 'Token account receiving fees that find no stake, and slashed tokens.'),
            field('minProviderStake', u64(), 'The least stake a provider must hold for its asks to be admitted.'),
            field('cooldownSeconds', u64()),
            field('totalStaked', u64()),
            field('totalWeight', u64()),
            field('rewardPerWeight', u128(), 'Accumulated fees per unit of weight, in 2^-64 base units (wraps; only differences count).'),
            field('carry', u64(), 'Fee not yet shared, in 2^-64 base units (less than one base unit).'),
            field('feesToStakers', u64(), 'All fees shared among positions.'),
            field('feesToTreasury', u64(), 'Fees that arrived while nothing was staked.'),
            field('claimed', u64()),
            field('slashed', u64()),
            field('slashEpoch', u64(), 'The epoch slashedInEpoch counts.'),
            field('slashedInEpoch', u64()),
            field('reserved', u64()),
            field('reserved2', u64()),
            field('reserved3', u64()),
            field('reserved4', u64()),
          ]),
          pda: pdaLinkNode('stakingConfig'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
        accountNode({
          name: 'position',
          docs: ['One locked stake (PDA "position", owner, id).'],
          size: 184,
          data: structTypeNode([
            kindField(STAKING_ACCOUNT_KINDS.position),
            field('bump', u8()),
            field('lockDays', u16()),
            field('reserved', u16()),
            field('reserved2', u16()),
            field('owner', publicKeyTypeNode()),
            field('id', u64()),
            field('amount', u64()),
            field('weight', u64(), 'amount × the lock’s multiplier; 0 once unstaked.'),
            field('createdAt', i64(), 'Unix time of the stake (governance counts positions older than a proposal).'),
            field('unstakedAt', i64(), 'Unix time of the unstake; 0 while staked.'),
            field('unlockAt', i64(), 'Unix time the unstaked tokens may be withdrawn (unstakedAt + lock + cooldown); 0 while staked.'),
            field('owed', u128(), 'Rewards settled to this position and not yet claimed, in 2^-64 base units.'),
            field('debt', u128(), 'weight × rewardPerWeight when last settled (wrapping).'),
            field('claimed', u64()),
            field('slashed', u64()),
            field('lastEvidence', hash(), 'The receipt hash of the last slash.'),
            field('grewAt', i64(), 'Unix time the weight last grew (stake, top-up, extension): a proposal counts the positions whose weight stood before it opened.'),
            field('heldUntil', i64(), 'Unix time before which the position may not unstake or withdraw: an open vote or a proposed slash holds it.'),
          ]),
          pda: pdaLinkNode('position'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
      ],
      instructions: [
        instruction(
          'initialize',
          'Creates the configuration and the stake and reward vaults; its signer becomes the admin.',
          [account('admin', { writable: true, signer: true }), configAccount(true), account('mint'), stakeVault(), rewardVault(), account('treasury'), systemProgram(), tokenProgram()],
          [arg('minProviderStake', u64()), arg('cooldownSeconds', u64()), arg('maxSlashBpsPerEvent', u16()), arg('maxSlashBpsPerEpoch', u16()), arg('slashAuthority', publicKeyTypeNode())],
        ),
        instruction(
          'updateConfig',
          'Changes the parameters, the treasury and the admin (admin only).',
          [account('admin', { signer: true }), configAccount(true), account('treasury')],
          [arg('minProviderStake', u64()), arg('cooldownSeconds', u64()), arg('maxSlashBpsPerEvent', u16()), arg('maxSlashBpsPerEpoch', u16()), arg('slashAuthority', publicKeyTypeNode()), arg('newAdmin', publicKeyTypeNode())],
        ),
        instruction(
          'stake',
          'Opens a position: locks `amount` for `lockDays`.',
          [account('owner', { writable: true, signer: true }), positionAccount(), configAccount(true), account('ownerTokenAccount', { writable: true }), stakeVault(), account('mint'), systemProgram(), tokenProgram()],
          [arg('id', u64(), 'The owner’s number for this position (its PDA seed).'), arg('amount', u64()), arg('lockDays', u16())],
        ),
        instruction(
          'topUp',
          'Adds to a position at its lock’s multiplier (earned rewards are settled first).',
          [account('owner', { signer: true }), positionAccount(), configAccount(true), account('ownerTokenAccount', { writable: true }), stakeVault(), account('mint'), tokenProgram()],
          [arg('amount', u64())],
        ),
        instruction('extend', 'Lengthens a staked position’s lock to `lockDays` (more weight; earned rewards are settled first).', [account('owner', { signer: true }), positionAccount(), configAccount(true)], [arg('lockDays', u16())]),
        instruction('unstake', 'Stops the position earning (earned rewards stay claimable) and starts its lock and cooldown.', [account('owner', { signer: true }), positionAccount(), configAccount(true)]),
        instruction(
          'withdraw',
          'Once the lock and cooldown since the unstake have passed: returns the staked tokens.',
          [account('owner', { signer: true }), positionAccount(), configAccount(true), account('ownerTokenAccount', { writable: true }), stakeVault(), account('mint'), tokenProgram()],
        ),
        instruction(
          'claim',
          'Pays the position’s earned rewards (whole base units; the fraction stays).',
          [account('owner', { signer: true }), positionAccount(), configAccount(true), account('ownerTokenAccount', { writable: true }), rewardVault(), account('mint'), tokenProgram()],
        ),
        instruction(
          'distribute',
          'Brings a fee in: shared by weight, or to the treasury when nothing is staked (the escrow program calls this).',
          [
            account('sourceAuthority', { signer: true, docs: 'Signs for the source token account (the escrow’s PDA in a settlement).' }),
            account('source', { writable: true }),
            configAccount(true),
            rewardVault(),
            account('treasury', { writable: true }),
            account('mint'),
            tokenProgram(),
          ],
          [arg('amount', u64())],
        ),
        instruction(
          'slash',
          'Takes part of a position for proven bad work, within the bounds, to the treasury, recording the evidence.',
          [account('slashAuthority', { signer: true }), positionAccount(), configAccount(true), stakeVault(), account('treasury', { writable: true }), account('mint'), tokenProgram()],
          [arg('amount', u64()), arg('evidence', hash(), 'The job receipt’s hash.')],
        ),
        instruction(
          'hold',
          'Holds a position (no unstake, no withdrawal) until `until`, or longer if held already: the admin only, that is the governance program while a vote or a proposed slash is open.',
          [account('admin', { signer: true }), positionAccount(), configAccount()],
          [arg('until', i64())],
        ),
      ],
      errors: errorsOf(STAKING_ERRORS),
    }),
  );
}

export { STAKING_PROGRAM_ID, STAKING_INSTRUCTIONS, STAKING_ACCOUNT_KINDS, STAKING_CONSTANTS, positionWeight, STAKING_ERRORS } from './constants.ts';
export type { StakingErrorName } from './constants.ts';
