import type { ChainInfo, DepositResponse } from '../durable-objects/contracts/api.ts';
import type { Signer } from '../durable-objects/contracts/auth.ts';
import { depositMemo } from '../durable-objects/domain/custody/deposit.ts';
import { associatedTokenAddress } from '../workers/solana/address.ts';
import { depositInstructions, sendAndFinalize } from '../workers/solana/mint.ts';
import { solanaRpc } from '../workers/solana/rpc.ts';
import { signerFromSecretKey, type TransactionSigner } from '../workers/solana/tx.ts';
import type { DougClient, FaucetResponse } from './client.ts';

/*
 * Deposits for code that holds the wallet's key or a raw ed25519 signer: the SDK's callers, the
 * portal's development wallet, tests. The transfer is built by hand (workers/solana: no web3.js, so
 * it runs in the browser as it does in Node and the Worker), signed by the wallet, sent to the RPC
 * that GET /v1/chain names, and once finalized handed to POST /v1/deposits. The CLI does the same
 * through Umi (sdk/umi.ts). A Wallet Standard wallet signs transactions with solana:signTransaction,
 * not signMessage (wallets refuse to sign transaction bytes as a message): not handled here.
 */

/** A transaction signer for a keypair (its 64-byte secret key) or a raw ed25519 message signer. */
export async function transactionSigner(wallet: Signer): Promise<TransactionSigner> {
  if ('signMessage' in wallet) return { publicKey: wallet.publicKey, sign: (message) => wallet.signMessage(message) };
  return signerFromSecretKey(wallet.secretKey);
}

/**
 * Transfers `amount` base units of $DOUG from the wallet's associated token account into custody
 * with the memo naming `account` (default: the wallet's own), and waits until it is finalized.
 */
export async function transferToCustody(o: { chain: ChainInfo; wallet: Signer; amount: bigint; account?: string }): Promise<{ signature: string; slot: number }> {
  const signer = await transactionSigner(o.wallet);
  const instructions = await depositInstructions({
    wallet: signer.publicKey,
    mint: o.chain.mint,
    decimals: o.chain.decimals,
    custodyTokenAccount: o.chain.custodyTokenAccount,
    amount: o.amount,
    memo: depositMemo(o.account ?? signer.publicKey),
  });
  return sendAndFinalize(solanaRpc(o.chain.rpcUrl), { instructions, signers: [signer] });
}

/** The base units of $DOUG `owner`'s associated token account holds on chain (0 when it has none). */
export async function walletTokenBalance(chain: ChainInfo, owner: string): Promise<bigint> {
  const account = await solanaRpc(chain.rpcUrl).getAccountInfo(await associatedTokenAddress(owner, chain.mint), 'confirmed');
  const data = account.value?.data;
  // SPL token account layout: mint (32 bytes), owner (32), amount (u64 little-endian).
  if (!data || data.length < 72) return 0n;
  return new DataView(data.buffer, data.byteOffset + 64, 8).getBigUint64(0, true);
}

/** Transfers into custody, then has the server credit it (`client` signs the deposit request: the wallet or its session). */
export async function depositFromWallet(client: DougClient, o: { wallet: Signer; amount: bigint; account?: string; chain?: ChainInfo }): Promise<DepositResponse> {
  const chain = o.chain ?? (await client.chain());
  const { signature } = await transferToCustody({ chain, wallet: o.wallet, amount: o.amount, ...(o.account ? { account: o.account } : {}) });
  return client.deposit(signature);
}

/**
 * The local faucet, whatever the server runs: without a chain it credits the ledger; with one it
 * mints to the wallet and this deposits the minted amount, so either way the ledger ends up
 * credited. `ownerClient` must be signed by the wallet itself (the faucet is owner-only).
 */
export async function faucetAndDeposit(ownerClient: DougClient, wallet: Signer, amount: bigint): Promise<{ faucet: FaucetResponse; deposit: DepositResponse | null }> {
  const faucet = await ownerClient.faucet(amount);
  if (faucet.minted === undefined) return { faucet, deposit: null };
  return { faucet, deposit: await depositFromWallet(ownerClient, { wallet, amount }) };
}
