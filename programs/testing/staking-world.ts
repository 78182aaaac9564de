/**
 * Test support: the staking program deployed on a local chain and initialized (a cooldown of an
 * hour, slashing bounds as given), with one helper per instruction through the generated client.
 * Used by the program's specs and the programs benchmark.
 */
import { claim, distribute, extend, fetchPosition, fetchStakingConfig, hold, initialize, slash, stake, topUp, unstake, withdraw } from '../staking/client/index.ts';
import type { Chain } from '../local-chain/chain.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { positionAddress, stakingAddresses } from '../client/program-addresses.ts';
import { chainWorld, instructionsOf, noop, pk, umi, type Wallet } from './chain-world.ts';

export const COOLDOWN_S = 3_600;


export async function stakingWorld(o: { maxSlashBpsPerEvent?: number; maxSlashBpsPerEpoch?: number; minProviderStake?: bigint; chain?: Chain } = {}) {
  const base = await chainWorld({ chain: o.chain });
  const { send, wallet, mint, admin } = base;
  await base.deploy(programArtifacts('staking'));
  const treasury = await wallet();
  const slasher = await wallet();
  const { config: configAddress, stakeVault, rewardVault } = await stakingAddresses();
  await send(
    instructionsOf(
      initialize(umi, {
        admin: noop(admin.publicKey),
        mint: pk(mint.publicKey),
        stakeVault: pk(stakeVault),
        rewardVault: pk(rewardVault),
        treasury: pk(treasury.ata),
        minProviderStake: o.minProviderStake ?? 1_000n,
        cooldownSeconds: BigInt(COOLDOWN_S),
        maxSlashBpsPerEvent: o.maxSlashBpsPerEvent ?? 1_000,
        maxSlashBpsPerEpoch: o.maxSlashBpsPerEpoch ?? 500,
        slashAuthority: pk(slasher.key),
      }),
    ),
    [admin],
  );
  const config = () => fetchStakingConfig(base.reader, pk(configAddress));
  const position = async (owner: string, id: bigint) => fetchPosition(base.reader, pk(await positionAddress(owner, id)));
  const mintKey = pk(mint.publicKey);

  /** Each instruction's transaction content, through the generated client. */
  const ixs = {
    stake: async (w: Wallet, id: bigint, amount: bigint, lockDays: number) =>
      instructionsOf(stake(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)), ownerTokenAccount: pk(w.ata), stakeVault: pk(stakeVault), mint: mintKey, id, amount, lockDays })),
    topUp: async (w: Wallet, id: bigint, amount: bigint) =>
      instructionsOf(topUp(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)), ownerTokenAccount: pk(w.ata), stakeVault: pk(stakeVault), mint: mintKey, amount })),
    extend: async (w: Wallet, id: bigint, lockDays: number) => instructionsOf(extend(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)), lockDays })),
    unstake: async (w: Wallet, id: bigint) => instructionsOf(unstake(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)) })),
    withdraw: async (w: Wallet, id: bigint) =>
      instructionsOf(withdraw(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)), ownerTokenAccount: pk(w.ata), stakeVault: pk(stakeVault), mint: mintKey })),
    claim: async (w: Wallet, id: bigint) =>
      instructionsOf(claim(umi, { owner: noop(w.key), position: pk(await positionAddress(w.key, id)), ownerTokenAccount: pk(w.ata), rewardVault: pk(rewardVault), mint: mintKey })),
    distribute: async (from: Wallet, amount: bigint) =>
      instructionsOf(distribute(umi, { sourceAuthority: noop(from.key), source: pk(from.ata), rewardVault: pk(rewardVault), treasury: pk(treasury.ata), mint: mintKey, amount })),
    slash: async (owner: string, id: bigint, amount: bigint, by: Wallet = slasher) =>
      instructionsOf(slash(umi, { slashAuthority: noop(by.key), position: pk(await positionAddress(owner, id)), stakeVault: pk(stakeVault), treasury: pk(treasury.ata), mint: mintKey, amount, evidence: new Uint8Array(32).fill(9) })),
    hold: async (owner: string, id: bigint, until: number, by: string = admin.publicKey) => instructionsOf(hold(umi, { admin: noop(by), position: pk(await positionAddress(owner, id)), until: BigInt(until) })),
  };
  const ops = {
    stake: async (w: Wallet, id: bigint, amount: bigint, lockDays: number) => send(await ixs.stake(w, id, amount, lockDays), [w.signer]),
    topUp: async (w: Wallet, id: bigint, amount: bigint) => send(await ixs.topUp(w, id, amount), [w.signer]),
    extend: async (w: Wallet, id: bigint, lockDays: number) => send(await ixs.extend(w, id, lockDays), [w.signer]),
    unstake: async (w: Wallet, id: bigint) => send(await ixs.unstake(w, id), [w.signer]),
    withdraw: async (w: Wallet, id: bigint) => send(await ixs.withdraw(w, id), [w.signer]),
    claim: async (w: Wallet, id: bigint) => send(await ixs.claim(w, id), [w.signer]),
    distribute: async (from: Wallet, amount: bigint) => send(await ixs.distribute(from, amount), [from.signer]),
    slash: async (owner: string, id: bigint, amount: bigint, by: Wallet = slasher) => send(await ixs.slash(owner, id, amount, by), [by.signer]),
    hold: async (owner: string, id: bigint, until: number, by: Wallet['signer'] = admin) => send(await ixs.hold(owner, id, until, by.publicKey), [by]),
  };
  return { ...base, treasury, slasher, stakeVault, rewardVault, configAddress, config, position, positionAddress, ixs, ...ops };
}

export type StakingWorld = Awaited<ReturnType<typeof stakingWorld>>;
