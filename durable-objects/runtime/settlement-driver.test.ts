import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair } from '@solana/web3.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prng } from '../../gpu-agent/models/prng.ts';
import { associatedTokenAddress } from '../../programs/client/address.ts';
import { encodeBase58 } from '../../programs/client/base58.ts';
import { escrowCustody } from '../../programs/client/escrow-custody.ts';
import { escrowDepositInstructions, readEscrow, readEscrowConfig, settleInstructions, type EscrowConfigReading, type EscrowReading } from '../../programs/client/escrow.ts';
import { airdropUpTo, faucetMint, sendAndFinalize } from '../../programs/client/mint.ts';
import { parseLookupTable } from '../../programs/client/lookup-table.ts';
import { solanaRpc, type SolanaRpc } from '../../programs/client/rpc.ts';
import { signerFromSecretKey, type TransactionSigner } from '../../programs/client/tx.ts';
import { startLocalChain, type LocalChain } from '../../programs/local-chain/server.ts';
import { setupChain, type LocalChainConfig } from '../../scripts/chain-setup.ts';
import { loadKeypair } from '../../sdk/keyfile.ts';
import { signatureOf, startRpcProxy, type RpcProxy } from '../../test/e2e/rpc-proxy.ts';
import { nextAction, settlementDecider, type SettlementCommand, type SettlementEvent, type SettlementState } from '../domain/custody/settlement.ts';
import type { CommandMeta } from '../domain/decider.ts';
import { bps, UNITS_PER_DOUG } from '../domain/money.ts';
import type { Result } from '../domain/result.ts';
import { SettlementDriver } from './settlement-driver.ts';

/*
 * The settlement driver (what SettlementObject's alarm runs) against the real local chain with the
 * escrow and staking programs deployed and configured as `npm start` does (scripts/chain-setup.ts),
 * through a JSON-RPC proxy that fails, hangs, loses answers of sends that landed, swallows sends and
 * answers statuses as a lagging node would. Each buyer's settlement is the real decider over an
 * in-memory log; "restart" replaces the driver and its custody client (their memory is lost, the
 * log stays), as an evicted Durable Object would. Every test ends with the chain's own account:
 * the providers' token balances to the base unit, the escrow's vault, nextBatch and settledTotal,
 * and the settle transactions that succeeded.
 */

const DOUG = UNITS_PER_DOUG;
const DEPOSIT = 100n * DOUG;

let chain: LocalChain;
let proxy: RpcProxy;
let rpc: SolanaRpc;
let dir: string;
let deployment: LocalChainConfig;
let escrowConfig: EscrowConfigReading;
let authority: TransactionSigner;
let authorityKey: string;
let mintAuthority: TransactionSigner;

