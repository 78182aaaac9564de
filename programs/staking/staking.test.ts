import { beforeEach, describe, expect, it } from 'vitest';
import { prng } from '../../gpu-agent/models/prng.ts';
import { signerFromSecretKey } from '../client/tx.ts';
import { instructionsOf, noop, pk, umi } from '../testing/chain-world.ts';
import { COOLDOWN_S, stakingWorld, type StakingWorld } from '../testing/staking-world.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { refusedWith } from '../testing/refusals.ts';
import { claim, unstake, updateConfig, type Position } from './client/index.ts';
import { positionWeight, STAKING_CONSTANTS, STAKING_ERRORS, STAKING_PROGRAM_ID, type StakingErrorName } from './idl.ts';

const files = programArtifacts('staking');

const DAY = 86_400;
const SCALE = 1n << 64n;
const MOD = 1n << 128n;

const refused = (attempt: Promise<unknown>, name: StakingErrorName) => refusedWith(attempt, STAKING_ERRORS, name);

const world = stakingWorld;
type World = StakingWorld;

/** What a position has earned and not claimed, in 2^-64 base units, as the program will settle it. */
const pendingScaled = (p: Position, acc: bigint) => (p.owed + ((((p.weight * acc) % MOD) - p.debt + MOD) % MOD)) % MOD;
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

/**
 * The money identities after every step:
 * - in 2^-64 base units, claimed + every position's unclaimed rewards + the carry = the fees shared;
 * - the reward vault holds the fees shared minus the claims; the stake vault every position's amount;
 * - the treasury holds the unshared fees and the slashes;
 * - no position has earned more than its share (fee × its weight / all weight at each fee) plus one
 *   base unit of carry, nor less than its share minus a 2^-64 per weight unit per fee.
 */
async function checkInvariants(w: World, keys: { owner: string; id: bigint }[], ideal: Map<string, bigint>, fees: number): Promise<void> {
  const config = await w.config();
  const positions = await Promise.all(keys.map((k) => w.position(k.owner, k.id)));
  const acc = config.rewardPerWeight;
  const unclaimed = positions.reduce((s, p) => s + pendingScaled(p, acc), 0n);
  expect(config.claimed * SCALE + unclaimed + config.carry).toBe(config.feesToStakers * SCALE);
  expect(w.balance(w.rewardVault)).toBe(config.feesToStakers - config.claimed);
  expect(w.balance(w.stakeVault)).toBe(positions.reduce((s, p) => s + p.amount, 0n));
  expect(config.totalStaked).toBe(positions.reduce((s, p) => s + p.amount, 0n));
  expect(config.totalWeight).toBe(positions.reduce((s, p) => s + p.weight, 0n));
  expect(w.balance(w.treasury.ata)).toBe(config.feesToTreasury + config.slashed);
  for (const p of positions) {
    const earned = p.claimed * SCALE + pendingScaled(p, acc);
    const share = ideal.get(`${p.owner.toString()}:${p.id}`) ?? 0n;
    expect(earned).toBeLessThanOrEqual(share + SCALE);
    expect(earned).toBeGreaterThanOrEqual(share - BigInt(fees) * (p.weight + 1n) - SCALE);
  }
}

const SEQUENCES = Number(process.env.STAKING_SEQUENCES ?? 40);

describe('staking program: randomized runs', () => {
  it('holds the money identities through random stakes, fees, claims, extensions, slashes and unstakes', { timeout: 60_000 + SEQUENCES * 2_000 }, async () => {
    const w = await world({ maxSlashBpsPerEvent: 2_000, maxSlashBpsPerEpoch: 1_000 });
    const sequences = SEQUENCES;
    const rnd = prng(20261206);
    const payer = await w.wallet(2n ** 62n);
    const owners = await Promise.all([0, 1, 2, 3].map(() => w.wallet(2n ** 50n)));
    const keys: { owner: string; id: bigint }[] = [];
    const ideal = new Map<string, bigint>();
    let nextId = 1n;
    let fees = 0;
    let steps = 0;
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const amount = () => BigInt(1 + Math.floor(rnd() * 1_000_000)) * (rnd() < 0.2 ? 1_000_003n : 1n);
    for (let s = 0; s < sequences; s++) {
      for (let step = 0; step < 8; step++) {
        const r = rnd();
        const owner = pick(owners);
        const mine = keys.filter((k) => k.owner === owner.key);
        const some = mine.length > 0 ? pick(mine) : null;
        try {
          if (r < 0.25 || !some) {
            const id = nextId++;
            await w.stake(owner, id, amount(), Math.floor(rnd() * 366));
            keys.push({ owner: owner.key, id });
          } else if (r < 0.5) {
            const fee = amount();
            const config = await w.config();
            if (config.totalWeight > 0n) {
              const positions = await Promise.all(keys.map((k) => w.position(k.owner, k.id)));
              for (const p of positions) {
                const key = `${p.owner.toString()}:${p.id}`;
                ideal.set(key, (ideal.get(key) ?? 0n) + (fee * SCALE * p.weight) / config.totalWeight);
              }
              fees++;
            }
            await w.distribute(payer, fee);
          } else if (r < 0.62) await w.claim(owner, some.id);
          else if (r < 0.7) await w.topUp(owner, some.id, amount());
          else if (r < 0.78) await w.extend(owner, some.id, Math.floor(rnd() * 366));
          else if (r < 0.86) await w.unstake(owner, some.id);
          else if (r < 0.93) {
            const p = await w.position(owner.key, some.id);
            await w.slash(owner.key, some.id, p.amount / 20n + 1n);
          } else {
            w.advance(Math.floor(rnd() * 400) * DAY);
            await w.withdraw(owner, some.id);
          }
        } catch (error) {
          // Refusals by the program's own rules are part of the run (claiming nothing, a shorter
          // lock, a slash past the epoch's bound, withdrawing too early); anything else fails it.
          expect((error as Error).message).toMatch(/custom program error: 0x17(7[0-9a-f]|8[0-9a-f])/);
        }
        steps++;
        w.chain.advanceSlots(1);
        await checkInvariants(w, keys, ideal, fees);
      }
    }
    expect(steps).toBe(sequences * 8);
    expect(fees).toBeGreaterThan(0);
  });
});

describe('staking program: its interface', () => {
  it('is deployed at the program id the IDL names', async () => {
    expect((await signerFromSecretKey(files.keypair)).publicKey).toBe(STAKING_PROGRAM_ID);
  });
});
