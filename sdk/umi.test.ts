import { Keypair } from '@solana/web3.js';
import { generateSigner } from '@metaplex-foundation/umi';
import { base58 } from '@metaplex-foundation/umi/serializers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositMemo, verifyDeposit } from '../durable-objects/domain/custody/deposit.ts';
import { startLocalChain, type LocalChain } from '../programs/local-chain/server.ts';
import { solanaRpc } from '../programs/client/rpc.ts';
import { airdropUpTo, createDougMint, depositToCustody, dougUmi, ensureTokenAccount, mintTo, signerOf, solBalance, tokenAccountOf, tokenBalance, type Umi } from './umi.ts';

describe('$DOUG through Umi and its web3.js adapters, on the local chain', () => {
  let chain: LocalChain;
  let umi: Umi;
  const wallet = Keypair.generate();
  const authority = Keypair.generate();
  const custodyOwner = Keypair.generate().publicKey.toBase58();
  let mint: string;
  let custodyTokenAccount: string;

  beforeAll(async () => {
    chain = await startLocalChain({ port: 0 });
    umi = dougUmi(chain.url, wallet.secretKey);
    await airdropUpTo(umi, wallet.publicKey.toBase58(), 2_000_000_000n);
    const mintSigner = generateSigner(umi);
    await createDougMint(umi, { mint: mintSigner, mintAuthority: authority.publicKey.toBase58() });
    mint = mintSigner.publicKey.toString();
    custodyTokenAccount = await ensureTokenAccount(umi, { owner: custodyOwner, mint });
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('creates the mint with 9 decimals and the custody token account once', async () => {
    const info = await solanaRpc(chain.url).call<{ value: { data: { parsed: { info: { decimals: number; mintAuthority: string; freezeAuthority: unknown } } } } }>('getAccountInfo', [mint, { encoding: 'jsonParsed' }]);
    expect(info.value.data.parsed.info).toMatchObject({ decimals: 9, mintAuthority: authority.publicKey.toBase58(), freezeAuthority: null });
    expect(await ensureTokenAccount(umi, { owner: custodyOwner, mint })).toBe(custodyTokenAccount);
    expect(custodyTokenAccount).toBe(tokenAccountOf(umi, custodyOwner, mint));
    expect(await airdropUpTo(umi, wallet.publicKey.toBase58(), 1n)).toBeUndefined();
    expect(await solBalance(umi, wallet.publicKey.toBase58())).toBeGreaterThan(1_000_000_000n);
  });

  it('mints with the mint authority and deposits with a memo that verifyDeposit accepts', async () => {
    const account = wallet.publicKey.toBase58();
    await mintTo(umi, { mint, owner: account, amount: 9_000_000_000n, mintAuthority: signerOf(umi, authority.secretKey) });
    expect(await tokenBalance(umi, { owner: account, mint })).toBe(9_000_000_000n);
    const signature = await depositToCustody(umi, { mint, decimals: 9, custodyTokenAccount, amount: 4_000_000_000n, memo: depositMemo(account) });
    const tx = await solanaRpc(chain.url).getTransaction(signature);
    const verdict = verifyDeposit({ signature, transaction: tx, config: { mint, custodyTokenAccount, decimals: 9 } });
    expect(verdict).toMatchObject({ ok: true, value: { account, amount: 4_000_000_000n } });
    expect(await tokenBalance(umi, { owner: account, mint })).toBe(5_000_000_000n);
    expect(await tokenBalance(umi, { owner: custodyOwner, mint })).toBe(4_000_000_000n);
    // Umi reads it back too (it asks for maxSupportedTransactionVersion 1, which a validator accepts).
    const read = await umi.rpc.getTransaction(base58.serialize(signature));
    expect(read?.meta.err).toBeNull();
    expect(read?.meta.postTokenBalances.length).toBe(2);
  });

  it('an owner without a token account holds 0', async () => {
    expect(await tokenBalance(umi, { owner: Keypair.generate().publicKey.toBase58(), mint })).toBe(0n);
  });
});
