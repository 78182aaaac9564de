import { createNoopSigner, publicKey } from '@metaplex-foundation/umi';
import type { Amount } from '../../durable-objects/domain/money.ts';
import { claim, distribute, extend, stake, topUp, unstake, withdraw, type PositionAccountData, type StakingConfigAccountData } from '../staking/client/index.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { STAKING_LAYOUT } from '../staking/layout.ts';
import { associatedTokenAddress } from './address.ts';
import { encodeBase58 } from './base58.ts';
import { builderContext, instructionsOf } from './builders.ts';
import { createAssociatedTokenAccountIdempotent } from './mint.ts';
import { positionAddress, stakingAddresses } from './program-addresses.ts';
import { fromBase64, type Commitment, type SolanaRpc } from './rpc.ts';
import type { Instruction } from './tx.ts';

/*
 * The staking program for the SDK, the CLI and the portal: a position's instructions, built by the
 * client generated from its IDL (programs/staking/client) through builders.ts; positions and the
 * configuration read at the generated layout's offsets (staking/layout.ts); what a position may
 * claim, computed as the program settles it.
 */

const P = STAKING_LAYOUT.position;
const C = STAKING_LAYOUT.stakingConfig;
const SCALE = 1n << 64n;
const MOD = 1n << 128n;
const signer = (key: string) => createNoopSigner(publicKey(key));
const key = (k: string) => publicKey(k);

/** A position's fields the owner's tools need (the generated account type's), with its address and owner as text. */
export type PositionReading = Pick<PositionAccountData, 'id' | 'lockDays' | 'amount' | 'weight' | 'createdAt' | 'unstakedAt' | 'unlockAt' | 'owed' | 'debt' | 'claimed' | 'slashed' | 'grewAt' | 'heldUntil'> & { address: string; owner: string };

/** The staking configuration's figures (the generated account type's), with addresses as text. */
export type StakingConfigReading = Pick<
  StakingConfigAccountData,
  'minProviderStake' | 'cooldownSeconds' | 'totalStaked' | 'totalWeight' | 'rewardPerWeight' | 'carry' | 'feesToStakers' | 'feesToTreasury' | 'claimed' | 'slashed' | 'maxSlashBpsPerEvent' | 'maxSlashBpsPerEpoch'
> & { address: string; mint: string; treasury: string; admin: string; slashAuthority: string };

const view = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, data.byteLength);
const u64At = (data: Uint8Array, at: number) => view(data).getBigUint64(at, true);
const u128At = (data: Uint8Array, at: number) => u64At(data, at) | (u64At(data, at + 8) << 64n);
const keyAt = (data: Uint8Array, at: number) => encodeBase58(data.subarray(at, at + 32));

export function decodePosition(address: string, data: Uint8Array): PositionReading {
  const a = P.at;
  return {
    address,
    owner: keyAt(data, a.owner),
    id: u64At(data, a.id),
    lockDays: view(data).getUint16(a.lockDays, true),
    amount: u64At(data, a.amount),
    weight: u64At(data, a.weight),
    createdAt: u64At(data, a.createdAt),
    unstakedAt: u64At(data, a.unstakedAt),
    unlockAt: u64At(data, a.unlockAt),
    owed: u128At(data, a.owed),
    debt: u128At(data, a.debt),
    claimed: u64At(data, a.claimed),
    slashed: u64At(data, a.slashed),
    grewAt: u64At(data, a.grewAt),
    heldUntil: u64At(data, a.heldUntil),
  };
}

export function decodeStakingConfig(address: string, data: Uint8Array): StakingConfigReading {
  const a = C.at;
  return {
    address,
    mint: keyAt(data, a.mint),
    treasury: keyAt(data, a.treasury),
    admin: keyAt(data, a.admin),
    slashAuthority: keyAt(data, a.slashAuthority),
    maxSlashBpsPerEvent: view(data).getUint16(a.maxSlashBpsPerEvent, true),
    maxSlashBpsPerEpoch: view(data).getUint16(a.maxSlashBpsPerEpoch, true),
    minProviderStake: u64At(data, a.minProviderStake),
    cooldownSeconds: u64At(data, a.cooldownSeconds),
    totalStaked: u64At(data, a.totalStaked),
    totalWeight: u64At(data, a.totalWeight),
    rewardPerWeight: u128At(data, a.rewardPerWeight),
    carry: u64At(data, a.carry),
    feesToStakers: u64At(data, a.feesToStakers),
    feesToTreasury: u64At(data, a.feesToTreasury),
    claimed: u64At(data, a.claimed),
    slashed: u64At(data, a.slashed),
  };
}

