import { createMint } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, VersionedTransaction } from '@solana/web3.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainInfo } from '../durable-objects/contracts/api.ts';
import { encodeBase58 } from '../programs/client/base58.ts';
import { verifyDeposit } from '../durable-objects/domain/custody/deposit.ts';
import { startLocalChain, type LocalChain } from '../programs/local-chain/server.ts';
import { faucetMint } from '../programs/client/mint.ts';
import { solanaRpc } from '../programs/client/rpc.ts';
import { signerFromSecretKey } from '../programs/client/tx.ts';
import { transferToCustody, walletTokenBalance, type TransactionWallet } from './deposit.ts';

/** A wallet as Wallet Standard wallets sign (solana:signTransaction): web3.js reads the bytes, signs, serializes. */
function web3Wallet(key: Keypair, signAs: Keypair = key): TransactionWallet & { prompts: number } {
  const wallet = {
    publicKey: key.publicKey.toBase58(),
    prompts: 0,
    async signTransaction(bytes: Uint8Array): Promise<Uint8Array> {
      wallet.prompts++;
      const tx = VersionedTransaction.deserialize(bytes);
      if (signAs === key) tx.sign([key]);
      else tx.signatures[0] = (await signerFromSecretKey(signAs.secretKey).then((s) => s.sign(tx.message.serialize()))) as Uint8Array;
      return tx.serialize();
    },
  };
  return wallet;
}

describe('a deposit signed by a wallet that signs whole transactions, on the local chain', () => {
  let chain: LocalChain;
  let info: ChainInfo;
  const authority = Keypair.generate();
  const custodyOwner = Keypair.generate();

  const fund = async (wallet: Keypair, amount: bigint) => {
    await faucetMint(solanaRpc(chain.url), { mint: info.mint, decimals: 9, mintAuthority: await signerFromSecretKey(authority.secretKey), wallet: wallet.publicKey.toBase58(), amount });
  };

  beforeAll(async () => {
    chain = await startLocalChain({ port: 0 });
    const connection = new Connection(chain.url, 'confirmed');
    await connection.confirmTransaction({ signature: await connection.requestAirdrop(authority.publicKey, 2 * LAMPORTS_PER_SOL), ...(await connection.getLatestBlockhash()) });
    const mint = (await createMint(connection, authority, authority.publicKey, null, 9)).toBase58();
    const mintAuthority = await signerFromSecretKey(authority.secretKey);
    const custody = await faucetMint(solanaRpc(chain.url), { mint, decimals: 9, mintAuthority, wallet: custodyOwner.publicKey.toBase58(), amount: 1n });
    info = { rpcUrl: chain.url, mint, decimals: 9, custodyTokenAccount: custody.tokenAccount, custodyAuthority: custodyOwner.publicKey.toBase58() };
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('asks the wallet once, sends what it signed, and the transfer passes verifyDeposit', async () => {
    const key = Keypair.generate();
    await fund(key, 5_000_000_000n);
    const wallet = web3Wallet(key);
    const { signature, slot } = await transferToCustody({ chain: info, wallet, amount: 2_000_000_000n });
    expect(wallet.prompts).toBe(1);
    const verdict = verifyDeposit({ signature, transaction: await solanaRpc(chain.url).getTransaction(signature), config: { mint: info.mint, custodyTokenAccount: info.custodyTokenAccount, decimals: 9 } });
    expect(verdict).toMatchObject({ ok: true, value: { signature, slot, account: wallet.publicKey, amount: 2_000_000_000n } });
    expect(await walletTokenBalance(info, wallet.publicKey)).toBe(3_000_000_000n);
  });

  it('credits the account the memo names when another account is given', async () => {
    const key = Keypair.generate();
    await fund(key, 1_000_000_000n);
    const other = Keypair.generate().publicKey.toBase58();
    const { signature } = await transferToCustody({ chain: info, wallet: web3Wallet(key), amount: 1_000_000_000n, account: other });
    const verdict = verifyDeposit({ signature, transaction: await solanaRpc(chain.url).getTransaction(signature), config: { mint: info.mint, custodyTokenAccount: info.custodyTokenAccount, decimals: 9 } });
    expect(verdict).toMatchObject({ ok: true, value: { account: other } });
  });

  it('refuses, before sending anything, an answer signed by another key', async () => {
    const key = Keypair.generate();
    await fund(key, 1_000_000_000n);
    const wallet = web3Wallet(key, Keypair.generate());
    await expect(transferToCustody({ chain: info, wallet, amount: 1_000_000_000n })).rejects.toMatchObject({ code: 'CLIENT__WALLET_SIGNATURE_INVALID' });
    expect(await walletTokenBalance(info, wallet.publicKey)).toBe(1_000_000_000n);
  });

  it('refuses an answer that is not a transaction, or one paid by another key', async () => {
    const key = Keypair.generate();
    const garbage: TransactionWallet = { publicKey: key.publicKey.toBase58(), signTransaction: async () => Uint8Array.from([1, 2, 3]) };
    await expect(transferToCustody({ chain: info, wallet: garbage, amount: 1n })).rejects.toMatchObject({ code: 'CLIENT__WALLET_SIGNATURE_INVALID' });
    const impostor = Keypair.generate();
    const swapped: TransactionWallet = {
      publicKey: key.publicKey.toBase58(),
      // Answers a transaction of its own, paid and signed by another key.
      signTransaction: async (bytes) => {
        const tx = VersionedTransaction.deserialize(bytes);
        tx.message.staticAccountKeys[0] = impostor.publicKey;
        tx.sign([impostor]);
        return tx.serialize();
      },
    };
    const refused = await transferToCustody({ chain: info, wallet: swapped, amount: 1n }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CLIENT__WALLET_SIGNATURE_INVALID', context: { payer: encodeBase58(impostor.publicKey.toBytes()) } });
  });
});