beforeAll(async () => {
  chain = await startLocalChain({ port: 0 });
  dir = await mkdtemp(join(tmpdir(), 'doug-settlement-'));
  deployment = await setupChain({ rpcUrl: chain.url, dir });
  proxy = await startRpcProxy(chain.url);
  rpc = solanaRpc(chain.url, { timeoutMs: 10_000 });
  const custodyKey = await loadKeypair(join(dir, 'custody-authority.json'));
  authorityKey = encodeBase58(custodyKey.secretKey);
  authority = await signerFromSecretKey(custodyKey.secretKey);
  mintAuthority = await signerFromSecretKey((await loadKeypair(join(dir, 'mint-authority.json'))).secretKey);
  escrowConfig = await readEscrowConfig(rpc, deployment.programs.escrow);
  expect(escrowConfig.authority).toBe(authority.publicKey);
  expect(escrowConfig.mint).toBe(deployment.mint);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await chain?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => proxy.clear());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const feeOf = (gross: bigint) => bps(gross, escrowConfig.feeBps);
const wallet = () => Keypair.generate().publicKey.toBase58();

/** A token account's balance on chain (finalized); 0 when it does not exist. */
async function tokenBalance(owner: string): Promise<bigint> {
  const ata = await associatedTokenAddress(owner, deployment.mint);
  if (!(await rpc.getAccountInfo(ata, 'finalized')).value) return 0n;
  return BigInt((await rpc.getTokenAccountBalance(ata, 'finalized')).value.amount);
}

/** A buyer with `deposited` $DOUG in a freshly opened escrow (minted by the deployment's mint authority). */
async function fundedBuyer(deposited: bigint): Promise<{ key: string; signer: TransactionSigner; deposit: string }> {
  const signer = await signerFromSecretKey(Keypair.generate().secretKey);
  await faucetMint(rpc, { mint: deployment.mint, decimals: 9, mintAuthority, wallet: signer.publicKey, amount: deposited });
  await airdropUpTo(rpc, signer.publicKey, 1_000_000_000);
  const instructions = await escrowDepositInstructions({ buyer: signer.publicKey, mint: deployment.mint, amount: deposited, open: true, programId: deployment.programs.escrow });
  const { signature } = await sendAndFinalize(rpc, { instructions, signers: [signer] });
  return { key: signer.publicKey, signer, deposit: signature };
}

/** One hold's payouts as the buyer's account sends them: the fee as the escrow program takes it. */
const payouts = (...p: [provider: string, gross: bigint][]) => p.map(([provider, gross]) => ({ provider, gross, fee: feeOf(gross), net: gross - feeOf(gross) }));

/** One buyer's settlement over the real decider, driven against the chain through the proxy. */
class Harness {
  state: SettlementState = settlementDecider.initialState();
  events: SettlementEvent[] = [];
  driver!: SettlementDriver;
  warnings: string[] = [];
  /** Each provider's net owed and the gross queued, as the buyer's account would have them. */
  readonly owed = new Map<string, bigint>();
  gross = 0n;
  private seq = 0;

  private constructor(
    readonly buyer: string,
    readonly deposit: string,
    readonly deposited: bigint,
    readonly settlementTable?: string,
  ) {
    this.restart();
  }

  /** `settlementTable`: custody settles through the deployment's lookup table. */
  static async open(deposited = DEPOSIT, o: { settlementTable?: string } = {}): Promise<Harness> {
    const b = await fundedBuyer(deposited);
    return new Harness(b.key, b.deposit, deposited, o.settlementTable);
  }

  private meta(): CommandMeta {
    return { commandId: `t${this.seq++}`, actor: 'test', now: Date.now() };
  }

  record(command: SettlementCommand, meta: CommandMeta): Result<unknown> {
    const r = settlementDecider.decide(this.state, command, meta);
    if (r.ok) {
      for (const e of r.value) {
        this.state = settlementDecider.evolve(this.state, e, meta);
        this.events.push(e);
      }
    }
    return r;
  }

  /** A new driver and custody client over the same log: what a restarted object has. */
  restart(): void {
    const custody = escrowCustody({ rpcUrl: proxy.url, mint: deployment.mint, decimals: 9, escrowProgram: deployment.programs.escrow, authorityKey, settlementTable: this.settlementTable }, { timeoutMs: 300 });
    this.driver = new SettlementDriver({
      state: () => this.state,
      record: (c, m) => this.record(c, m),
      custody: () => custody,
      now: () => Date.now(),
      warn: (m) => this.warnings.push(m),
    });
  }

  queue(holdId: string, ...p: [provider: string, gross: bigint][]): void {
    const list = payouts(...p);
    const r = this.record({ type: 'QueuePayouts', buyer: this.buyer, holdId, payouts: list }, this.meta());
    expect(r.ok).toBe(true);
    for (const x of list) {
      this.owed.set(x.provider, (this.owed.get(x.provider) ?? 0n) + x.net);
      this.gross += x.gross;
    }
  }

  idle(): boolean {
    return nextAction(this.state, Date.now()).type === 'idle';
  }

  /** Drives as the alarm would (sleeping until the driver's next due time) until `done`, or fails. */
  async runUntil(done: (s: SettlementState) => boolean, timeoutMs = 30_000, between?: () => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.state)) {
      if (Date.now() > deadline) throw new Error(`settlement of ${this.buyer} stuck at ${this.summary()}; warnings: ${this.warnings.slice(-5).join(' | ')}`);
      await this.driver.drive();
      between?.();
      const due = this.driver.dueAt();
      if (due !== null && !done(this.state)) await sleep(Math.max(5, Math.min(due - Date.now(), 200)));
    }
  }

  /** The state in a line, for a failure's message. */
  summary(): string {
    const { nextBatch, queue, open, failures, lastError, needsSync } = this.state;
    const attempts = open?.attempts.map((a) => `${a.signature.slice(0, 8)}:${a.status}:${a.sends}`).join(',') ?? '';
    return `nextBatch ${nextBatch}, ${queue.length} queued, open ${open ? `batch ${open.batch} [${attempts}]` : 'none'}, failures ${failures} (${lastError ?? 'none'}), needsSync ${needsSync}`;
  }

  runUntilIdle(timeoutMs?: number, between?: () => void): Promise<void> {
    return this.runUntil(() => this.idle(), timeoutMs, between);
  }

  of<T extends SettlementEvent['type']>(type: T): Extract<SettlementEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<SettlementEvent, { type: T }> => e.type === type);
  }

  escrow(): Promise<EscrowReading | null> {
    return readEscrow(rpc, this.buyer, deployment.programs.escrow);
  }

  /** Signatures of the transactions that touched this escrow and succeeded, apart from its opening deposit. */
  async landed(): Promise<string[]> {
    const { escrow } = (await this.escrow())!;
    const sigs = await rpc.call<{ signature: string; err: unknown }[]>('getSignaturesForAddress', [escrow, { limit: 1000, commitment: 'finalized' }]);
    return sigs.filter((s) => s.err === null && s.signature !== this.deposit).map((s) => s.signature);
  }

  /**
   * The whole story, checked against the chain: every queued payout paid once (the state's own
   * batches, plus `outOfBand` batches settled behind its back), nothing queued or open.
   */
  async expectPaidOnce(o: { batches: number; outOfBand?: { signatures: string[]; gross: bigint } } = { batches: 1 }): Promise<void> {
    const settled = this.of('BatchSettled');
    const extra = o.outOfBand ?? { signatures: [], gross: 0n };
    expect(this.state.open).toBeNull();
    expect(this.state.queue).toEqual([]);
    expect(settled).toHaveLength(o.batches);
    expect(settled.map((e) => e.batch)).toEqual(settled.map((_, i) => BigInt(extra.signatures.length + i)));
    expect(this.state.paid.gross).toBe(this.gross);
    expect(this.state.nextBatch).toBe(BigInt(extra.signatures.length + o.batches));
    const escrow = (await this.escrow())!;
    expect(escrow.nextBatch).toBe(BigInt(extra.signatures.length + o.batches));
    expect(escrow.settledTotal).toBe(this.gross + extra.gross);
    expect(escrow.balance).toBe(this.deposited - this.gross - extra.gross);
    expect(new Set(await this.landed())).toEqual(new Set([...extra.signatures, ...settled.map((e) => e.signature)]));
  }
}

