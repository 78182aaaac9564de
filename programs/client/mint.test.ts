import { createMint, getAccount, getAssociatedTokenAddressSync, getMint } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey } from '@solana/web3.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase58 } from './base58.ts';
import { depositMemo, verifyDeposit } from '../../durable-objects/domain/custody/deposit.ts';
import { startLocalChain, type LocalChain } from '../local-chain/server.ts';
import { depositInstructions, faucetMint, FAUCET_WALLET_LAMPORTS, sendAndFinalize } from './mint.ts';
import { SolanaRpcError, solanaRpc, type SolanaRpc } from './rpc.ts';
import { signerFromSecretKey, type TransactionSigner } from './tx.ts';
import { associatedTokenAddress } from './address.ts';

const signerOf = (k: Keypair): Promise<TransactionSigner> => signerFromSecretKey(encodeBase58(k.secretKey));

describe('the faucet mint and the deposit transfer, built by hand, on the local chain', () => {
  let chain: LocalChain;
  let rpc: SolanaRpc;
  let connection: Connection;
  const authority = Keypair.generate();
  const custodyOwner = Keypair.generate();
  let mint: string;
  let custodyTokenAccount: string;
  let mintAuthority: TransactionSigner;

  beforeAll(async () => {
    // Slots move only when told (slotMs 0), so that "the same blockhash" below holds however slow the machine.
    chain = await startLocalChain({ port: 0, slotMs: 0 });
    rpc = solanaRpc(chain.url);
    connection = new Connection(chain.url, 'confirmed');
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(authority.publicKey, 2 * LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    mint = (await createMint(connection, authority, authority.publicKey, null, 9)).toBase58();
    mintAuthority = await signerOf(authority);
    // Custody's token account exists once the faucet "mints" to the custody owner (created idempotently).
    custodyTokenAccount = (await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet: custodyOwner.publicKey.toBase58(), amount: 1n })).tokenAccount;
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('mints to a new wallet, creating its token account, and gives it SOL for fees', async () => {
    const wallet = Keypair.generate();
    const r = await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet: wallet.publicKey.toBase58(), amount: 7_000_000_000n });
    expect(r.tokenAccount).toBe(getAssociatedTokenAddressSync(new PublicKey(mint), wallet.publicKey).toBase58());
    expect((await getAccount(connection, new PublicKey(r.tokenAccount), 'finalized')).amount).toBe(7_000_000_000n);
    expect(await connection.getBalance(wallet.publicKey)).toBe(FAUCET_WALLET_LAMPORTS);
    expect(r.airdrop).not.toBeNull();
    // Again: the account exists (CreateIdempotent is a no-op) and the wallet needs no more SOL.
    const again = await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet: wallet.publicKey.toBase58(), amount: 3_000_000_000n });
    expect(again.airdrop).toBeNull();
    expect((await getAccount(connection, new PublicKey(r.tokenAccount))).amount).toBe(10_000_000_000n);
    expect((await getMint(connection, new PublicKey(mint))).supply).toBe(10_000_000_001n);
  });

  it('a repeat of the same mint (same wallet, same amount, same blockhash) mints again: each request is its own transaction', async () => {
    const wallet = Keypair.generate().publicKey.toBase58();
    const blockhash = (await rpc.getLatestBlockhash('confirmed')).blockhash;
    const first = await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet, amount: 7n, ref: 'faucet:request-1' });
    const second = await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet, amount: 7n, ref: 'faucet:request-2' });
    const third = await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet, amount: 7n });
    // The local chain keeps one blockhash until told otherwise: all three were signed on it.
    expect((await rpc.getLatestBlockhash('confirmed')).blockhash).toBe(blockhash);
    expect(new Set([first.signature, second.signature, third.signature]).size).toBe(3);
    expect((await rpc.getTokenAccountBalance(first.tokenAccount, 'finalized')).value.amount).toBe('21');
    // The memo is what tells them apart: the same ref again is the same transaction, which the chain refuses.
    await expect(faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet, amount: 7n, ref: 'faucet:request-1' })).rejects.toMatchObject({ kind: 'rpc', message: expect.stringContaining('already been processed') });
  });

  it('refuses to mint with a key that is not the mint authority (preflight, nothing lands)', async () => {
    const impostor = Keypair.generate();
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(impostor.publicKey, LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    const err = await faucetMint(rpc, { mint, decimals: 9, mintAuthority: await signerOf(impostor), wallet: Keypair.generate().publicKey.toBase58(), amount: 1n }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SolanaRpcError);
    expect(err).toMatchObject({ kind: 'rpc', code: -32002 });
  });

  it('deposits: a transfer into custody with the memo, signed by the wallet, passes verifyDeposit', async () => {
    const wallet = Keypair.generate();
    await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet: wallet.publicKey.toBase58(), amount: 5_000_000_000n });
    const account = wallet.publicKey.toBase58();
    const instructions = await depositInstructions({ wallet: account, mint, decimals: 9, custodyTokenAccount, amount: 2_500_000_000n, memo: depositMemo(account) });
    const { signature, slot } = await sendAndFinalize(rpc, { instructions, signers: [await signerOf(wallet)] });
    const r = verifyDeposit({ signature, transaction: await rpc.getTransaction(signature), config: { mint, custodyTokenAccount, decimals: 9 } });
    expect(r).toEqual({ ok: true, value: { signature, account, amount: 2_500_000_000n, slot, blockTime: expect.any(Number) } });
    expect((await rpc.getTokenAccountBalance(custodyTokenAccount, 'finalized')).value.amount).toBe('2500000001');
    expect(await associatedTokenAddress(account, mint)).toBe(getAssociatedTokenAddressSync(new PublicKey(mint), wallet.publicKey).toBase58());
  });

  it('a transfer that fails in the program is reported as failed by sendAndFinalize', async () => {
    const wallet = Keypair.generate();
    await faucetMint(rpc, { mint, decimals: 9, mintAuthority, wallet: wallet.publicKey.toBase58(), amount: 1_000n });
    const account = wallet.publicKey.toBase58();
    // More than the wallet holds: preflight refuses it.
    const instructions = await depositInstructions({ wallet: account, mint, decimals: 9, custodyTokenAccount, amount: 2_000n, memo: depositMemo(account) });
    await expect(sendAndFinalize(rpc, { instructions, signers: [await signerOf(wallet)] })).rejects.toMatchObject({ kind: 'rpc', code: -32002 });
  });
});
