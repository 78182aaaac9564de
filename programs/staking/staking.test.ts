import { beforeEach, describe, expect, it } from 'vitest';
import { signerFromSecretKey } from '../client/tx.ts';
import { instructionsOf, noop, pk, umi } from '../testing/chain-world.ts';
import { COOLDOWN_S, stakingWorld, type StakingWorld } from '../testing/staking-world.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { refusedWith } from '../testing/refusals.ts';
import { claim, unstake, updateConfig } from './client/index.ts';
import { runStakingSequences, SequenceRunFailure } from '../testing/staking-sequences.ts';
import { positionWeight, STAKING_CONSTANTS, STAKING_ERRORS, STAKING_PROGRAM_ID, type StakingErrorName } from './idl.ts';

const files = programArtifacts('staking');

const DAY = 86_400;

const refused = (attempt: Promise<unknown>, name: StakingErrorName) => refusedWith(attempt, STAKING_ERRORS, name);

const world = stakingWorld;
type World = StakingWorld;

/** Paid in whole base units: a position's fraction of a unit stays owed to it, so a share is paid at most one unit short. */
const expectNear = (paid: bigint, share: bigint) => {
  expect(paid).toBeLessThanOrEqual(share);
  expect(paid).toBeGreaterThanOrEqual(share - 1n);
};

describe('staking program: weight and rewards', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it('weighs a position by its lock: 1× with none, 4× for a year, in between by days', async () => {
    const a = await w.wallet(10_000_000n);
    for (const [id, days] of [[1n, 0], [2n, 365], [3n, 100], [4n, 14]] as const) await w.stake(a, id, 1_000_003n, days);
    const weights = await Promise.all([1n, 2n, 3n, 4n].map(async (id) => (await w.position(a.key, id)).weight));
    expect(weights).toEqual([0, 365, 100, 14].map((d) => positionWeight(1_000_003n, d)));
    expect(weights[0]).toBe(1_000_003n);
    expect(weights[1]).toBe(4_000_012n);
    await refused(w.stake(a, 5n, 1n, STAKING_CONSTANTS.STAKING_MAX_LOCK_DAYS + 1), 'invalidParameter');
    await refused(w.stake(a, 5n, 0n, 10), 'zeroAmount');
    const config = await w.config();
    expect(config.totalStaked).toBe(4n * 1_000_003n);
    expect(config.totalWeight).toBe(weights.reduce((s, x) => s + x, 0n));
    expect(w.balance(w.stakeVault)).toBe(4n * 1_000_003n);
  });

  it('shares fees by weight; a fee with nothing staked goes to the treasury; a later stake earns none of an earlier fee', async () => {
    const [a, b, c, payer] = [await w.wallet(1_000n), await w.wallet(1_000n), await w.wallet(1_000n), await w.wallet(1_000_000n)];
    await w.distribute(payer, 500n);
    expect(w.balance(w.treasury.ata)).toBe(500n);
    await w.stake(a, 1n, 1_000n, 0);
    await w.stake(b, 1n, 1_000n, 365);
    await w.distribute(payer, 1_000n);
    await w.stake(c, 1n, 1_000n, 365);
    await w.claim(a, 1n);
    await w.claim(b, 1n);
    await refused(w.claim(c, 1n), 'nothingToClaim');
    // 1 : 4 of 1,000, in whole base units: a fraction of a unit (at most one) stays owed to its position.
    expectNear(w.balance(a.ata), 200n);
    expectNear(w.balance(b.ata), 800n);
    const config = await w.config();
    expect(config.feesToTreasury).toBe(500n);
    expect(config.feesToStakers).toBe(1_000n);
    expect(config.claimed + w.balance(w.rewardVault)).toBe(1_000n);
  });

  it('keeps earned rewards through top-up, extension and unstake, and stops earning at unstake', async () => {
    const [a, b, payer] = [await w.wallet(10_000n), await w.wallet(10_000n), await w.wallet(1_000_000n)];
    await w.stake(a, 1n, 1_000n, 0);
    await w.stake(b, 1n, 1_000n, 0);
    await w.distribute(payer, 1_000n); // a: 500, b: 500
    await w.topUp(a, 1n, 1_000n); // a now 2,000 at 1×
    await w.extend(b, 1n, 365); // b now 4,000 weight
    await w.distribute(payer, 600n); // a: 200, b: 400
    await w.unstake(a, 1n);
    await w.distribute(payer, 400n); // b alone: 400
    await w.claim(a, 1n);
    await w.claim(b, 1n);
    expectNear(w.balance(a.ata), 10_000n - 2_000n + 700n);
    expectNear(w.balance(b.ata), 10_000n - 1_000n + 1_300n);
    await refused(w.topUp(a, 1n, 1n), 'alreadyUnstaked');
    await refused(w.extend(a, 1n, 10), 'alreadyUnstaked');
    await refused(w.extend(b, 1n, 100), 'shorterLock');
  });

  it('returns the stake only after the lock and the cooldown since the unstake', async () => {
    const a = await w.wallet(1_000n);
    await w.stake(a, 1n, 1_000n, 2);
    await refused(w.withdraw(a, 1n), 'notUnstaked');
    await w.unstake(a, 1n);
    await refused(w.unstake(a, 1n), 'alreadyUnstaked');
    w.advance(2 * DAY + COOLDOWN_S - 5);
    await refused(w.withdraw(a, 1n), 'stillLocked');
    w.advance(5);
    await w.withdraw(a, 1n);
    expect(w.balance(a.ata)).toBe(1_000n);
    const config = await w.config();
    expect(config.totalStaked).toBe(0n);
    expect(config.totalWeight).toBe(0n);
  });

  it('moves only the owner’s position, and checks the vaults', async () => {
    const [a, b] = [await w.wallet(1_000n), await w.wallet(1_000n)];
    await w.stake(a, 1n, 1_000n, 0);
    // b signs for a's position.
    const theirs = instructionsOf(unstake(umi, { owner: noop(b.key), position: pk(await w.positionAddress(a.key, 1n)) }));
    await refused(w.send(theirs, [b.signer]), 'notOwner');
    // A claim naming the stake vault as the reward vault.
    const wrongVault = instructionsOf(claim(umi, { owner: noop(a.key), position: pk(await w.positionAddress(a.key, 1n)), ownerTokenAccount: pk(a.ata), rewardVault: pk(w.stakeVault), mint: pk(w.mint.publicKey) }));
    await refused(w.send(wrongVault, [a.signer]), 'wrongAddress');
    const update = instructionsOf(
      updateConfig(umi, { admin: noop(b.key), treasury: pk(w.treasury.ata), minProviderStake: 1n, cooldownSeconds: 1n, maxSlashBpsPerEvent: 1, maxSlashBpsPerEpoch: 1, slashAuthority: pk(b.key), newAdmin: pk(b.key) }),
    );
    await refused(w.send(update, [b.signer]), 'notAdmin');
  });

  it('refuses weights past 64 bits', async () => {
    const whale = await w.wallet(2n ** 64n - 1n);
    await refused(w.stake(whale, 1n, 2n ** 63n, 365), 'overflow');
    await w.stake(whale, 1n, 2n ** 62n, 0);
    await refused(w.topUp(whale, 1n, 2n ** 63n + 2n ** 62n), 'overflow');
  });
});

