import type { Amount } from '../../durable-objects/domain/money.ts';
import { chainStatusOf } from '../../durable-objects/domain/custody/withdrawal.ts';
import { ASSOCIATED_TOKEN_PROGRAM, MEMO_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM, associatedTokenAddress } from './address.ts';
import { SolanaRpcError, toBase64, type SolanaRpc } from './rpc.ts';
import { signTransaction, type Instruction, type TransactionSigner } from './tx.ts';

/*
 * Token instructions the Worker and the portal build by hand (no web3.js in either): minting $DOUG
 * to a wallet (the local faucet, signed by the mint authority) and a deposit's transfer into custody
 * with its memo (signed by the depositor's wallet). Both create the receiving associated token
 * account when it is missing (CreateIdempotent: a no-op when it exists). Withdrawals (transfer.ts)
 * are built from the same instructions.
 */

/** SPL Token instruction numbers used here. */
const TRANSFER_CHECKED = 12;
const MINT_TO_CHECKED = 14;

function amountData(instruction: number, amount: Amount, decimals: number): Uint8Array {
  if (amount <= 0n || amount >= 1n << 64n) throw new RangeError('a token amount is a positive u64');
  const data = new Uint8Array(10);
  data[0] = instruction;
  new DataView(data.buffer).setBigUint64(1, amount, true);
  data[9] = decimals;
  return data;
}

/** Associated Token program CreateIdempotent: `owner`'s token account for `mint`, paid by `payer`. */
export function createAssociatedTokenAccountIdempotent(o: { payer: string; tokenAccount: string; owner: string; mint: string }): Instruction {
  return {
    programId: ASSOCIATED_TOKEN_PROGRAM,
    keys: [
      { pubkey: o.payer, isSigner: true, isWritable: true },
      { pubkey: o.tokenAccount, isSigner: false, isWritable: true },
      { pubkey: o.owner, isSigner: false, isWritable: false },
      { pubkey: o.mint, isSigner: false, isWritable: false },
      { pubkey: SYSTEM_PROGRAM, isSigner: false, isWritable: false },
      { pubkey: TOKEN_PROGRAM, isSigner: false, isWritable: false },
    ],
    data: Uint8Array.of(1),
  };
}

/** SPL Token MintToChecked: `amount` of `mint` into `tokenAccount`, signed by the mint authority. */
export function mintToChecked(o: { mint: string; tokenAccount: string; mintAuthority: string; amount: Amount; decimals: number }): Instruction {
  return {
    programId: TOKEN_PROGRAM,
    keys: [
      { pubkey: o.mint, isSigner: false, isWritable: true },
      { pubkey: o.tokenAccount, isSigner: false, isWritable: true },
      { pubkey: o.mintAuthority, isSigner: true, isWritable: false },
    ],
    data: amountData(MINT_TO_CHECKED, o.amount, o.decimals),
  };
}

/** SPL Token TransferChecked from `source` (owned by `owner`) to `destination`. */
export function transferChecked(o: { source: string; mint: string; destination: string; owner: string; amount: Amount; decimals: number }): Instruction {
  return {
    programId: TOKEN_PROGRAM,
    keys: [
      { pubkey: o.source, isSigner: false, isWritable: true },
      { pubkey: o.mint, isSigner: false, isWritable: false },
      { pubkey: o.destination, isSigner: false, isWritable: true },
      { pubkey: o.owner, isSigner: true, isWritable: false },
    ],
    data: amountData(TRANSFER_CHECKED, o.amount, o.decimals),
  };
}

/** A Memo program instruction carrying `text` (no signers required). */
export function memo(text: string): Instruction {
  return { programId: MEMO_PROGRAM, keys: [], data: new TextEncoder().encode(text) };
}

/**
 * The faucet's instructions: the wallet's token account if missing, MintToChecked into it, and a
 * memo naming the request (`ref`). The memo makes each request its own transaction: two mints of
 * the same amount to the same wallet under one blockhash would otherwise be the same transaction,
 * and the chain refuses the second as already processed.
 */
export async function faucetMintInstructions(o: { mint: string; decimals: number; mintAuthority: string; wallet: string; amount: Amount; ref: string }): Promise<{ tokenAccount: string; instructions: Instruction[] }> {
  const tokenAccount = await associatedTokenAddress(o.wallet, o.mint);
  return {
    tokenAccount,
    instructions: [
      createAssociatedTokenAccountIdempotent({ payer: o.mintAuthority, tokenAccount, owner: o.wallet, mint: o.mint }),
      mintToChecked({ mint: o.mint, tokenAccount, mintAuthority: o.mintAuthority, amount: o.amount, decimals: o.decimals }),
      memo(o.ref),
    ],
  };
}

