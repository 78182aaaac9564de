import type { ChainInfo, DepositResponse, WithdrawalWire } from '../durable-objects/contracts/api.ts';
import type { Signer } from '../durable-objects/contracts/auth.ts';
import { decodeBase58, encodeBase58 } from '../programs/client/base58.ts';
import { depositMemo } from '../durable-objects/domain/custody/deposit.ts';
import { associatedTokenAddress } from '../programs/client/address.ts';
import { escrowDepositInstructions } from '../programs/client/escrow.ts';
import { escrowAddresses } from '../programs/client/program-addresses.ts';
import { depositInstructions, sendAndFinalize, waitFinalized } from '../programs/client/mint.ts';
import { fromBase64, solanaRpc, toBase64 } from '../programs/client/rpc.ts';
import { readCompactU16 } from '../programs/client/compact-u16.ts';
import { programRefusal } from '../programs/client/program-errors.ts';
import { addSignature, compileLegacyMessage, PACKET_DATA_SIZE, serializeTransaction, signerFromSecretKey, type Instruction, type TransactionSigner } from '../programs/client/tx.ts';
import { CLIENT_ERRORS, DougApiError, type DougClient, type FaucetResponse } from './client.ts';

/*
 * Deposits for code that holds the wallet's key, a raw ed25519 signer, or a browser wallet that
 * signs whole transactions: the SDK's callers, the portal's wallets, tests. The transfer is built by
 * hand (programs/client: no web3.js, so it runs in the browser as it does in Node and the Worker),
 * signed by the wallet, sent to the RPC that GET /v1/chain names, and once finalized handed to
 * POST /v1/deposits. The CLI does the same through Umi (sdk/umi.ts).
 */

/**
 * A wallet that signs whole transactions, as a Wallet Standard wallet does through
 * `solana:signTransaction` (wallets refuse transaction bytes offered to signMessage): it is handed
 * the unsigned wire transaction and answers it signed.
 */
export interface TransactionWallet {
  publicKey: string;
  signTransaction(transaction: Uint8Array): Promise<Uint8Array>;
}

/** Whatever can sign a deposit: a keypair, a raw ed25519 message signer, or a transaction-signing wallet. */
export type DepositWallet = Signer | TransactionWallet;

function isTransactionWallet(wallet: DepositWallet): wallet is TransactionWallet {
  return 'signTransaction' in wallet && typeof wallet.signTransaction === 'function';
}

/** A transaction signer for a keypair (its 64-byte secret key) or a raw ed25519 message signer. */
export async function transactionSigner(wallet: Signer): Promise<TransactionSigner> {
  if ('signMessage' in wallet) return { publicKey: wallet.publicKey, sign: (message) => wallet.signMessage(message) };
  return signerFromSecretKey(wallet.secretKey);
}

function walletRefused(message: string, context: Record<string, unknown> = {}): DougApiError {
  return new DougApiError({ status: 0, code: CLIENT_ERRORS.WALLET_SIGNATURE_INVALID, message, context });
}

/**
 * Reads the wire transaction a wallet answered: its fee payer must be `publicKey`, and the first
 * signature (the fee payer's, which names the transaction) `publicKey`'s valid ed25519 signature of
 * the message that follows. The wallet may have changed the message (some add a priority fee): what
 * it signed is what is sent, and the server checks the transfer itself before it credits anything.
 */
export async function readWalletSigned(bytes: Uint8Array, publicKey: string): Promise<{ signature: string; bytes: Uint8Array }> {
  let count: { value: number; size: number };
  try {
    count = readCompactU16(bytes, 0);
  } catch {
    throw walletRefused('the wallet answered something that is not a transaction');
  }
  const start = count.size + 64 * count.value;
  // A legacy message: a 3-byte header, the account keys' compact-u16 count, the keys (fee payer first).
  if (count.value < 1 || bytes.length < start + 4 + 32 || bytes.length > PACKET_DATA_SIZE) throw walletRefused('the wallet answered something that is not a signed transaction');
  const message = bytes.slice(start);
  const keys = readCompactU16(message, 3);
  const payer = encodeBase58(message.subarray(3 + keys.size, 3 + keys.size + 32));
  if (payer !== publicKey) throw walletRefused(`the wallet made ${payer} pay for the transaction, not ${publicKey}`, { payer });
  const signature = bytes.slice(count.size, count.size + 64);
  const key = await crypto.subtle.importKey('raw', decodeBase58(publicKey)!, { name: 'Ed25519' }, false, ['verify']);
  if (!(await crypto.subtle.verify('Ed25519', key, signature, message))) throw walletRefused(`the wallet's answer is not signed by ${publicKey}`);
  return { signature: encodeBase58(signature), bytes: bytes.slice() };
}

