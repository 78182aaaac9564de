/**
 * Local chain benchmark: SPL token transfers (transferChecked plus a memo, as a deposit is) sent and
 * confirmed through the local chain's JSON-RPC server by an unmodified @solana/web3.js Connection,
 * against the same transfers sent straight into an in-process LiteSVM.
 *
 * The chain runs as its CLI in a child process (`programs/local-chain/cli.ts`, state file in a
 * temporary folder, 400 ms slots), as `npm start` runs it; the client is this process.
 *
 * local_chain_transfers_per_s: transfers signed before the clock starts, each sent and confirmed by
 * sendAndConfirmRawTransaction (sendTransaction with preflight, then confirmation by
 * signatureSubscribe over WebSocket plus getSignatureStatuses), `concurrency` in flight.
 * local_chain_confirm_ms_*: one such transfer, send to confirmation.
 * inprocess_transfers_per_s: the same pre-signed transfers through LiteSVM's public
 * sendTransaction, one after another, in this process (no server, history or preflight).
 * local_chain_vs_inprocess: the ratio of the two.
 * local_chain_plain_http_transfers_per_s: the same pre-signed transfers as bare sendTransaction POSTs
 * (fetch, `concurrency` in flight, preflight on), then getSignatureStatuses for all of them: the
 * server's own rate, without web3.js's client-side cost (which bounds the numbers above: this
 * process's CPU is the limit there, not the chain's).
 * local_chain_signed_transfers_per_s: what a web3.js client sees end to end: sendAndConfirmTransaction
 * building, signing and serializing each transfer (web3.js's serialize() also verifies the signature,
 * about 1.3 ms of this process's CPU per transfer) in the timed loop.
 *
 *   node --import tsx test/bench/local-chain.ts [transfers]
 *
 * Prints a table and, last, one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createAssociatedTokenAccountIdempotentInstruction, createInitializeMint2Instruction, createMintToInstruction, createTransferCheckedInstruction, getAssociatedTokenAddressSync, MINT_SIZE, TOKEN_PROGRAM_ID, unpackAccount } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, SystemProgram, Transaction, TransactionInstruction, sendAndConfirmRawTransaction, sendAndConfirmTransaction } from '@solana/web3.js';
import { FailedTransactionMetadata, LiteSVM } from 'litesvm';
import { parseTransaction } from '../../programs/local-chain/wire.ts';
import { decodeBase58, encodeBase58 } from '../../programs/client/base58.ts';
import { percentile, printResult } from './harness.ts';

export interface LocalChainBenchOptions {
  /** Timed transfers per path (default 500). */
  transfers?: number;
  /** Transfers in flight at once through RPC (default 8). */
  concurrency?: number;
  /** Untimed transfers first, per path (default 20). */
  warmup?: number;
  log?: (line: string) => void;
}

// LiteSVM's public API takes @solana/kit types (a dependency of litesvm, not of ours).
type KitTransaction = Parameters<LiteSVM['sendTransaction']>[0];
type Address = Parameters<LiteSVM['getAccount']>[0];
type Lamports = Parameters<LiteSVM['airdrop']>[1];

const MEMO_PROGRAM = new PublicKey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Parties {
  payer: Keypair;
  mint: Keypair;
  alice: Keypair;
  bob: Keypair;
  aliceAta: PublicKey;
  bobAta: PublicKey;
}

function parties(): Parties {
  const mint = Keypair.generate();
  const alice = Keypair.generate();
  const bob = Keypair.generate();
  return {
    payer: Keypair.generate(),
    mint,
    alice,
    bob,
    aliceAta: getAssociatedTokenAddressSync(mint.publicKey, alice.publicKey),
    bobAta: getAssociatedTokenAddressSync(mint.publicKey, bob.publicKey),
  };
}

/** Mint (9 decimals), both token accounts and 10^6 tokens to Alice, in one transaction. */
function setupInstructions(p: Parties, rent: number): TransactionInstruction[] {
  return [
    SystemProgram.createAccount({ fromPubkey: p.payer.publicKey, newAccountPubkey: p.mint.publicKey, lamports: rent, space: MINT_SIZE, programId: TOKEN_PROGRAM_ID }),
    createInitializeMint2Instruction(p.mint.publicKey, 9, p.payer.publicKey, null),
    createAssociatedTokenAccountIdempotentInstruction(p.payer.publicKey, p.aliceAta, p.alice.publicKey, p.mint.publicKey),
    createAssociatedTokenAccountIdempotentInstruction(p.payer.publicKey, p.bobAta, p.bob.publicKey, p.mint.publicKey),
    createMintToInstruction(p.mint.publicKey, p.aliceAta, p.payer.publicKey, 1_000_000n * 1_000_000_000n),
  ];
}

