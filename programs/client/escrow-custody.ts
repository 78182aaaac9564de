import type { EscrowCustody } from '../../durable-objects/domain/custody/custody.ts';
import { verifyEscrowDeposit, verifyEscrowExit } from '../../durable-objects/domain/custody/deposit.ts';
import { batchReceipts } from '../../durable-objects/domain/custody/settlement.ts';
import { CHAIN_PARAMS_MAX_AGE_MS } from '../../durable-objects/domain/params.ts';
import { ESCROW_INSTRUCTIONS, ESCROW_PROGRAM_ID } from '../escrow/constants.ts';
import { chainFailure } from './errors.ts';
import { escrowWithdrawInstructions, listEscrows, readEscrow, readEscrowConfig, settleFixedAccounts, settleInstructions, type EscrowConfigReading } from './escrow.ts';
import { createAssociatedTokenAccountIdempotent, memo, sendAndFinalize } from './mint.ts';
import { associatedTokenAddress } from './address.ts';
import { EXTEND_MAX_ADDRESSES, extendLookupTable, LOOKUP_TABLE_MAX_ADDRESSES, parseLookupTable, type LookupTableState } from './lookup-table.ts';
import { escrowAddresses, governanceAddress } from './program-addresses.ts';
import { GOVERNANCE_PROGRAM_ID } from '../governance/constants.ts';
import { readProviderStake, readStakingCounters } from './collateral.ts';
import { Readings } from './readings.ts';
import { solanaRpc, toBase64 } from './rpc.ts';
import { observeWithdrawal, sendWithdrawal, withdrawalMemo } from './transfer.ts';
import { signerFromSecretKey, signTransaction, type Instruction, type TransactionSigner } from './tx.ts';

/*
 * Custody in the escrow program: deposits are read from the chain, settlement batches are signed
 * with the settlement authority's key (the Worker's secret), everything else only reads. The
 * configuration (fee, fee accounts, staking program, authority) is read from the chain and kept for
 * CHAIN_PARAMS_MAX_AGE_MS, as governance may change it; the key must be the configuration's authority.
 */

export interface EscrowChainConfig {
  rpcUrl: string;
  mint: string;
  decimals: number;
  escrowProgram: string;
  /** The settlement authority's 64-byte secret key (base58), when this deployment settles. */
  authorityKey?: string;
  /**
   * The settlement authority's address lookup table (SETTLEMENT_TABLE), when it has one: batches are
   * then v0 transactions naming accounts through it, up to BATCH_LIMITS.table.
   */
  settlementTable?: string;
}

/** Token accounts one preparatory transaction creates (each instruction names six accounts). */
const TOKEN_ACCOUNTS_PER_TX = 6;

/** Per-call RPC deadline of settlement steps: a hung node costs one step this long, then a retry. */
export const SETTLEMENT_RPC_TIMEOUT_MS = 5_000;

