import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, SystemProgram, Transaction, TransactionInstruction } from '@solana/web3.js';
import { createMint, createTransferCheckedInstruction, getOrCreateAssociatedTokenAccount, mintTo } from '@solana/spl-token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalChain, type LocalChain } from '../local-chain/server.ts';
import { depositMemo, verifyDeposit } from '../../durable-objects/domain/custody/deposit.ts';
import { chainStatusOf } from '../../durable-objects/domain/custody/withdrawal.ts';
import { encodeBase58 } from './base58.ts';
import { SolanaRpcError, fromBase64, solanaRpc, toBase64, type SolanaRpc } from './rpc.ts';

const MEMO = new PublicKey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');

/** Rejection of a promise as a SolanaRpcError. */
async function failure(p: Promise<unknown>): Promise<SolanaRpcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SolanaRpcError);
    return err as SolanaRpcError;
  }
  throw new Error('expected a rejection');
}

describe('the Worker RPC client against the local chain', () => {
  let chain: LocalChain;
  let client: SolanaRpc;
  let connection: Connection;
  const payer = Keypair.generate();
  const custody = Keypair.generate();
  let mint: PublicKey;
  let custodyAta: PublicKey;
  let payerAta: PublicKey;

  beforeAll(async () => {
    chain = await startLocalChain({ port: 0 });
    client = solanaRpc(chain.url);
    connection = new Connection(chain.url, 'confirmed');
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(payer.publicKey, 10 * LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    mint = await createMint(connection, payer, payer.publicKey, null, 9);
    payerAta = (await getOrCreateAssociatedTokenAccount(connection, payer, mint, payer.publicKey)).address;
    custodyAta = (await getOrCreateAssociatedTokenAccount(connection, payer, mint, custody.publicKey)).address;
    await mintTo(connection, payer, mint, payerAta, payer, 5_000_000_000n);
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('reads a deposit at finalized in the shape verifyDeposit takes', async () => {
    const tx = new Transaction().add(
      createTransferCheckedInstruction(payerAta, mint, custodyAta, payer.publicKey, 1_500_000_000n, 9),
      new TransactionInstruction({ programId: MEMO, keys: [], data: Buffer.from(depositMemo(payer.publicKey.toBase58())) }),
    );
    const signature = await connection.sendTransaction(tx, [payer]);
    const read = await client.getTransaction(signature);
    expect(read?.transaction.signatures[0]).toBe(signature);
    const r = verifyDeposit({ signature, transaction: read, config: { mint: mint.toBase58(), custodyTokenAccount: custodyAta.toBase58(), decimals: 9 } });
    expect(r).toMatchObject({ ok: true, value: { account: payer.publicKey.toBase58(), amount: 1_500_000_000n, signature } });
  });

  it('answers null for an unknown transaction', async () => {
    expect(await client.getTransaction(encodeBase58(new Uint8Array(64).fill(7)))).toBeNull();
  });

  it('reads token balances with the context slot', async () => {
    const b = await client.getTokenAccountBalance(custodyAta.toBase58(), 'finalized');
    expect(b.value).toMatchObject({ amount: '1500000000', decimals: 9 });
    expect(b.contextSlot).toBeGreaterThan(0);
  });

  it('refuses a balance of an account that is not a token account with the node\u2019s JSON-RPC error', async () => {
    const err = await failure(client.getTokenAccountBalance(payer.publicKey.toBase58()));
    expect(err.kind).toBe('rpc');
    expect(err.code).toBe(-32602);
  });

  it('reads block height, latest blockhash and statuses as ObserveChain needs them', async () => {
    const height = await client.getBlockHeight('finalized');
    expect(height.blockHeight).toBeGreaterThan(0);
    expect(height.blockHeightSlot).toBeGreaterThanOrEqual(height.blockHeight);
    const latest = await client.getLatestBlockhash('finalized');
    expect(latest.lastValidBlockHeight).toBeGreaterThan(height.blockHeight);
    expect(latest.contextSlot).toBeGreaterThan(0);
    expect(await client.getSlot('finalized')).toBeGreaterThanOrEqual(height.blockHeightSlot);

    // A transfer signed here, sent as base64 through the client.
    const to = Keypair.generate().publicKey;
    const tx = new Transaction({ feePayer: payer.publicKey, blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight }).add(
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: 1_000_000 }),
    );
    tx.sign(payer);
    const signature = await client.sendTransaction(toBase64(tx.serialize()), { preflightCommitment: 'finalized' });
    expect(signature).toBe(encodeBase58(tx.signature!));
    const unknown = encodeBase58(new Uint8Array(64).fill(9));
    const statuses = await client.getSignatureStatuses([signature, unknown], { searchTransactionHistory: true });
    expect(statuses.contextSlot).toBeGreaterThan(0);
    expect(chainStatusOf(statuses.value[0])).toBe('finalized');
    expect(statuses.value[1]).toBeNull();
    expect((await client.getBalance(to.toBase58(), 'finalized')).value).toBe(1_000_000);
  });

  it('sends with skipPreflight and answers a preflight failure as a JSON-RPC error with its data', async () => {
    const latest = await client.getLatestBlockhash();
    const poor = Keypair.generate();
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(poor.publicKey, 10_000_000), ...latest });
    const tx = new Transaction({ feePayer: poor.publicKey, blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight }).add(
      SystemProgram.transfer({ fromPubkey: poor.publicKey, toPubkey: payer.publicKey, lamports: 1_000 * LAMPORTS_PER_SOL }),
    );
    tx.sign(poor);
    const err = await failure(client.sendTransaction(toBase64(tx.serialize())));
    expect(err.kind).toBe('rpc');
    expect(err.code).toBe(-32002);
    expect(err.data).toMatchObject({ err: expect.anything() });
    // Without preflight it lands, failed.
    const signature = await client.sendTransaction(toBase64(tx.serialize()), { skipPreflight: true });
    const statuses = await client.getSignatureStatuses([signature], { searchTransactionHistory: true });
    expect(chainStatusOf(statuses.value[0])).toBe('failed');
  });

  it('reads accounts in base64 and answers null for a missing one', async () => {
    const mintAccount = await client.getAccountInfo(mint.toBase58(), 'finalized');
    expect(mintAccount.value?.owner).toBe('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
    expect(mintAccount.value?.data.length).toBe(82);
    expect(mintAccount.value?.data[44]).toBe(9); // decimals
    expect((await client.getAccountInfo(Keypair.generate().publicKey.toBase58())).value).toBeNull();
    expect(await client.getMinimumBalanceForRentExemption(165)).toBeGreaterThan(0);
  });

  it('airdrops through requestAirdrop', async () => {
    const who = Keypair.generate().publicKey.toBase58();
    const sig = await client.requestAirdrop(who, 5_000_000, 'finalized');
    expect(typeof sig).toBe('string');
    expect((await client.getBalance(who)).value).toBe(5_000_000);
  });

  it('answers an unknown method with a JSON-RPC error, not a crash', async () => {
    const err = await failure(client.call('noSuchMethod', []));
    expect(err).toMatchObject({ kind: 'rpc', code: -32601, method: 'noSuchMethod' });
  });
});