/** What a position has earned and not claimed, in 2^-64 base units, as the program will settle it. */
export const pendingScaled = (p: Pick<PositionReading, 'owed' | 'weight' | 'debt'>, rewardPerWeight: bigint): bigint => p.owed + ((((p.weight * rewardPerWeight) % MOD) - p.debt + MOD) % MOD);

/** What a claim would pay now, in whole base units (the fraction stays owed to the position). */
export const claimable = (p: Pick<PositionReading, 'owed' | 'weight' | 'debt'>, config: Pick<StakingConfigReading, 'rewardPerWeight'>): bigint => pendingScaled(p, config.rewardPerWeight) / SCALE;

export async function readStakingConfig(rpc: SolanaRpc, o: { programId?: string; commitment?: Commitment } = {}): Promise<StakingConfigReading> {
  const programId = o.programId ?? STAKING_PROGRAM_ID;
  const { config } = await stakingAddresses(programId);
  const info = (await rpc.getAccountInfo(config, o.commitment ?? 'confirmed')).value;
  if (!info || info.owner !== programId || info.data.length !== C.size || info.data[0] !== C.kind) throw new Error(`no staking configuration of ${programId} at ${config}`);
  return decodeStakingConfig(config, info.data);
}

/** An owner's positions, oldest id first. */
export async function readPositions(rpc: SolanaRpc, owner: string, o: { programId?: string; commitment?: Commitment } = {}): Promise<PositionReading[]> {
  const found = await rpc.call<{ pubkey: string; account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    o.programId ?? STAKING_PROGRAM_ID,
    {
      commitment: o.commitment ?? 'confirmed',
      encoding: 'base64',
      filters: [{ dataSize: P.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(P.kind)) } }, { memcmp: { offset: P.at.owner, bytes: owner } }],
    },
  ]);
  return found.map((a) => decodePosition(a.pubkey, fromBase64(a.account.data[0]))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

interface PositionRef {
  owner: string;
  id: bigint;
  mint: string;
  programId?: string;
}

/** The accounts every position instruction names. */
async function accountsOf(o: PositionRef) {
  const programId = o.programId ?? STAKING_PROGRAM_ID;
  const [{ config, stakeVault, rewardVault }, position, ownerTokenAccount] = await Promise.all([stakingAddresses(programId), positionAddress(o.owner, o.id, programId), associatedTokenAddress(o.owner, o.mint)]);
  return { config, stakeVault, rewardVault, position, ownerTokenAccount };
}

/** A new position `id` of `amount` locked `lockDays` days, from the owner's associated token account. */
export async function stakeInstructions(o: PositionRef & { amount: Amount; lockDays: number }): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return instructionsOf(
    stake(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config), ownerTokenAccount: key(a.ownerTokenAccount), stakeVault: key(a.stakeVault), mint: key(o.mint), id: o.id, amount: o.amount, lockDays: o.lockDays }),
  );
}

export async function topUpInstructions(o: PositionRef & { amount: Amount }): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return instructionsOf(topUp(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config), ownerTokenAccount: key(a.ownerTokenAccount), stakeVault: key(a.stakeVault), mint: key(o.mint), amount: o.amount }));
}

export async function extendInstructions(o: PositionRef & { lockDays: number }): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return instructionsOf(extend(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config), lockDays: o.lockDays }));
}

export async function unstakeInstructions(o: PositionRef): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return instructionsOf(unstake(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config) }));
}

