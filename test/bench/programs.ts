/**
 * On-chain programs benchmark (escrow and staking, deployed through the upgradeable loader).
 *
 * cu_*: compute units of instructions, each alone in a transaction (LiteSVM in process); a settle
 * with stake present includes the staking program's distribute it calls.
 * settle_payouts_per_tx_*: the most payouts one settle transaction carries, found by trying: within
 * the 1,232-byte packet and 1.4M compute units (a SetComputeUnitLimit instruction first), in legacy
 * transactions, for payouts to one provider and to a distinct provider each (design A: payouts
 * pushed to providers' token accounts; 32 bytes per distinct provider account is the limit there)
 * and, in a v0 transaction whose accounts come from an address lookup table, to distinct providers
 * (one byte per account).
 * settle_cost_lamports_per_job_*: the signature fee (5,000 lamports) over those payouts.
 * *_claims_*, cu_claims_*: the same for settlement design B (programs/escrow-claims: the batch credits
 * per-provider claim balances, each withdrawn by a claim of its own, claim_cost_lamports), on a chain
 * where that build sits at the escrow's address.
 * settled_jobs_per_s, settle_lag_p50_ms/p99_ms: batches of `batch` payouts, one per buyer, sent
 * through the local chain's JSON-RPC server (400 ms slots, as `npm start` runs it), `concurrency`
 * in flight, each followed to finalization by getSignatureStatuses polling; the lag is from send to
 * finalized.
 *
 *   node --import tsx test/bench/programs.ts [batches]
 */
import { readFileSync } from 'node:fs';
import { AddressLookupTableAccount, AddressLookupTableProgram, PublicKey, TransactionInstruction, TransactionMessage, VersionedTransaction } from '@solana/web3.js';
import { bps } from '../../durable-objects/domain/money.ts';
import { toBase64, solanaRpc } from '../../programs/client/rpc.ts';
import { createAssociatedTokenAccountIdempotent, waitFinalized } from '../../programs/client/mint.ts';
import { signTransaction, PACKET_DATA_SIZE, type Instruction } from '../../programs/client/tx.ts';
import { startLocalChain } from '../../programs/local-chain/server.ts';
import { cancelWithdrawalRequest, deposit, openEscrow, requestWithdrawal, setAuthority, updateConfig } from '../../programs/escrow/client/index.ts';
import { instructionsOf, noop, pk, umi, type Wallet } from '../../programs/testing/chain-world.ts';
import { escrowWorld, FEE_BPS, type EscrowWorld } from '../../programs/testing/escrow-world.ts';
import { stakingWorld } from '../../programs/testing/staking-world.ts';
import { escrowConfigAddress } from '../../programs/client/program-addresses.ts';
import { claim, claimAddress, claimsVaultAddress, openClaim, settleClaims } from '../../programs/escrow-claims/claims.ts';
import { percentile, printResult } from './harness.ts';

const COMPUTE_BUDGET = 'ComputeBudget111111111111111111111111111111';
const MAX_UNITS = 1_400_000;
const SIGNATURE_FEE = 5_000;

function computeUnitLimit(units: number): Instruction {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return { programId: COMPUTE_BUDGET, keys: [], data };
}

export interface ProgramsBenchOptions {
  /** Timed settlement batches through RPC (default 40). */
  batches?: number;
  /** Payouts per timed batch (default 10). */
  batch?: number;
  concurrency?: number;
  /** Provider accounts in the lookup table run (the search's upper bound; default 120). */
  lookupProviders?: number;
  log?: (line: string) => void;
}

type Buyer = Awaited<ReturnType<EscrowWorld['buyer']>>;

const cuOf = (record: { meta: { computeUnitsConsumed: number } }) => record.meta.computeUnitsConsumed;

