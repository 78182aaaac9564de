import type { Observation, SignedWithdrawal } from '../../durable-objects/domain/custody/custody.ts';
import { chainStatusOf } from '../../durable-objects/domain/custody/withdrawal.ts';
import type { Amount } from '../../durable-objects/domain/money.ts';
import { associatedTokenAddress } from './address.ts';
import { createAssociatedTokenAccountIdempotent, memo, transferChecked } from './mint.ts';
import { RPC_CODES, isRpcAnswer, toBase64, type SolanaRpc } from './rpc.ts';
import { signTransaction, type Instruction, type TransactionSigner } from './tx.ts';

/*
 * Withdrawals out of custody, on chain: one legacy transaction paid and signed by the custody
 * authority that
 *   1. creates the destination wallet's associated token account if it is missing
 *      (Associated Token program, CreateIdempotent: a no-op when it exists),
 *   2. moves `amount` from the custody token account to it (SPL Token TransferChecked, so a wrong
 *      mint or decimals fails rather than moving something else),
 *   3. carries the memo "doug:withdrawal:<withdrawalId>" (Memo program), so every payout names its
 *      withdrawal on chain.
 * Building and signing is pure apart from WebCrypto; the three RPC steps the withdrawal object
 * drives (fresh blockhash and sign, send, observe) follow, each throwing on any RPC failure so that
 * the caller leaves its state as it is and retries.
 */

/** What the custody side of a withdrawal needs: the mint, custody's token account and its authority. */
export interface WithdrawalChainConfig {
  mint: string;
  decimals: number;
  /** Custody's token account (the source of every withdrawal). */
  custodyTokenAccount: string;
  /** The custody authority: owner of the custody token account and fee payer. */
  authority: TransactionSigner;
}

export const WITHDRAWAL_MEMO_PREFIX = 'doug:withdrawal:';
/** The memo a withdrawal's transfer carries. */
export const withdrawalMemo = (withdrawalId: string): string => `${WITHDRAWAL_MEMO_PREFIX}${withdrawalId}`;

/** The instructions of a withdrawal's transfer (pure). */
export function withdrawalInstructions(o: {
  authority: string;
  custodyTokenAccount: string;
  mint: string;
  decimals: number;
  destination: string;
  destinationTokenAccount: string;
  amount: Amount;
  withdrawalId: string;
}): Instruction[] {
  if (o.amount <= 0n || o.amount >= 1n << 64n) throw new RangeError('a withdrawal moves a positive u64 amount');
  return [
    createAssociatedTokenAccountIdempotent({ payer: o.authority, tokenAccount: o.destinationTokenAccount, owner: o.destination, mint: o.mint }),
    transferChecked({ source: o.custodyTokenAccount, mint: o.mint, destination: o.destinationTokenAccount, owner: o.authority, amount: o.amount, decimals: o.decimals }),
    memo(withdrawalMemo(o.withdrawalId)),
  ];
}

/** Builds and signs a withdrawal's transfer on the given blockhash; sends nothing. */
export async function signWithdrawalTransfer(o: {
  config: WithdrawalChainConfig;
  withdrawalId: string;
  destination: string;
  amount: Amount;
  blockhash: string;
  lastValidBlockHeight: number;
}): Promise<SignedWithdrawal> {
  const { config } = o;
  const instructions = withdrawalInstructions({
    authority: config.authority.publicKey,
    custodyTokenAccount: config.custodyTokenAccount,
    mint: config.mint,
    decimals: config.decimals,
    destination: o.destination,
    destinationTokenAccount: await associatedTokenAddress(o.destination, config.mint),
    amount: o.amount,
    withdrawalId: o.withdrawalId,
  });
  const signed = await signTransaction({ payer: config.authority.publicKey, recentBlockhash: o.blockhash, instructions, signers: [config.authority] });
  return { signature: signed.signature, transaction: toBase64(signed.bytes), lastValidBlockHeight: o.lastValidBlockHeight };
}

/** Custody.buildWithdrawal: a fresh blockhash (confirmed), then the signed transfer. */
export async function buildWithdrawal(rpc: SolanaRpc, config: WithdrawalChainConfig, w: { withdrawalId: string; destination: string; amount: Amount }): Promise<SignedWithdrawal> {
  const latest = await rpc.getLatestBlockhash('confirmed');
  return signWithdrawalTransfer({ config, ...w, blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight });
}

/**
 * Custody.send: the recorded bytes as they are, without preflight (a simulation could refuse a
 * transfer that then lands from an earlier send). A node that answers AlreadyProcessed saw it land:
 * that is a send too. Any other failure throws; the attempt stays live and is resent later.
 */
export async function sendWithdrawal(rpc: SolanaRpc, transaction: string): Promise<void> {
  try {
    await rpc.sendTransaction(transaction, { skipPreflight: true });
  } catch (err) {
    if (isRpcAnswer(err) && err.code === RPC_CODES.SEND_TRANSACTION_PREFLIGHT_FAILURE) {
      const data = err.data as { err?: unknown } | undefined;
      if (data?.err === 'AlreadyProcessed') return;
    }
    throw err;
  }
}

/**
 * Custody.observe: the finalized block height (and the slot it was read at) first, then every
 * signature's status with full history. In that order: a status read after the height, from a node
 * at or past the height's slot, can prove an attempt expired (see the withdrawal decider).
 */
export async function observeWithdrawal(rpc: SolanaRpc, signatures: string[]): Promise<Observation[]> {
  const height = await rpc.getBlockHeight('finalized');
  const statuses = await rpc.getSignatureStatuses(signatures, { searchTransactionHistory: true });
  return signatures.map((signature, i) => {
    const s = statuses.value[i] ?? null;
    const status = chainStatusOf(s);
    const o: Observation = { signature, status, blockHeight: height.blockHeight, blockHeightSlot: height.blockHeightSlot, contextSlot: statuses.contextSlot };
    if (s) o.slot = s.slot;
    if (status === 'failed') o.error = JSON.stringify(s?.err);
    return o;
  });
}