/** Each provider's balance on chain equals what the harnesses (and `extra`) owe it, to the base unit. */
async function expectProvidersPaid(hs: Harness[], extra: Map<string, bigint> = new Map()): Promise<void> {
  const owed = new Map(extra);
  for (const h of hs) for (const [p, net] of h.owed) owed.set(p, (owed.get(p) ?? 0n) + net);
  const balances = Object.fromEntries(await Promise.all([...owed.keys()].map(async (p) => [p, await tokenBalance(p)] as const)));
  expect(balances).toEqual(Object.fromEntries(owed));
}

describe('a buyer’s settlement over a healthy RPC', () => {
  it('pays two holds to two providers in one batch, each provider gross less the escrow’s fee', async () => {
    const h = await Harness.open();
    const [a, b] = [wallet(), wallet()];
    const fees = async () => (await Promise.all([escrowConfig.treasury, escrowConfig.rewardVault].map(async (t) => BigInt((await rpc.getTokenAccountBalance(t, 'finalized')).value.amount)))).reduce((x, y) => x + y);
    const feesBefore = await fees();
    // Odd amounts, so that a fee rounded the other way or taken once per batch would show.
    h.queue('hold-1', [a, 3n * DOUG + 7n], [b, DOUG + 399n]);
    h.queue('hold-2', [a, 2n * DOUG + 1n]);
    await h.runUntilIdle();
    expect(h.of('BatchOpened')).toHaveLength(1);
    expect(h.of('BatchOpened')[0]!.payouts.map((p) => p.holdId)).toEqual(['hold-1', 'hold-1', 'hold-2']);
    await h.expectPaidOnce({ batches: 1 });
    expect(await tokenBalance(a)).toBe(3n * DOUG + 7n - feeOf(3n * DOUG + 7n) + 2n * DOUG + 1n - feeOf(2n * DOUG + 1n));
    expect(await tokenBalance(b)).toBe(DOUG + 399n - feeOf(DOUG + 399n));
    await expectProvidersPaid([h]);
    expect(h.state.paid).toEqual({ batches: 1, payouts: 3, gross: h.gross, fee: feeOf(3n * DOUG + 7n) + feeOf(DOUG + 399n) + feeOf(2n * DOUG + 1n) });
    expect(await fees()).toBe(feesBefore + h.state.paid.fee);
    expect(h.warnings).toEqual([]);
  });
});