describe('the Worker RPC client when no good answer comes', () => {
  let server: Server;
  let url: string;
  let behaviour: 'hang' | 'html' | 'http500' | 'not-json-rpc' = 'hang';

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (behaviour === 'hang') return; // never answers
      if (behaviour === 'html') return res.end('<html>hello</html>');
      if (behaviour === 'http500') {
        res.statusCode = 500;
        return res.end('upstream broke');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { context: { slot: 3 }, value: 'not a balance' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('times out with kind timeout', async () => {
    behaviour = 'hang';
    const err = await failure(solanaRpc(url, { timeoutMs: 200 }).getSlot());
    expect(err.kind).toBe('timeout');
  });

  it('stops when the caller aborts', async () => {
    behaviour = 'hang';
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await failure(solanaRpc(url).call('getSlot', [], controller.signal));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('aborted');
  });

  it('reports a refused connection as a network failure', async () => {
    const err = await failure(solanaRpc('http://127.0.0.1:1').getSlot());
    expect(err.kind).toBe('network');
  });

  it('reports an HTTP error status and a body that is not JSON', async () => {
    behaviour = 'http500';
    expect(await failure(solanaRpc(url).getSlot())).toMatchObject({ kind: 'http', code: 500 });
    behaviour = 'html';
    expect((await failure(solanaRpc(url).getSlot())).kind).toBe('malformed');
  });

  it('refuses a result of the wrong shape', async () => {
    behaviour = 'not-json-rpc';
    expect((await failure(solanaRpc(url).getTokenAccountBalance('x'))).kind).toBe('malformed');
  });
});

describe('base64 helpers', () => {
  it('round-trip bytes', () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
  });
});
