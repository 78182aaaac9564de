/**
 * Test support: the escrow and staking programs deployed on a local chain and configured (fee,
 * stakers' share, timelock; the staking program receiving the stakers' share), with helpers for
 * buyers, settlements and withdrawals through the generated clients. Used by the programs' specs
 * and the programs benchmark.
 */
import type { TransactionSigner } from '../client/tx.ts';
import { deposit, fetchEscrowConfig, initializeConfig, openEscrow, settle, withdraw } from '../escrow/client/index.ts';
import { fetchStakingConfig, initialize as initializeStaking, stake } from '../staking/client/index.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { STAKING_PROGRAM_ID } from '../staking/constants.ts';
import { escrowAddresses, escrowConfigAddress, positionAddress, stakingAddresses } from '../client/program-addresses.ts';
import { chainWorld, instructionsOf, noop, pk, umi } from './chain-world.ts';


export const FEE_BPS = 250;
export const STAKERS_SHARE_BPS = 7_000;
export const TIMELOCK_S = 3_600;

/** `o.escrowBuild`: another build deployed at the escrow's address (the benchmark's settlement design B). */
export async function escrowWorld(o: Parameters<typeof chainWorld>[0] & { escrowBuild?: Uint8Array } = {}) {
  const base = await chainWorld(o);
  const { send, wallet, mint, admin } = base;
  const escrow = programArtifacts('escrow');
  await base.deploy(o.escrowBuild ? { ...escrow, so: o.escrowBuild } : escrow);
  await base.deploy(programArtifacts('staking'));
  const authority = await wallet();
  const treasury = await wallet();
  // The staking program receives the stakers' share of fees; both programs share the treasury.
  const { config: stakingConfig, stakeVault, rewardVault: rewardVaultAddress } = await stakingAddresses();
  const rewardVault = { ata: rewardVaultAddress };
  await send(
    instructionsOf(
      initializeStaking(umi, {
        admin: noop(admin.publicKey),
        mint: pk(mint.publicKey),
        stakeVault: pk(stakeVault),
        rewardVault: pk(rewardVault.ata),
        treasury: pk(treasury.ata),
        minProviderStake: 0n,
        cooldownSeconds: 0n,
        maxSlashBpsPerEvent: 0,
        maxSlashBpsPerEpoch: 0,
        slashAuthority: pk(admin.publicKey),
      }),
    ),
    [admin],
  );
  const staker = async (amount: bigint) => {
    const s = await wallet(amount);
    const position = await positionAddress(s.key, 0n);
    const record = await send(instructionsOf(stake(umi, { owner: noop(s.key), position: pk(position), ownerTokenAccount: pk(s.ata), stakeVault: pk(stakeVault), mint: pk(mint.publicKey), id: 0n, amount, lockDays: 0 })), [s.signer]);
    return { ...s, record };
  };
  const stakingTotals = () => fetchStakingConfig(base.reader, pk(stakingConfig));

  const addresses = async (buyer: string) => {
    return escrowAddresses(buyer);
  };
  const config = async () => fetchEscrowConfig(base.reader, pk(await escrowConfigAddress()));

  /** A buyer with an open escrow holding `deposited`, and `tokens` more in their wallet. */
  const buyer = async (deposited: bigint, tokens = 0n) => {
    const w = await wallet(deposited + tokens);
    const { escrow, vault } = await addresses(w.key);
    await send(instructionsOf(openEscrow(umi, { buyer: noop(w.key), vault: pk(vault), mint: pk(mint.publicKey) })), [w.signer]);
    if (deposited > 0n) await send(instructionsOf(deposit(umi, { buyer: noop(w.key), buyerTokenAccount: pk(w.ata), vault: pk(vault), mint: pk(mint.publicKey), amount: deposited })), [w.signer]);
    return { ...w, escrow, vault };
  };

  const init = (o: { feeBps?: number; stakersShareBps?: number; timelock?: bigint; signer?: TransactionSigner } = {}) =>
    send(
      instructionsOf(
        initializeConfig(umi, {
          admin: noop((o.signer ?? admin).publicKey),
          mint: pk(mint.publicKey),
          rewardVault: pk(rewardVault.ata),
          treasury: pk(treasury.ata),
          feeBps: o.feeBps ?? FEE_BPS,
          stakersShareBps: o.stakersShareBps ?? STAKERS_SHARE_BPS,
          withdrawTimelockSeconds: o.timelock ?? BigInt(TIMELOCK_S),
          authority: pk(authority.key),
          stakingProgram: pk(STAKING_PROGRAM_ID),
          stakingConfig: pk(stakingConfig),
        }),
      ),
      [o.signer ?? admin],
    );

  type Buyer = Awaited<ReturnType<typeof buyer>>;
  const settleIxs = (b: Buyer, o: { batch: bigint; payouts: { provider: number; gross: bigint }[]; providers: string[]; by?: string; rewardVault?: string; feeBps?: number }) =>
    instructionsOf(
      settle(umi, {
        authority: noop(o.by ?? authority.key),
        escrow: pk(b.escrow),
        vault: pk(b.vault),
        mint: pk(mint.publicKey),
        rewardVault: pk(o.rewardVault ?? rewardVault.ata),
        treasury: pk(treasury.ata),
        stakingConfig: pk(stakingConfig),
        batch: o.batch,
        receiptsHash: new Uint8Array(32).fill(Number(o.batch) + 1),
        feeBps: o.feeBps ?? FEE_BPS,
        payouts: o.payouts,
        providers: o.providers.map(pk),
      }),
    );
  const withdrawIxs = (b: Buyer, amount: bigint, coSigned: boolean) =>
    instructionsOf(
      withdraw(umi, {
        buyer: noop(b.key),
        authority: coSigned ? noop(authority.key) : pk(authority.key),
        escrow: pk(b.escrow),
        vault: pk(b.vault),
        buyerTokenAccount: pk(b.ata),
        mint: pk(mint.publicKey),
        amount,
      }),
    );
  return { ...base, authority, rewardVault, treasury, addresses, config, buyer, init, settleIxs, withdrawIxs, staker, stakingTotals };
}



export type EscrowWorld = Awaited<ReturnType<typeof escrowWorld>>;