/** The unstaked tokens back to the owner's associated token account (created when missing). */
export async function withdrawStakeInstructions(o: PositionRef): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return [
    createAssociatedTokenAccountIdempotent({ payer: o.owner, tokenAccount: a.ownerTokenAccount, owner: o.owner, mint: o.mint }),
    ...instructionsOf(withdraw(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config), ownerTokenAccount: key(a.ownerTokenAccount), stakeVault: key(a.stakeVault), mint: key(o.mint) })),
  ];
}

/** The position's rewards in whole base units to the owner's associated token account (created when missing). */
export async function claimInstructions(o: PositionRef): Promise<Instruction[]> {
  const a = await accountsOf(o);
  return [
    createAssociatedTokenAccountIdempotent({ payer: o.owner, tokenAccount: a.ownerTokenAccount, owner: o.owner, mint: o.mint }),
    ...instructionsOf(claim(builderContext, { owner: signer(o.owner), position: key(a.position), config: key(a.config), ownerTokenAccount: key(a.ownerTokenAccount), rewardVault: key(a.rewardVault), mint: key(o.mint) })),
  ];
}

/** Every position of the program (for the network's weight by lock). */
export async function readAllPositions(rpc: SolanaRpc, o: { programId?: string; commitment?: Commitment } = {}): Promise<PositionReading[]> {
  const found = await rpc.call<{ pubkey: string; account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    o.programId ?? STAKING_PROGRAM_ID,
    { commitment: o.commitment ?? 'confirmed', encoding: 'base64', filters: [{ dataSize: P.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(P.kind)) } }] },
  ]);
  return found.map((a) => decodePosition(a.pubkey, fromBase64(a.account.data[0])));
}

/**
 * `amount` of fees from `from`'s associated token account shared among the positions by weight (to
 * the treasury while nothing is staked): what the escrow's settle calls, open to anyone.
 */
export async function distributeInstructions(o: { from: string; mint: string; treasury: string; amount: Amount; programId?: string }): Promise<Instruction[]> {
  const programId = o.programId ?? STAKING_PROGRAM_ID;
  const [{ config, rewardVault }, source] = await Promise.all([stakingAddresses(programId), associatedTokenAddress(o.from, o.mint)]);
  return instructionsOf(
    distribute(builderContext, { sourceAuthority: signer(o.from), source: key(source), config: key(config), rewardVault: key(rewardVault), treasury: key(o.treasury), mint: key(o.mint), amount: o.amount }),
  );
}

/** One transaction that moved the reward vault: fees in (distribute), or rewards out (claims). */
export interface RewardFlow {
  signature: string;
  /** Block time, ms since the epoch. */
  at: number;
  /** Base units into the vault (positive) or out of it (negative). */
  delta: bigint;
}

/**
 * The reward vault's latest `limit` movements, newest first, from the chain's history: each
 * transaction's change of the vault's token balance (jsonParsed token balances). Failed transactions
 * and those without a block time are left out.
 */
export async function readRewardFlows(rpc: SolanaRpc, rewardVault: string, o: { limit?: number } = {}): Promise<RewardFlow[]> {
  const sigs = await rpc.call<{ signature: string; err: unknown; blockTime: number | null }[]>('getSignaturesForAddress', [rewardVault, { limit: o.limit ?? 50, commitment: 'confirmed' }]);
  const flows = await Promise.all(
    sigs
      .filter((s) => s.err === null && s.blockTime !== null)
      .map(async (s): Promise<RewardFlow | null> => {
        const tx = await rpc.getTransaction(s.signature, { commitment: 'confirmed', encoding: 'jsonParsed' });
        if (!tx?.meta || !tx.blockTime) return null;
        const keys = tx.transaction.message.accountKeys.map((k) => (typeof k === 'string' ? k : k.pubkey));
        const at = keys.indexOf(rewardVault);
        const amount = (list: readonly { accountIndex: number; uiTokenAmount: { amount: string } }[] | null | undefined) => BigInt(list?.find((b) => b.accountIndex === at)?.uiTokenAmount.amount ?? '0');
        const delta = amount(tx.meta.postTokenBalances) - amount(tx.meta.preTokenBalances);
        return delta === 0n ? null : { signature: s.signature, at: tx.blockTime * 1000, delta };
      }),
  );
  return flows.filter((f): f is RewardFlow => f !== null);
}