describe('staking program: holds (governance’s votes and proposed slashes)', () => {
  it('records when the weight last grew: the stake, a top-up, an extension; an unstake does not count', async () => {
    const w = await world();
    const a = await w.wallet(10_000n);
    await w.stake(a, 1n, 1_000n, 0);
    const t0 = w.now();
    expect((await w.position(a.key, 1n)).grewAt).toBe(BigInt(t0));
    w.advance(100);
    await w.topUp(a, 1n, 1_000n);
    expect((await w.position(a.key, 1n)).grewAt).toBe(BigInt(t0 + 100));
    w.advance(100);
    await w.extend(a, 1n, 30);
    expect((await w.position(a.key, 1n)).grewAt).toBe(BigInt(t0 + 200));
    w.advance(100);
    await w.unstake(a, 1n);
    const p = await w.position(a.key, 1n);
    expect(p.grewAt).toBe(BigInt(t0 + 200));
    expect(p.createdAt).toBe(BigInt(t0));
  });

  it('holds a position from unstaking and withdrawing until the hold ends; only the admin holds, and a hold never shortens', async () => {
    const w = await world();
    const [a, b] = [await w.wallet(1_000n), await w.wallet(1_000n)];
    await w.stake(a, 1n, 500n, 0);
    await w.stake(a, 2n, 500n, 0);
    await refused(w.hold(a.key, 1n, w.now() + 1_000, a.signer), 'notAdmin');
    await w.hold(a.key, 1n, w.now() + 1_000);
    await w.hold(a.key, 1n, w.now() + 10); // shorter: the first hold stands
    expect((await w.position(a.key, 1n)).heldUntil).toBe(BigInt(w.now() + 1_000));
    await refused(w.unstake(a, 1n), 'positionHeld');
    await w.unstake(a, 2n); // the other position is free
    w.advance(1_000);
    await w.unstake(a, 1n);
    // Held again after the unstake (a slash proposed against it): no withdrawal until the hold ends.
    await w.hold(a.key, 1n, w.now() + COOLDOWN_S + 500);
    w.advance(COOLDOWN_S);
    await w.withdraw(a, 2n);
    await refused(w.withdraw(a, 1n), 'positionHeld');
    w.advance(500);
    await w.withdraw(a, 1n);
    expect(w.balance(a.ata)).toBe(1_000n);
    expect(w.balance(b.ata)).toBe(1_000n);
  });
});

