import { MARKET_ID, type ChainInfo, type GovernanceInfo, type StakingInfo } from '../durable-objects/contracts/api.ts';
import { formatDoug } from '../durable-objects/domain/money.ts';
import { PARAM_BOUNDS } from '../durable-objects/domain/params.ts';
import { ESCROW_BOUNDS } from '../programs/escrow/constants.ts';
import { STAKING_CONSTANTS } from '../programs/staking/constants.ts';
import { GOVERNANCE_CONSTANTS, MARKET_PARAM_FIELDS, proposalStatus, weightShare, type ProposalStatus } from '../programs/governance/constants.ts';
import {
  executeInstructions,
  executeSlashInstructions,
  hasVoted,
  proposeInstructions,
  readGovernance,
  readProposal,
  readChainTime,
  readProposals,
  voteInstructions,
  type GovernanceReading,
  type ProposalChange,
  type ProposalReading,
} from '../programs/client/governance.ts';
import { readEscrowConfig } from '../programs/client/escrow.ts';
import { readPositions, readStakingConfig, type PositionReading } from '../programs/client/staking.ts';
import { solanaRpc } from '../programs/client/rpc.ts';
import { CLIENT_ERRORS, DougApiError } from './client.ts';
import { sendFromWallet, type DepositWallet } from './deposit.ts';

/*
 * Governance for whoever holds a wallet (the SDK's callers, the CLI, the portal): proposals of the
 * governance program GET /v1/chain names, voted with the wallet's staking positions, executed by
 * anyone once passed; instructions from programs/client/governance.ts, signed by the wallet.
 */

export type { ProposalChange, ProposalReading, GovernanceReading, ProposalStatus };

type GovernedChain = ChainInfo & { staking: StakingInfo; governance: GovernanceInfo };

function governedChain(chain: ChainInfo): GovernedChain {
  if (!chain.staking || !chain.governance)
    throw new DougApiError({ status: 0, code: CLIENT_ERRORS.GOVERNANCE_UNAVAILABLE, message: 'this marketplace runs no governance program (GET /v1/chain names none: its escrow configuration is not administered by governance)', context: {} });
  return chain as GovernedChain;
}

function refused(message: string, context: Record<string, unknown>): DougApiError {
  return new DougApiError({ status: 0, code: CLIENT_ERRORS.GOVERNANCE_REFUSED, message, context });
}

/** A proposal with where it stands now and what it takes. */
export interface ProposalView extends ProposalReading {
  status: ProposalStatus;
  /** For-weight needed to pass (a change), or against-weight that vetoes (a slash). */
  needed: bigint;
}

export interface GovernanceOverview {
  governance: GovernanceReading;
  proposals: ProposalView[];
  /** The time the statuses were judged at: the chain's clock, unix seconds. */
  nowSeconds: number;
}

const view = (p: ProposalReading, g: GovernanceReading, nowSeconds: number): ProposalView => ({
  ...p,
  status: proposalStatus(p, g, nowSeconds),
  needed: weightShare(p.weightAtOpen, p.action === 'slash' ? g.vetoBps : g.quorumBps),
});

/** Seconds by the chain's clock (what the program judges by), or `now` (ms) when given. */
const secondsNow = async (rpc: ReturnType<typeof solanaRpc>, now?: number) => (now === undefined ? readChainTime(rpc) : Math.floor(now / 1000));

/** Governance's parameters and every proposal, newest first, each's status by the chain's clock (or `now`, ms). */
export async function governanceOverview(chain: ChainInfo, now?: number): Promise<GovernanceOverview> {
  const c = governedChain(chain);
  const rpc = solanaRpc(c.rpcUrl);
  const [governance, proposals, seconds] = await Promise.all([readGovernance(rpc, { programId: c.governance.program }), readProposals(rpc, { programId: c.governance.program }), secondsNow(rpc, now)]);
  return { governance, proposals: proposals.map((p) => view(p, governance, seconds)), nowSeconds: seconds };
}

