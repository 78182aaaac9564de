import { createNoopSigner, publicKey } from '@metaplex-foundation/umi';
import { getUpdateConfigInstructionDataSerializer as escrowUpdateData } from '../escrow/client/index.ts';
import { getUpdateConfigInstructionDataSerializer as stakingUpdateData } from '../staking/client/index.ts';
import { execute, executeSlash, getInitializeInstructionDataSerializer, propose, proposeSlash, vote, type InitializeInstructionDataArgs } from '../governance/client/index.ts';
import { GOVERNANCE_CONSTANTS, GOVERNANCE_PROGRAM_ID, MARKET_PARAM_FIELDS, PROPOSAL_ACTIONS, VOTE_SIDES, type MarketParamField, type ProposalAction } from '../governance/constants.ts';
import { GOVERNANCE_LAYOUT } from '../governance/layout.ts';
import { ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { SYSTEM_PROGRAM, TOKEN_PROGRAM } from './address.ts';
import { encodeBase58 } from './base58.ts';
import { builderContext, instructionsOf } from './builders.ts';
import { governanceAddress, marketNameBytes, marketParamsAddress, positionAddress, proposalAddress, stakingAddresses, voteRecordAddress } from './program-addresses.ts';
import { fromBase64, type Commitment, type SolanaRpc } from './rpc.ts';
import type { Instruction } from './tx.ts';

/*
 * The governance program for the SDK, the CLI, the portal and the Worker: proposals' payloads
 * encoded with the generated clients' own serializers (the escrow's and staking's updateConfig data,
 * governance's parameters as initialize carries them), the instructions built by the generated
 * client, and governance, proposals and markets' parameters read at the generated layout's offsets.
 */

const G = GOVERNANCE_LAYOUT.governance;
const P = GOVERNANCE_LAYOUT.proposal;
const M = GOVERNANCE_LAYOUT.marketParams;
const PAYLOAD_SIZE = GOVERNANCE_CONSTANTS.GOVERNANCE_PAYLOAD_SIZE!;
const signer = (k: string) => createNoopSigner(publicKey(k));
const key = (k: string) => publicKey(k);
const view = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, data.byteLength);
const u64At = (data: Uint8Array, at: number) => view(data).getBigUint64(at, true);
const i64At = (data: Uint8Array, at: number) => Number(view(data).getBigInt64(at, true));
const keyAt = (data: Uint8Array, at: number) => encodeBase58(data.subarray(at, at + 32));
/** Bytes as lowercase hex (a proposal's evidence as readings show it). */
export const hexOf = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const hexAt = (data: Uint8Array, at: number) => hexOf(data.subarray(at, at + 32));

// ---- payloads ----

/** The escrow parameters governance changes (its updateConfig's arguments). */
export interface EscrowParams {
  feeBps: number;
  stakersShareBps: number;
  withdrawTimelockSeconds: bigint;
  newAdmin: string;
}

/** The staking parameters governance changes (its updateConfig's arguments). */
export interface StakingParams {
  minProviderStake: bigint;
  cooldownSeconds: bigint;
  maxSlashBpsPerEvent: number;
  maxSlashBpsPerEpoch: number;
  slashAuthority: string;
  newAdmin: string;
}

/** Governance's own parameters (initialize's arguments, an updateGovernance payload). */
export interface GovernanceParams {
  quorumBps: number;
  vetoBps: number;
  proposalThreshold: bigint;
  votingSeconds: bigint;
  holdUpSeconds: bigint;
  appealSeconds: bigint;
  slashProposer: string;
}

export type MarketValues = Record<MarketParamField, bigint>;

const padded = (bytes: Uint8Array) => {
  if (bytes.length > PAYLOAD_SIZE) throw new Error(`a proposal's payload takes at most ${PAYLOAD_SIZE} bytes`);
  const out = new Uint8Array(PAYLOAD_SIZE);
  out.set(bytes);
  return out;
};

export const escrowPayload = (p: EscrowParams) => padded(escrowUpdateData().serialize({ ...p, newAdmin: key(p.newAdmin) }));
export const stakingPayload = (p: StakingParams) => padded(stakingUpdateData().serialize({ ...p, slashAuthority: key(p.slashAuthority), newAdmin: key(p.newAdmin) }));
const governanceArgs = (p: GovernanceParams): InitializeInstructionDataArgs => ({ ...p, slashProposer: key(p.slashProposer) });
/** Governance's parameters: initialize's data without its instruction number. */
export const governancePayload = (p: GovernanceParams) => padded(getInitializeInstructionDataSerializer().serialize(governanceArgs(p)).subarray(1));

export function marketPayload(market: string, values: MarketValues): Uint8Array {
  const out = new Uint8Array(PAYLOAD_SIZE);
  out.set(marketNameBytes(market));
  MARKET_PARAM_FIELDS.forEach((f, i) => view(out).setBigUint64(32 + 8 * i, values[f], true));
  return out;
}

