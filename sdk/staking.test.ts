import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainInfo } from '../durable-objects/contracts/api.ts';
import { generateKeypair, type Keypair } from '../durable-objects/contracts/auth.ts';
import { UNITS_PER_DOUG } from '../durable-objects/domain/money.ts';
import { positionWeight } from '../programs/staking/constants.ts';
import { associatedTokenAddress } from '../programs/client/address.ts';
import { airdropUpTo, faucetMint, sendAndFinalize } from '../programs/client/mint.ts';
import { solanaRpc, type SolanaRpc } from '../programs/client/rpc.ts';
import { signerFromSecretKey } from '../programs/client/tx.ts';
import { distributeInstructions } from '../programs/client/staking.ts';
import { startLocalChain, type LocalChain } from '../programs/local-chain/server.ts';
import { setupChain, type LocalChainConfig } from '../scripts/chain-setup.ts';
import { loadKeypair } from './keyfile.ts';
import { DougApiError } from './client.ts';
import { claim, extend, stake, stakingOverview, topUp, unstake } from './staking.ts';

/*
 * The SDK's staking against the local chain with the programs as `npm start` sets them up (7-day
 * cooldown), its clock moved by the test: stake, share a fee, claim to the base unit, unstake,
 * refuse the early withdrawal, withdraw after the lock and the cooldown.
 */

const DOUG = UNITS_PER_DOUG;
let skewSeconds = 0;
let local: LocalChain;
let dir: string;
let deployment: LocalChainConfig;
let rpc: SolanaRpc;
let chain: ChainInfo;
let wallet: Keypair;

const balance = async (owner: string) => {
  const info = await rpc.getAccountInfo(await associatedTokenAddress(owner, deployment.mint), 'confirmed');
  return info.value ? BigInt((await rpc.getTokenAccountBalance(await associatedTokenAddress(owner, deployment.mint), 'confirmed')).value.amount) : 0n;
};
const refusedWith = async (attempt: Promise<unknown>, text: string) => {
  const error = await attempt.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DougApiError);
  expect((error as DougApiError).message).toContain(text);
};

beforeAll(async () => {
  local = await startLocalChain({ port: 0, now: () => Date.now() + skewSeconds * 1000 });
  dir = await mkdtemp(join(tmpdir(), 'doug-staking-'));
  deployment = await setupChain({ rpcUrl: local.url, dir });
  rpc = solanaRpc(local.url);
  chain = { rpcUrl: local.url, mint: deployment.mint, decimals: 9, custodyTokenAccount: deployment.custodyTokenAccount, custodyAuthority: deployment.custodyAuthority, staking: { program: deployment.programs.staking, config: deployment.programs.stakingConfig } };
  wallet = await generateKeypair();
  const mintAuthority = await signerFromSecretKey((await loadKeypair(join(dir, 'mint-authority.json'))).secretKey);
  await faucetMint(rpc, { mint: deployment.mint, decimals: 9, mintAuthority, wallet: wallet.publicKey, amount: 10n * DOUG });
  await airdropUpTo(rpc, wallet.publicKey, 1_000_000_000);
}, 60_000);