describe('a buyer’s settlement through the settlement authority’s lookup table', () => {
  it('pays 80 payouts to 24 providers in one v0 batch, their token accounts created and added to the table first', async () => {
    const h = await Harness.open(DEPOSIT, { settlementTable: deployment.settlementTable });
    const providers = Array.from({ length: 24 }, wallet);
    // 20 holds of 4 payouts, odd amounts: 80 payouts, the table's limits exactly.
    for (let i = 0; i < 20; i++) h.queue(`hold-${i}`, ...[0, 1, 2, 3].map((k): [string, bigint] => [providers[(i * 4 + k) % 24]!, DOUG / 10n + BigInt(97 * i + k)]));
    const before = parseLookupTable(deployment.settlementTable, (await rpc.getAccountInfo(deployment.settlementTable, 'finalized')).value!.data)!;
    await h.runUntilIdle(60_000);
    expect(h.of('BatchOpened').map((e) => e.payouts.length)).toEqual([80]);
    await h.expectPaidOnce({ batches: 1 });
    await expectProvidersPaid([h]);
    const [settle] = h.of('BatchSettled');
    const landed = await rpc.getTransaction(settle!.signature, { commitment: 'finalized', maxSupportedTransactionVersion: 0 });
    expect((landed as { version?: unknown }).version).toBe(0);
    const after = parseLookupTable(deployment.settlementTable, (await rpc.getAccountInfo(deployment.settlementTable, 'finalized')).value!.data)!;
    const tokenAccounts = await Promise.all(providers.map((p) => associatedTokenAddress(p, deployment.mint)));
    expect(after.addresses).toEqual([...before.addresses, ...tokenAccounts.filter((a) => !before.addresses.includes(a))]);
    expect(h.warnings).toEqual([]);

    // A second buyer paying the same providers: the table already holds them, nothing is added.
    const again = await Harness.open(DEPOSIT, { settlementTable: deployment.settlementTable });
    again.queue('hold-x', ...providers.slice(0, 4).map((p): [string, bigint] => [p, DOUG]));
    await again.runUntilIdle(60_000);
    await again.expectPaidOnce({ batches: 1 });
    expect(parseLookupTable(deployment.settlementTable, (await rpc.getAccountInfo(deployment.settlementTable, 'finalized')).value!.data)!.addresses).toEqual(after.addresses);
    await expectProvidersPaid([h, again]);
  }, 90_000);
});

