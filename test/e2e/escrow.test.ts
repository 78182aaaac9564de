import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainInfo } from '../../durable-objects/contracts/api.ts';
import { generateKeypair, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { ESCROW_READING_MAX_AGE_MS } from '../../durable-objects/domain/custody/escrow-admission.ts';
import { bps, UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { PROTOCOL } from '../../durable-objects/domain/params.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { associatedTokenAddress } from '../../programs/client/address.ts';
import { escrowWithdrawInstructions, readEscrow, readEscrowConfig, requestWithdrawalInstructions } from '../../programs/client/escrow.ts';
import { sendAndFinalize } from '../../programs/client/mint.ts';
import { solanaRpc, type SolanaRpc } from '../../programs/client/rpc.ts';
import { startLocalChain, type LocalChain } from '../../programs/local-chain/server.ts';
import { DougClient } from '../../sdk/client.ts';
import { chatFaults } from '../../sdk/chat.ts';
import { faucetAndDeposit, sendCosignedWithdrawal, transactionSigner, transferToCustody } from '../../sdk/deposit.ts';
import { eventually, refusal, startAgent, type AgentProcess } from './agents.ts';
import { startStack, type Stack } from './stack.ts';
import { publicKey } from '@metaplex-foundation/umi';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { main } from '../../sdk/cli.ts';
import { positionAddress, stakingAddresses } from '../../programs/client/program-addresses.ts';
import { stake } from '../../programs/staking/client/index.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';
import { GOVERNANCE_PROGRAM_ID } from '../../programs/governance/constants.ts';
import { governanceAddress } from '../../programs/client/program-addresses.ts';
import { readGovernance } from '../../programs/client/governance.ts';
import { readPositions, readStakingConfig } from '../../programs/client/staking.ts';
import { stake as stakeFrom, unstake as unstakeFrom } from '../../sdk/staking.ts';
import { CHAIN_PARAMS_MAX_AGE_MS } from '../../durable-objects/domain/params.ts';
import { dougUmi } from '../../sdk/umi.ts';

/**
 * Escrow custody end to end: `npm start`'s stack with DOUG_CUSTODY=escrow on a local chain this test
 * runs (so that it can move the chain's clock past the withdrawal timelock), two real agents, a
 * buyer through the SDK. The buyer's $DOUG goes into their escrow; a verified job is paid on chain
 * from it, to the providers' own token accounts, the fee to the staking program's reward vault and
 * the treasury; the buyer then leaves alone after the timelock with everything not settled.
 */
const MARKETS = JSON.stringify([
  { id: 'cpu', description: 'cpu', params: { leaseMs: 4_000, replicaBidTtlMs: 30_000 } },
  { id: 'gpu', description: 'gpu (a faulty provider among honest ones)', params: { leaseMs: 4_000, replicaBidTtlMs: 30_000 } },
  { id: 'chat', description: 'chat (every completion verified)', params: { leaseMs: 4_000, chatVerifyBps: 10_000 } },
]);
const PRICE = '0.001';
const PRICE_UNITS = UNITS_PER_DOUG / 1000n;
const DEPOSIT = 10n * UNITS_PER_DOUG;

let local: LocalChain;
/** Seconds the local chain's clock runs ahead of the wall clock. */
let skewSeconds = 0;
let stack: Stack;
let rpc: SolanaRpc;
let chain: ChainInfo;
const agents: AgentProcess[] = [];
let buyerKey: Keypair;
let buyer: DougClient;
/** The chat market's price per token: the deployment's until governance sets it. */
let chatTokenPrice = BigInt(PROTOCOL.chatTokenPrice);
/** The job spec of the settled job, for later bids. */
let lastJob: { modelSha256: string; inputSha256: string; inputBytes: number; tolerance: null } | null = null;

async function tokenBalance(account: string): Promise<bigint> {
  try {
    return BigInt((await rpc.getTokenAccountBalance(account, 'finalized')).value.amount);
  } catch {
    return 0n;
  }
}
const walletBalance = async (owner: string) => tokenBalance(await associatedTokenAddress(owner, chain.mint));

beforeAll(async () => {
  local = await startLocalChain({ port: 0, now: () => Date.now() + skewSeconds * 1000 });
  stack = await startStack({ agents: 0, markets: MARKETS, chainUrl: local.url, custody: 'escrow' });
  rpc = solanaRpc(local.url);
  buyerKey = await generateKeypair();
  buyer = new DougClient({ baseUrl: stack.url, keypair: buyerKey });
  chain = await buyer.chain();
  for (const name of ['e1', 'e2']) {
    const agent = await startAgent({ url: stack.url, dir: stack.dir, name, market: 'cpu', price: PRICE });
    agents.push(agent);
    await eventually(async () => (await buyer.asks({ market: 'cpu', owner: agent.key.publicKey })).items.length === 1, `${name}'s ask`, 30_000, agent.log);
  }
}, 180_000);

/** `doug` in-process as the staker (its own key file), against the stack. */
let stakerDir = '';
const stakerKey = () => stakerPublicKey;
let stakerPublicKey = '';
async function doug(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  if (!stakerDir) stakerDir = await mkdtemp(join(tmpdir(), 'doug-staker-'));
  const keyPath = join(stakerDir, 'id.json');
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: { DOUG_URL: stack.url, DOUG_KEY: keyPath }, home: stakerDir });
  if (!stakerPublicKey && argv[0] === 'keygen') stakerPublicKey = (await loadKeypair(keyPath)).publicKey;
  return { code, stdout, stderr };
}
async function dougJson(...argv: string[]) {
  const r = await doug(...argv, '--json');
  if (r.code !== 0) throw new Error(`doug ${argv.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * Passes a proposal through the CLI as the staker: `propose` (argv), a vote for it, then the chain's
 * clock past voting and the hold-up, and `execute`. `whileHeld` runs while the vote holds the
 * staker's position. Answers the executed proposal as `doug proposals --json` shows it.
 */
async function passProposal(argv: string[], whileHeld?: () => Promise<{ code: number; stderr: string }>) {
  skewSeconds += 1; // the position's weight stands before the opening
  local.advanceSlots(1);
  const { proposal } = await dougJson(...argv);
  const voted = await dougJson('vote', proposal.index, 'for');
  expect(voted.votes.length).toBeGreaterThan(0);
  if (whileHeld) {
    const held = await whileHeld();
    expect(held.code).toBe(1);
    expect(held.stderr).toContain('held until');
  }
  const early = await doug('execute', proposal.index);
  expect(early.code).toBe(1);
  expect(early.stderr).toContain('it is voting');
  const g = await readGovernance(rpc);
  skewSeconds += Number(g.votingSeconds + g.holdUpSeconds) + 1;
  local.advanceSlots(1);
  await dougJson('execute', proposal.index);
  return ((await dougJson('proposals')).proposals as Record<string, unknown>[]).find((p) => p.index === proposal.index)!;
}

afterAll(async () => {
  if (stakerDir) await rm(stakerDir, { recursive: true, force: true });
  await Promise.all(agents.map((a) => a.stop()));
  await stack?.stop();
  await local?.stop();
}, 60_000);

describe('escrow custody', () => {
  it('tells clients where to deposit: the escrow program, its authority and timelock', async () => {
    const config = await readEscrowConfig(rpc, stack.programs()!.escrow);
    expect(chain.escrow).toEqual({
      program: stack.programs()!.escrow,
      config: stack.programs()!.escrowConfig,
      authority: config.authority,
      withdrawTimelockSeconds: Number(config.withdrawTimelockSeconds),
      feeBps: config.feeBps,
    });
    expect(chain.staking).toEqual({ program: stack.programs()!.staking, config: stack.programs()!.stakingConfig });
    // Governance administers both configurations: the escrow's admin is its PDA.
    expect(chain.governance).toEqual({ program: GOVERNANCE_PROGRAM_ID, config: await governanceAddress() });
    expect(config.admin).toBe(chain.governance!.config);
  });

  it('credits a deposit into the buyer’s escrow once, and refuses custody’s memo’d transfer', async () => {
    const funded = await faucetAndDeposit(buyer, buyerKey, DEPOSIT);
    expect(funded.deposit).toMatchObject({ account: buyerKey.publicKey, amount: DEPOSIT.toString() });
    const escrow = await readEscrow(rpc, buyerKey.publicKey, chain.escrow!.program);
    expect(escrow).toMatchObject({ balance: DEPOSIT, nextBatch: 0n, withdrawalRequestedAt: 0n });
    expect(await buyer.account()).toMatchObject({ escrow: true, available: DEPOSIT.toString(), settlement: null });
    // The same signature again is credited once.
    expect(await refusal(buyer.deposit(funded.deposit!.signature))).toEqual({ status: 409, code: 'CUSTODY__DEPOSIT_ALREADY_CREDITED' });

    // Another wallet's memo'd transfer into custody is not an escrow deposit: refused, nothing credited.
    const otherKey = await generateKeypair();
    const other = new DougClient({ baseUrl: stack.url, keypair: otherKey });
    await other.faucet(2n * UNITS_PER_DOUG);
    const legacy = await transferToCustody({ chain, wallet: otherKey, amount: UNITS_PER_DOUG });
    expect(await refusal(other.deposit(legacy.signature))).toEqual({ status: 422, code: 'CUSTODY__DEPOSIT_NOT_ESCROW' });
    expect((await other.account()).credited).toBe('0');

  }, 60_000);

  it('stakes from a wallet through the CLI before any fee: one position, weighed by its lock; refuses what cannot be done yet', async () => {
    expect((await doug('keygen')).code).toBe(0);
    expect((await doug('faucet', '5')).code).toBe(0);
    const staked = await dougJson('stake', '2', '--lock', '365');
    expect(staked).toMatchObject({ id: '1', amount: (2n * UNITS_PER_DOUG).toString(), lockDays: 365, weight: (8n * UNITS_PER_DOUG).toString() });
    const list = await dougJson('stakes');
    expect(list.positions).toEqual([expect.objectContaining({ id: '1', status: 'staked', claimable: '0', lockDays: 365, unlockAt: null })]);
    expect(list).toMatchObject({ totalStaked: (2n * UNITS_PER_DOUG).toString(), totalWeight: (8n * UNITS_PER_DOUG).toString() });
    const nothing = await doug('claim');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('none of your positions has a whole base unit to claim');
    expect((await doug('unstake', '7')).stderr).toContain('you have no position 7');
    expect((await doug('stake', '1', '--lock', '366')).code).toBe(2);
    expect(await walletBalance(stakerKey())).toBe(3n * UNITS_PER_DOUG);
  }, 60_000);

  it('pays a verified job on chain from the escrow: providers’ own token accounts, the fee to the reward vault and the treasury', async () => {
    const config = await readEscrowConfig(rpc, chain.escrow!.program);
    const before = {
      providers: await Promise.all(agents.map((a) => walletBalance(a.key.publicKey))),
      rewardVault: await tokenBalance(config.rewardVault),
      treasury: await tokenBalance(config.treasury),
    };
    const model = await buyer.uploadModel(buildMlpModel({ inputSize: 8, hidden: 16, outputSize: 3, seed: 9 }));
    const x = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5, 1, 0]);
    const input = await buyer.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(x.buffer))]);
    const units = 2;
    const bid = await buyer.placeBid({
      market: 'cpu',
      maxPrice: (2n * PRICE_UNITS).toString(),
      units,
      replicas: 2,
      expiresAt: Date.now() + 120_000,
      job: { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null },
    });
    lastJob = { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null };
    const job = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      return j.status === 'settled' || j.status === 'refunded' ? j : null;
    }, 'the job to settle', 60_000, () => agents.map((a) => a.log()).join('\n'));
    expect(job.status).toBe('settled');

    const gross = PRICE_UNITS * BigInt(units);
    const fee = bps(gross, PROTOCOL.feeBps);
    const account = await eventually(async () => {
      const a = await buyer.account();
      return a.settlement && a.settlement.pending === '0' && a.settlement.paid.batches >= 1 ? a : null;
    }, 'the payouts to be final on chain', 60_000, stack.log);
    expect(account.settlement).toMatchObject({ pending: '0', queued: 0, open: null, failures: 0, lastError: null, paid: { payouts: 2, gross: (2n * gross).toString(), fee: (2n * fee).toString() } });
    expect(account).toMatchObject({ payoutsOnChain: (2n * gross).toString(), payoutsSent: '0', available: (DEPOSIT - 2n * gross).toString(), held: '0' });

    // The chain agrees, to the base unit; the settle went as a v0 transaction through the settlement authority's lookup table.
    for (const [i, a] of agents.entries()) expect(await walletBalance(a.key.publicKey)).toBe(before.providers[i]! + gross - fee);
    const settle = await rpc.getTransaction(account.settlement!.recent[0]!.signature, { commitment: 'finalized', maxSupportedTransactionVersion: 0 });
    expect((settle as { version?: unknown }).version).toBe(0);
    const stakers = bps(2n * fee, config.stakersShareBps);
    expect((await tokenBalance(config.rewardVault)) + (await tokenBalance(config.treasury))).toBe(before.rewardVault + before.treasury + 2n * fee);
    expect(await tokenBalance(config.rewardVault)).toBeGreaterThanOrEqual(before.rewardVault);
    expect(stakers).toBeGreaterThan(0n);
    const escrow = (await readEscrow(rpc, buyerKey.publicKey, chain.escrow!.program))!;
    expect(escrow).toMatchObject({ balance: DEPOSIT - 2n * gross, nextBatch: BigInt(account.settlement!.paid.batches), settledTotal: 2n * gross });
    // The providers' ledgers were not credited: they were paid on chain.
    for (const a of agents) expect((await buyer.account(a.key.publicKey)).payoutsReceived).toBe('0');

    // The audit reconciles the ledger with the escrow vaults and the reward vault, once the read
    // models have the settled hold (an object that has not sent its feed yet is not counted as lag).
    const audit = await eventually(async () => {
      const a = await buyer.audit();
      return a.ok && !a.stale && a.onChain === (2n * gross).toString() ? a : null;
    }, 'the audit to balance with the payouts on chain', 30_000, stack.log);
    expect(audit.escrow).toMatchObject({
      escrows: 1,
      vaults: escrow.balance.toString(),
      expected: escrow.balance.toString(),
      pending: '0',
      unclaimed: '0',
      rewardVault: (await tokenBalance(config.rewardVault)).toString(),
      ok: true,
    });
    expect(audit.escrow!.rewardsOwed).toBe(audit.escrow!.rewardVault);
    expect(audit.custody).toMatchObject({ ok: true });
  }, 120_000);

  it('pays the staker its share of the settled job’s fee: claimed through the CLI to the base unit, then unstaked', async () => {
    const config = await readEscrowConfig(rpc, chain.escrow!.program);
    const fee = 2n * bps(PRICE_UNITS * 2n, PROTOCOL.feeBps);
    const stakersShare = bps(fee, config.stakersShareBps);
    // The only position when the fee arrived: all the stakers' share is its, but for a fraction of a unit that stays owed.
    const [position] = (await dougJson('stakes')).positions as { id: string; claimable: string }[];
    const claimable = BigInt(position!.claimable);
    expect(claimable).toBeGreaterThanOrEqual(stakersShare - 1n);
    expect(claimable).toBeLessThanOrEqual(stakersShare);
    const before = await walletBalance(stakerKey());
    const claimed = await dougJson('claim');
    expect(claimed.claimed).toEqual([{ id: '1', amount: claimable.toString(), signature: expect.any(String) }]);
    expect(await walletBalance(stakerKey())).toBe(before + claimable);
    expect((await dougJson('stakes')).positions[0]).toMatchObject({ claimable: '0', claimed: claimable.toString() });

    const unstaked = await dougJson('unstake', '1');
    expect(unstaked).toMatchObject({ action: 'unstaked', position: { id: '1', status: 'staked' } });
    const waiting = await dougJson('stakes');
    expect(waiting.positions[0]).toMatchObject({ status: 'unstaking' });
    const early = await doug('unstake', '1');
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('position 1 may be withdrawn from');
  }, 60_000);

  it('changes the fee by governance through the CLI: proposed, voted, executed after voting and the hold-up; the next settlement uses it', async () => {
    await dougJson('stake', '3'); // position 2: weight 3 DOUG, every weight there is now
    const proposal = await passProposal(['propose', 'escrow', '--fee-bps', '500'], () => doug('unstake', '2'));
    expect(proposal).toMatchObject({ action: 'updateEscrow', executed: true, status: 'executed', change: { escrow: { feeBps: 500, stakersShareBps: 7_000 } } });
    expect((await readEscrowConfig(rpc, chain.escrow!.program)).feeBps).toBe(500);
    // The Worker reads the fee again within CHAIN_PARAMS_MAX_AGE_MS.
    await eventually(async () => ((await buyer.chain()).escrow?.feeBps === 500 ? true : null), 'GET /v1/chain to tell the new fee', CHAIN_PARAMS_MAX_AGE_MS + 10_000);

    const config = await readEscrowConfig(rpc, chain.escrow!.program);
    const before = { providers: await Promise.all(agents.map((a) => walletBalance(a.key.publicKey))), fees: (await tokenBalance(config.rewardVault)) + (await tokenBalance(config.treasury)), paid: (await buyer.account()).settlement!.paid };
    const bid = await buyer.placeBid({ market: 'cpu', maxPrice: (2n * PRICE_UNITS).toString(), units: 2, replicas: 2, expiresAt: Date.now() + 120_000, job: lastJob! });
    const job = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      return j.status === 'settled' || j.status === 'refunded' ? j : null;
    }, 'the job to settle', 60_000, () => agents.map((a) => a.log()).join('\n'));
    expect(job.status).toBe('settled');
    const gross = PRICE_UNITS * 2n;
    const fee = bps(gross, 500);
    await eventually(async () => {
      const s = (await buyer.account()).settlement;
      return s && s.pending === '0' && s.paid.payouts === before.paid.payouts + 2 ? s : null;
    }, 'the payouts to be final on chain', 60_000, stack.log);
    for (const [i, a] of agents.entries()) expect(await walletBalance(a.key.publicKey)).toBe(before.providers[i]! + gross - fee);
    expect((await tokenBalance(config.rewardVault)) + (await tokenBalance(config.treasury))).toBe(before.fees + 2n * fee);
    const after = (await buyer.account()).settlement!;
    expect(after.paid.fee, JSON.stringify({ before: before.paid, after })).toBe((BigInt(before.paid.fee) + 2n * fee).toString());
  }, 120_000);

  it('applies a market’s parameters set by governance, and the fee in force, to the jobs created after the market reads them', async () => {
    const proposal = await passProposal(['propose', 'market', '--market', 'cpu', '--lease-ms', '4500', '--replica-bid-ttl-ms', '30000']);
    expect(proposal).toMatchObject({ status: 'executed', change: { market: 'cpu', values: { leaseMs: '4500', replicaBidTtlMs: '30000' } } });
    // The market reads governance's values at most CHAIN_PARAMS_MAX_AGE_MS after its last reading, in the background of an order.
    const bid = async () => {
      const placed = await buyer.placeBid({ market: 'cpu', maxPrice: (2n * PRICE_UNITS).toString(), units: 1, replicas: 2, expiresAt: Date.now() + 120_000, job: lastJob! });
      return eventually(async () => {
        const j = await buyer.job(placed.order.id);
        return j.status === 'settled' || j.status === 'refunded' ? j : null;
      }, 'the job to settle', 60_000, stack.log);
    };
    const job = await eventually(async () => {
      const j = await bid();
      return (j.params as { leaseMs: number }).leaseMs === 4_500 ? j : null;
    }, 'a job created under governance’s lease', CHAIN_PARAMS_MAX_AGE_MS * 3, stack.log);
    expect(job.params).toMatchObject({ leaseMs: 4_500, replicaBidTtlMs: 30_000, feeBps: 500, challengeWindowMs: PROTOCOL.challengeWindowMs });
    // The chat market's price per token and verified share, by governance too (the chat slash's test below pays it).
    const chat = await passProposal(['propose', 'market', '--market', 'chat', '--chat-token-price', '3000', '--chat-verify-bps', '10000']);
    expect(chat).toMatchObject({ status: 'executed', change: { market: 'chat', values: { chatTokenPrice: '3000', chatVerifyBps: '10000' } } });
    chatTokenPrice = 3_000n;
  }, 180_000);

  it('proposes a slash of a provider outvoted by a tie-breaker, holds its stake through the appeal window, and executes it after: recorded in the job', async () => {
    // The faulty provider lists first (the bid's two replicas go to the first asks), with 2 DOUG staked.
    const faulty = await startAgent({ url: stack.url, dir: stack.dir, name: 'f1', market: 'gpu', price: PRICE, fault: true });
    agents.push(faulty);
    await new DougClient({ baseUrl: stack.url, keypair: faulty.key }).faucet(3n * UNITS_PER_DOUG);
    await stakeFrom({ chain, wallet: faulty.key, amount: 2n * UNITS_PER_DOUG, lockDays: 0 });
    await eventually(async () => (await buyer.asks({ market: 'gpu', owner: faulty.key.publicKey })).items.length === 1, 'f1’s ask', 30_000, faulty.log);
    for (const name of ['h1', 'h2']) {
      const honest = await startAgent({ url: stack.url, dir: stack.dir, name, market: 'gpu', price: PRICE });
      agents.push(honest);
      await eventually(async () => (await buyer.asks({ market: 'gpu', owner: honest.key.publicKey })).items.length === 1, `${name}'s ask`, 30_000, honest.log);
    }
    const bid = await buyer.placeBid({ market: 'gpu', maxPrice: (2n * PRICE_UNITS).toString(), units: 1, replicas: 2, expiresAt: Date.now() + 120_000, job: lastJob! });
    const settled = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      return j.status === 'settled' || j.status === 'refunded' ? j : null;
    }, 'the job to settle after a tie-breaker', 90_000, () => agents.map((a) => a.log()).join('\n'));
    expect(settled.status).toBe('settled');
    expect((settled.payouts as { provider: string }[]).map((p) => p.provider)).not.toContain(faulty.key.publicKey);

    // The verifier proposes the slash on chain: 10% of the position (the per-event bound), with the evidence.
    const proposed = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      const s = (j.slashes as { outcome: string; provider: string; proposal: number; amount: string }[])[0];
      return s && s.outcome === 'proposed' ? s : null;
    }, 'the slash to be proposed', 30_000, stack.log);
    expect(proposed).toMatchObject({ provider: faulty.key.publicKey, amount: (UNITS_PER_DOUG / 5n).toString() });
    const onChain = ((await dougJson('proposals')).proposals as Record<string, unknown>[]).find((p) => p.index === String(proposed.proposal))!;
    expect(onChain).toMatchObject({ action: 'slash', status: 'appeal', extra: faulty.key.publicKey, change: { action: 'slash', amount: (UNITS_PER_DOUG / 5n).toString() } });
    expect(onChain.evidence).toMatch(/^[0-9a-f]{64}$/);
    // Held through the appeal window: the provider cannot unstake to escape it.
    const [position] = await readPositions(rpc, faulty.key.publicKey, { programId: chain.staking!.program });
    expect(Number(position!.heldUntil)).toBeGreaterThan(Number((onChain as { executableAt: number }).executableAt));
    await expect(unstakeFrom({ chain, wallet: faulty.key, id: position!.id })).rejects.toThrow('held until');

    // After the appeal window (the chain's clock), the marketplace carries it out and the job records it.
    // (The treasury also takes settlements' fees meanwhile: the staking program's count of slashed tokens is the exact measure.)
    const slashedBefore = (await readStakingConfig(rpc, { programId: chain.staking!.program })).slashed;
    skewSeconds += Number((await readGovernance(rpc)).appealSeconds) + 1;
    local.advanceSlots(1);
    const executed = await eventually(async () => {
      const j = await buyer.job(bid.order.id);
      const s = (j.slashes as { outcome: string }[])[0];
      return s && s.outcome === 'executed' ? j : null;
    }, 'the slash to be executed after the appeal window', 60_000, stack.log);
    expect((executed.timeline as { event: string }[]).filter((t) => t.event === 'SlashRecorded')).toHaveLength(2);
    const [after] = await readPositions(rpc, faulty.key.publicKey, { programId: chain.staking!.program });
    expect(after).toMatchObject({ amount: 2n * UNITS_PER_DOUG - UNITS_PER_DOUG / 5n, slashed: UNITS_PER_DOUG / 5n });
    expect((await readStakingConfig(rpc, { programId: chain.staking!.program })).slashed).toBe(slashedBefore + UNITS_PER_DOUG / 5n);
  }, 180_000);

  it('proposes a slash of a chat stage holder whose outputs two others contradict, and executes it after the appeal window; the agent is told why', async () => {
    const args = ['--chat-model', 'examples/chat', '--stages', '1', '--hold', '0'];
    const liar = await startAgent({ url: stack.url, dir: stack.dir, name: 'chat-liar', market: 'chat', price: PRICE, fault: true, args });
    agents.push(liar);
    await new DougClient({ baseUrl: stack.url, keypair: liar.key }).faucet(3n * UNITS_PER_DOUG);
    await stakeFrom({ chain, wallet: liar.key, amount: 2n * UNITS_PER_DOUG, lockDays: 0 });
    // The honest holders stake too (the chain bounds what one epoch may slash by the stake there is).
    for (const name of ['chat-h1', 'chat-h2']) {
      const honest = await startAgent({ url: stack.url, dir: stack.dir, name, market: 'chat', price: PRICE, args });
      agents.push(honest);
      await new DougClient({ baseUrl: stack.url, keypair: honest.key }).faucet(3n * UNITS_PER_DOUG);
      await stakeFrom({ chain, wallet: honest.key, amount: 2n * UNITS_PER_DOUG, lockDays: 0 });
    }
    const holders = async () => ((await (await fetch(`${stack.url}/v1/models`)).json()) as { data: { routes: { market: string; holders: number[] }[] }[] }).data.flatMap((d) => d.routes).find((r) => r.market === 'chat')?.holders[0] ?? 0;
    await eventually(async () => (await holders()) === 3, 'three holders of the chat model', 60_000, () => agents.map((a) => a.log()).join('\n'));
    // The buyer pays from its escrow (one deposit first when this test runs alone: the audit below counts every escrow).
    if (BigInt((await buyer.account()).available) < UNITS_PER_DOUG) await faucetAndDeposit(buyer, buyerKey, UNITS_PER_DOUG);
    const key = (await buyer.createApiKey({ name: 'slash', limit: UNITS_PER_DOUG, expiresAt: Date.now() + 3600_000 })).key;
    const complete = () => fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ model: 'doug-austen', messages: [{ role: 'user', content: 'Emma' }], max_tokens: 8, temperature: 0 }) });
    // Unmeasured holders are routed first: within a few completions the liar serves one or re-runs one, and is outvoted.
    for (let attempt = 0; attempt < 4 && (await holders()) === 3; attempt++) {
      const res = await complete();
      expect(res.status).toBe(200);
    }
    expect(await holders()).toBe(2);
    const faults = () => chatFaults(stack.url);
    // The stack's log without the polls below.
    const log = () => stack.log().split('\n').filter((l) => !l.includes('/v1/chat/faults')).join('\n');
    const proposed = await eventually(async () => {
      const f = (await faults()).find((x) => x.agentKey === liar.key.publicKey);
      return f?.slash?.outcome === 'proposed' ? f : null;
    }, 'the chat slash to be proposed', 30_000, log);
    expect(proposed).toMatchObject({ market: 'chat', provider: liar.key.publicKey, stage: 0, slash: { amount: (UNITS_PER_DOUG / 5n).toString() } });
    expect(liar.log()).toContain('CHAT__HOLDER_AT_FAULT');
    const onChain = ((await dougJson('proposals')).proposals as Record<string, unknown>[]).find((p) => p.index === String(proposed.slash!.proposal))!;
    expect(onChain).toMatchObject({ action: 'slash', status: 'appeal', extra: liar.key.publicKey, change: { action: 'slash', amount: (UNITS_PER_DOUG / 5n).toString() } });

    skewSeconds += Number((await readGovernance(rpc)).appealSeconds) + 1;
    local.advanceSlots(1);
    await eventually(async () => ((await faults()).find((x) => x.agentKey === liar.key.publicKey)?.slash?.outcome === 'executed' ? true : null), 'the chat slash to be executed after the appeal window', 60_000, log);
    const [after] = await readPositions(rpc, liar.key.publicKey, { programId: chain.staking!.program });
    expect(after).toMatchObject({ amount: 2n * UNITS_PER_DOUG - UNITS_PER_DOUG / 5n, slashed: UNITS_PER_DOUG / 5n });

    // Honest holders serve on at the market's price per token (governance's, once the market has read it).
    const priced = await eventually(async () => {
      const res = await complete();
      const body = (await res.json()) as { usage: { total_tokens: number }; doug: { charge: string; route: { agentKey: string }[] } };
      return body.doug.charge === (BigInt(body.usage.total_tokens) * chatTokenPrice).toString() ? body : null;
    }, `a completion charged ${chatTokenPrice} base units a token`, CHAIN_PARAMS_MAX_AGE_MS + 30_000, log);
    expect(priced.doug.route[0]!.agentKey).not.toBe(liar.key.publicKey);
    // Every payout of these completions final on chain before the next test reads the escrow.
    await eventually(async () => {
      const a = await buyer.account();
      return a.held === '0' && a.settlement?.pending === '0';
    }, 'the chat payouts to be final on chain', 60_000, log);
  }, 240_000);

  it('pays a withdrawal from the escrow at once when the marketplace co-signs and the buyer sends it; an unsent one is refunded', async () => {
    const program = chain.escrow!.program;
    const escrowBefore = (await readEscrow(rpc, buyerKey.publicKey, program))!.balance;
    const walletBefore = await walletBalance(buyerKey.publicKey);
    const availableBefore = BigInt((await buyer.account()).available);
    // Another wallet than the buyer's own: the escrow pays nowhere else.
    const elsewhere = (await generateKeypair()).publicKey;
    expect(await refusal(buyer.withdraw({ amount: UNITS_PER_DOUG, destination: elsewhere, clientId: 'elsewhere' }))).toEqual({ status: 400, code: 'CUSTODY__WITHDRAWAL_INVALID' });

    const w = await buyer.withdraw({ amount: UNITS_PER_DOUG, destination: buyerKey.publicKey, clientId: 'cosigned' });
    expect(w).toMatchObject({ via: 'escrow', status: 'funded', amount: UNITS_PER_DOUG.toString(), destination: buyerKey.publicKey });
    expect(w.cosigned).not.toBeNull();
    expect(BigInt((await buyer.account()).available)).toBe(availableBefore - UNITS_PER_DOUG);
    const sent = await sendCosignedWithdrawal({ chain, wallet: buyerKey, withdrawal: w });
    expect(sent.signature).toBe(w.signature);
    const paid = await eventually(async () => {
      const x = await buyer.withdrawal(w.withdrawalId);
      return x.status === 'paid' ? x : null;
    }, 'the co-signed withdrawal to be paid', 30_000, stack.log);
    expect(paid).toMatchObject({ signature: sent.signature, cosigned: null });
    // The ledger has it already: it is not a buyer's own exit.
    expect(await refusal(buyer.escrowExit(sent.signature))).toEqual({ status: 422, code: 'CUSTODY__EXIT_COSIGNED' });
    expect(await walletBalance(buyerKey.publicKey)).toBe(walletBefore + UNITS_PER_DOUG);
    expect((await readEscrow(rpc, buyerKey.publicKey, program))!.balance).toBe(escrowBefore - UNITS_PER_DOUG);

    // Co-signed and never sent: once its blockhash has expired the amount is back.
    const unsent = await buyer.withdraw({ amount: UNITS_PER_DOUG, destination: buyerKey.publicKey, clientId: 'unsent' });
    expect(BigInt((await buyer.account()).available)).toBe(availableBefore - 2n * UNITS_PER_DOUG);
    // While it may still land, its amount is in the vault and counted there, never against custody's
    // token account (the chaos suite found the audit failing custody for it until it expired).
    const during = await eventually(async () => {
      const a = await buyer.audit();
      // (ok once the account's own feed has reached the read models: one not sent yet is not counted as lag)
      return a.ok && !a.stale && a.escrow?.withdrawalsInFlight === UNITS_PER_DOUG.toString() ? a : null;
    }, 'the audit to count the co-signed withdrawal in flight', 30_000, stack.log);
    expect(during.custody).toMatchObject({ withdrawalsInFlight: '0', ok: true });
    expect(during.escrow).toMatchObject({ unclaimed: '0', ok: true });
    local.expireBlockhash();
    const refunded = await eventually(async () => {
      const x = await buyer.withdrawal(unsent.withdrawalId);
      return x.status === 'refunded' ? x : null;
    }, 'the unsent withdrawal to be refunded', 60_000, stack.log);
    expect(refunded.refund?.reason).toBe('abandoned');
    expect(BigInt((await buyer.account()).available)).toBe(availableBefore - UNITS_PER_DOUG);
    expect((await readEscrow(rpc, buyerKey.publicKey, program))!.balance).toBe(escrowBefore - UNITS_PER_DOUG);
    // Its transaction can no longer land.
    await expect(sendCosignedWithdrawal({ chain, wallet: buyerKey, withdrawal: unsent })).rejects.toThrow();
    const audit = await eventually(async () => {
      const a = await buyer.audit();
      // Both debits count as withdrawn, the refund of the unsent one as credited again.
      return a.ok && !a.stale && a.withdrawn === (2n * UNITS_PER_DOUG).toString() && a.escrow?.unclaimed === '0' ? a : null;
    }, 'the audit to balance after the withdrawals', 30_000, stack.log);
    expect(audit.escrow).toMatchObject({ ok: true, unclaimed: '0' });
  }, 120_000);

  it('lets the buyer leave alone after the timelock with everything not settled', async () => {
    const signer = await transactionSigner(buyerKey);
    const program = chain.escrow!.program;
    const left = (await readEscrow(rpc, buyerKey.publicKey, program))!.balance;
    expect(left).toBeGreaterThan(0n);
    const walletBefore = await walletBalance(buyerKey.publicKey);
    // Alone, before any request: refused by the program.
    const alone = escrowWithdrawInstructions({ buyer: buyerKey.publicKey, mint: chain.mint, amount: left, authority: chain.escrow!.authority, coSigned: false, programId: program });
    await expect(sendAndFinalize(rpc, { instructions: await alone, signers: [signer] })).rejects.toThrow();
    await sendAndFinalize(rpc, { instructions: await requestWithdrawalInstructions({ buyer: buyerKey.publicKey, programId: program }), signers: [signer] });
    // The marketplace sees the request (its reading of the escrow is at most ESCROW_READING_MAX_AGE_MS
    // old) and takes no new holds: a bid is refused and nothing is held.
    await new Promise((r) => setTimeout(r, ESCROW_READING_MAX_AGE_MS + 500));
    const before = await buyer.account();
    const bid = buyer.placeBid({ market: 'cpu', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 1, expiresAt: Date.now() + 60_000, job: lastJob! });
    expect(await refusal(bid)).toEqual({ status: 409, code: 'CUSTODY__ESCROW_WITHDRAWAL_REQUESTED' });
    expect(await buyer.account()).toMatchObject({ available: before.available, held: before.held });
    // Inside the timelock: still refused.
    await expect(sendAndFinalize(rpc, { instructions: await alone, signers: [signer] })).rejects.toThrow();
    skewSeconds += chain.escrow!.withdrawTimelockSeconds + 60;
    local.advanceSlots(1);
    await sendAndFinalize(rpc, { instructions: await alone, signers: [signer] });
    expect(await walletBalance(buyerKey.publicKey)).toBe(walletBefore + left);
    expect((await readEscrow(rpc, buyerKey.publicKey, program))!.balance).toBe(0n);
    // The ledger still keeps that money for the buyer: the audit sees the escrow short of it.
    const audit = await buyer.audit();
    expect(audit.escrow).toMatchObject({ vaults: '0', expected: left.toString(), ok: false });
    expect(audit.ok).toBe(false);
    // Taking the request back does not make the ledger's money real again: until the ledger follows
    // the exit, a bid finds the escrow short of it and is refused, so no provider works unpaid.
    await sendAndFinalize(rpc, { instructions: await requestWithdrawalInstructions({ buyer: buyerKey.publicKey, cancel: true, programId: program }), signers: [signer] });
    const phantom = buyer.placeBid({ market: 'cpu', maxPrice: PRICE_UNITS.toString(), units: 1, replicas: 1, expiresAt: Date.now() + 60_000, job: lastJob! });
    expect(await refusal(phantom)).toEqual({ status: 409, code: 'CUSTODY__ESCROW_SHORT' });
    // Anyone submits the exit's signature: the ledger follows the chain, once, and the audit balances.
    const exitSignature = (await rpc.call<{ signature: string; err: unknown }[]>('getSignaturesForAddress', [(await readEscrow(rpc, buyerKey.publicKey, program))!.vault, { limit: 1, commitment: 'finalized' }]))[0]!.signature;
    const reader = new DougClient({ baseUrl: stack.url, keypair: await generateKeypair() });
    expect(await reader.escrowExit(exitSignature)).toMatchObject({ account: buyerKey.publicKey, amount: left.toString(), debited: left.toString(), signature: exitSignature });
    expect(await refusal(reader.escrowExit(exitSignature))).toEqual({ status: 409, code: 'CUSTODY__EXIT_ALREADY_RECORDED' });
    expect((await buyer.account()).available).toBe('0');
    // A deposit is not an exit.
    expect(await refusal(reader.escrowExit((await buyer.ledger()).items.find((e) => e.type === 'Credited')!.data.ref!.toString().slice('deposit:'.length)))).toEqual({ status: 422, code: 'CUSTODY__EXIT_NOT_WITHDRAWAL' });
    const balanced = await eventually(async () => {
      const a = await buyer.audit();
      return a.ok && !a.stale && a.escrow?.expected === '0' ? a : null;
    }, 'the audit to balance once the ledger follows the exit', 30_000, stack.log);
    expect(balanced.escrow).toMatchObject({ vaults: '0', ok: true });
  }, 60_000);

  it('admits a provider’s asks only with the minimum stake, which governance sets', async () => {
    const { stakeVault } = await stakingAddresses(stack.programs()!.staking);
    // The minimum is governance's to set: a proposal through the CLI, passed and executed.
    const raised = await passProposal(['propose', 'staking', '--min-provider-stake', '1']);
    expect(raised.change).toMatchObject({ staking: { minProviderStake: UNITS_PER_DOUG.toString() } });
    try {
      const ask = { market: 'cpu', price: PRICE_UNITS.toString(), capacity: 1, attributes: {}, expiresAt: Date.now() + 3_600_000 };
      // Without stake: refused, saying how much is missing; nothing listed.
      const bareKey = await generateKeypair();
      const bare = new DougClient({ baseUrl: stack.url, keypair: bareKey });
      expect(await refusal(bare.placeAsk(ask))).toEqual({ status: 409, code: 'CUSTODY__STAKE_BELOW_MINIMUM' });
      expect((await bare.asks({ market: 'cpu', owner: bareKey.publicKey })).items).toEqual([]);
      // With the minimum staked (a position of 1 DOUG, no lock): listed.
      const stakerKey = await generateKeypair();
      const staker = new DougClient({ baseUrl: stack.url, keypair: stakerKey });
      await staker.faucet(2n * UNITS_PER_DOUG);
      const umi = dougUmi(chain.rpcUrl, stakerKey.secretKey);
      await stake(umi, {
        owner: umi.identity,
        position: publicKey(await positionAddress(stakerKey.publicKey, 1n, stack.programs()!.staking)),
        ownerTokenAccount: publicKey(await associatedTokenAddress(stakerKey.publicKey, chain.mint)),
        stakeVault: publicKey(stakeVault),
        mint: publicKey(chain.mint),
        id: 1n,
        amount: UNITS_PER_DOUG,
        lockDays: 0,
      }).sendAndConfirm(umi, { send: { commitment: 'confirmed' }, confirm: { commitment: 'finalized' } });
      const listed = await staker.placeAsk(ask);
      expect(listed.order).toMatchObject({ owner: stakerKey.publicKey, status: 'open' });
    } finally {
      await passProposal(['propose', 'staking', '--min-provider-stake', '0']);
    }
  }, 120_000);
});

