import { createNoopSigner, publicKey } from '@metaplex-foundation/umi';
import { builderContext, instructionsOf } from './builders.ts';
import type { Amount } from '../../durable-objects/domain/money.ts';
import { cancelWithdrawalRequest, deposit, openEscrow, requestWithdrawal, settle, withdraw } from '../escrow/client/index.ts';
import { ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { ESCROW_LAYOUT } from '../escrow/layout.ts';
import { associatedTokenAddress, TOKEN_PROGRAM } from './address.ts';
import { encodeBase58 } from './base58.ts';
import { createAssociatedTokenAccountIdempotent } from './mint.ts';
import { escrowAddresses, escrowConfigAddress } from './program-addresses.ts';
import { fromBase64, type Commitment, type SolanaRpc } from './rpc.ts';
import type { Instruction } from './tx.ts';

/*
 * The escrow program's instructions and accounts for the Worker, the SDK and the portal: built by
 * the client generated from its IDL (programs/escrow/client, Umi) through builders.ts, every
 * address passed explicitly.
 */

const context = builderContext;
const signer = (key: string) => createNoopSigner(publicKey(key));
const key = (k: string) => publicKey(k);

/** The escrow configuration as the chain holds it (ESCROW_LAYOUT.escrowConfig). */
export interface EscrowConfigReading {
  address: string;
  feeBps: number;
  stakersShareBps: number;
  /** Who may change the parameters: governance's PDA once handed over. */
  admin: string;
  authority: string;
  mint: string;
  rewardVault: string;
  treasury: string;
  stakingProgram: string;
  stakingConfig: string;
  withdrawTimelockSeconds: bigint;
}

/** One buyer's escrow as the chain holds it (ESCROW_LAYOUT.escrow), and its vault's balance. */
export interface EscrowReading {
  escrow: string;
  vault: string;
  nextBatch: bigint;
  /** Unix seconds of a pending withdrawal request; 0n when none. */
  withdrawalRequestedAt: bigint;
  settledTotal: bigint;
  balance: Amount;
}

const view = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, data.byteLength);
const pubkeyAt = (data: Uint8Array, at: number) => encodeBase58(data.subarray(at, at + 32));

/** Reads the escrow configuration; throws when it is absent or not the program's. */
export async function readEscrowConfig(rpc: SolanaRpc, programId = ESCROW_PROGRAM_ID, commitment: Commitment = 'finalized'): Promise<EscrowConfigReading> {
  const address = await escrowConfigAddress(programId);
  const info = (await rpc.getAccountInfo(address, commitment)).value;
  const L = ESCROW_LAYOUT.escrowConfig;
  if (!info || info.owner !== programId || info.data.length !== L.size || info.data[0] !== L.kind) throw new Error(`no escrow configuration of ${programId} at ${address}`);
  const d = info.data;
  return {
    address,
    feeBps: view(d).getUint16(L.at.feeBps, true),
    stakersShareBps: view(d).getUint16(L.at.stakersShareBps, true),
    admin: pubkeyAt(d, L.at.admin),
    authority: pubkeyAt(d, L.at.authority),
    mint: pubkeyAt(d, L.at.mint),
    rewardVault: pubkeyAt(d, L.at.rewardVault),
    treasury: pubkeyAt(d, L.at.treasury),
    stakingProgram: pubkeyAt(d, L.at.stakingProgram),
    stakingConfig: pubkeyAt(d, L.at.stakingConfig),
    withdrawTimelockSeconds: view(d).getBigUint64(L.at.withdrawTimelockSeconds, true),
  };
}

/** Reads a buyer's escrow and its vault's balance; null when the buyer has opened none. */
export async function readEscrow(rpc: SolanaRpc, buyer: string, programId = ESCROW_PROGRAM_ID, commitment: Commitment = 'finalized'): Promise<EscrowReading | null> {
  const { escrow, vault } = await escrowAddresses(buyer, programId);
  const info = (await rpc.getAccountInfo(escrow, commitment)).value;
  if (!info) return null;
  const L = ESCROW_LAYOUT.escrow;
  if (info.owner !== programId || info.data.length !== L.size || info.data[0] !== L.kind) throw new Error(`${escrow} is not an escrow of ${programId}`);
  const d = view(info.data);
  const balance = BigInt((await rpc.getTokenAccountBalance(vault, commitment)).value.amount);
  return {
    escrow,
    vault,
    nextBatch: d.getBigUint64(L.at.nextBatch, true),
    withdrawalRequestedAt: d.getBigInt64(L.at.withdrawalRequestedAt, true),
    settledTotal: d.getBigUint64(L.at.settledTotal, true),
    balance,
  };
}

/** Every escrow of the program with its buyer (getProgramAccounts on the escrow kind), for the audit. */
export async function listEscrows(rpc: SolanaRpc, programId = ESCROW_PROGRAM_ID): Promise<{ escrow: string; buyer: string }[]> {
  const L = ESCROW_LAYOUT.escrow;
  const found = await rpc.call<{ pubkey: string; account: { data: [string, 'base64'] } }[]>('getProgramAccounts', [
    programId,
    { commitment: 'finalized', encoding: 'base64', filters: [{ dataSize: L.size }, { memcmp: { offset: 0, bytes: encodeBase58(Uint8Array.of(L.kind)) } }] },
  ]);
  return found.map((a) => ({ escrow: a.pubkey, buyer: pubkeyAt(fromBase64(a.account.data[0]), L.at.buyer) }));
}

