/**
 * The governance program's interface, in the Codama format (see escrow/idl.ts for how it is used).
 *
 * The rules it carries (governance.c implements them):
 * - governance is the admin of the escrow and staking configurations and the owner of each market's
 *   parameter account: nothing changes them but an executed proposal;
 * - a proposal is opened by the owner of a position weighing at least the proposal threshold; it
 *   carries one action (PROPOSAL_ACTIONS) and the total weight staked when it opened;
 * - a position votes once per proposal (a vote record per proposal and position), with its weight,
 *   and only if its weight stood before the proposal opened (it existed and neither grew since:
 *   tokens bought after the opening cannot vote); voting holds the position until the vote ends, so
 *   it can neither unstake nor withdraw to vote again from another position;
 * - a proposal passes when the weight for it reaches the quorum (quorumBps of the weight at the
 *   opening) and exceeds the weight against; anyone executes it once voting and the hold-up have
 *   ended, and the change is applied by CPI to the target program, signed by governance's PDA;
 * - a slash is proposed only by the marketplace's verifier (slashProposer), with the evidence (the
 *   job receipt's hash and the replicas' digests), at most the staking program's per-event bound,
 *   and holds the position; stakers may veto it during the appeal window (against-weight reaching
 *   vetoBps of the weight at the opening); the accused provider may not vote on it; anyone executes
 *   it after the window, by CPI to the staking program's slash (which enforces the per-epoch bound).
 *   No single key moves stakers' funds.
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
import { GOVERNANCE_PROGRAM_ID, GOVERNANCE_INSTRUCTIONS, GOVERNANCE_ACCOUNT_KINDS, GOVERNANCE_CONSTANTS, GOVERNANCE_ERRORS } from './constants.ts';
import { account, arg, bytes, errorsOf, field, hash, i64, instructionsOf, kindField, systemProgram, tokenProgram, u16, u64, u8 } from '../build/idl-kit.ts';

const instruction = instructionsOf(GOVERNANCE_INSTRUCTIONS);
const governanceAccount = (writable = false) => account('governance', { writable, defaultValue: pdaValueNode('governance') });
const proposalAccount = () => account('proposal', { writable: true, docs: 'The proposal: PDA "proposal", index.' });
const stakingConfig = (writable = false) => account('stakingConfig', { writable, docs: 'The staking configuration governance administers.' });
const stakingProgram = () => account('stakingProgram', { docs: 'The staking program (the owner of stakingConfig).' });
const PAYLOAD = GOVERNANCE_CONSTANTS.GOVERNANCE_PAYLOAD_SIZE!;

/** Governance's parameters, in the order initialize takes them and an updateGovernance payload carries them. */
const governanceParams = () => [
  arg('quorumBps', u16(), 'Weight for a proposal needed to pass, in basis points of the weight staked at its opening.'),
  arg('vetoBps', u16(), 'Weight against a slash that vetoes it, in basis points of the weight staked at its opening.'),
  arg('proposalThreshold', u64(), 'The least weight of the proposer’s position.'),
  arg('votingSeconds', u64()),
  arg('holdUpSeconds', u64(), 'Between the end of a passed vote and its execution.'),
  arg('appealSeconds', u64(), 'How long a proposed slash waits for a veto.'),
  arg('slashProposer', publicKeyTypeNode(), 'The marketplace’s verifier: it may propose slashes, never execute them.'),
];