/** Compute units of every instruction of both programs, each alone in a transaction (settle with stake present includes its distribute CPI). */
async function computeUnits(): Promise<Record<string, number>> {
  const cu: Record<string, number> = {};
  const w = await escrowWorld();
  cu.cu_escrow_initialize_config = cuOf(await w.init());
  const b = await w.wallet(1_000_000n);
  const { escrow, vault } = await w.addresses(b.key);
  const mint = pk(w.mint.publicKey);
  cu.cu_escrow_open_escrow = cuOf(await w.send(instructionsOf(openEscrow(umi, { buyer: noop(b.key), vault: pk(vault), mint })), [b.signer]));
  cu.cu_escrow_deposit = cuOf(await w.send(instructionsOf(deposit(umi, { buyer: noop(b.key), buyerTokenAccount: pk(b.ata), vault: pk(vault), mint, amount: 1_000_000n })), [b.signer]));
  const buyer = { ...b, escrow, vault };
  const providers = await Promise.all(Array.from({ length: 8 }, () => w.wallet()));
  cu.cu_escrow_settle_1_payout_no_stake = cuOf(await w.send(w.settleIxs(buyer, { batch: 0n, payouts: [{ provider: 0, gross: 1_000n }], providers: [providers[0]!.ata] }), [w.authority.signer]));
  await w.staker(1_000n);
  cu.cu_escrow_settle_1_payout = cuOf(await w.send(w.settleIxs(buyer, { batch: 1n, payouts: [{ provider: 0, gross: 1_000n }], providers: [providers[0]!.ata] }), [w.authority.signer]));
  cu.cu_escrow_settle_8_providers = cuOf(await w.send([computeUnitLimit(MAX_UNITS), ...w.settleIxs(buyer, { batch: 2n, payouts: providers.map((_, i) => ({ provider: i, gross: 1_000n })), providers: providers.map((p) => p.ata) })], [w.authority.signer]));
  cu.cu_escrow_settle_8_payouts_1_provider = cuOf(await w.send([computeUnitLimit(MAX_UNITS), ...w.settleIxs(buyer, { batch: 3n, payouts: Array.from({ length: 8 }, () => ({ provider: 0, gross: 1_000n })), providers: [providers[0]!.ata] })], [w.authority.signer]));
  cu.cu_escrow_withdraw_cosigned = cuOf(await w.send(w.withdrawIxs(buyer, 1n, true), [b.signer, w.authority.signer]));
  cu.cu_escrow_request_withdrawal = cuOf(await w.send(instructionsOf(requestWithdrawal(umi, { buyer: noop(b.key) })), [b.signer]));
  cu.cu_escrow_cancel_withdrawal_request = cuOf(await w.send(instructionsOf(cancelWithdrawalRequest(umi, { buyer: noop(b.key) })), [b.signer]));
  cu.cu_escrow_update_config = cuOf(
    await w.send(instructionsOf(updateConfig(umi, { admin: noop(w.admin.publicKey), rewardVault: pk(w.rewardVault.ata), treasury: pk(w.treasury.ata), feeBps: FEE_BPS, stakersShareBps: 7_000, withdrawTimelockSeconds: 600n, newAdmin: pk(w.admin.publicKey) })), [w.admin]),
  );
  cu.cu_escrow_set_authority = cuOf(await w.send(instructionsOf(setAuthority(umi, { authority: noop(w.authority.key), newAuthority: pk(w.authority.key) })), [w.authority.signer]));

  const s = await stakingWorld({ maxSlashBpsPerEvent: 5_000, maxSlashBpsPerEpoch: 1_000 });
  const [a, payer] = [await s.wallet(1_000_000n), await s.wallet(1_000_000n)];
  cu.cu_staking_stake = cuOf(await s.stake(a, 1n, 100_000n, 30));
  cu.cu_staking_distribute = cuOf(await s.distribute(payer, 10_000n));
  cu.cu_staking_top_up = cuOf(await s.topUp(a, 1n, 100_000n));
  cu.cu_staking_extend = cuOf(await s.extend(a, 1n, 60));
  cu.cu_staking_claim = cuOf(await s.claim(a, 1n));
  cu.cu_staking_slash = cuOf(await s.slash(a.key, 1n, 1_000n));
  cu.cu_staking_unstake = cuOf(await s.unstake(a, 1n));
  s.advance(60 * 86_400 + 3_600);
  cu.cu_staking_withdraw = cuOf(await s.withdraw(a, 1n));
  return cu;
}

/**
 * A settlement design: where a batch's payouts go for given providers (A: their token accounts; B:
 * their claim accounts, opened first) and the instruction that settles a batch into them.
 */
interface Design {
  w: EscrowWorld;
  accounts(providers: Wallet[]): Promise<string[]>;
  settle(b: Buyer, o: { batch: bigint; payouts: { provider: number; gross: bigint }[]; providers: string[] }): Instruction[];
}