/** A request reference for a faucet mint that names nothing else: 16 random bytes in hex. */
function randomRef(): string {
  return `faucet:${[...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * A deposit's instructions: TransferChecked of `amount` from the wallet's associated token account
 * to custody, and the memo naming the ledger account to credit (depositMemo(account)).
 */
export async function depositInstructions(o: { wallet: string; mint: string; decimals: number; custodyTokenAccount: string; amount: Amount; memo: string }): Promise<Instruction[]> {
  const source = await associatedTokenAddress(o.wallet, o.mint);
  return [transferChecked({ source, mint: o.mint, destination: o.custodyTokenAccount, owner: o.wallet, amount: o.amount, decimals: o.decimals }), memo(o.memo)];
}

/** Waits until `signature` is finalized; answers its landing, or throws when it failed or did not land in time. */
export async function waitFinalized(rpc: SolanaRpc, signature: string, o: { timeoutMs?: number; pollMs?: number } = {}): Promise<{ slot: number }> {
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    const { value } = await rpc.getSignatureStatuses([signature], { searchTransactionHistory: true });
    const status = chainStatusOf(value[0]);
    if (status === 'finalized') return { slot: value[0]!.slot };
    if (status === 'failed') throw new SolanaRpcError({ kind: 'rpc', method: 'getSignatureStatuses', message: `transaction ${signature} failed: ${JSON.stringify(value[0]!.err)}`, data: value[0]!.err });
    if (Date.now() > deadline) throw new SolanaRpcError({ kind: 'timeout', method: 'getSignatureStatuses', message: `transaction ${signature} was not finalized in time` });
    await new Promise((r) => setTimeout(r, o.pollMs ?? 400));
  }
}

/** Signs `instructions` paid by `signers[0]` on a fresh blockhash, sends them and waits for finalization. */
export async function sendAndFinalize(rpc: SolanaRpc, o: { instructions: Instruction[]; signers: TransactionSigner[]; timeoutMs?: number }): Promise<{ signature: string; slot: number }> {
  const payer = o.signers[0];
  if (!payer) throw new Error('a transaction needs a fee payer');
  const latest = await rpc.getLatestBlockhash('confirmed');
  const signed = await signTransaction({ payer: payer.publicKey, recentBlockhash: latest.blockhash, instructions: o.instructions, signers: o.signers });
  await rpc.sendTransaction(toBase64(signed.bytes), { preflightCommitment: 'confirmed' });
  const { slot } = await waitFinalized(rpc, signed.signature, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
  return { signature: signed.signature, slot };
}

/** Lamports the faucet keeps a wallet at, for fees (0.05 SOL); the mint authority's own floor (1 SOL). */
export const FAUCET_WALLET_LAMPORTS = 50_000_000;
export const MINT_AUTHORITY_MIN_LAMPORTS = 1_000_000_000;

/** Tops `address` up by airdrop to at least `lamports` (local chain and test validators only). */
export async function airdropUpTo(rpc: SolanaRpc, address: string, lamports: number): Promise<string | null> {
  const { value } = await rpc.getBalance(address, 'confirmed');
  if (value >= lamports) return null;
  const signature = await rpc.requestAirdrop(address, lamports - value, 'confirmed');
  await waitFinalized(rpc, signature);
  return signature;
}

/**
 * The local faucet on chain: mints `amount` of $DOUG to `wallet`'s associated token account
 * (created if missing; the mint authority pays) and airdrops the wallet a little SOL for fees.
 * Each call is a transaction of its own (its memo carries `ref`, a random one when not given), so a
 * repeat mints again.
 */
export async function faucetMint(
  rpc: SolanaRpc,
  o: { mint: string; decimals: number; mintAuthority: TransactionSigner; wallet: string; amount: Amount; ref?: string },
): Promise<{ signature: string; slot: number; tokenAccount: string; airdrop: string | null }> {
  await airdropUpTo(rpc, o.mintAuthority.publicKey, MINT_AUTHORITY_MIN_LAMPORTS);
  const { tokenAccount, instructions } = await faucetMintInstructions({ mint: o.mint, decimals: o.decimals, mintAuthority: o.mintAuthority.publicKey, wallet: o.wallet, amount: o.amount, ref: o.ref ?? randomRef() });
  const { signature, slot } = await sendAndFinalize(rpc, { instructions, signers: [o.mintAuthority] });
  const airdrop = await airdropUpTo(rpc, o.wallet, FAUCET_WALLET_LAMPORTS);
  return { signature, slot, tokenAccount, airdrop };
}