/** What a proposal's payload says, by its action. */
export type ProposalChange =
  | { action: 'updateEscrow'; escrow: EscrowParams }
  | { action: 'updateStaking'; staking: StakingParams }
  | { action: 'setMarket'; market: string; values: MarketValues }
  | { action: 'updateGovernance'; governance: GovernanceParams }
  | { action: 'slash'; amount: bigint };

export function decodeChange(action: ProposalAction, payload: Uint8Array): ProposalChange {
  switch (action) {
    case 'updateEscrow': {
      const [d] = escrowUpdateData().deserialize(payload);
      return { action, escrow: { feeBps: d.feeBps, stakersShareBps: d.stakersShareBps, withdrawTimelockSeconds: d.withdrawTimelockSeconds, newAdmin: d.newAdmin.toString() } };
    }
    case 'updateStaking': {
      const [d] = stakingUpdateData().deserialize(payload);
      const { minProviderStake, cooldownSeconds, maxSlashBpsPerEvent, maxSlashBpsPerEpoch } = d;
      return { action, staking: { minProviderStake, cooldownSeconds, maxSlashBpsPerEvent, maxSlashBpsPerEpoch, slashAuthority: d.slashAuthority.toString(), newAdmin: d.newAdmin.toString() } };
    }
    case 'setMarket': {
      const name = new TextDecoder().decode(payload.subarray(0, 32)).replace(/\0+$/, '');
      return { action, market: name, values: Object.fromEntries(MARKET_PARAM_FIELDS.map((f, i) => [f, u64At(payload, 32 + 8 * i)])) as MarketValues };
    }
    case 'updateGovernance': {
      const [d] = getInitializeInstructionDataSerializer().deserialize(Uint8Array.of(0, ...payload));
      const { quorumBps, vetoBps, proposalThreshold, votingSeconds, holdUpSeconds, appealSeconds } = d;
      return { action, governance: { quorumBps, vetoBps, proposalThreshold, votingSeconds, holdUpSeconds, appealSeconds, slashProposer: d.slashProposer.toString() } };
    }
    case 'slash':
      return { action, amount: u64At(payload, 0) };
  }
}

// ---- readings ----

export interface GovernanceReading extends GovernanceParams {
  address: string;
  stakingConfig: string;
  escrowConfig: string;
  proposalCount: bigint;
}

export interface ProposalReading {
  address: string;
  index: bigint;
  action: ProposalAction;
  executed: boolean;
  proposer: string;
  /** Unix seconds. */
  openedAt: number;
  votingEndsAt: number;
  executableAt: number;
  weightAtOpen: bigint;
  forWeight: bigint;
  againstWeight: bigint;
  voters: bigint;
  target: string;
  extra: string;
  extra2: string;
  /** A slash's evidence: the job receipt's hash and the replicas' digests' hash (hex). */
  evidence: string;
  digests: string;
  change: ProposalChange;
}

export interface MarketParamsReading {
  address: string;
  market: string;
  updatedAt: number;
  proposal: bigint;
  values: MarketValues;
}

const ACTION_NAMES = Object.fromEntries(Object.entries(PROPOSAL_ACTIONS).map(([k, v]) => [v, k])) as Record<number, ProposalAction>;

export function decodeGovernance(address: string, data: Uint8Array): GovernanceReading {
  const a = G.at;
  return {
    address,
    quorumBps: view(data).getUint16(a.quorumBps, true),
    vetoBps: view(data).getUint16(a.vetoBps, true),
    stakingConfig: keyAt(data, a.stakingConfig),
    escrowConfig: keyAt(data, a.escrowConfig),
    slashProposer: keyAt(data, a.slashProposer),
    proposalThreshold: u64At(data, a.proposalThreshold),
    votingSeconds: u64At(data, a.votingSeconds),
    holdUpSeconds: u64At(data, a.holdUpSeconds),
    appealSeconds: u64At(data, a.appealSeconds),
    proposalCount: u64At(data, a.proposalCount),
  };
}

export function decodeProposal(address: string, data: Uint8Array): ProposalReading {
  const a = P.at;
  const action = ACTION_NAMES[data[a.action]!];
  if (!action) throw new Error(`proposal ${address} has an unknown action ${data[a.action]}`);
  return {
    address,
    index: u64At(data, a.index),
    action,
    executed: data[a.executed] !== 0,
    proposer: keyAt(data, a.proposer),
    openedAt: i64At(data, a.openedAt),
    votingEndsAt: i64At(data, a.votingEndsAt),
    executableAt: i64At(data, a.executableAt),
    weightAtOpen: u64At(data, a.weightAtOpen),
    forWeight: u64At(data, a.forWeight),
    againstWeight: u64At(data, a.againstWeight),
    voters: u64At(data, a.voters),
    target: keyAt(data, a.target),
    extra: keyAt(data, a.extra),
    extra2: keyAt(data, a.extra2),
    evidence: hexAt(data, a.evidence),
    digests: hexAt(data, a.digests),
    change: decodeChange(action, data.subarray(a.payload, a.payload + PAYLOAD_SIZE)),
  };
}