/** The governed parameters as they stand: the escrow's and staking's configurations and governance's own. */
export async function governedParameters(chain: ChainInfo) {
  const c = governedChain(chain);
  const rpc = solanaRpc(c.rpcUrl);
  const [escrow, staking, governance] = await Promise.all([readEscrowConfig(rpc, chain.escrow?.program, 'confirmed'), readStakingConfig(rpc, { programId: c.staking.program }), readGovernance(rpc, { programId: c.governance.program })]);
  return { escrow, staking, governance };
}

/**
 * A change's values within the bounds the target program or governance enforces (the programs'
 * generated constants and the marketplace's PARAM_BOUNDS), so that a proposal that passes can run:
 * the escrow and staking programs check their values only when the proposal executes.
 */
export function checkChange(change: ProposalChange): string | null {
  const range = (name: string, v: bigint | number, min: bigint | number, max: bigint | number) => (BigInt(v) < BigInt(min) || BigInt(v) > BigInt(max) ? `${name} must be ${min} to ${max}` : null);
  switch (change.action) {
    case 'updateEscrow': {
      const e = change.escrow;
      return (
        range('feeBps', e.feeBps, 0, ESCROW_BOUNDS.ESCROW_MAX_FEE_BPS) ??
        range('stakersShareBps', e.stakersShareBps, 0, 10_000) ??
        range('withdrawTimelockSeconds', e.withdrawTimelockSeconds, ESCROW_BOUNDS.ESCROW_MIN_WITHDRAW_TIMELOCK_SECONDS, ESCROW_BOUNDS.ESCROW_MAX_WITHDRAW_TIMELOCK_SECONDS)
      );
    }
    case 'updateStaking': {
      const s = change.staking;
      return (
        range('cooldownSeconds', s.cooldownSeconds, 0, STAKING_CONSTANTS.STAKING_MAX_COOLDOWN_SECONDS) ??
        range('maxSlashBpsPerEvent', s.maxSlashBpsPerEvent, 0, STAKING_CONSTANTS.STAKING_MAX_SLASH_BPS_PER_EVENT) ??
        range('maxSlashBpsPerEpoch', s.maxSlashBpsPerEpoch, 0, STAKING_CONSTANTS.STAKING_MAX_SLASH_BPS_PER_EPOCH) ??
        range('minProviderStake', s.minProviderStake, 0n, 2n ** 64n - 1n)
      );
    }
    case 'setMarket':
      if (!MARKET_ID.test(change.market)) return 'the market must be 1 to 32 of a-z, 0-9 and -';
      for (const f of MARKET_PARAM_FIELDS) {
        const bad = range(f, change.values[f], PARAM_BOUNDS[f][0], PARAM_BOUNDS[f][1]);
        if (bad) return bad;
      }
      return null;
    case 'updateGovernance': {
      const g = change.governance;
      const max = GOVERNANCE_CONSTANTS.GOVERNANCE_MAX_PERIOD_SECONDS!;
      const min = GOVERNANCE_CONSTANTS.GOVERNANCE_MIN_VOTING_SECONDS!;
      return range('quorumBps', g.quorumBps, 1, 10_000) ?? range('vetoBps', g.vetoBps, 1, 10_000) ?? range('votingSeconds', g.votingSeconds, min, max) ?? range('holdUpSeconds', g.holdUpSeconds, 0, max) ?? range('appealSeconds', g.appealSeconds, min, max);
    }
    case 'slash':
      return 'a slash is proposed by the marketplace’s verifier only';
  }
}

/** The wallet's staked positions, heaviest first. */
async function stakedPositions(c: GovernedChain, owner: string): Promise<PositionReading[]> {
  const positions = await readPositions(solanaRpc(c.rpcUrl), owner, { programId: c.staking.program });
  return positions.filter((p) => p.weight > 0n).sort((a, b) => (a.weight > b.weight ? -1 : a.weight < b.weight ? 1 : 0));
}