/** A deposit of `amount` from the buyer's associated token account into their escrow, opening it first when `open`. */
export async function escrowDepositInstructions(o: { buyer: string; mint: string; amount: Amount; open: boolean; programId?: string }): Promise<Instruction[]> {
  const programId = o.programId ?? ESCROW_PROGRAM_ID;
  const [{ escrow, vault }, config, buyerTokenAccount] = await Promise.all([escrowAddresses(o.buyer, programId), escrowConfigAddress(programId), associatedTokenAddress(o.buyer, o.mint)]);
  const accounts = { buyer: signer(o.buyer), escrow: key(escrow), vault: key(vault), config: key(config), mint: key(o.mint) };
  return [
    ...(o.open ? instructionsOf(openEscrow(context, accounts)) : []),
    ...instructionsOf(deposit(context, { ...accounts, buyerTokenAccount: key(buyerTokenAccount), amount: o.amount })),
  ];
}

/** The buyer's request to leave (`cancel`: taking it back): after the timelock they may withdraw alone. */
export async function requestWithdrawalInstructions(o: { buyer: string; cancel?: boolean; programId?: string }): Promise<Instruction[]> {
  const { escrow } = await escrowAddresses(o.buyer, o.programId ?? ESCROW_PROGRAM_ID);
  const accounts = { buyer: signer(o.buyer), escrow: key(escrow) };
  return instructionsOf(o.cancel ? cancelWithdrawalRequest(context, accounts) : requestWithdrawal(context, accounts));
}

/**
 * A withdrawal from the buyer's escrow to their associated token account (created when missing,
 * the buyer paying): the settlement `authority` co-signing (`coSigned`) makes it immediate, else it
 * needs an elapsed request.
 */
export async function escrowWithdrawInstructions(o: { buyer: string; mint: string; amount: Amount; authority: string; coSigned: boolean; programId?: string }): Promise<Instruction[]> {
  const programId = o.programId ?? ESCROW_PROGRAM_ID;
  const [{ escrow, vault }, config, buyerTokenAccount] = await Promise.all([escrowAddresses(o.buyer, programId), escrowConfigAddress(programId), associatedTokenAddress(o.buyer, o.mint)]);
  return [
    createAssociatedTokenAccountIdempotent({ payer: o.buyer, tokenAccount: buyerTokenAccount, owner: o.buyer, mint: o.mint }),
    ...instructionsOf(
      withdraw(context, {
        buyer: signer(o.buyer),
        authority: o.coSigned ? signer(o.authority) : key(o.authority),
        config: key(config),
        escrow: key(escrow),
        vault: key(vault),
        buyerTokenAccount: key(buyerTokenAccount),
        mint: key(o.mint),
        amount: o.amount,
      }),
    ),
  ];
}

/**
 * One settlement batch: each distinct provider's associated token account created when missing
 * (the authority paying), then `settle` paying every payout's gross from the buyer's escrow (the
 * program takes the fee from each).
 */
export async function settleInstructions(o: {
  config: EscrowConfigReading;
  buyer: string;
  batch: bigint;
  receiptsHash: Uint8Array;
  payouts: readonly { provider: string; gross: Amount }[];
  /** The fee the batch was priced at (default: the configuration's as read). */
  feeBps?: number;
  programId?: string;
  /** Whether each provider's token account is created (idempotently) before the settle: default true. */
  createTokenAccounts?: boolean;
}): Promise<Instruction[]> {
  const programId = o.programId ?? ESCROW_PROGRAM_ID;
  const { config } = o;
  const { escrow, vault } = await escrowAddresses(o.buyer, programId);
  const providers = [...new Set(o.payouts.map((p) => p.provider))];
  const tokenAccounts = await Promise.all(providers.map((p) => associatedTokenAddress(p, config.mint)));
  const index = new Map(providers.map((p, i) => [p, i]));
  return [
    ...(o.createTokenAccounts === false ? [] : providers.map((owner, i) => createAssociatedTokenAccountIdempotent({ payer: config.authority, tokenAccount: tokenAccounts[i]!, owner, mint: config.mint }))),
    ...instructionsOf(
      settle(context, {
        authority: signer(config.authority),
        config: key(config.address),
        escrow: key(escrow),
        vault: key(vault),
        mint: key(config.mint),
        rewardVault: key(config.rewardVault),
        treasury: key(config.treasury),
        stakingProgram: key(config.stakingProgram),
        stakingConfig: key(config.stakingConfig),
        batch: o.batch,
        receiptsHash: o.receiptsHash,
        feeBps: o.feeBps ?? config.feeBps,
        payouts: o.payouts.map((p) => ({ provider: index.get(p.provider)!, gross: p.gross })),
        providers: tokenAccounts.map(key),
      }),
    ),
  ];
}

/**
 * The accounts every settle names whatever its buyer and providers, for the settlement authority's
 * lookup table (the programs a transaction invokes, the authority and the buyer's escrow and vault
 * stay in the message itself).
 */
export function settleFixedAccounts(config: EscrowConfigReading): string[] {
  return [config.address, config.mint, config.rewardVault, config.treasury, TOKEN_PROGRAM, config.stakingProgram, config.stakingConfig];
}
