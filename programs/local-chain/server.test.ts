import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddressLookupTableProgram,
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  NONCE_ACCOUNT_LENGTH,
  NonceAccount,
  PublicKey,
  SendTransactionError,
  SystemProgram,
  Transaction,
  TransactionExpiredBlockheightExceededError,
  TransactionInstruction,
  TransactionMessage,
  VersionedTransaction,
  sendAndConfirmTransaction,
  type ParsedInstruction,
} from '@solana/web3.js';
import { createMint, createTransferCheckedInstruction, getOrCreateAssociatedTokenAccount, mintTo, type Account as TokenAccount } from '@solana/spl-token';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase58 } from '../client/base58.ts';
import { MEMO_PROGRAM } from '../client/address.ts';
import { startLocalChain, type LocalChain } from './server.ts';

const memo = (text: string) => new TransactionInstruction({ programId: new PublicKey(MEMO_PROGRAM), keys: [], data: Buffer.from(text) });

/** Waits until `condition` holds (checked every 10 ms, for at most 5 s). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rpc(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

interface Tokens {
  payer: Keypair;
  mint: PublicKey;
  alice: Keypair;
  aliceAta: TokenAccount;
  bob: Keypair;
  bobAta: TokenAccount;
}

/** A funded payer, a 9-decimal mint, Alice with 1,000 tokens and Bob with none — all through RPC. */
async function tokens(connection: Connection): Promise<Tokens> {
  const payer = Keypair.generate();
  const signature = await connection.requestAirdrop(payer.publicKey, 10 * LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash();
  const confirmed = await connection.confirmTransaction({ signature, ...latest });
  expect(confirmed.value.err).toBeNull();
  const alice = Keypair.generate();
  const bob = Keypair.generate();
  await connection.confirmTransaction({ signature: await connection.requestAirdrop(alice.publicKey, LAMPORTS_PER_SOL), ...latest });
  const mint = await createMint(connection, payer, payer.publicKey, null, 9);
  const aliceAta = await getOrCreateAssociatedTokenAccount(connection, payer, mint, alice.publicKey);
  const bobAta = await getOrCreateAssociatedTokenAccount(connection, payer, mint, bob.publicKey);
  await mintTo(connection, payer, mint, aliceAta.address, payer, 1_000_000_000_000n);
  return { payer, mint, alice, aliceAta, bob, bobAta };
}

const transfer = (t: Tokens, amount: bigint, text: string) =>
  new Transaction().add(createTransferCheckedInstruction(t.aliceAta.address, t.mint, t.bobAta.address, t.alice.publicKey, amount, 9), memo(text));

describe('the local chain through an unmodified web3.js Connection', () => {
  let dir: string;
  let chain: LocalChain;
  let connection: Connection;
  let t: Tokens;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-chain-'));
    chain = await startLocalChain({ stateFile: join(dir, 'chain.json') });
    connection = new Connection(chain.url, 'confirmed');
    t = await tokens(connection);
  });

  afterAll(async () => {
    await chain?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves WebSockets on the RPC port + 1, as web3.js derives it', () => {
    expect(chain.wsUrl).toBe(`ws://127.0.0.1:${chain.port + 1}`);
    expect((connection as unknown as { _rpcWsEndpoint: string })._rpcWsEndpoint).toBe(chain.wsUrl);
  });

  it('transfers tokens with a memo and shows it in the transaction, with token balances', async () => {
    const signature = await sendAndConfirmTransaction(connection, transfer(t, 2_500_000_000n, 'deposit:acct-42'), [t.alice]);

    const balance = await connection.getTokenAccountBalance(t.bobAta.address);
    expect(balance.value).toEqual({ amount: '2500000000', decimals: 9, uiAmount: 2.5, uiAmountString: '2.5' });

    const tx = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0, commitment: 'finalized' });
    expect(tx?.meta?.err).toBeNull();
    expect(tx?.meta?.fee).toBe(5000);
    expect(tx?.meta?.logMessages).toContain('Program log: deposit:acct-42');
    const keys = tx!.transaction.message.staticAccountKeys.map((k) => k.toBase58());
    const memoIx = tx!.transaction.message.compiledInstructions.find((ix) => keys[ix.programIdIndex] === MEMO_PROGRAM)!;
    expect(Buffer.from(memoIx.data).toString()).toBe('deposit:acct-42');
    const byAccount = (list: { accountIndex: number; uiTokenAmount: { amount: string } }[] | null | undefined) => Object.fromEntries((list ?? []).map((b) => [keys[b.accountIndex], b.uiTokenAmount.amount]));
    expect(byAccount(tx!.meta!.preTokenBalances)).toEqual({ [t.aliceAta.address.toBase58()]: '1000000000000', [t.bobAta.address.toBase58()]: '0' });
    expect(byAccount(tx!.meta!.postTokenBalances)).toEqual({ [t.aliceAta.address.toBase58()]: '997500000000', [t.bobAta.address.toBase58()]: '2500000000' });
    expect(tx!.meta!.postTokenBalances!.every((b) => b.mint === t.mint.toBase58() && b.uiTokenAmount.decimals === 9)).toBe(true);

    const parsed = await connection.getParsedTransaction(signature, { maxSupportedTransactionVersion: 0 });
    const instructions = parsed!.transaction.message.instructions as ParsedInstruction[];
    expect(instructions[0]).toMatchObject({ program: 'spl-token', parsed: { type: 'transferChecked', info: { authority: t.alice.publicKey.toBase58(), tokenAmount: { amount: '2500000000' } } } });
    expect(instructions[1]).toMatchObject({ program: 'spl-memo', parsed: 'deposit:acct-42' });

    const history = await connection.getSignaturesForAddress(t.bobAta.address);
    expect(history[0]).toMatchObject({ signature, memo: '[15] deposit:acct-42', err: null, confirmationStatus: 'finalized' });
  });

  it('reads mints and token accounts, parsed and raw', async () => {
    const parsed = await connection.getParsedAccountInfo(t.aliceAta.address);
    expect(parsed.value?.data).toMatchObject({ program: 'spl-token', parsed: { type: 'account', info: { mint: t.mint.toBase58(), owner: t.alice.publicKey.toBase58() } } });
    const mint = await connection.getParsedAccountInfo(t.mint);
    expect(mint.value?.data).toMatchObject({ parsed: { type: 'mint', info: { decimals: 9, mintAuthority: t.payer.publicKey.toBase58(), isInitialized: true } } });
    const owned = await connection.getTokenAccountsByOwner(t.bob.publicKey, { mint: t.mint });
    expect(owned.value.map((a) => a.pubkey.toBase58())).toEqual([t.bobAta.address.toBase58()]);
    const supply = await connection.getTokenSupply(t.mint);
    expect(supply.value.amount).toBe('1000000000000');
    const accounts = await connection.getMultipleAccountsInfo([t.mint, Keypair.generate().publicKey]);
    expect(accounts[0]?.data.length).toBe(82);
    expect(accounts[1]).toBeNull();
  });

  it('surfaces a failing program: at preflight, and as the status of a transaction sent without it', async () => {
    const tooMuch = transfer(t, 5_000_000_000_000n, 'too much');
    const refusal = await sendAndConfirmTransaction(connection, tooMuch, [t.alice]).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(SendTransactionError);
    expect((refusal as SendTransactionError).message).toContain('Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1');
    expect((refusal as SendTransactionError).logs).toContain('Program log: Error: insufficient funds');

    const landed = await sendAndConfirmTransaction(connection, transfer(t, 5_000_000_000_000n, 'too much, no preflight'), [t.alice], { skipPreflight: true }).catch((err: unknown) => err);
    expect(String(landed)).toContain('{"InstructionError":[0,{"Custom":1}]}');
  });

  it('refuses a transaction whose blockhash has expired, as web3.js expects', async () => {
    const latest = await connection.getLatestBlockhash();
    const tx = transfer(t, 1n, 'late');
    tx.recentBlockhash = latest.blockhash;
    tx.feePayer = t.alice.publicKey;
    tx.sign(t.alice);
    chain.expireBlockhash();
    expect((await connection.isBlockhashValid(latest.blockhash)).value).toBe(false);
    const refusal = await connection.sendRawTransaction(tx.serialize()).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(SendTransactionError);
    expect((refusal as SendTransactionError).message).toContain('Blockhash not found');
    // Sent without preflight it never lands, and confirmation says the blockhash expired.
    const signature = await connection.sendRawTransaction(tx.serialize(), { skipPreflight: true });
    const confirmation = await connection.confirmTransaction({ signature, ...latest }).catch((err: unknown) => err);
    expect(confirmation).toBeInstanceOf(TransactionExpiredBlockheightExceededError);
    // A Connection caches its blockhash for 30 s, longer than this jump: the next tests take a new one.
    connection = new Connection(chain.url, 'confirmed');
  });

  it('accepts a durable-nonce transaction after every blockhash has expired, once', async () => {
    const nonce = Keypair.generate();
    const to = Keypair.generate().publicKey;
    const lamports = await connection.getMinimumBalanceForRentExemption(NONCE_ACCOUNT_LENGTH);
    const create = SystemProgram.createNonceAccount({ fromPubkey: t.payer.publicKey, noncePubkey: nonce.publicKey, authorizedPubkey: t.payer.publicKey, lamports });
    await sendAndConfirmTransaction(connection, new Transaction().add(...create.instructions), [t.payer, nonce]);
    const stored = NonceAccount.fromAccountData((await connection.getAccountInfo(nonce.publicKey))!.data).nonce;
    chain.expireBlockhash();
    connection = new Connection(chain.url, 'confirmed'); // its cached blockhash just expired

    const nonceAdvance = SystemProgram.nonceAdvance({ noncePubkey: nonce.publicKey, authorizedPubkey: t.payer.publicKey });
    const tx = new Transaction({ feePayer: t.payer.publicKey, nonceInfo: { nonce: stored, nonceInstruction: nonceAdvance } }).add(SystemProgram.transfer({ fromPubkey: t.payer.publicKey, toPubkey: to, lamports: LAMPORTS_PER_SOL }));
    tx.recentBlockhash = stored;
    tx.sign(t.payer);
    const signature = await connection.sendRawTransaction(tx.serialize());
    expect((await connection.getSignatureStatus(signature)).value?.err).toBeNull();
    expect(await connection.getBalance(to)).toBe(LAMPORTS_PER_SOL);
    expect(NonceAccount.fromAccountData((await connection.getAccountInfo(nonce.publicKey))!.data).nonce).not.toBe(stored);
    // The nonce moved on: the same transaction cannot land again.
    expect(String(await connection.sendRawTransaction(tx.serialize()).catch((err: unknown) => err))).toContain('Blockhash not found');
  });

  it('notifies signature subscribers whether they subscribed before or after the transaction', async () => {
    const latest = await connection.getLatestBlockhash();
    const make = (text: string) => {
      const tx = transfer(t, 1n, text);
      tx.recentBlockhash = latest.blockhash;
      tx.feePayer = t.alice.publicKey;
      tx.sign(t.alice);
      return tx;
    };
    const early = make('subscribed first');
    const before = chain.subscriptionCount;
    const notified = new Promise((resolve) => connection.onSignature(encodeBase58(early.signature!), (result) => resolve(result)));
    await until(() => chain.subscriptionCount > before, 'the signature subscription');
    await connection.sendRawTransaction(early.serialize());
    expect(await notified).toEqual({ err: null });

    const late = make('subscribed after');
    const signature = await connection.sendRawTransaction(late.serialize());
    expect(await new Promise((resolve) => connection.onSignature(signature, (result) => resolve(result)))).toEqual({ err: null });
  });

  it('notifies account subscribers of a changed account', async () => {
    const changes: number[] = [];
    const before = chain.subscriptionCount;
    const id = connection.onAccountChange(t.alice.publicKey, (info) => changes.push(info.lamports));
    await until(() => chain.subscriptionCount > before, 'the account subscription');
    await sendAndConfirmTransaction(connection, transfer(t, 1n, 'watched'), [t.alice]);
    await until(() => changes.length > 0, 'the account notification');
    await connection.removeAccountChangeListener(id);
    expect(changes).toEqual([(await connection.getBalance(t.alice.publicKey))]);
  });

  it('simulates, and prices messages', async () => {
    const latest = await connection.getLatestBlockhash();
    const message = new TransactionMessage({ payerKey: t.alice.publicKey, recentBlockhash: latest.blockhash, instructions: [memo('simulated')] }).compileToV0Message();
    const tx = new VersionedTransaction(message);
    tx.sign([t.alice]);
    const sim = await connection.simulateTransaction(tx, { accounts: { addresses: [t.alice.publicKey.toBase58()], encoding: 'base64' } });
    expect(sim.value.err).toBeNull();
    expect(sim.value.logs).toContain('Program log: simulated');
    expect(sim.value.unitsConsumed).toBeGreaterThan(0);
    // The state after the simulated transaction, fee paid.
    expect(sim.value.accounts?.[0]?.lamports).toBe((await connection.getBalance(t.alice.publicKey)) - 5000);
    expect((await connection.getFeeForMessage(message)).value).toBe(5000);
    expect(await connection.getMinimumBalanceForRentExemption(165)).toBe(2039280);
  });

  it('runs a v0 transaction through an address lookup table and reports the loaded addresses', async () => {
    const slot = await connection.getSlot();
    const [create, table] = AddressLookupTableProgram.createLookupTable({ authority: t.payer.publicKey, payer: t.payer.publicKey, recentSlot: slot });
    const targets = [Keypair.generate().publicKey, Keypair.generate().publicKey];
    const extend = AddressLookupTableProgram.extendLookupTable({ lookupTable: table, authority: t.payer.publicKey, payer: t.payer.publicKey, addresses: targets });
    await sendAndConfirmTransaction(connection, new Transaction().add(create, extend), [t.payer]);
    chain.advanceSlots(1); // addresses become usable the slot after they were added
    const lookup = (await connection.getAddressLookupTable(table)).value!;
    const message = new TransactionMessage({
      payerKey: t.payer.publicKey,
      recentBlockhash: (await connection.getLatestBlockhash()).blockhash,
      instructions: targets.map((toPubkey) => SystemProgram.transfer({ fromPubkey: t.payer.publicKey, toPubkey, lamports: LAMPORTS_PER_SOL / 10 })),
    }).compileToV0Message([lookup]);
    const tx = new VersionedTransaction(message);
    tx.sign([t.payer]);
    const signature = await connection.sendTransaction(tx);
    await connection.confirmTransaction({ signature, ...(await connection.getLatestBlockhash()) });

    const got = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0 });
    expect(got?.version).toBe(0);
    expect(got?.meta?.loadedAddresses?.writable.map((k) => k.toBase58())).toEqual(targets.map((k) => k.toBase58()));
    expect(got?.meta?.postBalances.slice(-2)).toEqual([LAMPORTS_PER_SOL / 10, LAMPORTS_PER_SOL / 10]);
    const legacyOnly = await connection.getTransaction(signature).catch((err: unknown) => err);
    expect(String(legacyOnly)).toContain('Transaction version (0) is not supported by the requesting client');
    const parsed = await connection.getParsedTransaction(signature, { maxSupportedTransactionVersion: 0 });
    expect(parsed?.transaction.message.accountKeys.slice(-2).map((k) => [k.pubkey.toBase58(), k.source, k.writable])).toEqual(targets.map((k) => [k.toBase58(), 'lookupTable', true]));
  });

  it('answers JSON-RPC errors without falling over', async () => {
    const unknown = await rpc(chain.url, '{"jsonrpc":"2.0","id":1,"method":"getTheMoon","params":[]}');
    expect(unknown.json).toEqual({ jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: 1 });
    const malformed = await rpc(chain.url, '{"jsonrpc":"2.0","id":2,"method":');
    expect(malformed.json).toEqual({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
    const badParams = await rpc(chain.url, '{"jsonrpc":"2.0","id":3,"method":"getBalance","params":["not-an-address"]}');
    expect(badParams.json).toMatchObject({ error: { code: -32602 }, id: 3 });
    const badTransaction = await rpc(chain.url, JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'sendTransaction', params: [Buffer.from([1, 2, 3]).toString('base64'), { encoding: 'base64' }] }));
    expect(badTransaction.json).toMatchObject({ error: { code: -32602 }, id: 4 });
    expect((await rpc(chain.url, '[]')).json).toMatchObject({ error: { code: -32600 } });
    expect((await rpc(chain.url, '{"id":5,"method":"getSlot"}')).json).toMatchObject({ error: { code: -32600 }, id: 5 });

    const batch = await rpc(
      chain.url,
      JSON.stringify([
        { jsonrpc: '2.0', id: 'a', method: 'getHealth' },
        { jsonrpc: '2.0', id: 'b', method: 'nope' },
        { jsonrpc: '2.0', id: 'c', method: 'getBalance', params: [t.alice.publicKey.toBase58()] },
      ]),
    );
    const answers = batch.json as { id: string; result?: unknown; error?: { code: number } }[];
    expect(answers.map((a) => a.id)).toEqual(['a', 'b', 'c']);
    expect(answers[0]!.result).toBe('ok');
    expect(answers[1]!.error?.code).toBe(-32601);
    expect(answers[2]!.result).toMatchObject({ value: await connection.getBalance(t.alice.publicKey) });
    // Still serving.
    expect(await connection.getSlot()).toBeGreaterThan(0);
  });

  it('accepts base58 transactions and WebSocket requests on the RPC port itself', async () => {
    const latest = await connection.getLatestBlockhash();
    const tx = transfer(t, 1n, 'base58');
    tx.recentBlockhash = latest.blockhash;
    tx.feePayer = t.alice.publicKey;
    tx.sign(t.alice);
    const { json } = await rpc(chain.url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sendTransaction', params: [encodeBase58(tx.serialize())] }));
    expect((json as { result: string }).result).toBe(encodeBase58(tx.signature!));

    const socket = new WebSocket(`ws://127.0.0.1:${chain.port}`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const messages: { id?: number; result?: unknown; method?: string; params?: { result: unknown } }[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'slotSubscribe' }));
    await until(() => messages.length > 0, 'the subscription id');
    const slot = await connection.getSlot();
    chain.advanceSlots(1);
    await until(() => messages.some((m) => m.method === 'slotNotification' && (m.params?.result as { slot: number }).slot > slot), 'a slot notification');
    socket.close();
    expect(messages[0]).toMatchObject({ id: 1, result: expect.any(Number) });
    expect(messages.some((m) => m.method === 'slotNotification' && (m.params?.result as { slot: number }).slot >= slot + 1)).toBe(true);
  });

  it('answers CORS preflights and GET /health for browser wallets', async () => {
    const preflight = await fetch(chain.url, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(await (await fetch(`${chain.url}/health`)).text()).toBe('ok');
  });

  it('keeps balances and past transactions across a restart on the same state file', async () => {
    const signature = await sendAndConfirmTransaction(connection, transfer(t, 7n, 'before restart'), [t.alice]);
    const bob = (await connection.getTokenAccountBalance(t.bobAta.address)).value.amount;
    const slot = await connection.getSlot();
    const genesis = await connection.getGenesisHash();
    await chain.stop();

    chain = await startLocalChain({ stateFile: join(dir, 'chain.json') });
    const again = new Connection(chain.url, 'confirmed');
    expect(await again.getGenesisHash()).toBe(genesis);
    expect(await again.getSlot()).toBeGreaterThan(slot);
    expect((await again.getTokenAccountBalance(t.bobAta.address)).value.amount).toBe(bob);
    const tx = await again.getTransaction(signature, { maxSupportedTransactionVersion: 0 });
    expect(tx?.meta?.logMessages).toContain('Program log: before restart');
    const statuses = await again.getSignatureStatuses([signature], { searchTransactionHistory: true });
    expect(statuses.value[0]).toMatchObject({ err: null, confirmationStatus: 'finalized' });
    // And it still runs the token program.
    await sendAndConfirmTransaction(again, transfer(t, 3n, 'after restart'), [t.alice]);
    expect((await again.getTokenAccountBalance(t.bobAta.address)).value.amount).toBe((BigInt(bob) + 3n).toString());
  });
});