export function governanceIdl(): RootNode {
  return rootNode(
    programNode({
      name: 'dougGovernance',
      publicKey: GOVERNANCE_PROGRAM_ID,
      version: '0.1.0',
      docs: ['DougAI governance: proposals voted by stake weight, executed by CPI after a hold-up; slashes proposed by the verifier, vetoable during an appeal window.'],
      pdas: [
        pdaNode({ name: 'governance', seeds: [constantPdaSeedNodeFromString('utf8', 'governance')] }),
        pdaNode({ name: 'proposal', seeds: [constantPdaSeedNodeFromString('utf8', 'proposal'), variablePdaSeedNode('index', u64())] }),
        pdaNode({ name: 'voteRecord', seeds: [constantPdaSeedNodeFromString('utf8', 'vote'), variablePdaSeedNode('proposal', publicKeyTypeNode()), variablePdaSeedNode('position', publicKeyTypeNode())] }),
        pdaNode({ name: 'marketParams', seeds: [constantPdaSeedNodeFromString('utf8', 'market'), variablePdaSeedNode('market', bytes(32))] }),
      ],
      accounts: [
        accountNode({
          name: 'governance',
          docs: ['The one governance (PDA "governance"): its parameters and what it administers; the admin of the escrow and staking configurations.'],
          size: 160,
          data: structTypeNode([
            kindField(GOVERNANCE_ACCOUNT_KINDS.governance),
            field('bump', u8()),
            field('quorumBps', u16()),
            field('vetoBps', u16()),
            field('reserved', u16()),
            field('stakingConfig', publicKeyTypeNode()),
            field('escrowConfig', publicKeyTypeNode()),
            field('slashProposer', publicKeyTypeNode()),
            field('proposalThreshold', u64()),
            field('votingSeconds', u64()),
            field('holdUpSeconds', u64()),
            field('appealSeconds', u64()),
            field('proposalCount', u64(), 'Proposals opened so far: the next one’s index.'),
            field('reserved2', u64()),
            field('reserved3', u64()),
          ]),
          pda: pdaLinkNode('governance'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
        accountNode({
          name: 'proposal',
          docs: ['One proposal (PDA "proposal", index): its action, its votes and its times.'],
          size: 392,
          data: structTypeNode([
            kindField(GOVERNANCE_ACCOUNT_KINDS.proposal),
            field('bump', u8()),
            field('action', u8(), 'PROPOSAL_ACTIONS.'),
            field('executed', u8()),
            field('reserved', bytes(4)),
            field('index', u64()),
            field('proposer', publicKeyTypeNode()),
            field('openedAt', i64()),
            field('votingEndsAt', i64(), 'Votes are taken before this time (a slash’s appeal window ends then).'),
            field('executableAt', i64(), 'The end of voting plus the hold-up (for a slash, the end of the appeal window).'),
            field('weightAtOpen', u64(), 'The total weight staked when the proposal opened: quorum and veto are fractions of it.'),
            field('forWeight', u64()),
            field('againstWeight', u64(), 'On a slash: the veto.'),
            field('voters', u64()),
            field('target', publicKeyTypeNode(), 'The account the action changes: a configuration, a market’s parameters, governance, or the slashed position.'),
            field('extra', publicKeyTypeNode(), 'updateEscrow: the reward vault; updateStaking: the treasury; slash: the accused provider.'),
            field('extra2', publicKeyTypeNode(), 'updateEscrow: the treasury.'),
            field('evidence', hash(), 'slash: the job receipt’s hash.'),
            field('digests', hash(), 'slash: the hash of the replicas’ result digests.'),
            field('payload', bytes(PAYLOAD), 'The target instruction’s data (updateEscrow, updateStaking), the market and its parameters (setMarket), governance’s parameters (updateGovernance), the amount (slash).'),
          ]),
          pda: pdaLinkNode('proposal'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
        accountNode({
          name: 'marketParams',
          docs: ['A market’s parameters as governance set them (PDA "market", the market’s name in 32 bytes): the Worker reads them.'],
          size: 120,
          data: structTypeNode([
            kindField(GOVERNANCE_ACCOUNT_KINDS.marketParams),
            field('bump', u8()),
            field('reserved', bytes(6)),
            field('market', bytes(32), 'The market’s name (MARKET_ID), zero-padded.'),
            field('updatedAt', i64()),
            field('proposal', u64(), 'The proposal that set these values.'),
            field('leaseMs', u64()),
            field('maxRematches', u64()),
            field('challengeWindowMs', u64()),
            field('replicaBidTtlMs', u64()),
            field('agentGraceMs', u64()),
            field('failedRunUnits', u64()),
            field('chatTokenPrice', u64(), 'Base units a chat token costs.'),
            field('chatVerifyBps', u64(), 'Basis points of chat completions re-run to verify them.'),
          ]),
          pda: pdaLinkNode('marketParams'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
        accountNode({
          name: 'voteRecord',
          docs: ['One position’s vote on one proposal (PDA "vote", proposal, position): its existence is the one-vote rule.'],
          size: 120,
          data: structTypeNode([
            kindField(GOVERNANCE_ACCOUNT_KINDS.voteRecord),
            field('bump', u8()),
            field('side', u8(), 'VOTE_SIDES: 0 against (a veto on a slash), 1 for.'),
            field('reserved', bytes(5)),
            field('proposal', publicKeyTypeNode()),
            field('position', publicKeyTypeNode()),
            field('voter', publicKeyTypeNode()),
            field('weight', u64()),
            field('votedAt', i64()),
          ]),
          pda: pdaLinkNode('voteRecord'),
          discriminators: [fieldDiscriminatorNode('discriminator')],
        }),
      ],
      instructions: [
        instruction(
          'initialize',
          'Creates governance with its parameters, naming the staking and escrow configurations it will administer (their admins then hand them to its PDA).',
          [account('payer', { writable: true, signer: true }), governanceAccount(true), stakingConfig(), account('escrowConfig'), systemProgram()],
          governanceParams(),
        ),
        instruction(
          'propose',
          'Opens a proposal (not a slash): the proposer signs for a position at or above the threshold; the payload is checked against the action’s bounds.',
          [account('proposer', { writable: true, signer: true }), account('position', { docs: 'The proposer’s staking position.' }), governanceAccount(true), proposalAccount(), stakingConfig(), systemProgram()],
          [arg('action', u8()), arg('target', publicKeyTypeNode()), arg('extra', publicKeyTypeNode()), arg('extra2', publicKeyTypeNode()), arg('payload', bytes(PAYLOAD))],
        ),
        instruction(
          'proposeSlash',
          'The verifier proposes slashing a position, with the evidence; holds the position through the appeal window and a grace period.',
          [account('slashProposer', { writable: true, signer: true }), governanceAccount(true), proposalAccount(), account('position', { writable: true }), stakingConfig(), stakingProgram(), systemProgram()],
          [arg('amount', u64()), arg('evidence', hash(), 'The job receipt’s hash.'), arg('digests', hash(), 'The hash of the replicas’ result digests.')],
        ),
        instruction(
          'vote',
          'Votes a position’s weight for or against a proposal (against a slash is a veto) and holds the position until voting ends.',
          [
            account('voter', { writable: true, signer: true }),
            account('position', { writable: true }),
            proposalAccount(),
            account('voteRecord', { writable: true, docs: 'PDA "vote", proposal, position.' }),
            governanceAccount(),
            stakingConfig(),
            stakingProgram(),
            systemProgram(),
          ],
          [arg('side', u8())],
        ),
        instruction(
          'execute',
          'Applies a passed proposal once voting and the hold-up have ended (anyone may): by CPI to the escrow or staking program’s updateConfig, or to a market’s parameters or governance itself.',
          [
            account('executor', { writable: true, signer: true, docs: 'Pays for a new market parameter account.' }),
            governanceAccount(true),
            proposalAccount(),
            account('target', { writable: true }),
            account('extra'),
            account('extra2'),
            account('program', { docs: 'The target’s program (the system program for a market or governance).' }),
            systemProgram(),
          ],
        ),
        instruction(
          'executeSlash',
          'Carries out a proposed slash after its appeal window unless vetoed (anyone may), by CPI to the staking program’s slash.',
          [
            account('executor', { signer: true }),
            governanceAccount(),
            proposalAccount(),
            account('position', { writable: true }),
            stakingConfig(true),
            account('stakeVault', { writable: true }),
            account('treasury', { writable: true }),
            account('mint'),
            stakingProgram(),
            tokenProgram(),
          ],
        ),
      ],
      errors: errorsOf(GOVERNANCE_ERRORS),
    }),
  );
}

export { GOVERNANCE_PROGRAM_ID, GOVERNANCE_INSTRUCTIONS, GOVERNANCE_ACCOUNT_KINDS, GOVERNANCE_CONSTANTS, GOVERNANCE_ERRORS, PROPOSAL_ACTIONS, VOTE_SIDES, MARKET_PARAM_FIELDS } from './constants.ts';
export type { GovernanceErrorName, ProposalAction, MarketParamField } from './constants.ts';
