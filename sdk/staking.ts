import type { ChainInfo, StakingInfo } from '../durable-objects/contracts/api.ts';
import { positionWeight } from '../programs/staking/constants.ts';
import { solanaRpc } from '../programs/client/rpc.ts';
import {
  claimable,
  claimInstructions,
  extendInstructions,
  readPositions,
  readStakingConfig,
  stakeInstructions,
  topUpInstructions,
  unstakeInstructions,
  withdrawStakeInstructions,
  type PositionReading,
  type StakingConfigReading,
} from '../programs/client/staking.ts';
import { CLIENT_ERRORS, DougApiError } from './client.ts';
import { sendFromWallet, type DepositWallet } from './deposit.ts';

/*
 * Staking for whoever holds a wallet (the SDK's callers, the CLI, the portal): positions in the
 * staking program that GET /v1/chain names, through the instructions programs/client/staking.ts
 * builds from the generated client, signed by the wallet and followed until final.
 */

/** A position as its owner sees it: where it stands and what may be done with it now. */
export interface PositionView {
  id: bigint;
  address: string;
  amount: bigint;
  lockDays: number;
  weight: bigint;
  /** staked (earning), unstaking (lock and cooldown running), withdrawable, or withdrawn (empty). */
  status: 'staked' | 'unstaking' | 'withdrawable' | 'withdrawn';
  /** Unix seconds when an unstaking position may be withdrawn; null while staked. */
  unlockAt: number | null;
  /** What a claim would pay now, base units. */
  claimable: bigint;
  claimed: bigint;
  slashed: bigint;
  /** Unix seconds until which a vote or a proposed slash holds the position (no unstake, no withdrawal); null when free. */
  heldUntil: number | null;
}

export interface StakingOverview {
  owner: string;
  positions: PositionView[];
  config: StakingConfigReading;
}

type StakingChain = ChainInfo & { staking: StakingInfo };

function stakingChain(chain: ChainInfo): StakingChain {
  if (!chain.staking) throw new DougApiError({ status: 0, code: CLIENT_ERRORS.STAKING_UNAVAILABLE, message: 'this marketplace runs no staking program (GET /v1/chain names none: it keeps custody without the escrow program)', context: {} });
  return chain as StakingChain;
}

function refused(message: string, context: Record<string, unknown>): DougApiError {
  return new DougApiError({ status: 0, code: CLIENT_ERRORS.STAKING_REFUSED, message, context });
}

export function positionView(p: PositionReading, config: StakingConfigReading, nowSeconds: number): PositionView {
  const status = p.amount === 0n ? 'withdrawn' : p.unstakedAt === 0n ? 'staked' : Number(p.unlockAt) <= nowSeconds ? 'withdrawable' : 'unstaking';
  return { id: p.id, address: p.address, amount: p.amount, lockDays: p.lockDays, weight: p.weight, status, unlockAt: p.unstakedAt === 0n ? null : Number(p.unlockAt), claimable: claimable(p, config), claimed: p.claimed, slashed: p.slashed, heldUntil: Number(p.heldUntil) > nowSeconds ? Number(p.heldUntil) : null };
}

/** The owner's positions and the program's figures. */
export async function stakingOverview(chain: ChainInfo, owner: string, now = Date.now()): Promise<StakingOverview> {
  const c = stakingChain(chain);
  const rpc = solanaRpc(c.rpcUrl);
  const [config, positions] = await Promise.all([readStakingConfig(rpc, { programId: c.staking.program }), readPositions(rpc, owner, { programId: c.staking.program })]);
  return { owner, config, positions: positions.map((p) => positionView(p, config, Math.floor(now / 1000))) };
}

/** Stakes `amount` from the wallet's token account in a new position locked `lockDays` days (its id: one past the wallet's highest). */
export async function stake(o: { chain: ChainInfo; wallet: DepositWallet; amount: bigint; lockDays: number }): Promise<{ id: bigint; weight: bigint; signature: string; slot: number }> {
  const c = stakingChain(o.chain);
  const owner = o.wallet.publicKey;
  const existing = await readPositions(solanaRpc(c.rpcUrl), owner, { programId: c.staking.program });
  const id = existing.reduce((max, p) => (p.id > max ? p.id : max), 0n) + 1n;
  const instructions = await stakeInstructions({ owner, id, mint: c.mint, amount: o.amount, lockDays: o.lockDays, programId: c.staking.program });
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, instructions);
  return { id, weight: positionWeight(o.amount, o.lockDays), ...sent };
}

/**
 * Moves position `id` toward its owner: a staked position is unstaked (it stops earning; its lock
 * and the cooldown start), one whose lock and cooldown have passed is withdrawn to the wallet.
 */