afterAll(async () => {
  await local?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('staking from the SDK', () => {
  it('stakes, claims a fee’s share to the base unit, unstakes, and withdraws only after the lock and the cooldown', async () => {
    const now = () => Date.now() + skewSeconds * 1000;
    const first = await stake({ chain, wallet, amount: 2n * DOUG, lockDays: 0 });
    const topped = await topUp({ chain, wallet, id: 1n, amount: DOUG, now: now() });
    expect(topped.weight).toBe(3n * DOUG);
    const second = await stake({ chain, wallet, amount: DOUG, lockDays: 100 });
    const extended = await extend({ chain, wallet, id: 2n, lockDays: 365, now: now() });
    expect(extended.weight).toBe(4n * DOUG);
    // Position 1 staked in two steps: 2 DOUG, then 1 more.
    await refusedWith(topUp({ chain, wallet, id: 1n, amount: 0n, now: now() }), 'more than 0');
    expect([first.id, second.id]).toEqual([1n, 2n]);
    expect([first.weight, second.weight]).toEqual([2n * DOUG, positionWeight(DOUG, 100)]);
    expect(await balance(wallet.publicKey)).toBe(6n * DOUG);

    // A fee of 7 DOUG + 1 unit shared 3 : 4 by anyone's distribute (what the escrow's settle calls).
    const payer = await signerFromSecretKey((await generateKeypair()).secretKey);
    const mintAuthority = await signerFromSecretKey((await loadKeypair(join(dir, 'mint-authority.json'))).secretKey);
    await faucetMint(rpc, { mint: deployment.mint, decimals: 9, mintAuthority, wallet: payer.publicKey, amount: 7n * DOUG + 1n });
    await airdropUpTo(rpc, payer.publicKey, 1_000_000_000);
    const distributeIx = await distributeInstructions({ from: payer.publicKey, mint: deployment.mint, treasury: deployment.programs.treasury, amount: 7n * DOUG + 1n, programId: deployment.programs.staking });
    await sendAndFinalize(rpc, { instructions: distributeIx, signers: [payer] });
    const overview = await stakingOverview(chain, wallet.publicKey, now());
    expect(overview.positions.map((p) => p.claimable)).toEqual([3n * DOUG, 4n * DOUG]); // the odd unit stays owed, a fraction each
    const claimed = await claim({ chain, wallet, now: now() });
    expect(claimed.claimed.map((c) => [c.id, c.amount])).toEqual([
      [1n, 3n * DOUG],
      [2n, 4n * DOUG],
    ]);
    expect(await balance(wallet.publicKey)).toBe(13n * DOUG);
    await refusedWith(claim({ chain, wallet, now: now() }), 'none of your positions has a whole base unit to claim');

    const unstaked = await unstake({ chain, wallet, id: 1n, now: now() });
    expect(unstaked.action).toBe('unstaked');
    const waiting = (await stakingOverview(chain, wallet.publicKey, now())).positions[0]!;
    expect(waiting.status).toBe('unstaking');
    expect(waiting.unlockAt! - Math.floor(now() / 1000)).toBeGreaterThan(7 * 86_400 - 60); // the 7-day cooldown (no lock)
    await refusedWith(unstake({ chain, wallet, id: 1n, now: now() }), 'position 1 may be withdrawn from');
    await refusedWith(unstake({ chain, wallet, id: 9n, now: now() }), 'you have no position 9');

    // The year-locked position: an extension must be longer, and is refused for an unstaked one.
    await refusedWith(extend({ chain, wallet, id: 2n, lockDays: 365, now: now() }), 'an extension must be longer');
    await refusedWith(extend({ chain, wallet, id: 1n, lockDays: 30, now: now() }), 'only a staked position');
    await refusedWith(topUp({ chain, wallet, id: 1n, amount: DOUG, now: now() }), 'only a staked position can take more');

    skewSeconds = 7 * 86_400 + 5;
    await new Promise((r) => setTimeout(r, 900)); // a new slot carries the moved clock
    const withdrawn = await unstake({ chain, wallet, id: 1n, now: now() });
    expect(withdrawn.action).toBe('withdrawn');
    expect(await balance(wallet.publicKey)).toBe(16n * DOUG);
    expect((await stakingOverview(chain, wallet.publicKey, now())).positions.map((p) => p.status)).toEqual(['withdrawn', 'staked']);
    await refusedWith(unstake({ chain, wallet, id: 1n, now: now() }), 'position 1 is empty');
  }, 60_000);

  it('says so when the marketplace runs no staking program', async () => {
    const { staking: _none, ...custodyOnly } = chain;
    await refusedWith(stake({ chain: custodyOnly, wallet, amount: DOUG, lockDays: 0 }), 'runs no staking program');
  });
});