/** Opens a proposal of `change` from the wallet's heaviest position (or `positionId`), which must reach the threshold. */
export async function propose(o: { chain: ChainInfo; wallet: DepositWallet; change: Exclude<ProposalChange, { action: 'slash' }>; positionId?: bigint }): Promise<{ proposal: ProposalView; signature: string; slot: number }> {
  const c = governedChain(o.chain);
  const bad = checkChange(o.change);
  if (bad) throw refused(`this proposal could never run: ${bad}`, { action: o.change.action });
  const owner = o.wallet.publicKey;
  const rpc = solanaRpc(c.rpcUrl);
  const [governance, positions, escrow, staking] = await Promise.all([readGovernance(rpc, { programId: c.governance.program }), stakedPositions(c, owner), readEscrowConfig(rpc, o.chain.escrow?.program, 'confirmed'), readStakingConfig(rpc, { programId: c.staking.program })]);
  const position = o.positionId === undefined ? positions[0] : positions.find((p) => p.id === o.positionId);
  if (!position) throw refused(o.positionId === undefined ? 'you have no staked position to propose with' : `you have no staked position ${o.positionId}`, { owner });
  if (position.weight < governance.proposalThreshold) throw refused(`position ${position.id} weighs ${position.weight}; a proposal needs ${governance.proposalThreshold} (governance's threshold)`, { id: position.id.toString(), weight: position.weight.toString(), threshold: governance.proposalThreshold.toString() });
  const index = governance.proposalCount;
  const instructions = await proposeInstructions({
    proposer: owner,
    positionId: position.id,
    index,
    change: o.change,
    escrow: { config: escrow.address, rewardVault: escrow.rewardVault, treasury: escrow.treasury },
    stakingTreasury: staking.treasury,
    governanceProgram: c.governance.program,
    stakingProgram: c.staking.program,
  });
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, instructions);
  const proposal = await readProposal(rpc, index, { programId: c.governance.program });
  if (!proposal) throw refused(`proposal ${index} is not on chain after its transaction landed`, { index: index.toString() });
  return { proposal: view(proposal, governance, await readChainTime(rpc)), ...sent };
}

/**
 * Votes on proposal `index` with each of the wallet's positions that may (staked, its weight
 * standing before the opening, not yet voted), or with `positionId` alone. Each vote holds its
 * position until voting ends.
 */
export async function vote(o: { chain: ChainInfo; wallet: DepositWallet; index: bigint; side: 'for' | 'against'; positionId?: bigint; now?: number }): Promise<{ votes: { id: bigint; weight: bigint; signature: string }[]; proposal: ProposalView }> {
  const c = governedChain(o.chain);
  const owner = o.wallet.publicKey;
  const rpc = solanaRpc(c.rpcUrl);
  const [governance, proposal, positions] = await Promise.all([readGovernance(rpc, { programId: c.governance.program }), readProposal(rpc, o.index, { programId: c.governance.program }), stakedPositions(c, owner)]);
  if (!proposal) throw refused(`there is no proposal ${o.index}`, { index: o.index.toString() });
  const seconds = await secondsNow(rpc, o.now);
  const status = proposalStatus(proposal, governance, seconds);
  if (status !== 'voting' && status !== 'appeal') throw refused(`proposal ${o.index} takes no more votes: it is ${status}`, { index: o.index.toString(), status });
  if (proposal.action === 'slash' && proposal.extra === owner) throw refused('a provider may not vote on a slash of its own stake', { index: o.index.toString() });
  const candidates = o.positionId === undefined ? positions : positions.filter((p) => p.id === o.positionId);
  if (o.positionId !== undefined && candidates.length === 0) throw refused(`you have no staked position ${o.positionId}`, { owner });
  const eligible: PositionReading[] = [];
  for (const p of candidates) {
    if (Number(p.grewAt) >= proposal.openedAt) continue;
    if (await hasVoted(rpc, proposal.address, p.address, { programId: c.governance.program })) continue;
    eligible.push(p);
  }
  if (eligible.length === 0) throw refused(`none of your positions may vote on proposal ${o.index}: a position votes once, and only with weight it had before the proposal opened`, { index: o.index.toString(), owner });
  const votes: { id: bigint; weight: bigint; signature: string }[] = [];
  for (const p of eligible) {
    const { signature } = await sendFromWallet(c.rpcUrl, o.wallet, await voteInstructions({ voter: owner, positionId: p.id, proposal: proposal.address, side: o.side, governanceProgram: c.governance.program, stakingProgram: c.staking.program }));
    votes.push({ id: p.id, weight: p.weight, signature });
  }
  const after = (await readProposal(rpc, o.index, { programId: c.governance.program }))!;
  return { votes, proposal: view(after, governance, seconds) };
}