export function escrowCustody(chain: EscrowChainConfig, o: { timeoutMs?: number } = {}): EscrowCustody {
  const programId = chain.escrowProgram || ESCROW_PROGRAM_ID;
  const reads = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs });
  const steps = solanaRpc(chain.rpcUrl, { timeoutMs: o.timeoutMs ?? SETTLEMENT_RPC_TIMEOUT_MS });
  // The configuration, read again once older than CHAIN_PARAMS_MAX_AGE_MS: governance changes the
  // fee, the fee accounts and the timelock by executed proposals.
  const config = new Readings<EscrowConfigReading>(
    () =>
      readEscrowConfig(reads, programId).then((c) => {
        if (c.mint !== chain.mint) throw new Error(`the escrow configuration's mint is ${c.mint}, not this deployment's ${chain.mint}`);
        return c;
      }),
    CHAIN_PARAMS_MAX_AGE_MS,
  );
  /** Governance's PDA, derived once: the configuration's admin when governance administers it. */
  let governance: Promise<string> | null = null;
  const configured = (o: { fresh?: boolean } = {}) => (o.fresh ? config.refresh('config') : config.get('config'));
  let authority: Promise<TransactionSigner> | null = null;
  const authoritySigner = async () => {
    const secret = chain.authorityKey?.trim();
    if (!secret) throw chainFailure('CUSTODY__NOT_CONFIGURED', { missing: 'the settlement authority key' });
    const c = await configured();
    return (authority ??= signerFromSecretKey(secret).then((s) => {
      if (s.publicKey !== c.authority) throw new Error(`the settlement authority key is the key of ${s.publicKey}, not of the escrow's authority ${c.authority}`);
      return s;
    })).catch((err: unknown) => {
      authority = null;
      throw err;
    });
  };
  const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

  const tableAddress = chain.settlementTable?.trim() || null;
  let table: LookupTableState | null = null;
  /** Set once the table cannot take a batch's accounts: settlement goes back to legacy batches. */
  let tableFull = false;
  const existingTokenAccounts = new Set<string>();
  const readTable = async (address: string, authority: string): Promise<LookupTableState> => {
    const info = (await steps.getAccountInfo(address, 'confirmed')).value;
    const state = info ? parseLookupTable(address, info.data) : null;
    if (!state) throw new Error(`the settlement lookup table ${address} is not an address lookup table on this chain`);
    if (state.authority !== authority) throw new Error(`the settlement lookup table ${address} is not the settlement authority's (${authority}) to extend`);
    return state;
  };
  /**
   * Makes every account of a batch loadable through the table: creates the providers' token accounts
   * that do not exist yet and adds to the table what it lacks (the authority's own transactions,
   * finalized, so the new entries are usable at once). Null when the table is full.
   */
  const tableFor = async (c: EscrowConfigReading, signer: TransactionSigner, owners: string[], tokenAccounts: string[]): Promise<LookupTableState | null> => {
    const create: Instruction[] = [];
    for (const [i, account] of tokenAccounts.entries()) {
      if (existingTokenAccounts.has(account)) continue;
      if ((await steps.getAccountInfo(account, 'confirmed')).value) existingTokenAccounts.add(account);
      else create.push(createAssociatedTokenAccountIdempotent({ payer: signer.publicKey, tokenAccount: account, owner: owners[i]!, mint: c.mint }));
    }
    for (let i = 0; i < create.length; i += TOKEN_ACCOUNTS_PER_TX) await sendAndFinalize(steps, { instructions: create.slice(i, i + TOKEN_ACCOUNTS_PER_TX), signers: [signer] });
    for (const ix of create) existingTokenAccounts.add(ix.keys[1]!.pubkey);

    const needed = [...settleFixedAccounts(c), ...tokenAccounts];
    const absent = (t: LookupTableState) => needed.filter((a) => !t.addresses.includes(a));
    table ??= await readTable(tableAddress!, signer.publicKey);
    if (absent(table).length > 0) table = await readTable(tableAddress!, signer.publicKey);
    const missing = absent(table);
    if (missing.length === 0) return table;
    if (table.addresses.length + missing.length > LOOKUP_TABLE_MAX_ADDRESSES) {
      tableFull = true;
      return null;
    }
    for (let i = 0; i < missing.length; i += EXTEND_MAX_ADDRESSES) {
      const addresses = missing.slice(i, i + EXTEND_MAX_ADDRESSES);
      await sendAndFinalize(steps, { instructions: [extendLookupTable({ table: tableAddress!, authority: signer.publicKey, payer: signer.publicKey, addresses })], signers: [signer] });
    }
    table = await readTable(tableAddress!, signer.publicKey);
    if (absent(table).length > 0) throw new Error(`the settlement lookup table ${tableAddress} still lacks ${absent(table).length} of the batch's accounts after extending it`);
    return table;
  };

  return {
    holding: async () => {
      const c = await configured();
      const governed = c.admin === (await (governance ??= governanceAddress()));
      return {
        program: programId,
        config: c.address,
        mint: chain.mint,
        decimals: chain.decimals,
        authority: c.authority,
        admin: c.admin,
        governanceProgram: governed ? GOVERNANCE_PROGRAM_ID : null,
        withdrawTimelockSeconds: c.withdrawTimelockSeconds,
        feeBps: c.feeBps,
        stakingProgram: c.stakingProgram,
        stakingConfig: c.stakingConfig,
      };
    },
    verifyDeposit: async (signature) => {
      const transaction = await reads.getTransaction(signature, { commitment: 'finalized', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 });
      return verifyEscrowDeposit({
        signature,
        transaction,
        config: { mint: chain.mint, decimals: chain.decimals, escrowProgram: programId, depositInstruction: ESCROW_INSTRUCTIONS.deposit },
      });
    },
    verifyExit: async (signature) => {
      const c = await configured();
      const transaction = await reads.getTransaction(signature, { commitment: 'finalized', encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 });
      return verifyEscrowExit({
        signature,
        transaction,
        config: { mint: chain.mint, decimals: chain.decimals, escrowProgram: programId, withdrawInstruction: ESCROW_INSTRUCTIONS.withdraw, authority: c.authority },
      });
    },
    escrow: (buyer) => readEscrow(reads, buyer, programId),
    providerStake: async (owner) => readProviderStake(reads, owner, (await configured()).stakingProgram),
    buildCosignedWithdrawal: async (w) => {
      const [c, signer] = await Promise.all([configured(), authoritySigner()]);
      const instructions = [
        ...(await escrowWithdrawInstructions({ buyer: w.destination, mint: chain.mint, amount: w.amount, authority: c.authority, coSigned: true, programId })),
        memo(withdrawalMemo(w.withdrawalId)),
      ];
      const latest = await steps.getLatestBlockhash('confirmed');
      const signed = await signTransaction({ payer: signer.publicKey, recentBlockhash: latest.blockhash, instructions, signers: [signer], partial: true });
      return { signature: signed.signature, transaction: toBase64(signed.bytes), lastValidBlockHeight: latest.lastValidBlockHeight };
    },
    settlementEncoding: () => (tableAddress && !tableFull ? 'table' : 'legacy'),
    feeBps: async (o) => (await configured(o)).feeBps,
    buildSettlement: async (b) => {
      const [c, signer] = await Promise.all([configured(), authoritySigner()]);
      const receiptsHash = await sha256(batchReceipts(b.buyer, b.batch, b.payouts));
      const settle = { config: c, buyer: b.buyer, batch: b.batch, receiptsHash, payouts: b.payouts, programId, ...(b.feeBps !== undefined && { feeBps: b.feeBps }) };
      let lookup: LookupTableState | null = null;
      if (tableAddress && !tableFull) {
        const owners = [...new Set(b.payouts.map((p) => p.provider))];
        lookup = await tableFor(c, signer, owners, await Promise.all(owners.map((o) => associatedTokenAddress(o, c.mint))));
      }
      const instructions = await settleInstructions({ ...settle, createTokenAccounts: lookup === null });
      const latest = await steps.getLatestBlockhash('confirmed');
      const signed = await signTransaction({ payer: signer.publicKey, recentBlockhash: latest.blockhash, instructions, signers: [signer], ...(lookup && { table: lookup }) }).catch((err: unknown) => {
        if (err instanceof RangeError && tableFull) throw new Error(`the settlement lookup table ${tableAddress} is full and batch ${b.batch}, opened for it, does not fit a legacy transaction: configure a new SETTLEMENT_TABLE`);
        throw err;
      });
      return { signature: signed.signature, transaction: toBase64(signed.bytes), lastValidBlockHeight: latest.lastValidBlockHeight };
    },
    send: (transaction) => sendWithdrawal(steps, transaction),
    observe: (signatures) => observeWithdrawal(steps, signatures),
    balances: async () => {
      const c = await configured();
      const escrows = await listEscrows(reads, programId);
      const vaults = await Promise.all(escrows.map(async (e) => BigInt((await reads.getTokenAccountBalance((await escrowAddresses(e.buyer, programId)).vault, 'finalized')).value.amount)));
      const balance = async (account: string) => BigInt((await reads.getTokenAccountBalance(account, 'finalized')).value.amount);
      const staking = await readStakingCounters(reads, c.stakingConfig, c.stakingProgram);
      return { escrows: escrows.length, vaults: vaults.reduce((s, v) => s + v, 0n), rewardVault: await balance(c.rewardVault), treasury: await balance(c.treasury), ...staking };
    },
  };
}