export async function unstake(o: { chain: ChainInfo; wallet: DepositWallet; id: bigint; now?: number }): Promise<{ action: 'unstaked' | 'withdrawn'; position: PositionView; signature: string; slot: number }> {
  const c = stakingChain(o.chain);
  const owner = o.wallet.publicKey;
  const { positions, config } = await stakingOverview(c, owner, o.now);
  const position = positions.find((p) => p.id === o.id);
  if (!position) throw refused(`you have no position ${o.id}`, { owner, id: o.id.toString() });
  const ref = { owner, id: o.id, mint: c.mint, programId: c.staking.program };
  if (position.status === 'withdrawn') throw refused(`position ${o.id} is empty: its tokens were withdrawn`, { id: o.id.toString() });
  if (position.status === 'unstaking') throw refused(`position ${o.id} may be withdrawn from ${new Date(position.unlockAt! * 1000).toISOString()} (its lock and the ${config.cooldownSeconds} s cooldown)`, { id: o.id.toString(), unlockAt: position.unlockAt });
  if (position.heldUntil !== null) throw refused(`position ${o.id} is held until ${new Date(position.heldUntil * 1000).toISOString()} by a governance vote it cast or a slash proposed against it`, { id: o.id.toString(), heldUntil: position.heldUntil });
  const action = position.status === 'staked' ? 'unstaked' : 'withdrawn';
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, action === 'unstaked' ? await unstakeInstructions(ref) : await withdrawStakeInstructions(ref));
  return { action, position, ...sent };
}

/** The wallet's position `id`, which must still be staked (`why`: what an unstaked one cannot do). */
async function stakedPosition(o: { chain: ChainInfo; wallet: DepositWallet; id: bigint; now?: number }, why: string): Promise<{ c: StakingChain; owner: string; position: PositionView }> {
  const c = stakingChain(o.chain);
  const owner = o.wallet.publicKey;
  const { positions } = await stakingOverview(c, owner, o.now);
  const position = positions.find((p) => p.id === o.id);
  if (!position) throw refused(`you have no position ${o.id}`, { owner, id: o.id.toString() });
  if (position.status !== 'staked') throw refused(`position ${o.id} is unstaked: ${why}`, { id: o.id.toString() });
  return { c, owner, position };
}

/** Lengthens the lock of staked position `id` to `lockDays` (more weight; what it earned so far is kept). */
export async function extend(o: { chain: ChainInfo; wallet: DepositWallet; id: bigint; lockDays: number; now?: number }): Promise<{ position: PositionView; weight: bigint; signature: string; slot: number }> {
  const { c, owner, position } = await stakedPosition(o, "only a staked position's lock can be extended");
  if (o.lockDays <= position.lockDays) throw refused(`position ${o.id} is locked ${position.lockDays} days: an extension must be longer`, { id: o.id.toString(), lockDays: position.lockDays });
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, await extendInstructions({ owner, id: o.id, mint: c.mint, lockDays: o.lockDays, programId: c.staking.program }));
  return { position, weight: positionWeight(position.amount, o.lockDays), ...sent };
}

/** Adds `amount` from the wallet to staked position `id` (its lock unchanged; what it earned so far is kept). */
export async function topUp(o: { chain: ChainInfo; wallet: DepositWallet; id: bigint; amount: bigint; now?: number }): Promise<{ position: PositionView; weight: bigint; signature: string; slot: number }> {
  const { c, owner, position } = await stakedPosition(o, 'only a staked position can take more');
  if (o.amount <= 0n) throw refused('a top-up must be more than 0', { amount: o.amount.toString() });
  const sent = await sendFromWallet(c.rpcUrl, o.wallet, await topUpInstructions({ owner, id: o.id, mint: c.mint, amount: o.amount, programId: c.staking.program }));
  return { position, weight: positionWeight(position.amount + o.amount, position.lockDays), ...sent };
}

/** Claims the rewards of position `id`, or of every position with a whole base unit to claim. */
export async function claim(o: { chain: ChainInfo; wallet: DepositWallet; id?: bigint; now?: number }): Promise<{ claimed: { id: bigint; amount: bigint; signature: string }[] }> {
  const c = stakingChain(o.chain);
  const owner = o.wallet.publicKey;
  const { positions } = await stakingOverview(c, owner, o.now);
  const chosen = o.id === undefined ? positions.filter((p) => p.claimable > 0n) : positions.filter((p) => p.id === o.id);
  if (o.id !== undefined && chosen.length === 0) throw refused(`you have no position ${o.id}`, { owner, id: o.id.toString() });
  if (chosen.every((p) => p.claimable === 0n)) throw refused(o.id === undefined ? 'none of your positions has a whole base unit to claim' : `position ${o.id} has nothing to claim yet`, { owner });
  const claimed: { id: bigint; amount: bigint; signature: string }[] = [];
  for (const p of chosen) {
    const { signature } = await sendFromWallet(c.rpcUrl, o.wallet, await claimInstructions({ owner, id: p.id, mint: c.mint, programId: c.staking.program }));
    claimed.push({ id: p.id, amount: p.claimable, signature });
  }
  return { claimed };
}

/** A position for JSON (amounts as base-unit strings, as the API writes them). */
export function positionWire(p: PositionView): Record<string, unknown> {
  return { ...p, id: p.id.toString(), amount: p.amount.toString(), weight: p.weight.toString(), claimable: p.claimable.toString(), claimed: p.claimed.toString(), slashed: p.slashed.toString() };
}
