/**
 * The staking program's randomized run: sequences of eight random steps (stakes, fees, claims,
 * top-ups, extensions, unstakes, slashes, withdrawals after the clock moves) on one deployed program.
 * Sequences follow one another on the same state, so the accumulator, its carry and the slashing
 * epochs run on for the whole run; a run is reproduced by its seed.
 *
 * After every step, whether the program took it or refused it, in O(1) (running sums over the
 * positions, updated from the one position the step touched):
 * - the stake vault holds every position's amount, and the configuration's totals agree;
 * - the reward vault holds the fees shared minus the claims; the treasury the unshared fees and the
 *   slashes; fees in = fees to stakers + fees to the treasury, to the base unit;
 * - in 2^-64 base units: claimed + every position's unclaimed rewards + the carry = the fees shared
 *   (claimed + claimable + treasury = fees in, with nothing lost to rounding);
 * - the touched position has earned no more than its share (fee × its weight / all weight at each
 *   fee, summed) plus one base unit, and no less than its share minus 2^-64 per weight unit per fee;
 * - a refused step changed neither the configuration nor the position.
 * Every `fullCheckEvery` sequences, every position is read back and the running sums recomputed from
 * scratch, and all the tokens in the world are counted against what was minted.
 *
 * Refusals by the program's own rules are part of the run (nothing to claim, a shorter lock, a slash
 * past the epoch's bound, withdrawing too early) and are counted by name; any other failure ends it.
 * Used by staking.test.ts (thousands of sequences) and scripts/staking-sequences.ts (a million).
 */
import { prng } from '../../gpu-agent/models/prng.ts';
import { serializeTransaction, signTransaction, compileLegacyMessage, type Instruction } from '../client/tx.ts';
import {
  getDistributeInstructionDataSerializer,
  getExtendInstructionDataSerializer,
  getSlashInstructionDataSerializer,
  getStakeInstructionDataSerializer,
  getTopUpInstructionDataSerializer,
} from '../staking/client/index.ts';
import { decodePosition, decodeStakingConfig, pendingScaled, type PositionReading, type StakingConfigReading } from '../client/staking.ts';
import { STAKING_ERRORS, type StakingErrorName } from '../staking/idl.ts';
import { stakingWorld, type StakingWorld } from './staking-world.ts';
import { DECIMALS, type Wallet } from './chain-world.ts';
import { mintToChecked } from '../client/mint.ts';

const SCALE = 1n << 64n;
const MOD = 1n << 128n;
const DAY = 86_400;
const STEPS = 8;

/** The refusals a random step may meet by the rules; any other error is a failure of the run. */
const EXPECTED_REFUSALS: readonly StakingErrorName[] = ['nothingToClaim', 'shorterLock', 'alreadyUnstaked', 'notUnstaked', 'stillLocked', 'slashTooLarge', 'zeroAmount'];

export type Step = 'stake' | 'distribute' | 'claim' | 'topUp' | 'extend' | 'unstake' | 'slash' | 'withdraw';

export interface SequenceRunOptions {
  sequences: number;
  seed: number;
  /** Full recount every this many sequences (default 1). */
  fullCheckEvery?: number;
  /** Positions alive at once (holding stake or rewards) before new stakes give way to exits (default 24). */
  maxLive?: number;
  /** Sign every transaction (default false: the VM skips signature checks; signer flags still count). */
  signed?: boolean;
  /** Called after each full check with the figures so far. */
  progress?: (figures: SequenceRunFigures) => void;
  /** For the run's own spec: after this step, one base unit is minted into the reward vault, outside the program. */
  tamperAfterStep?: number;
}

export interface SequenceRunFigures {
  seed: number;
  sequences: number;
  steps: number;
  landed: Record<Step, number>;
  refused: Partial<Record<StakingErrorName, number>>;
  positions: number;
  fullChecks: number;
  feesIn: bigint;
  feesToStakers: bigint;
  feesToTreasury: bigint;
  claimed: bigint;
  slashed: bigint;
  /** The largest gap seen between a position's share and what it earned, in 2^-64 base units. */
  maxShortfall: bigint;
}

export class SequenceRunFailure extends Error {}

interface Tracked {
  owner: Wallet;
  id: bigint;
  address: string;
  p: Position;
  /** The position account's bytes when last read. */
  bytes: Buffer;
  /** The ideal share banked up to `mark`, in 2^-128 base units. */
  ideal: bigint;
  mark: bigint;
  feesAtStart: number;
}

type Position = PositionReading;
type StakingConfig = StakingConfigReading;
const pending = pendingScaled;
const alive = (p: Position, acc: bigint) => p.amount > 0n || pending(p, acc) >= SCALE;

