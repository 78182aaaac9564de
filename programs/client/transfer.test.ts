import { ASSOCIATED_TOKEN_PROGRAM_ID, createMint, getAccount, getAssociatedTokenAddressSync, getOrCreateAssociatedTokenAccount, mintTo } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction } from '@solana/web3.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase58 } from './base58.ts';
import { startLocalChain, type LocalChain } from '../local-chain/server.ts';
import { ASSOCIATED_TOKEN_PROGRAM, MEMO_PROGRAM, associatedTokenAddress, findProgramAddress, isOnCurve } from './address.ts';
import { solanaRpc, type SolanaRpc } from './rpc.ts';
import { buildWithdrawal, observeWithdrawal, sendWithdrawal, signWithdrawalTransfer, withdrawalMemo, type WithdrawalChainConfig } from './transfer.ts';
import { compileLegacyMessage, signerFromSecretKey } from './tx.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('the ed25519 on-curve check', () => {
  it('agrees with web3.js (noble) on random bytes, about half of which are points', () => {
    let on = 0;
    fc.assert(
      fc.property(bytes32, (b) => {
        const mine = isOnCurve(b);
        if (mine) on++;
        expect(mine).toBe(PublicKey.isOnCurve(b));
      }),
      { numRuns: 2000 },
    );
    expect(on).toBeGreaterThan(600);
    expect(on).toBeLessThan(1400);
  });
  it('holds every real public key, and refuses y ≥ p and x = 0 with the sign bit', () => {
    for (let i = 0; i < 50; i++) expect(isOnCurve(Keypair.generate().publicKey.toBytes())).toBe(true);
    const p = new Uint8Array(32).fill(0xff);
    p[0] = 0xed;
    p[31] = 0x7f; // y = p: not canonical
    expect(isOnCurve(p)).toBe(PublicKey.isOnCurve(p));
    expect(isOnCurve(p)).toBe(false);
    const one = new Uint8Array(32);
    one[0] = 1; // y = 1: x = 0, a point (the identity)
    expect(isOnCurve(one)).toBe(true);
    one[31] = 0x80; // x = 0 with the sign bit set
    expect(isOnCurve(one)).toBe(PublicKey.isOnCurve(one));
    expect(isOnCurve(new Uint8Array(31))).toBe(false);
  });
});

describe('associated token addresses', () => {
  it('match @solana/spl-token for random wallets and mints', async () => {
    for (let i = 0; i < 100; i++) {
      const owner = Keypair.generate().publicKey;
      const mint = Keypair.generate().publicKey;
      expect(await associatedTokenAddress(owner.toBase58(), mint.toBase58())).toBe(getAssociatedTokenAddressSync(mint, owner).toBase58());
    }
  });
  it('match for owners off the curve (a PDA owning tokens) and fixed keys', async () => {
    const mint = new PublicKey('So11111111111111111111111111111111111111112');
    for (let i = 0; i < 30; i++) {
      const [pda] = PublicKey.findProgramAddressSync([Buffer.from(`vault-${i}`)], ASSOCIATED_TOKEN_PROGRAM_ID);
      expect(await associatedTokenAddress(pda.toBase58(), mint.toBase58())).toBe(getAssociatedTokenAddressSync(mint, pda, true).toBase58());
    }
    // A wallet whose ATA is well known (USDC mint, a fixed key).
    const usdc = new PublicKey('EPjFWdd5AufqSSqeM2qFJyqtYuG9PiLbQ9VnFL5d4eFb');
    const wallet = new PublicKey('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM');
    expect(await associatedTokenAddress(wallet.toBase58(), usdc.toBase58())).toBe(getAssociatedTokenAddressSync(usdc, wallet).toBase58());
  });
  it('find the same bump as web3.js', async () => {
    for (let i = 0; i < 30; i++) {
      const seed = new TextEncoder().encode(`seed-${i}`);
      const [address, bump] = PublicKey.findProgramAddressSync([seed], new PublicKey(ASSOCIATED_TOKEN_PROGRAM));
      expect(await findProgramAddress([seed], ASSOCIATED_TOKEN_PROGRAM)).toEqual({ address: address.toBase58(), bump });
    }
  });
});

