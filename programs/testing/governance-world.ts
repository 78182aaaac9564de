/**
 * Test support: the escrow, staking and governance programs on a local chain, with governance the
 * admin of both configurations (handed over as a deployment does) and the slashing authority, and
 * helpers for stakes, proposals, votes and executions through programs/client/governance.ts.
 */
import { updateConfig as updateEscrowConfig } from '../escrow/client/index.ts';
import { updateConfig as updateStakingConfig } from '../staking/client/index.ts';
import { initialize as initializeGovernance } from '../governance/client/index.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { escrowConfigAddress, governanceAddress, marketParamsAddress, positionAddress, proposalAddress, stakingAddresses } from '../client/program-addresses.ts';
import {
  decodeGovernance,
  decodeMarketParams,
  decodeProposal,
  executeInstructions,
  executeSlashInstructions,
  proposeInstructions,
  proposeSlashInstructions,
  voteInstructions,
  type GovernanceParams,
  type ProposalChange,
  type ProposalReading,
} from '../client/governance.ts';
import { decodePosition, stakeInstructions } from '../client/staking.ts';
import { escrowWorld, FEE_BPS, STAKERS_SHARE_BPS, TIMELOCK_S } from './escrow-world.ts';
import { instructionsOf, noop, pk, umi, type Wallet } from './chain-world.ts';

export const VOTING_S = 3_600;
export const HOLD_UP_S = 600;
export const APPEAL_S = 1_800;
export const COOLDOWN_S = 3_600;

export async function governanceWorld(o: { quorumBps?: number; vetoBps?: number; proposalThreshold?: bigint } = {}) {
  const w = await escrowWorld();
  await w.init();
  await w.deploy(programArtifacts('governance'));
  const verifier = await w.wallet();
  const governance = await governanceAddress();
  const escrowConfig = await escrowConfigAddress();
  const { config: stakingConfig, stakeVault, rewardVault } = await stakingAddresses();
  const params: GovernanceParams = {
    quorumBps: o.quorumBps ?? 2_000,
    vetoBps: o.vetoBps ?? 1_000,
    proposalThreshold: o.proposalThreshold ?? 1_000n,
    votingSeconds: BigInt(VOTING_S),
    holdUpSeconds: BigInt(HOLD_UP_S),
    appealSeconds: BigInt(APPEAL_S),
    slashProposer: verifier.key,
  };
  await w.send(instructionsOf(initializeGovernance(umi, { payer: noop(w.admin.publicKey), governance: pk(governance), stakingConfig: pk(stakingConfig), escrowConfig: pk(escrowConfig), ...params, slashProposer: pk(params.slashProposer) })), [w.admin]);
  // The hand-over: both configurations' admin (and the slashing authority) become governance's PDA.
  await w.send(
    instructionsOf(
      updateStakingConfig(umi, { admin: noop(w.admin.publicKey), treasury: pk(w.treasury.ata), minProviderStake: 0n, cooldownSeconds: BigInt(COOLDOWN_S), maxSlashBpsPerEvent: 1_000, maxSlashBpsPerEpoch: 500, slashAuthority: pk(governance), newAdmin: pk(governance) }),
    ),
    [w.admin],
  );
  await w.send(
    instructionsOf(updateEscrowConfig(umi, { admin: noop(w.admin.publicKey), rewardVault: pk(rewardVault), treasury: pk(w.treasury.ata), feeBps: FEE_BPS, stakersShareBps: STAKERS_SHARE_BPS, withdrawTimelockSeconds: BigInt(TIMELOCK_S), newAdmin: pk(governance) })),
    [w.admin],
  );

  const account = (address: string) => {
    const a = w.chain.getAccount(address);
    if (!a) throw new Error(`no account at ${address}`);
    return a.data;
  };
  const readGovernance = () => decodeGovernance(governance, account(governance));
  const proposal = async (index: bigint): Promise<ProposalReading> => {
    const address = await proposalAddress(index);
    return decodeProposal(address, account(address));
  };
  const position = async (owner: string, id: bigint) => {
    const address = await positionAddress(owner, id);
    return decodePosition(address, account(address));
  };
  const market = async (name: string) => {
    const address = await marketParamsAddress(name);
    return w.chain.getAccount(address) ? decodeMarketParams(address, account(address)) : null;
  };

  const stake = async (s: Wallet, id: bigint, amount: bigint, lockDays = 0) => w.send(await stakeInstructions({ owner: s.key, id, mint: w.mint.publicKey, amount, lockDays }), [s.signer]);
  /** A wallet holding `amount` staked as position 0 (no lock: weight = amount). */
  const staker = async (amount: bigint) => {
    const s = await w.wallet(amount);
    await stake(s, 0n, amount);
    return s;
  };
  const escrowAccounts = { config: escrowConfig, rewardVault, treasury: w.treasury.ata };
  const propose = async (by: Wallet, change: Exclude<ProposalChange, { action: 'slash' }>, positionId = 0n) => {
    const index = readGovernance().proposalCount;
    await w.send(await proposeInstructions({ proposer: by.key, positionId, index, change, escrow: escrowAccounts, stakingTreasury: w.treasury.ata }), [by.signer]);
    return proposal(index);
  };
  const vote = async (by: Wallet, p: ProposalReading, side: 'for' | 'against', positionId = 0n) => w.send(await voteInstructions({ voter: by.key, positionId, proposal: p.address, side }), [by.signer]);
  const execute = async (p: ProposalReading, by: Wallet['signer'] = w.admin) => w.send(await executeInstructions({ executor: by.publicKey, proposal: await proposal(p.index) }), [by]);
  const proposeSlash = async (owner: string, amount: bigint, o: { id?: bigint; by?: Wallet } = {}) => {
    const index = readGovernance().proposalCount;
    const by = o.by ?? verifier;
    await w.send(await proposeSlashInstructions({ proposer: by.key, index, position: await positionAddress(owner, o.id ?? 0n), amount, evidence: new Uint8Array(32).fill(7), digests: new Uint8Array(32).fill(8) }), [by.signer]);
    return proposal(index);
  };
  const executeSlash = async (p: ProposalReading, by: Wallet['signer'] = w.admin) => w.send(await executeSlashInstructions({ executor: by.publicKey, proposal: p, treasury: w.treasury.ata, mint: w.mint.publicKey }), [by]);

  return { ...w, verifier, governance, escrowConfig, stakingConfig, stakeVault, stakingRewardVault: rewardVault, params, readGovernance, proposal, position, market, stake, staker, propose, vote, execute, proposeSlash, executeSlash };
}

export type GovernanceWorld = Awaited<ReturnType<typeof governanceWorld>>;