export function decodeMarketParams(address: string, data: Uint8Array): MarketParamsReading {
  const a = M.at;
  return {
    address,
    market: new TextDecoder().decode(data.subarray(a.market, a.market + 32)).replace(/\0+$/, ''),
    updatedAt: i64At(data, a.updatedAt),
    proposal: u64At(data, a.proposal),
    values: Object.fromEntries(MARKET_PARAM_FIELDS.map((f) => [f, u64At(data, a[f])])) as MarketValues,
  };
}

const owned = (info: { owner: string; data: Uint8Array } | null, programId: string, layout: { kind: number; size: number }) =>
  info !== null && info.owner === programId && info.data.length === layout.size && info.data[0] === layout.kind;

export async function readGovernance(rpc: SolanaRpc, o: { programId?: string; commitment?: Commitment } = {}): Promise<GovernanceReading> {
  const programId = o.programId ?? GOVERNANCE_PROGRAM_ID;
  const address = await governanceAddress(programId);
  const info = (await rpc.getAccountInfo(address, o.commitment ?? 'confirmed')).value;
  if (!owned(info, programId, G)) throw new Error(`no governance of ${programId} at ${address}`);
  return decodeGovernance(address, info!.data);
}

/** Every proposal, newest first. */
export async function readProposals(rpc: SolanaRpc, o: { programId?: string; commitment?: Commitment } = {}): Promise<ProposalReading[]> {
  const found = await rpc.call<{ pubkey: string; account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    o.programId ?? GOVERNANCE_PROGRAM_ID,
    { commitment: o.commitment ?? 'confirmed', encoding: 'base64', filters: [{ dataSize: P.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(P.kind)) } }] },
  ]);
  return found.map((a) => decodeProposal(a.pubkey, fromBase64(a.account.data[0]))).sort((a, b) => (a.index > b.index ? -1 : a.index < b.index ? 1 : 0));
}

export async function readProposal(rpc: SolanaRpc, index: bigint, o: { programId?: string; commitment?: Commitment } = {}): Promise<ProposalReading | null> {
  const programId = o.programId ?? GOVERNANCE_PROGRAM_ID;
  const address = await proposalAddress(index, programId);
  const info = (await rpc.getAccountInfo(address, o.commitment ?? 'confirmed')).value;
  return owned(info, programId, P) ? decodeProposal(address, info!.data) : null;
}

/** A market's parameters as governance set them, or null when it never did. */
export async function readMarketParams(rpc: SolanaRpc, market: string, o: { programId?: string; commitment?: Commitment } = {}): Promise<MarketParamsReading | null> {
  const programId = o.programId ?? GOVERNANCE_PROGRAM_ID;
  const address = await marketParamsAddress(market, programId);
  const info = (await rpc.getAccountInfo(address, o.commitment ?? 'confirmed')).value;
  return owned(info, programId, M) ? decodeMarketParams(address, info!.data) : null;
}

const CLOCK_SYSVAR = 'SysvarC1ock11111111111111111111111111111111';

/**
 * The chain's own time (the Clock sysvar's unix timestamp, seconds): what the programs judge votes,
 * hold-ups and appeal windows by, whatever the local clock says.
 */
export async function readChainTime(rpc: SolanaRpc): Promise<number> {
  const info = (await rpc.getAccountInfo(CLOCK_SYSVAR, 'confirmed')).value;
  if (!info || info.data.length < 40) throw new Error('the chain has no Clock sysvar to read');
  return Number(view(info.data).getBigInt64(32, true));
}

/** Whether a position has voted on a proposal (its vote record exists). */
export async function hasVoted(rpc: SolanaRpc, proposal: string, position: string, o: { programId?: string } = {}): Promise<boolean> {
  const info = (await rpc.getAccountInfo(await voteRecordAddress(proposal, position, o.programId ?? GOVERNANCE_PROGRAM_ID), 'confirmed')).value;
  return info !== null;
}

// ---- instructions ----

interface Programs {
  governanceProgram?: string;
  stakingProgram?: string;
}