describe('legacy messages', () => {
  it('put the payer first, then writable signers, read-only signers, writable and read-only others', () => {
    const [payer, signerRo, signerRw, rw, ro, program] = Array.from({ length: 6 }, () => Keypair.generate().publicKey.toBase58());
    const m = compileLegacyMessage({
      payer: payer!,
      recentBlockhash: Keypair.generate().publicKey.toBase58(),
      instructions: [
        {
          programId: program!,
          keys: [
            { pubkey: ro!, isSigner: false, isWritable: false },
            { pubkey: signerRo!, isSigner: true, isWritable: false },
            { pubkey: rw!, isSigner: false, isWritable: true },
            { pubkey: signerRw!, isSigner: true, isWritable: false },
          ],
          data: Uint8Array.of(1, 2, 3),
        },
        // A later instruction makes signerRw writable: the flags are the union.
        { programId: program!, keys: [{ pubkey: signerRw!, isSigner: false, isWritable: true }], data: new Uint8Array() },
      ],
    });
    expect(m.accountKeys).toEqual([payer, signerRw, signerRo, rw, ro, program]);
    expect(m.signers).toEqual([payer, signerRw, signerRo]);
    expect([...m.bytes.subarray(0, 3)]).toEqual([3, 1, 2]);
  });
});