describe('staking program: slashing', () => {
  it('only by the slashing authority, within the per-event and per-epoch bounds, to the treasury, keeping earned rewards', async () => {
    const w = await world({ maxSlashBpsPerEvent: 1_000, maxSlashBpsPerEpoch: 500 });
    const [a, b, payer] = [await w.wallet(10_000n), await w.wallet(10_000n), await w.wallet(10_000n)];
    await w.stake(a, 1n, 10_000n, 0);
    await w.stake(b, 1n, 10_000n, 0);
    await w.distribute(payer, 1_000n);
    await refused(w.slash(a.key, 1n, 100n, b), 'notSlashAuthority');
    await refused(w.slash(a.key, 1n, 1_001n), 'slashTooLarge'); // over 10% of the position
    await w.slash(a.key, 1n, 600n);
    await refused(w.slash(b.key, 1n, 500n), 'slashTooLarge'); // the epoch's 5% of all stake (1,000) would be passed
    await w.slash(b.key, 1n, 400n);
    expect(w.balance(w.treasury.ata)).toBe(1_000n);
    const pa = await w.position(a.key, 1n);
    expect(pa.amount).toBe(9_400n);
    expect(pa.slashed).toBe(600n);
    expect([...pa.lastEvidence]).toEqual(new Array(32).fill(9));
    await w.claim(a, 1n);
    expectNear(w.balance(a.ata), 500n); // the rewards earned before the slash
    const config = await w.config();
    expect(config.totalStaked).toBe(9_400n + 9_600n);
    expect(config.slashed).toBe(1_000n);
  });
});

const SEQUENCES = Number(process.env.STAKING_SEQUENCES ?? 2_000);

describe('staking program: randomized runs', () => {
  it('holds the money identities after every step of thousands of random sequences', { timeout: 60_000 + SEQUENCES * 20 }, async () => {
    // The identities checked after each step: programs/testing/staking-sequences.ts. A million: npm run test:staking-sequences.
    const figures = await runStakingSequences({ sequences: SEQUENCES, seed: 20261206 });
    expect(figures.steps).toBe(SEQUENCES * 8);
    expect(figures.fullChecks).toBe(SEQUENCES);
    // Every kind of step landed, and the program's refusals were met too.
    for (const [step, n] of Object.entries(figures.landed)) expect(n, step).toBeGreaterThan(0);
    for (const name of ['nothingToClaim', 'shorterLock', 'alreadyUnstaked', 'notUnstaked', 'stillLocked', 'slashTooLarge'] as const) expect(figures.refused[name], name).toBeGreaterThan(0);
    expect(figures.feesIn).toBe(figures.feesToStakers + figures.feesToTreasury);
  });

  it('fails the run at the step after a token reaches the reward vault outside the program', async () => {
    const run = runStakingSequences({ sequences: 40, seed: 7, tamperAfterStep: 50 });
    await expect(run).rejects.toThrow(SequenceRunFailure);
    await expect(run).rejects.toThrow(/sequence 6, step 2: reward vault vs fees shared − claimed/);
  });
});

describe('staking program: its interface', () => {
  it('is deployed at the program id the IDL names', async () => {
    expect((await signerFromSecretKey(files.keypair)).publicKey).toBe(STAKING_PROGRAM_ID);
  });
});