/** Executes proposal `index` once it may run (anyone may: the wallet pays the fee). */
export async function execute(o: { chain: ChainInfo; wallet: DepositWallet; index: bigint; now?: number }): Promise<{ proposal: ProposalView; signature: string; slot: number }> {
  const c = governedChain(o.chain);
  const rpc = solanaRpc(c.rpcUrl);
  const [governance, proposal] = await Promise.all([readGovernance(rpc, { programId: c.governance.program }), readProposal(rpc, o.index, { programId: c.governance.program })]);
  if (!proposal) throw refused(`there is no proposal ${o.index}`, { index: o.index.toString() });
  const status = proposalStatus(proposal, governance, await secondsNow(rpc, o.now));
  if (status !== 'executable') throw refused(`proposal ${o.index} cannot run: it is ${status}`, { index: o.index.toString(), status });
  const executor = o.wallet.publicKey;
  const programs = { governanceProgram: c.governance.program, stakingProgram: c.staking.program };
  const instructions =
    proposal.action === 'slash'
      ? await executeSlashInstructions({ executor, proposal, treasury: (await readStakingConfig(rpc, { programId: c.staking.program })).treasury, mint: c.mint, ...programs })
      : await executeInstructions({ executor, proposal, ...programs });
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, instructions);
  const after = (await readProposal(rpc, o.index, { programId: c.governance.program }))!;
  return { proposal: view(after, governance, await readChainTime(rpc)), ...sent };
}

/** One line saying what a proposal changes. */
export function describeChange(p: Pick<ProposalView, 'change' | 'target'>): string {
  const c = p.change;
  switch (c.action) {
    case 'updateEscrow':
      return `escrow: fee ${c.escrow.feeBps} bps, stakers' share ${c.escrow.stakersShareBps} bps, timelock ${c.escrow.withdrawTimelockSeconds} s`;
    case 'updateStaking':
      return `staking: provider minimum ${formatDoug(c.staking.minProviderStake)} DOUG, cooldown ${c.staking.cooldownSeconds} s, slash ≤ ${c.staking.maxSlashBpsPerEvent} bps/event, ${c.staking.maxSlashBpsPerEpoch} bps/epoch`;
    case 'setMarket':
      return `market ${c.market}: ${MARKET_PARAM_FIELDS.map((f) => `${f} ${c.values[f]}`).join(', ')}`;
    case 'updateGovernance':
      return `governance: quorum ${c.governance.quorumBps} bps, veto ${c.governance.vetoBps} bps, threshold ${formatDoug(c.governance.proposalThreshold)}, voting ${c.governance.votingSeconds} s, hold-up ${c.governance.holdUpSeconds} s, appeal ${c.governance.appealSeconds} s`;
    case 'slash':
      return `slash ${formatDoug(c.amount)} DOUG of position ${p.target}`;
  }
}

const wire = (v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wire(x)])) : v);

/** A proposal for JSON (amounts and weights as base-unit strings, as the API writes them). */
export const proposalWire = (p: ProposalView) => wire(p) as Record<string, unknown>;

/** Governance's parameters for JSON. */
export const governanceWire = (g: GovernanceReading) => wire(g) as Record<string, unknown>;