describe('a buyer’s settlement under an RPC that fails or times out between send and confirm', () => {
  it('is paid exactly once: sends that landed with their answers lost, failing, lagging and hanging status reads', async () => {
    const h = await Harness.open();
    const [a, b] = [wallet(), wallet()];
    proxy.fault({ method: 'getLatestBlockhash', mode: 'error', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'forward-error', times: 1 });
    proxy.fault({ method: 'sendTransaction', mode: 'rpc-error', times: 1 });
    proxy.fault({ method: 'getEpochInfo', mode: 'hang', times: 1 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'error', times: 2 });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'not-found', times: 3 });
    const sendsBefore = proxy.forwardedSends.length;
    h.queue('hold-1', [a, 5n * DOUG], [b, 3n * DOUG + 11n]);
    await h.runUntilIdle();
    await h.expectPaidOnce({ batches: 1 });
    await expectProvidersPaid([h]);
    // One attempt, its bytes reaching the chain several times, paid once.
    expect(h.of('BatchSigned')).toHaveLength(1);
    const sends = proxy.forwardedSends.slice(sendsBefore);
    expect(sends.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sends.map(signatureOf))).toEqual(new Set([h.of('BatchSigned')[0]!.signature]));
    expect(h.of('BatchSettled')[0]!.signature).toBe(h.of('BatchSigned')[0]!.signature);
    expect(proxy.faults.getSignatureStatuses).toBeGreaterThanOrEqual(5);
    expect(h.warnings.length).toBeGreaterThanOrEqual(6);
  });

  it('is paid exactly once across restarts: after signing (nothing sent yet) and after a send whose answer was lost', async () => {
    const h = await Harness.open();
    const a = wallet();
    h.queue('hold-1', [a, 4n * DOUG + 3n]);
    await h.driver.drive(1); // open
    expect(h.state.open?.batch).toBe(0n);
    await h.driver.drive(1); // sign
    expect(h.state.open?.attempts).toHaveLength(1);
    const signature = h.state.open!.attempts[0]!.signature;
    h.restart();
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: 1 });
    await h.driver.drive(1); // the send lands, its answer is lost: nothing recorded
    expect(h.state.open?.attempts[0]!.sends).toBe(0);
    expect(proxy.faults.sendTransaction).toBeGreaterThanOrEqual(1);
    h.restart();
    await h.runUntilIdle();
    await h.expectPaidOnce({ batches: 1 });
    await expectProvidersPaid([h]);
    expect(h.of('BatchSigned').map((e) => e.signature)).toEqual([signature]);
    expect(h.of('BatchOpened')).toHaveLength(1);
  });

  it('signs the same batch anew only once its first attempt is proven expired, and pays it once', async () => {
    const h = await Harness.open();
    const a = wallet();
    // The first send is accepted by the node and dropped; so is every later resend of that attempt.
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: 1 });
    h.queue('hold-1', [a, 2n * DOUG + 5n]);
    await h.runUntil((s) => (s.open?.attempts[0]?.sends ?? 0) >= 1);
    const first = h.state.open!.attempts[0]!;
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity, when: (p) => signatureOf(String(p[0])) === first.signature });
    // Resent and observed for a while, the attempt is never replaced while it could land.
    await h.runUntil((s) => (s.open?.attempts[0]?.sends ?? 0) >= 2);
    expect(h.state.open!.attempts).toHaveLength(1);
    chain.expireBlockhash();
    await h.runUntilIdle();
    await h.expectPaidOnce({ batches: 1 });
    await expectProvidersPaid([h]);
    const signed = h.of('BatchSigned').map((e) => e.signature);
    expect(signed).toHaveLength(2);
    expect(signed[0]).toBe(first.signature);
    expect(h.of('BatchAttemptExpired').map((e) => e.signature)).toEqual([first.signature]);
    expect(h.of('BatchOpened').map((e) => e.batch)).toEqual([0n]);
    expect(h.of('BatchSettled').map((e) => [e.batch, e.signature])).toEqual([[0n, signed[1]]]);
    // The first attempt's bytes sent straight to the chain now can never land.
    await rpc.sendTransaction(first.transaction, { skipPreflight: true }).catch(() => undefined);
    expect((await rpc.getSignatureStatuses([first.signature], { searchTransactionHistory: true })).value[0]).toBeNull();
    await expectProvidersPaid([h]);
  });

  it('re-queues a batch that failed on chain (out of order), syncs nextBatch from the escrow and pays every payout once', async () => {
    const h = await Harness.open();
    const [a, b] = [wallet(), wallet()];
    // Batch 0 settled behind the state's back, signed by the authority: the escrow's nextBatch is 1, the state's 0.
    const outOfBandGross = 6n * DOUG + 13n;
    const oob = await sendAndFinalize(rpc, {
      instructions: await settleInstructions({ config: escrowConfig, buyer: h.buyer, batch: 0n, receiptsHash: new Uint8Array(32).fill(7), payouts: [{ provider: a, gross: outOfBandGross }], programId: deployment.programs.escrow }),
      signers: [authority],
    });
    expect((await h.escrow())!.nextBatch).toBe(1n);
    proxy.fault({ method: 'getSignatureStatuses', mode: 'error', times: 1 });
    h.queue('hold-1', [a, DOUG + 1n], [b, 2n * DOUG + 3n]);
    h.queue('hold-2', [b, 7n]);
    await h.runUntilIdle();
    const [failed] = h.of('BatchFailed');
    expect(h.of('BatchFailed')).toHaveLength(1);
    expect(failed!.batch).toBe(0n);
    expect(failed!.error).toMatch(/"Custom":6009/); // BatchOutOfOrder
    expect(h.of('NextBatchSynced').map((e) => e.nextBatch)).toEqual([1n]);
    expect(h.of('BatchOpened').map((e) => [e.batch, e.payouts.length])).toEqual([
      [0n, 3],
      [1n, 3],
    ]);
    // The batch that failed cost a transaction on chain that moved nothing.
    const failedStatus = (await rpc.getSignatureStatuses([failed!.signature], { searchTransactionHistory: true })).value[0];
    expect(failedStatus?.err).not.toBeNull();
    await h.expectPaidOnce({ batches: 1, outOfBand: { signatures: [oob.signature], gross: outOfBandGross } });
    await expectProvidersPaid([h], new Map([[a, outOfBandGross - feeOf(outOfBandGross)]]));
    expect(h.state.failures).toBe(0);
    expect(h.state.needsSync).toBe(false);
  });

  it('pays every payout of several buyers exactly once under random faults and restarts', async () => {
    const random = prng(0x5e771e);
    const sometimes = (p: number) => () => random() < p;
    const hs = await Promise.all(Array.from({ length: 3 }, () => Harness.open()));
    const providers = Array.from({ length: 4 }, wallet);
    proxy.fault({ method: 'sendTransaction', mode: 'forward-hang', times: Infinity, when: sometimes(0.15) });
    proxy.fault({ method: 'sendTransaction', mode: 'swallow', times: Infinity, when: sometimes(0.2) });
    proxy.fault({ method: 'sendTransaction', mode: 'error', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'not-found', times: Infinity, when: sometimes(0.25) });
    proxy.fault({ method: 'getSignatureStatuses', mode: 'hang', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getEpochInfo', mode: 'error', times: Infinity, when: sometimes(0.1) });
    proxy.fault({ method: 'getLatestBlockhash', mode: 'error', times: Infinity, when: sometimes(0.2) });
    proxy.fault({ method: 'getAccountInfo', mode: 'error', times: Infinity, when: sometimes(0.1) });
    let restarts = 0;
    const pick = () => providers[Math.floor(random() * providers.length)]!;
    const amount = () => BigInt(1 + Math.floor(random() * 5)) * DOUG + BigInt(Math.floor(random() * 1000));
    // Each buyer's first hold at once, two more after its first drive (with the first batch if it was not opened yet, else in a later one).
    hs.forEach((h, i) => h.queue(`chaos-${i}-0`, [pick(), amount()], [pick(), amount()]));
    await Promise.all(
      hs.map((h, i) => {
        let more = false;
        return h.runUntilIdle(45_000, () => {
          if (!more) {
            more = true;
            h.queue(`chaos-${i}-1`, [pick(), amount()]);
            h.queue(`chaos-${i}-2`, [pick(), amount()], [pick(), amount()]);
          }
          if (random() < 0.15) {
            h.restart();
            restarts++;
          }
        });
      }),
    );
    proxy.clear();
    for (const h of hs) {
      expect(h.of('BatchFailed')).toEqual([]);
      expect(h.of('BatchSettled').length).toBeGreaterThanOrEqual(1);
      await h.expectPaidOnce({ batches: h.of('BatchSettled').length });
    }
    await expectProvidersPaid(hs);
    expect(Object.values(proxy.faults).reduce((x, y) => x + y, 0)).toBeGreaterThan(5);
    expect(restarts).toBeGreaterThan(0);
  });
});
