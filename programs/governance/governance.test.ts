import { beforeEach, describe, expect, it } from 'vitest';
import { updateConfig as updateEscrowConfig } from '../escrow/client/index.ts';
import { slash } from '../staking/client/index.ts';
import { STAKING_ERRORS } from '../staking/constants.ts';
import { ESCROW_ERRORS } from '../escrow/constants.ts';
import { programArtifacts } from '../build/artifacts.ts';
import { positionAddress } from '../client/program-addresses.ts';
import { instructionsOf, noop, pk, umi } from '../testing/chain-world.ts';
import { refusedWith } from '../testing/refusals.ts';
import { APPEAL_S, governanceWorld, HOLD_UP_S, VOTING_S, type GovernanceWorld } from '../testing/governance-world.ts';
import { FEE_BPS, STAKERS_SHARE_BPS, TIMELOCK_S } from '../testing/escrow-world.ts';
import { GOVERNANCE_CONSTANTS, GOVERNANCE_ERRORS, GOVERNANCE_PROGRAM_ID, MARKET_PARAM_FIELDS, type GovernanceErrorName } from './idl.ts';
import { proposalStatus } from './constants.ts';
import { PARAM_BOUNDS } from '../../durable-objects/domain/params.ts';
import { proposeInstructions, type MarketValues } from '../client/governance.ts';
import { extendInstructions, topUpInstructions, unstakeInstructions } from '../client/staking.ts';

const refused = (attempt: Promise<unknown>, name: GovernanceErrorName) => refusedWith(attempt, GOVERNANCE_ERRORS, name);

const feeChange = (w: GovernanceWorld, feeBps: number) => ({ action: 'updateEscrow' as const, escrow: { feeBps, stakersShareBps: STAKERS_SHARE_BPS, withdrawTimelockSeconds: BigInt(TIMELOCK_S), newAdmin: w.governance } });
/** The status the TypeScript mirror of governance.c's rules gives a proposal now. */
const statusOf = async (w: GovernanceWorld, p: { index: bigint }) => proposalStatus(await w.proposal(p.index), w.readGovernance(), w.now());
const marketValues = (o: Partial<MarketValues> = {}): MarketValues => ({ leaseMs: 20_000n, maxRematches: 2n, challengeWindowMs: 60_000n, replicaBidTtlMs: 60_000n, agentGraceMs: 60_000n, failedRunUnits: 1n, chatTokenPrice: 1_000n, chatVerifyBps: 1_000n, ...o });