/** Has a transaction-signing wallet sign `instructions` (it pays the fee) on a fresh blockhash, then sends them and waits for finalization. */
async function sendThroughWallet(rpcUrl: string, wallet: TransactionWallet, instructions: Instruction[]): Promise<{ signature: string; slot: number }> {
  const rpc = solanaRpc(rpcUrl);
  const latest = await rpc.getLatestBlockhash('confirmed');
  const message = compileLegacyMessage({ payer: wallet.publicKey, recentBlockhash: latest.blockhash, instructions });
  // Every signature slot empty (zeros): the wallet fills in its own.
  const unsigned = serializeTransaction(
    message.signers.map(() => new Uint8Array(64)),
    message.bytes,
  );
  const signed = await readWalletSigned(await wallet.signTransaction(unsigned), wallet.publicKey);
  await rpc.sendTransaction(toBase64(signed.bytes), { preflightCommitment: 'confirmed' });
  const { slot } = await waitFinalized(rpc, signed.signature);
  return { signature: signed.signature, slot };
}

/**
 * Signs `instructions` with the wallet (paying the fee: a transaction-signing wallet is asked once,
 * for the whole transaction), sends them to `rpcUrl` and waits until they are finalized.
 */
export async function sendFromWallet(rpcUrl: string, wallet: DepositWallet, instructions: Instruction[]): Promise<{ signature: string; slot: number }> {
  try {
    if (isTransactionWallet(wallet)) return await sendThroughWallet(rpcUrl, wallet, instructions);
    return await sendAndFinalize(solanaRpc(rpcUrl), { instructions, signers: [await transactionSigner(wallet)] });
  } catch (e) {
    // One of our programs refused: say why in its own words, not as a hex code.
    const refusal = programRefusal(e, instructions);
    if (!refusal) throw e;
    throw new DougApiError({
      status: 0,
      code: CLIENT_ERRORS.PROGRAM_REFUSED,
      message: `the ${refusal.programName} program refused the transaction: ${refusal.sentence} (${refusal.code} ${refusal.error})`,
      context: { program: refusal.program, code: refusal.code, error: refusal.error },
    });
  }
}

/**
 * Transfers `amount` base units of $DOUG from the wallet's associated token account into custody
 * with the memo naming `account` (default: the wallet's own), and waits until it is finalized. A
 * transaction-signing wallet is asked once, for the whole transaction.
 */
export async function transferToCustody(o: { chain: ChainInfo; wallet: DepositWallet; amount: bigint; account?: string }): Promise<{ signature: string; slot: number }> {
  const wallet = o.wallet.publicKey;
  const instructions = await depositInstructions({
    wallet,
    mint: o.chain.mint,
    decimals: o.chain.decimals,
    custodyTokenAccount: o.chain.custodyTokenAccount,
    amount: o.amount,
    memo: depositMemo(o.account ?? wallet),
  });
  return sendFromWallet(o.chain.rpcUrl, o.wallet, instructions);
}

/**
 * Deposits `amount` from the wallet's associated token account into the wallet's own escrow
 * (opening it first when it has none, the wallet paying its rent), and waits until it is finalized.
 */