/** A proposal of `change`, opened by the owner of position `positionId` as number `index` (governance's proposalCount). */
export async function proposeInstructions(o: Programs & { proposer: string; positionId: bigint; index: bigint; change: Exclude<ProposalChange, { action: 'slash' }>; escrow?: { config: string; rewardVault: string; treasury: string }; stakingTreasury?: string }): Promise<Instruction[]> {
  const gp = o.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const stakingProgram = o.stakingProgram ?? STAKING_PROGRAM_ID;
  const [{ config: stakingConfig }, position, proposal, governance] = await Promise.all([stakingAddresses(stakingProgram), positionAddress(o.proposer, o.positionId, stakingProgram), proposalAddress(o.index, gp), governanceAddress(gp)]);
  const none = SYSTEM_PROGRAM;
  const c = o.change;
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`a ${c.action} proposal needs ${what}`);
    return v;
  };
  const [target, extra, extra2, payload] =
    c.action === 'updateEscrow'
      ? [need(o.escrow, 'the escrow configuration').config, o.escrow!.rewardVault, o.escrow!.treasury, escrowPayload(c.escrow)]
      : c.action === 'updateStaking'
        ? [stakingConfig, need(o.stakingTreasury, 'the staking treasury'), none, stakingPayload(c.staking)]
        : c.action === 'setMarket'
          ? [await marketParamsAddress(c.market, gp), none, none, marketPayload(c.market, c.values)]
          : [governance, none, none, governancePayload(c.governance)];
  return instructionsOf(
    propose(builderContext, { proposer: signer(o.proposer), position: key(position), governance: key(governance), proposal: key(proposal), stakingConfig: key(stakingConfig), action: PROPOSAL_ACTIONS[c.action], target: key(target), extra: key(extra), extra2: key(extra2), payload }),
  );
}

export async function voteInstructions(o: Programs & { voter: string; positionId: bigint; proposal: string; side: keyof typeof VOTE_SIDES }): Promise<Instruction[]> {
  const gp = o.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const stakingProgram = o.stakingProgram ?? STAKING_PROGRAM_ID;
  const [{ config: stakingConfig }, position, governance] = await Promise.all([stakingAddresses(stakingProgram), positionAddress(o.voter, o.positionId, stakingProgram), governanceAddress(gp)]);
  return instructionsOf(
    vote(builderContext, {
      voter: signer(o.voter),
      position: key(position),
      proposal: key(o.proposal),
      voteRecord: key(await voteRecordAddress(o.proposal, position, gp)),
      governance: key(governance),
      stakingConfig: key(stakingConfig),
      stakingProgram: key(stakingProgram),
      side: VOTE_SIDES[o.side],
    }),
  );
}

/** Runs a passed proposal (anyone may; `executor` pays for a new market account). */
export async function executeInstructions(o: Programs & { executor: string; proposal: ProposalReading }): Promise<Instruction[]> {
  const gp = o.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const p = o.proposal;
  const program = p.action === 'updateEscrow' ? ESCROW_PROGRAM_ID : p.action === 'updateStaking' ? (o.stakingProgram ?? STAKING_PROGRAM_ID) : SYSTEM_PROGRAM;
  return instructionsOf(
    execute(builderContext, { executor: signer(o.executor), governance: key(await governanceAddress(gp)), proposal: key(p.address), target: key(p.target), extra: key(p.extra), extra2: key(p.extra2), program: key(program) }),
  );
}

/** The verifier's proposal to slash `amount` of a position, with the evidence (32-byte hashes). */
export async function proposeSlashInstructions(o: Programs & { proposer: string; index: bigint; position: string; amount: bigint; evidence: Uint8Array; digests: Uint8Array }): Promise<Instruction[]> {
  const gp = o.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const stakingProgram = o.stakingProgram ?? STAKING_PROGRAM_ID;
  const { config } = await stakingAddresses(stakingProgram);
  return instructionsOf(
    proposeSlash(builderContext, {
      slashProposer: signer(o.proposer),
      governance: key(await governanceAddress(gp)),
      proposal: key(await proposalAddress(o.index, gp)),
      position: key(o.position),
      stakingConfig: key(config),
      stakingProgram: key(stakingProgram),
      amount: o.amount,
      evidence: o.evidence,
      digests: o.digests,
    }),
  );
}

export async function executeSlashInstructions(o: Programs & { executor: string; proposal: ProposalReading; treasury: string; mint: string }): Promise<Instruction[]> {
  const gp = o.governanceProgram ?? GOVERNANCE_PROGRAM_ID;
  const stakingProgram = o.stakingProgram ?? STAKING_PROGRAM_ID;
  const { config, stakeVault } = await stakingAddresses(stakingProgram);
  return instructionsOf(
    executeSlash(builderContext, {
      executor: signer(o.executor),
      governance: key(await governanceAddress(gp)),
      proposal: key(o.proposal.address),
      position: key(o.proposal.target),
      stakingConfig: key(config),
      stakeVault: key(stakeVault),
      treasury: key(o.treasury),
      mint: key(o.mint),
      stakingProgram: key(stakingProgram),
      tokenProgram: key(TOKEN_PROGRAM),
    }),
  );
}