describe('governance program: proposals', () => {
  let w: GovernanceWorld;
  let a: Awaited<ReturnType<GovernanceWorld['staker']>>, b: typeof a, c: typeof a;
  beforeEach(async () => {
    w = await governanceWorld();
    [a, b, c] = [await w.staker(5_000n), await w.staker(3_000n), await w.staker(2_000n)];
    w.advance(1); // the stakes stand before anything is proposed
  });

  it('passes a fee change by stake weight and applies it by CPI to the escrow after voting and the hold-up, once', async () => {
    const p = await w.propose(a, feeChange(w, 500));
    expect(p).toMatchObject({ action: 'updateEscrow', weightAtOpen: 10_000n, proposer: a.key, executed: false, target: w.escrowConfig });
    expect(p.votingEndsAt - p.openedAt).toBe(VOTING_S);
    expect(p.executableAt - p.votingEndsAt).toBe(HOLD_UP_S);
    await w.vote(a, p, 'for');
    await w.vote(b, p, 'against');
    expect(await w.proposal(p.index)).toMatchObject({ forWeight: 5_000n, againstWeight: 3_000n, voters: 2n });
    await refused(w.execute(p), 'tooEarly');
    expect(await statusOf(w, p)).toBe('voting');
    w.advance(VOTING_S);
    await refused(w.execute(p), 'tooEarly'); // the hold-up
    expect(await statusOf(w, p)).toBe('holdUp');
    w.advance(HOLD_UP_S);
    expect(await statusOf(w, p)).toBe('executable');
    await w.execute(p);
    expect(await statusOf(w, p)).toBe('executed');
    expect((await w.config()).feeBps).toBe(500);
    expect((await w.proposal(p.index)).executed).toBe(true);
    await refused(w.execute(p), 'alreadyExecuted');
  });

  it('counts only weight that stood when the proposal opened, once per position, before voting closes', async () => {
    const p = await w.propose(a, feeChange(w, 300));
    const late = await w.staker(9_000n); // staked after the opening
    await refused(w.vote(late, p, 'for'), 'positionTooNew');
    await w.vote(a, p, 'for');
    await refused(w.vote(a, p, 'against'), 'alreadyVoted');
    w.advance(VOTING_S);
    await refused(w.vote(b, p, 'for'), 'votingClosed');
    expect(await w.proposal(p.index)).toMatchObject({ forWeight: 5_000n, againstWeight: 0n, voters: 1n });
  });

  it('refuses the vote of a position that grew after the opening: a new one, a top-up, an extension', async () => {
    const d = await w.wallet(3_000n);
    await w.stake(d, 0n, 2_000n);
    w.advance(1);
    const p = await w.propose(a, feeChange(w, 300));
    w.advance(1);
    await w.stake(d, 1n, 500n);
    await refused(w.vote(d, p, 'for', 1n), 'positionTooNew');
    await w.send(await topUpInstructions({ owner: d.key, id: 0n, mint: w.mint.publicKey, amount: 500n }), [d.signer]);
    await refused(w.vote(d, p, 'for'), 'positionTooNew');
    await w.send(await extendInstructions({ owner: b.key, id: 0n, mint: w.mint.publicKey, lockDays: 30 }), [b.signer]);
    await refused(w.vote(b, p, 'for'), 'positionTooNew');
    await w.vote(c, p, 'for'); // untouched since before the opening
  });

  it('holds a voter’s position until voting ends: it can neither unstake nor vote again from a new position', async () => {
    const p = await w.propose(a, feeChange(w, 300));
    await w.vote(b, p, 'against');
    expect((await w.position(b.key, 0n)).heldUntil).toBe(BigInt(p.votingEndsAt));
    await refusedWith(w.send(await unstakeInstructions({ owner: b.key, id: 0n, mint: w.mint.publicKey }), [b.signer]), STAKING_ERRORS, 'positionHeld');
    w.advance(VOTING_S);
    await w.send(await unstakeInstructions({ owner: b.key, id: 0n, mint: w.mint.publicKey }), [b.signer]);
  });

  it('does not execute a failed proposal: below the quorum, or no more for than against', async () => {
    const few = await w.propose(c, feeChange(w, 300));
    const split = await w.propose(c, feeChange(w, 400));
    await w.vote(c, few, 'for'); // 2,000 of 10,000: the 20% quorum exactly
    await w.vote(b, split, 'for');
    await w.vote(a, split, 'against');
    w.advance(VOTING_S + HOLD_UP_S);
    await refused(w.execute(split), 'notPassed');
    expect(await statusOf(w, split)).toBe('defeated');
    expect(await statusOf(w, few)).toBe('executable');
    await w.execute(few);
    expect((await w.config()).feeBps).toBe(300);
    const under = await governanceWorld({ quorumBps: 2_001 });
    const [x] = [await under.staker(2_000n), await under.staker(8_000n)];
    under.advance(1);
    const q = await under.propose(x!, feeChange(under, 100));
    await under.vote(x!, q, 'for');
    under.advance(VOTING_S + HOLD_UP_S);
    await refused(under.execute(q), 'notPassed');
    expect(await statusOf(under, q)).toBe('defeated');
    expect((await under.config()).feeBps).toBe(FEE_BPS);
  });

  it('opens proposals only for a position at the threshold, signed by its owner, with an action that fits its target', async () => {
    const small = await w.staker(999n);
    w.advance(1);
    await refused(w.propose(small, feeChange(w, 300)), 'belowThreshold');
    // b signs for a's position.
    const theirs = await proposeInstructions({ proposer: b.key, positionId: 0n, index: 0n, change: feeChange(w, 300), escrow: { config: w.escrowConfig, rewardVault: w.stakingRewardVault, treasury: w.treasury.ata } });
    theirs[0]!.keys[1]!.pubkey = await positionAddress(a.key, 0n);
    await refused(w.send(theirs, [b.signer]), 'notOwner');
    // An escrow change aimed at the staking configuration.
    const wrong = await proposeInstructions({ proposer: a.key, positionId: 0n, index: 0n, change: feeChange(w, 300), escrow: { config: w.stakingConfig, rewardVault: w.stakingRewardVault, treasury: w.treasury.ata } });
    await refused(w.send(wrong, [a.signer]), 'wrongAction');
    // A market parameter outside the marketplace's bounds, each one.
    for (const [i, f] of MARKET_PARAM_FIELDS.entries()) {
      const [min, max] = PARAM_BOUNDS[f];
      await refused(w.propose(a, { action: 'setMarket', market: 'gpu-small', values: marketValues({ [f]: BigInt(max) + 1n }) }), 'invalidParameter');
      if (min > 0) await refused(w.propose(a, { action: 'setMarket', market: 'gpu-small', values: marketValues({ [f]: BigInt(min) - 1n }) }), 'invalidParameter');
      expect(GOVERNANCE_CONSTANTS[`GOVERNANCE_MARKET_MAX_${i}`]).toBe(max);
    }
    await refused(w.propose(a, { action: 'setMarket', market: 'GPU', values: marketValues() }), 'invalidParameter');
    await refused(w.propose(a, { action: 'updateGovernance', governance: { ...w.params, quorumBps: 0 } }), 'invalidParameter');
    await refused(w.propose(a, { action: 'updateGovernance', governance: { ...w.params, votingSeconds: 59n } }), 'invalidParameter');
    expect(w.readGovernance().proposalCount).toBe(0n);
  });

  it('sets a market’s parameters (created, then changed) and governance’s own, by proposal', async () => {
    const first = await w.propose(a, { action: 'setMarket', market: 'gpu-small', values: marketValues() });
    await w.vote(a, first, 'for');
    w.advance(VOTING_S + HOLD_UP_S);
    expect(await w.market('gpu-small')).toBeNull();
    await w.execute(first);
    expect(await w.market('gpu-small')).toMatchObject({ market: 'gpu-small', proposal: 0n, values: marketValues(), updatedAt: w.now() });
    const second = await w.propose(a, { action: 'setMarket', market: 'gpu-small', values: marketValues({ leaseMs: 45_000n }) });
    const own = await w.propose(a, { action: 'updateGovernance', governance: { ...w.params, quorumBps: 5_000, holdUpSeconds: 0n } });
    await w.vote(a, second, 'for');
    await w.vote(a, own, 'for');
    w.advance(VOTING_S + HOLD_UP_S);
    await w.execute(second);
    await w.execute(own);
    expect((await w.market('gpu-small'))!.values.leaseMs).toBe(45_000n);
    expect(w.readGovernance()).toMatchObject({ quorumBps: 5_000, holdUpSeconds: 0n, proposalCount: 3n });
  });

  it('changes the staking configuration by proposal; the former admin key can change nothing', async () => {
    const p = await w.propose(a, { action: 'updateStaking', staking: { minProviderStake: 2_000n, cooldownSeconds: 60n, maxSlashBpsPerEvent: 500, maxSlashBpsPerEpoch: 100, slashAuthority: w.governance, newAdmin: w.governance } });
    await w.vote(a, p, 'for');
    w.advance(VOTING_S + HOLD_UP_S);
    await w.execute(p);
    expect(await w.stakingTotals()).toMatchObject({ minProviderStake: 2_000n, cooldownSeconds: 60n, maxSlashBpsPerEvent: 500, maxSlashBpsPerEpoch: 100 });
    const direct = instructionsOf(
      updateEscrowConfig(umi, { admin: noop(w.admin.publicKey), rewardVault: pk(w.stakingRewardVault), treasury: pk(w.treasury.ata), feeBps: 0, stakersShareBps: 0, withdrawTimelockSeconds: 60n, newAdmin: pk(w.admin.publicKey) }),
    );
    await refusedWith(w.send(direct, [w.admin]), ESCROW_ERRORS, 'notAdmin');
  });
});