describe('a withdrawal transfer against the local chain', () => {
  let chain: LocalChain;
  let rpc: SolanaRpc;
  let connection: Connection;
  let config: WithdrawalChainConfig;
  let mint: PublicKey;
  const payer = Keypair.generate();
  const authority = Keypair.generate();
  const SUPPLY = 1_000_000_000_000n;

  beforeAll(async () => {
    chain = await startLocalChain({ port: 0 });
    rpc = solanaRpc(chain.url);
    connection = new Connection(chain.url, 'confirmed');
    for (const who of [payer, authority]) {
      await connection.confirmTransaction({ signature: await connection.requestAirdrop(who.publicKey, 10 * LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    }
    mint = await createMint(connection, payer, payer.publicKey, null, 9);
    const custody = await getOrCreateAssociatedTokenAccount(connection, payer, mint, authority.publicKey);
    await mintTo(connection, payer, mint, custody.address, payer, SUPPLY);
    config = { mint: mint.toBase58(), decimals: 9, custodyTokenAccount: custody.address.toBase58(), authority: await signerFromSecretKey(encodeBase58(authority.secretKey)) };
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('pays the destination once, with its memo, in bytes web3.js reads as the same transaction', async () => {
    const destination = Keypair.generate().publicKey;
    const signed = await buildWithdrawal(rpc, config, { withdrawalId: 'w-one', destination: destination.toBase58(), amount: 2_500_000_000n });

    // web3.js parses the bytes: same signature, the authority signs and pays, signatures verify.
    const tx = Transaction.from(Buffer.from(signed.transaction, 'base64'));
    expect(encodeBase58(tx.signature!)).toBe(signed.signature);
    expect(tx.feePayer?.toBase58()).toBe(authority.publicKey.toBase58());
    expect(tx.verifySignatures()).toBe(true);
    expect(tx.instructions.map((i) => i.programId.toBase58())).toEqual([ASSOCIATED_TOKEN_PROGRAM, 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA', MEMO_PROGRAM]);

    await sendWithdrawal(rpc, signed.transaction);
    // Sent again (a lost answer, a resend): the same transaction, nothing more moves.
    await sendWithdrawal(rpc, signed.transaction);
    await sendWithdrawal(rpc, signed.transaction);

    const ata = getAssociatedTokenAddressSync(mint, destination);
    expect((await getAccount(connection, ata, 'finalized')).amount).toBe(2_500_000_000n);
    expect((await getAccount(connection, new PublicKey(config.custodyTokenAccount), 'finalized')).amount).toBe(SUPPLY - 2_500_000_000n);

    const read = await connection.getParsedTransaction(signed.signature, { commitment: 'finalized', maxSupportedTransactionVersion: 0 });
    expect(read?.meta?.err).toBeNull();
    const memo = read?.transaction.message.instructions.find((i) => i.programId.toBase58() === MEMO_PROGRAM);
    expect(memo && 'parsed' in memo ? memo.parsed : null).toBe(withdrawalMemo('w-one'));
    const sigs = await connection.getSignaturesForAddress(ata, {}, 'finalized');
    expect(sigs.map((s) => s.signature)).toEqual([signed.signature]);
    expect(sigs[0]?.memo).toContain('doug:withdrawal:w-one');

    const [seen] = await observeWithdrawal(rpc, [signed.signature]);
    expect(seen).toMatchObject({ signature: signed.signature, status: 'finalized', slot: read?.slot });
    expect(seen!.contextSlot).toBeGreaterThanOrEqual(seen!.blockHeightSlot);
  });

  it('pays into an existing associated token account (the create is idempotent)', async () => {
    const destination = Keypair.generate().publicKey;
    for (const [i, amount] of [1n, 7n].entries()) {
      const signed = await buildWithdrawal(rpc, config, { withdrawalId: `w-again-${i}`, destination: destination.toBase58(), amount });
      await sendWithdrawal(rpc, signed.transaction);
      expect((await observeWithdrawal(rpc, [signed.signature]))[0]?.status).toBe('finalized');
    }
    expect((await getAccount(connection, getAssociatedTokenAddressSync(mint, destination), 'finalized')).amount).toBe(8n);
  });

  it('is observed not found, then proven past its last valid block height once the chain moves on', async () => {
    const destination = Keypair.generate().publicKey.toBase58();
    const signed = await buildWithdrawal(rpc, config, { withdrawalId: 'w-lost', destination, amount: 5n });
    const [before] = await observeWithdrawal(rpc, [signed.signature]);
    expect(before).toMatchObject({ status: 'not_found' });
    expect(before!.blockHeight).toBeLessThanOrEqual(signed.lastValidBlockHeight);
    chain.expireBlockhash();
    const [after] = await observeWithdrawal(rpc, [signed.signature]);
    expect(after!.status).toBe('not_found');
    expect(after!.blockHeight).toBeGreaterThan(signed.lastValidBlockHeight);
    // Sent now, it can no longer land.
    await sendWithdrawal(rpc, signed.transaction);
    expect((await observeWithdrawal(rpc, [signed.signature]))[0]?.status).toBe('not_found');
    expect(await connection.getTokenAccountBalance(getAssociatedTokenAddressSync(mint, new PublicKey(destination))).catch(() => null)).toBeNull();
  });

  it('lands failed when custody holds less than the amount, and moves nothing', async () => {
    const destination = Keypair.generate().publicKey;
    const custodyBefore = (await getAccount(connection, new PublicKey(config.custodyTokenAccount))).amount;
    const signed = await buildWithdrawal(rpc, config, { withdrawalId: 'w-too-much', destination: destination.toBase58(), amount: custodyBefore + 1n });
    await sendWithdrawal(rpc, signed.transaction);
    const [seen] = await observeWithdrawal(rpc, [signed.signature]);
    expect(seen?.status).toBe('failed');
    expect(seen?.error).toContain('InstructionError');
    expect((await getAccount(connection, new PublicKey(config.custodyTokenAccount))).amount).toBe(custodyBefore);
  });

  it('signs deterministically: the same blockhash and terms give the same signature', async () => {
    const o = { config, withdrawalId: 'w-same', destination: Keypair.generate().publicKey.toBase58(), amount: 3n, blockhash: Keypair.generate().publicKey.toBase58(), lastValidBlockHeight: 99 };
    const a = await signWithdrawalTransfer(o);
    const b = await signWithdrawalTransfer(o);
    expect(a).toEqual(b);
    expect(a.lastValidBlockHeight).toBe(99);
    expect((await signWithdrawalTransfer({ ...o, amount: 4n })).signature).not.toBe(a.signature);
  });

  it('refuses a secret key whose halves do not match', async () => {
    const bad = new Uint8Array(authority.secretKey);
    bad[40]! ^= 1;
    await expect(signerFromSecretKey(bad)).rejects.toThrow(/does not match/);
  });
});