const pushDesign = (w: EscrowWorld): Design => ({ w, accounts: async (providers) => providers.map((p) => p.ata), settle: (b, o) => w.settleIxs(b, o) });

/** Design B on a chain of its own: the escrow-claims build at the escrow's address, its claims vault made. */
async function claimsDesign(): Promise<Design & { claimsVault: string }> {
  const w = await escrowWorld({ escrowBuild: new Uint8Array(readFileSync(new URL('../../programs/escrow-claims/escrow-claims.so', import.meta.url))) });
  await w.init();
  const claimsVault = await claimsVaultAddress(w.mint.publicKey);
  await w.send([createAssociatedTokenAccountIdempotent({ payer: w.admin.publicKey, tokenAccount: claimsVault, owner: await escrowConfigAddress(), mint: w.mint.publicKey })], [w.admin]);
  return {
    w,
    claimsVault,
    accounts: async (providers) => {
      for (const p of providers) await w.send([await openClaim({ payer: p.key, tokenAccount: p.ata })], [p.signer]);
      return Promise.all(providers.map((p) => claimAddress(p.ata)));
    },
    settle: (b, o) => [settleClaims(w.settleIxs(b, o)[0]!, claimsVault)],
  };
}

/** The most payouts one settle transaction carries: by packet size first, then by a real run. */
async function payoutsPerTx(d: Design, distinct: boolean): Promise<number> {
  const { w } = d;
  const providers = await d.accounts(await Promise.all(Array.from({ length: distinct ? 40 : 1 }, () => w.wallet())));
  const fits = async (n: number, b: Buyer) => {
    const payouts = Array.from({ length: n }, (_, i) => ({ provider: distinct ? i : 0, gross: 1_000n }));
    const accounts = distinct ? providers.slice(0, n) : [providers[0]!];
    if (distinct && n > providers.length) return false;
    const ixs = [computeUnitLimit(MAX_UNITS), ...d.settle(b, { batch: 0n, payouts, providers: accounts })];
    try {
      await signTransaction({ payer: w.authority.key, recentBlockhash: w.chain.latestBlockhash.blockhash, instructions: ixs, signers: [w.authority.signer] });
    } catch (error) {
      if (error instanceof RangeError) return false; // past PACKET_DATA_SIZE
      throw error;
    }
    try {
      await w.send(ixs, [w.authority.signer]);
      return true;
    } catch {
      return false; // past the compute limit
    }
  };
  let lo = 1;
  let hi = distinct ? providers.length + 1 : 256;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fits(mid, await w.buyer(1_000_000n))) lo = mid;
    else hi = mid;
  }
  return lo;
}

const web3Instruction = (ix: Instruction) =>
  new TransactionInstruction({ programId: new PublicKey(ix.programId), keys: ix.keys.map((k) => ({ pubkey: new PublicKey(k.pubkey), isSigner: k.isSigner, isWritable: k.isWritable })), data: Buffer.from(ix.data) });

/**
 * The most payouts to distinct providers one settle carries in a v0 transaction whose accounts come
 * from an address lookup table (one byte per provider account instead of 32).
 */