describe('governance program: slashing', () => {
  let w: GovernanceWorld;
  let provider: Awaited<ReturnType<GovernanceWorld['staker']>>, a: typeof provider, b: typeof provider;
  beforeEach(async () => {
    w = await governanceWorld({ vetoBps: 3_000 });
    [provider, a, b] = [await w.staker(10_000n), await w.staker(5_000n), await w.staker(5_000n)];
    w.advance(1);
  });

  it('is proposed by the verifier with the evidence, holds the accused, and executes after the appeal window, to the treasury', async () => {
    await refused(w.proposeSlash(provider.key, 100n, { by: a }), 'notSlashProposer');
    await refused(w.proposeSlash(provider.key, 1_001n), 'slashTooLarge'); // the per-event bound: 10% of the position
    const p = await w.proposeSlash(provider.key, 1_000n);
    expect(p).toMatchObject({ action: 'slash', change: { action: 'slash', amount: 1_000n }, extra: provider.key, evidence: '07'.repeat(32), digests: '08'.repeat(32) });
    expect(p.executableAt - p.openedAt).toBe(APPEAL_S);
    expect((await w.position(provider.key, 0n)).heldUntil).toBe(BigInt(p.executableAt + GOVERNANCE_CONSTANTS.GOVERNANCE_SLASH_GRACE_SECONDS!));
    await refusedWith(w.send(await unstakeInstructions({ owner: provider.key, id: 0n, mint: w.mint.publicKey }), [provider.signer]), STAKING_ERRORS, 'positionHeld');
    await refused(w.vote(provider, p, 'against'), 'notEligible');
    await refused(w.executeSlash(p), 'tooEarly');
    w.advance(APPEAL_S - 1);
    await refused(w.executeSlash(p), 'tooEarly');
    expect(await statusOf(w, p)).toBe('appeal');
    w.advance(1);
    expect(await statusOf(w, p)).toBe('executable');
    await refused(w.execute(p), 'wrongAction');
    const before = w.balance(w.treasury.ata);
    await w.executeSlash(p, a.signer);
    expect(w.balance(w.treasury.ata) - before).toBe(1_000n);
    expect(await w.position(provider.key, 0n)).toMatchObject({ amount: 9_000n, slashed: 1_000n });
    await refused(w.executeSlash(p), 'alreadyExecuted');
  });

  it('is vetoed by stakers during the appeal window (against-weight at the veto bound), and then never runs', async () => {
    const p = await w.proposeSlash(provider.key, 500n);
    await w.vote(a, p, 'against'); // 5,000 of 20,000: 25%, under the 30% veto bound
    const q = await w.proposeSlash(provider.key, 500n);
    await w.vote(a, q, 'against');
    await w.vote(b, q, 'against'); // 50%
    w.advance(APPEAL_S);
    await refused(w.vote(b, p, 'against'), 'votingClosed');
    await refused(w.executeSlash(q), 'vetoed');
    expect(await statusOf(w, q)).toBe('vetoed');
    expect(await statusOf(w, p)).toBe('executable');
    await w.executeSlash(p);
    expect((await w.position(provider.key, 0n)).slashed).toBe(500n);
  });

  it('leaves no key able to slash directly: the staking program’s slashing authority is governance', async () => {
    const direct = instructionsOf(
      slash(umi, { slashAuthority: noop(w.verifier.key), position: pk(await positionAddress(provider.key, 0n)), stakeVault: pk(w.stakeVault), treasury: pk(w.treasury.ata), mint: pk(w.mint.publicKey), amount: 1n, evidence: new Uint8Array(32) }),
    );
    await refusedWith(w.send(direct, [w.verifier.signer]), STAKING_ERRORS, 'notSlashAuthority');
    const byAdmin = instructionsOf(
      slash(umi, { slashAuthority: noop(w.admin.publicKey), position: pk(await positionAddress(provider.key, 0n)), stakeVault: pk(w.stakeVault), treasury: pk(w.treasury.ata), mint: pk(w.mint.publicKey), amount: 1n, evidence: new Uint8Array(32) }),
    );
    await refusedWith(w.send(byAdmin, [w.admin]), STAKING_ERRORS, 'notSlashAuthority');
  });
});

describe('governance program: its interface', () => {
  it('is deployed at the program id the IDL names', async () => {
    const w = await governanceWorld();
    expect(w.chain.getAccount(GOVERNANCE_PROGRAM_ID)?.executable).toBe(true);
    expect(programArtifacts('governance').so.length).toBeGreaterThan(0);
  });
});