export async function runStakingSequences(o: SequenceRunOptions): Promise<SequenceRunFigures> {
  const fullCheckEvery = o.fullCheckEvery ?? 1;
  const maxLive = o.maxLive ?? 24;
  const w: StakingWorld = await stakingWorld({ maxSlashBpsPerEvent: 2_000, maxSlashBpsPerEpoch: 1_000 });
  const rnd = prng(o.seed);
  const minted = { total: 0n };
  const fund = async (tokens: bigint) => {
    minted.total += tokens;
    return w.wallet(tokens);
  };
  const payer = await fund(2n ** 62n);
  const owners = await Promise.all([0, 1, 2, 3].map(() => fund(2n ** 50n)));
  const blockhash = w.chain.latestBlockhash.blockhash;

  const figures: SequenceRunFigures = {
    seed: o.seed,
    sequences: 0,
    steps: 0,
    landed: { stake: 0, distribute: 0, claim: 0, topUp: 0, extend: 0, unstake: 0, slash: 0, withdraw: 0 },
    refused: {},
    positions: 0,
    fullChecks: 0,
    feesIn: 0n,
    feesToStakers: 0n,
    feesToTreasury: 0n,
    claimed: 0n,
    slashed: 0n,
    maxShortfall: 0n,
  };

  const readConfig = (): StakingConfig => decodeStakingConfig(w.configAddress, w.chain.getAccount(w.configAddress)!.data);
  const raw = (address: string) => Buffer.from(w.chain.getAccount(address)?.data ?? new Uint8Array());
  const readPosition = (address: string): { p: Position; bytes: Buffer } => {
    const bytes = raw(address);
    return { p: decodePosition(address, bytes), bytes };
  };

  let config = readConfig();
  const tracked = new Map<string, Tracked>();
  // Running sums over every position; `retired` holds the part of positions no step touches again
  // (emptied, less than a base unit owed: a fraction stays owed to its position for good).
  const sums = { amount: 0n, weight: 0n, owed: 0n, debt: 0n, claimed: 0n, slashed: 0n };
  const retired = { ...sums };
  /** Sum of fee × 2^128 / total weight over the fees shared: a weight unit's ideal share, in 2^-128 base units. */
  let idealPerWeight = 0n;
  let fees = 0;
  let nextId = 1n;
  let where = '';

  const fail = (what: string): never => {
    throw new SequenceRunFailure(`seed ${o.seed}, ${where}: ${what}`);
  };
  const same = (name: string, a: bigint, b: bigint) => {
    if (a !== b) fail(`${name}: ${a} ≠ ${b}`);
  };

  const add = (p: Position, sign: 1n | -1n) => {
    sums.amount += sign * p.amount;
    sums.weight += sign * p.weight;
    sums.owed += sign * p.owed;
    sums.debt = (((sums.debt + sign * p.debt) % MOD) + MOD) % MOD;
    sums.claimed += sign * p.claimed;
    sums.slashed += sign * p.slashed;
  };
  /** Banks the position's ideal share up to now at its current weight (before its weight changes). */
  const bank = (t: Tracked) => {
    t.ideal += t.p.weight * (idealPerWeight - t.mark);
    t.mark = idealPerWeight;
  };
  const refresh = (t: Tracked) => {
    add(t.p, -1n);
    Object.assign(t, readPosition(t.address));
    add(t.p, 1n);
  };
  const retire = (t: Tracked) => {
    retired.amount += t.p.amount;
    retired.weight += t.p.weight;
    retired.owed += t.p.owed;
    retired.debt = (retired.debt + t.p.debt) % MOD;
    retired.claimed += t.p.claimed;
    retired.slashed += t.p.slashed;
    tracked.delete(t.address);
  };

  const checkShare = (t: Tracked) => {
    const acc = config.rewardPerWeight;
    const earned = (t.p.claimed * SCALE + pending(t.p, acc)) * SCALE; // 2^-128 base units
    const share = t.ideal + t.p.weight * (idealPerWeight - t.mark);
    const feesSeen = BigInt(fees - t.feesAtStart);
    // The ideal accumulator floors each fee at 2^-128 per weight unit: at most one 2^-64 unit in all per fee.
    if (earned > share + SCALE * SCALE + feesSeen * SCALE) fail(`position ${t.id} earned ${earned} (2^-128 units), more than its share ${share} plus one base unit`);
    const floor = share - feesSeen * (t.p.weight + 1n) * SCALE - SCALE * SCALE;
    if (earned < floor) fail(`position ${t.id} earned ${earned} (2^-128 units), less than its share ${share} allows`);
    const shortfall = (share - earned) / SCALE;
    if (shortfall > figures.maxShortfall) figures.maxShortfall = shortfall;
  };

  const checkStep = (touched: Tracked | null) => {
    config = readConfig();
    const stakeVault = w.balance(w.stakeVault);
    same('stake vault vs positions', stakeVault, sums.amount);
    same('configuration’s total staked vs positions', config.totalStaked, sums.amount);
    same('configuration’s total weight vs positions', config.totalWeight, sums.weight);
    same('reward vault vs fees shared − claimed', w.balance(w.rewardVault), config.feesToStakers - config.claimed);
    same('claimed vs positions', config.claimed, sums.claimed);
    same('slashed vs positions', config.slashed, sums.slashed);
    same('treasury vs unshared fees + slashes', w.balance(w.treasury.ata), config.feesToTreasury + config.slashed);
    same('fees in vs fees to stakers + to the treasury', figures.feesIn, config.feesToStakers + config.feesToTreasury);
    const unclaimed = sums.owed + ((((config.rewardPerWeight * sums.weight) % MOD) - sums.debt + MOD) % MOD);
    same('claimed + unclaimed + carry vs fees shared (2^-64 units)', config.claimed * SCALE + unclaimed + config.carry, config.feesToStakers * SCALE);
    if (touched && tracked.has(touched.address)) checkShare(touched);
  };

  const fullCheck = () => {
    figures.fullChecks++;
    const fresh = { ...retired };
    for (const t of tracked.values()) {
      const { p, bytes } = readPosition(t.address);
      if (!bytes.equals(t.bytes)) fail(`position ${t.id} changed without a step on it`);
      fresh.amount += p.amount;
      fresh.weight += p.weight;
      fresh.owed += p.owed;
      fresh.debt = (fresh.debt + p.debt) % MOD;
      fresh.claimed += p.claimed;
      fresh.slashed += p.slashed;
      checkShare(t);
    }
    for (const k of Object.keys(fresh) as (keyof typeof fresh)[]) same(`recounted ${k}`, fresh[k], sums[k]);
    let held = w.balance(payer.ata) + w.balance(w.stakeVault) + w.balance(w.rewardVault) + w.balance(w.treasury.ata);
    for (const owner of owners) held += w.balance(owner.ata);
    same('tokens held vs minted', held, minted.total);
  };

  const send = async (ixs: Instruction[], signer: Wallet) => {
    if (o.signed) return w.chain.execute((await signTransaction({ payer: signer.key, recentBlockhash: blockhash, instructions: ixs, signers: [signer.signer] })).bytes);
    const message = compileLegacyMessage({ payer: signer.key, recentBlockhash: blockhash, instructions: ixs });
    return w.chain.execute(serializeTransaction(message.signers.map(() => new Uint8Array(64)), message.bytes), { unsigned: true });
  };
  /**
   * A step's instruction: built through the generated client once per owner and step (for the first
   * position it names), then given this position's address and this step's data.
   */
  const templates = new Map<string, { ix: Instruction; address: string }>();
  const instruction = async (t: Pick<Tracked, 'owner' | 'id' | 'address'>, step: Step, data: Uint8Array | null, build: () => Promise<Instruction[]>): Promise<Instruction[]> => {
    const key = `${t.owner.key}:${step}`;
    let template = templates.get(key);
    if (!template) templates.set(key, (template = { ix: (await build())[0]!, address: t.address }));
    const keys = template.ix.keys.map((k) => (k.pubkey === template.address ? { ...k, pubkey: t.address } : k));
    return [{ ...template.ix, keys, data: data ?? template.ix.data }];
  };
  const amount = () => BigInt(1 + Math.floor(rnd() * 1_000_000)) * (rnd() < 0.2 ? 1_000_003n : 1n);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const distributeIxs = await w.ixs.distribute(payer, 1n);
  const data = {
    distribute: getDistributeInstructionDataSerializer(),
    stake: getStakeInstructionDataSerializer(),
    topUp: getTopUpInstructionDataSerializer(),
    extend: getExtendInstructionDataSerializer(),
    slash: getSlashInstructionDataSerializer(),
  };
  const evidence = new Uint8Array(32).fill(9);

  /** Keeps every fee payer in SOL: positions are never closed, so each stake locks rent for good. */
  const topUpSol = () => {
    for (const payerOf of [payer, w.slasher, ...owners]) if ((w.chain.getAccount(payerOf.key)?.lamports ?? 0n) < 5_000_000_000n) w.chain.airdrop(payerOf.key, 10_000_000_000n);
  };

  for (let s = 0; s < o.sequences; s++) {
    if (s % 64 === 0) topUpSol();
    for (let i = 0; i < STEPS; i++) {
      where = `sequence ${s}, step ${i}`;
      const owner = pick(owners);
      const mine = [...tracked.values()].filter((t) => t.owner === owner);
      const some = mine.length > 0 ? pick(mine) : null;
      const r = rnd();
      let step: Step;
      let t: Tracked | null = some;
      if (!some || r < 0.25) {
        if (tracked.size < maxLive) step = 'stake';
        else {
          // Full: move an old position on toward its exit instead (unstake, withdraw, or claim what is left).
          t = pick([...tracked.values()]);
          step = t.p.amount === 0n ? 'claim' : t.p.unstakedAt > 0n ? 'withdraw' : 'unstake';
        }
      } else if (r < 0.5) step = 'distribute';
      else if (r < 0.62) step = 'claim';
      else if (r < 0.7) step = 'topUp';
      else if (r < 0.78) step = 'extend';
      else if (r < 0.86) step = 'unstake';
      else if (r < 0.93) step = 'slash';
      else {
        step = 'withdraw';
        t = mine.find((m) => m.p.unstakedAt > 0n && m.p.amount > 0n) ?? some;
      }
      if (step === 'distribute' || step === 'stake') t = null;
      let failure;
      const configBefore = raw(w.configAddress);
      if (step === 'stake') {
        const id = nextId++;
        const address = await w.positionAddress(owner.key, id);
        const value = amount();
        const lockDays = Math.floor(rnd() * 366);
        const ixs = await instruction({ owner, id, address }, step, data.stake.serialize({ id, amount: value, lockDays }), () => w.ixs.stake(owner, id, value, lockDays));
        failure = await send(ixs, owner);
        if (!failure) {
          const { p, bytes } = readPosition(address);
          t = { owner, id, address, p, bytes, ideal: 0n, mark: idealPerWeight, feesAtStart: fees, };
          tracked.set(address, t);
          add(p, 1n);
          figures.positions++;
        }
      } else if (step === 'distribute') {
        const fee = amount();
        const totalWeight = config.totalWeight;
        failure = await send([{ ...distributeIxs[0]!, data: data.distribute.serialize({ amount: fee }) }], payer);
        if (!failure) {
          figures.feesIn += fee;
          if (totalWeight > 0n) {
            idealPerWeight += (fee * MOD) / totalWeight;
            fees++;
          }
        }
      } else {
        const p = t!;
        bank(p);
        if (step === 'withdraw') w.advance(Math.floor(rnd() * 400) * DAY);
        const ixs =
          step === 'claim'
            ? await instruction(p, step, null, () => w.ixs.claim(p.owner, p.id))
            : step === 'topUp'
              ? await instruction(p, step, data.topUp.serialize({ amount: amount() }), () => w.ixs.topUp(p.owner, p.id, 1n))
              : step === 'extend'
                ? await instruction(p, step, data.extend.serialize({ lockDays: Math.floor(rnd() * 366) }), () => w.ixs.extend(p.owner, p.id, 0))
                : step === 'unstake'
                  ? await instruction(p, step, null, () => w.ixs.unstake(p.owner, p.id))
                  : step === 'slash'
                    ? await instruction(p, step, data.slash.serialize({ amount: p.p.amount / 20n + 1n, evidence }), () => w.ixs.slash(p.owner.key, p.id, 1n))
                    : await instruction(p, step, null, () => w.ixs.withdraw(p.owner, p.id));
        failure = await send(ixs, step === 'slash' ? w.slasher : p.owner);
        if (failure && !raw(p.address).equals(p.bytes)) fail(`a refused ${step} changed position ${p.id}`);
        if (!failure) refresh(p);
      }
      if (failure) {
        const code = (failure.json as { InstructionError?: [number, { Custom?: number }] }).InstructionError?.[1]?.Custom;
        const name = STAKING_ERRORS.find(([c]) => c === code)?.[1];
        if (!name || !EXPECTED_REFUSALS.includes(name)) fail(`${step} failed: ${failure.message}`);
        figures.refused[name!] = (figures.refused[name!] ?? 0) + 1;
        if (!raw(w.configAddress).equals(configBefore)) fail(`a refused ${step} changed the configuration`);
      } else figures.landed[step]++;
      if (figures.steps === o.tamperAfterStep) {
        await w.send([mintToChecked({ mint: w.mint.publicKey, tokenAccount: w.rewardVault, mintAuthority: w.admin.publicKey, amount: 1n, decimals: DECIMALS })], [w.admin]);
        minted.total += 1n;
      }
      checkStep(t);
      if (t && tracked.has(t.address) && !alive(t.p, config.rewardPerWeight)) retire(t);
      figures.steps++;
    }
    figures.sequences++;
    if ((s + 1) % fullCheckEvery === 0 || s === o.sequences - 1) {
      fullCheck();
      Object.assign(figures, { feesToStakers: config.feesToStakers, feesToTreasury: config.feesToTreasury, claimed: config.claimed, slashed: config.slashed });
      o.progress?.(figures);
    }
  }
  return figures;
}