/** Transfer `i`: a distinct amount and memo, so no two transfers are the same transaction. */
const transfer = (p: Parties, i: number): Transaction =>
  new Transaction().add(
    createTransferCheckedInstruction(p.aliceAta, p.mint.publicKey, p.bobAta, p.alice.publicKey, BigInt(i + 1), 9),
    new TransactionInstruction({ programId: MEMO_PROGRAM, keys: [], data: Buffer.from(`bench:${i}`) }),
  );

const expectedTotal = (from: number, count: number): bigint => {
  let sum = 0n;
  for (let i = from; i < from + count; i++) sum += BigInt(i + 1);
  return sum;
};

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Starts the chain's CLI on a free port pair; resolves with its URL once it prints the ready line. */
function startChainProcess(stateFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'programs/local-chain/cli.ts', '--port', '0', '--state', stateFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('local chain did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`local chain exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /RPC (http:\/\/\S+)/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, url: match[1]! });
    });
  });
}

/** Signs transfers `from`..`from + count - 1` with one blockhash. */
function signTransfers(p: Parties, from: number, count: number, blockhash: string): { raw: Buffer; signature: string }[] {
  return Array.from({ length: count }, (_, k) => {
    const tx = transfer(p, from + k);
    tx.recentBlockhash = blockhash;
    tx.feePayer = p.alice.publicKey;
    tx.sign(p.alice);
    return { raw: tx.serialize(), signature: encodeBase58(tx.signature!) };
  });
}

/** Runs `count` jobs, `concurrency` at a time; returns the wall time in seconds and each job's ms. */
async function timed(count: number, concurrency: number, job: (k: number) => Promise<unknown>): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const k = next++;
        const t0 = performance.now();
        await job(k);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