export async function depositToEscrow(o: { chain: ChainInfo & { escrow: NonNullable<ChainInfo['escrow']> }; wallet: DepositWallet; amount: bigint }): Promise<{ signature: string; slot: number }> {
  const buyer = o.wallet.publicKey;
  const rpc = solanaRpc(o.chain.rpcUrl);
  const { escrow } = await escrowAddresses(buyer, o.chain.escrow.program);
  const open = (await rpc.getAccountInfo(escrow, 'confirmed')).value === null;
  const instructions = await escrowDepositInstructions({ buyer, mint: o.chain.mint, amount: o.amount, open, programId: o.chain.escrow.program });
  return sendFromWallet(o.chain.rpcUrl, o.wallet, instructions);
}

/**
 * Completes a withdrawal from the wallet's escrow: signs the transaction the marketplace co-signed
 * (the wallet's slot), sends it, and waits until it is finalized. A transaction-signing wallet is
 * asked to sign it as it is.
 */
export async function sendCosignedWithdrawal(o: { chain: ChainInfo; wallet: DepositWallet; withdrawal: WithdrawalWire }): Promise<{ signature: string; slot: number }> {
  const cosigned = o.withdrawal.cosigned;
  if (!cosigned) {
    throw new DougApiError({ status: 0, code: CLIENT_ERRORS.INVALID_ARGUMENT, message: `withdrawal ${o.withdrawal.withdrawalId} has no co-signed transaction to send (it is ${o.withdrawal.status})`, context: {} });
  }
  const unsigned = fromBase64(cosigned.transaction);
  const signed = isTransactionWallet(o.wallet) ? await o.wallet.signTransaction(unsigned) : await addSignature(unsigned, await transactionSigner(o.wallet));
  const rpc = solanaRpc(o.chain.rpcUrl);
  const signature = await rpc.sendTransaction(toBase64(signed), { preflightCommitment: 'confirmed' });
  const { slot } = await waitFinalized(rpc, signature);
  return { signature, slot };
}

/** The base units of $DOUG `owner`'s associated token account holds on chain (0 when it has none). */
export async function walletTokenBalance(chain: ChainInfo, owner: string): Promise<bigint> {
  const account = await solanaRpc(chain.rpcUrl).getAccountInfo(await associatedTokenAddress(owner, chain.mint), 'confirmed');
  const data = account.value?.data;
  // SPL token account layout: mint (32 bytes), owner (32), amount (u64 little-endian).
  if (!data || data.length < 72) return 0n;
  return new DataView(data.buffer, data.byteOffset + 64, 8).getBigUint64(0, true);
}

/**
 * Moves the wallet's $DOUG to where the marketplace holds it (the wallet's escrow when the server
 * uses escrow custody, else custody with the memo), then has the server credit it (`client` signs
 * the deposit request: the wallet or its session). An escrow deposit always credits the wallet itself.
 */
export async function depositFromWallet(client: DougClient, o: { wallet: DepositWallet; amount: bigint; account?: string; chain?: ChainInfo }): Promise<DepositResponse> {
  const chain = o.chain ?? (await client.chain());
  if (chain.escrow) {
    if (o.account !== undefined && o.account !== o.wallet.publicKey) {
      throw new DougApiError({ status: 0, code: CLIENT_ERRORS.INVALID_ARGUMENT, message: 'an escrow deposit credits the wallet that makes it; deposit from the account’s own wallet', context: { account: o.account } });
    }
    const { signature } = await depositToEscrow({ chain: { ...chain, escrow: chain.escrow }, wallet: o.wallet, amount: o.amount });
    return client.deposit(signature);
  }
  const { signature } = await transferToCustody({ chain, wallet: o.wallet, amount: o.amount, ...(o.account ? { account: o.account } : {}) });
  return client.deposit(signature);
}

/**
 * The local faucet, whatever the server runs: without a chain it credits the ledger; with one it
 * mints to the wallet and this deposits the minted amount, so either way the ledger ends up
 * credited. `ownerClient` must be signed by the wallet itself (the faucet is owner-only).
 */
export async function faucetAndDeposit(ownerClient: DougClient, wallet: DepositWallet, amount: bigint): Promise<{ faucet: FaucetResponse; deposit: DepositResponse | null }> {
  const faucet = await ownerClient.faucet(amount);
  if (faucet.minted === undefined) return { faucet, deposit: null };
  return { faucet, deposit: await depositFromWallet(ownerClient, { wallet, amount }) };
}