async function payoutsPerTxWithLookupTable(d: Design, providerCount: number): Promise<number> {
  const { w } = d;
  const providers = await d.accounts(await Promise.all(Array.from({ length: providerCount }, () => w.wallet())));
  const authority = new PublicKey(w.authority.key);
  const signV0 = async (ixs: Instruction[], tables: AddressLookupTableAccount[]) => {
    const message = new TransactionMessage({ payerKey: authority, recentBlockhash: w.chain.latestBlockhash.blockhash, instructions: ixs.map(web3Instruction) }).compileToV0Message(tables);
    const tx = new VersionedTransaction(message);
    tx.addSignature(authority, await w.authority.signer.sign(message.serialize()));
    return tx.serialize();
  };
  // The table: every account a settle names but the signer, the buyer's escrow and vault, then the providers.
  const [create, table] = AddressLookupTableProgram.createLookupTable({ authority, payer: authority, recentSlot: w.chain.slot });
  const sample = await w.buyer(1n);
  const perBuyer = new Set([w.authority.key, sample.escrow, sample.vault, providers[0]!]);
  const fixed = d.settle(sample, { batch: 0n, payouts: [{ provider: 0, gross: 1n }], providers: [providers[0]!] })[0]!.keys.map((k) => k.pubkey).filter((k) => !perBuyer.has(k));
  const addresses = [...new Set([...fixed, COMPUTE_BUDGET, ...providers])].map((a) => new PublicKey(a));
  w.chain.send(await signV0([{ programId: create.programId.toBase58(), keys: create.keys.map((k) => ({ pubkey: k.pubkey.toBase58(), isSigner: k.isSigner, isWritable: k.isWritable })), data: create.data }], []));
  for (let i = 0; i < addresses.length; i += 20) {
    const extend = AddressLookupTableProgram.extendLookupTable({ lookupTable: table, authority, payer: authority, addresses: addresses.slice(i, i + 20) });
    w.chain.send(await signV0([{ programId: extend.programId.toBase58(), keys: extend.keys.map((k) => ({ pubkey: k.pubkey.toBase58(), isSigner: k.isSigner, isWritable: k.isWritable })), data: extend.data }], []));
    w.chain.advanceSlots(1);
  }
  w.chain.advanceSlots(1); // a table is usable from the slot after its last extension
  const state = AddressLookupTableAccount.deserialize(w.chain.getAccount(table.toBase58())!.data);
  const tables = [new AddressLookupTableAccount({ key: table, state })];
  const fits = async (n: number) => {
    if (n > providers.length) return false;
    const b = await w.buyer(1_000_000n);
    const ixs = [computeUnitLimit(MAX_UNITS), ...d.settle(b, { batch: 0n, payouts: Array.from({ length: n }, (_, i) => ({ provider: i, gross: 1_000n })), providers: providers.slice(0, n) })];
    let wire: Uint8Array;
    try {
      wire = await signV0(ixs, tables);
    } catch {
      return false; // the message does not encode (past the packet)
    }
    if (wire.length > PACKET_DATA_SIZE) return false;
    try {
      w.chain.send(wire);
      w.chain.advanceSlots(1);
      return true;
    } catch {
      return false;
    }
  };
  let lo = 1;
  let hi = providers.length + 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Design B's own compute units: opening a claim, settling into 1 and 8 claims, and a claim. */
async function claimsComputeUnits(): Promise<Record<string, number>> {
  const d = await claimsDesign();
  const { w } = d;
  const b = await w.buyer(1_000_000n);
  await w.staker(1_000n);
  const providers = await Promise.all(Array.from({ length: 8 }, () => w.wallet()));
  const cu: Record<string, number> = {};
  cu.cu_claims_open_claim = cuOf(await w.send([await openClaim({ payer: providers[0]!.key, tokenAccount: providers[0]!.ata })], [providers[0]!.signer]));
  const claims = [await claimAddress(providers[0]!.ata), ...(await d.accounts(providers.slice(1)))];
  cu.cu_claims_settle_1_payout = cuOf(await w.send(d.settle(b, { batch: 0n, payouts: [{ provider: 0, gross: 1_000n }], providers: [claims[0]!] }), [w.authority.signer]));
  cu.cu_claims_settle_8_providers = cuOf(await w.send([computeUnitLimit(MAX_UNITS), ...d.settle(b, { batch: 1n, payouts: claims.map((_, i) => ({ provider: i, gross: 1_000n })), providers: claims })], [w.authority.signer]));
  cu.cu_claims_claim = cuOf(await w.send([await claim({ tokenAccount: providers[0]!.ata, mint: w.mint.publicKey })], [providers[0]!.signer]));
  // The claims landed as computed: the provider holds both nets.
  const net = 1_000n - bps(1_000n, FEE_BPS);
  if (w.balance(providers[0]!.ata) !== 2n * net) throw new Error(`design B paid ${w.balance(providers[0]!.ata)}, expected ${2n * net}`);
  return cu;
}

export async function runProgramsBench(opts: ProgramsBenchOptions = {}): Promise<Record<string, number>> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const batches = opts.batches ?? 40;
  const batch = opts.batch ?? 10;
  const concurrency = opts.concurrency ?? 8;

  const cu = { ...(await computeUnits()), ...(await claimsComputeUnits()) };
  const local = await escrowWorld();
  await local.init();
  const push = pushDesign(local);
  const oneProvider = await payoutsPerTx(push, false);
  const distinct = await payoutsPerTx(push, true);
  const withTable = await payoutsPerTxWithLookupTable(push, opts.lookupProviders ?? 120);
  log(`design A (pushed to token accounts): payouts per settle transaction: ${oneProvider} to one provider, ${distinct} to distinct providers, ${withTable} to distinct providers through an address lookup table (packet ${PACKET_DATA_SIZE} bytes, ${MAX_UNITS} units)`);
  const claims = await claimsDesign();
  const claimsOne = await payoutsPerTx(claims, false);
  const claimsDistinct = await payoutsPerTx(claims, true);
  const claimsTable = await payoutsPerTxWithLookupTable(claims, opts.lookupProviders ?? 120);
  log(`design B (claim balances, then a claim each): payouts per settle transaction: ${claimsOne} to one provider, ${claimsDistinct} to distinct providers, ${claimsTable} through a lookup table; a claim is one more signature (${SIGNATURE_FEE} lamports, ${cu.cu_claims_claim} units) per provider`);

  // Through the served local chain, as the marketplace will settle.
  const served = await startLocalChain({ port: 0, slotMs: 400 });
  try {
    const w = await escrowWorld({ chain: served.chain });
    await w.init();
    const rpc = solanaRpc(served.url);
    const providers = await Promise.all(Array.from({ length: batch }, () => w.wallet()));
    const buyers: Buyer[] = [];
    for (let i = 0; i < batches; i++) buyers.push(await w.buyer(BigInt(batch) * 1_000n));
    const lags: number[] = [];
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < batches; i = next++) {
        const b = buyers[i]!;
        const ixs = w.settleIxs(b, { batch: 0n, payouts: providers.map((_, k) => ({ provider: k, gross: 1_000n })), providers: providers.map((p) => p.ata) });
        const latest = await rpc.getLatestBlockhash('confirmed');
        const tx = await signTransaction({ payer: w.authority.key, recentBlockhash: latest.blockhash, instructions: [computeUnitLimit(MAX_UNITS), ...ixs], signers: [w.authority.signer] });
        const sent = performance.now();
        await rpc.sendTransaction(toBase64(tx.bytes), { preflightCommitment: 'confirmed' });
        await waitFinalized(rpc, tx.signature, { pollMs: 50, timeoutMs: 60_000 });
        lags.push(performance.now() - sent);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - start) / 1000;
    const sorted = [...lags].sort((a, b) => a - b);
    // Every provider got its net from every batch: the settlements landed as computed.
    const net = 1_000n - bps(1_000n, FEE_BPS);
    for (const p of providers) if (w.balance(p.ata) !== net * BigInt(batches)) throw new Error(`provider ${p.key} holds ${w.balance(p.ata)}, expected ${net * BigInt(batches)}`);
    return {
      ...cu,
      settle_payouts_per_tx: oneProvider,
      settle_payouts_per_tx_one_provider: oneProvider,
      settle_payouts_per_tx_distinct_providers: distinct,
      settle_payouts_per_tx_distinct_providers_lookup_table: withTable,
      settle_cost_lamports_per_job: Math.round((SIGNATURE_FEE / oneProvider) * 10) / 10,
      settle_cost_lamports_per_job_distinct_providers: Math.round((SIGNATURE_FEE / distinct) * 10) / 10,
      settle_cost_lamports_per_job_lookup_table: Math.round((SIGNATURE_FEE / withTable) * 10) / 10,
      settle_payouts_per_tx_claims_one_provider: claimsOne,
      settle_payouts_per_tx_claims_distinct_providers: claimsDistinct,
      settle_payouts_per_tx_claims_lookup_table: claimsTable,
      settle_cost_lamports_per_job_claims_lookup_table: Math.round((SIGNATURE_FEE / claimsTable) * 10) / 10,
      claim_cost_lamports: SIGNATURE_FEE,
      settled_jobs_per_s: Math.round(((batches * batch) / seconds) * 10) / 10,
      settle_batches: batches,
      settle_batch_payouts: batch,
      settle_lag_p50_ms: Math.round(percentile(sorted, 50)),
      settle_lag_p99_ms: Math.round(percentile(sorted, 99)),
    };
  } finally {
    await served.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const batches = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runProgramsBench(batches ? { batches } : {}));
}