async function runThroughRpc(url: string, o: Required<Omit<LocalChainBenchOptions, 'log'>>, log: (line: string) => void) {
  const connection = new Connection(url, 'confirmed');
  const p = parties();
  for (const who of [p.payer, p.alice]) {
    const signature = await connection.requestAirdrop(who.publicKey, 100 * LAMPORTS_PER_SOL);
    await connection.confirmTransaction({ signature, ...(await connection.getLatestBlockhash()) });
  }
  const rent = await connection.getMinimumBalanceForRentExemption(MINT_SIZE);
  await sendAndConfirmTransaction(connection, new Transaction().add(...setupInstructions(p, rent)), [p.payer, p.mint]);
  for (let i = 0; i < o.warmup; i++) await sendAndConfirmTransaction(connection, transfer(p, i), [p.alice]);

  const latest = await connection.getLatestBlockhash();
  const signed = signTransfers(p, o.warmup, o.transfers, latest.blockhash);
  const raw = await timed(o.transfers, o.concurrency, (k) =>
    sendAndConfirmRawTransaction(connection, signed[k]!.raw, { signature: signed[k]!.signature, blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight }),
  );
  log(`local chain: ${o.transfers} pre-signed transfers in ${raw.seconds.toFixed(2)} s`);

  const plainFrom = o.warmup + o.transfers;
  const plainSigned = signTransfers(p, plainFrom, o.transfers, latest.blockhash);
  let id = 0;
  const call = async (method: string, params: unknown[]) => {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  const plainStart = performance.now();
  await timed(o.transfers, o.concurrency, (k) => call('sendTransaction', [plainSigned[k]!.raw.toString('base64'), { encoding: 'base64' }]));
  for (let k = 0; k < o.transfers; k += 256) {
    const statuses = (await call('getSignatureStatuses', [plainSigned.slice(k, k + 256).map((t) => t.signature)])) as { value: ({ err: unknown; confirmationStatus: string } | null)[] };
    if (!statuses.value.every((st) => st && st.err === null && st.confirmationStatus === 'finalized')) throw new Error('plain HTTP path: a transfer did not land');
  }
  const plainSeconds = (performance.now() - plainStart) / 1000;
  log(`local chain: ${o.transfers} pre-signed transfers over plain HTTP in ${plainSeconds.toFixed(2)} s`);

  const from = plainFrom + o.transfers;
  const withSigning = await timed(o.transfers, o.concurrency, (k) => sendAndConfirmTransaction(connection, transfer(p, from + k), [p.alice]));
  log(`local chain: ${o.transfers} transfers signed in the loop in ${withSigning.seconds.toFixed(2)} s`);

  const end = from + o.transfers;
  const bob = (await connection.getTokenAccountBalance(p.bobAta)).value.amount;
  if (BigInt(bob) !== expectedTotal(0, end)) throw new Error(`RPC path: Bob holds ${bob}, expected ${expectedTotal(0, end)}`);
  return {
    perSecond: o.transfers / raw.seconds,
    p50: percentile(raw.latencies, 50),
    p99: percentile(raw.latencies, 99),
    plainPerSecond: o.transfers / plainSeconds,
    signedPerSecond: o.transfers / withSigning.seconds,
  };
}

/** A web3.js wire transaction as the @solana/kit Transaction LiteSVM's public API takes. */
function toKit(wire: Uint8Array): KitTransaction {
  const parsed = parseTransaction(wire);
  const signatures: Record<string, Uint8Array> = {};
  parsed.signatures.forEach((s, i) => (signatures[parsed.message.staticKeys[i]!] = decodeBase58(s)!));
  return { messageBytes: parsed.messageBytes, signatures } as unknown as KitTransaction;
}

function runInProcess(o: Required<Omit<LocalChainBenchOptions, 'log'>>, log: (line: string) => void) {
  const svm = new LiteSVM();
  const p = parties();
  for (const who of [p.payer, p.alice]) svm.airdrop(who.publicKey.toBase58() as Address, BigInt(100 * LAMPORTS_PER_SOL) as Lamports);
  const send = (raw: Uint8Array) => {
    const result = svm.sendTransaction(toKit(raw));
    if (result instanceof FailedTransactionMetadata) throw new Error(`in-process transfer failed: ${result.toString()}`);
  };
  const setup = new Transaction({ feePayer: p.payer.publicKey, recentBlockhash: svm.latestBlockhash() }).add(...setupInstructions(p, Number(svm.minimumBalanceForRentExemption(BigInt(MINT_SIZE)))));
  setup.sign(p.payer, p.mint);
  send(setup.serialize());
  for (const t of signTransfers(p, 0, o.warmup, svm.latestBlockhash())) send(t.raw);
  const signed = signTransfers(p, o.warmup, o.transfers, svm.latestBlockhash());
  const start = performance.now();
  for (const t of signed) send(t.raw);
  const seconds = (performance.now() - start) / 1000;
  const end = o.warmup + o.transfers;
  const account = svm.getAccount(p.bobAta.toBase58() as Address);
  if (!account.exists) throw new Error('in-process: no token account for Bob');
  const bob = unpackAccount(p.bobAta, { data: Buffer.from(account.data), owner: TOKEN_PROGRAM_ID, lamports: 1, executable: false }).amount;
  if (bob !== expectedTotal(0, end)) throw new Error(`in-process: Bob holds ${bob}, expected ${expectedTotal(0, end)}`);
  log(`in-process: ${o.transfers} pre-signed transfers in ${seconds.toFixed(3)} s`);
  return { perSecond: o.transfers / seconds };
}

/** Runs the benchmark and returns its numbers. */
export async function runLocalChainBench(opts: LocalChainBenchOptions = {}): Promise<Record<string, number>> {
  const o = { transfers: opts.transfers ?? 500, concurrency: opts.concurrency ?? 8, warmup: opts.warmup ?? 20 };
  const log = opts.log ?? ((line: string) => console.error(line));
  const dir = mkdtempSync(join(tmpdir(), 'bench-local-chain-'));
  let child: ChildProcess | undefined;
  try {
    const started = await startChainProcess(join(dir, 'chain.json'));
    child = started.child;
    const rpc = await runThroughRpc(started.url, o, log);
    const inprocess = runInProcess(o, log);
    return {
      local_chain_transfers: o.transfers,
      local_chain_concurrency: o.concurrency,
      local_chain_transfers_per_s: Math.round(rpc.perSecond),
      local_chain_confirm_ms_p50: round1(rpc.p50),
      local_chain_confirm_ms_p99: round1(rpc.p99),
      inprocess_transfers_per_s: Math.round(inprocess.perSecond),
      local_chain_vs_inprocess: Math.round((rpc.perSecond / inprocess.perSecond) * 1000) / 1000,
      local_chain_plain_http_transfers_per_s: Math.round(rpc.plainPerSecond),
      local_chain_signed_transfers_per_s: Math.round(rpc.signedPerSecond),
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const transfers = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runLocalChainBench(transfers ? { transfers } : {}));
}
