import { decodeBase58 } from '../../contracts/base58.ts';
import { makeError } from '../define-errors.ts';
import { parseAmount, type Amount } from '../money.ts';
import { fail, ok, type Result } from '../result.ts';
import { CUSTODY_ERRORS } from './errors.ts';
import { isPublicKey } from './keys.ts';

/*
 * Deposit verification: is this transaction a transfer of $DOUG into custody, and whose account
 * does it credit?
 *
 * API for the Worker (POST /v1/deposits {signature}):
 *   const tx = await rpc.getTransaction(signature, { commitment: 'finalized', encoding: 'jsonParsed',
 *     maxSupportedTransactionVersion: 0 });                       // null when unknown
 *   const r = verifyDeposit({ signature, transaction: tx, config });
 *   if (r.ok) account(r.value.account).Credit({ ref: depositRef(signature), amount: r.value.amount, source: 'deposit' })
 * Commitment is the caller's job: only a transaction read at `finalized` may be credited (a
 * confirmed one can still be rolled back). The memo fixes the account, so one signature can only
 * ever credit one account, and the account decider applies a ref once: repeated submissions of a
 * signature (by anyone) answer ACCOUNT__CREDIT_ALREADY_APPLIED. The credit goes to the memo's
 * account, whoever submitted the signature.
 *
 * Rules, checked in this order:
 *   - no transaction: CUSTODY__DEPOSIT_UNKNOWN (not found, or not finalized yet);
 *   - a shape we cannot read (another signature, no meta, amounts that are not u64): _MALFORMED;
 *   - meta.err set: _FAILED;
 *   - the custody token account's balance entry has another mint, or other decimals than the
 *     config: _WRONG_MINT;
 *   - the custody account is absent or its balance of the mint did not grow: _WRONG_MINT when the
 *     transaction raised some account's balance of another mint and no account's balance of ours
 *     (the user sent the wrong token), else _WRONG_DESTINATION;
 *   - memos starting "doug:deposit:" (memos of wallets and other apps are ignored): none is
 *     _NO_MEMO; two or more, or one whose rest is not exactly a base58 public key, is _BAD_MEMO.
 * The amount is the custody account's exact increase (post minus pre token balance, a missing
 * pre entry counting as 0), so other legs of the transaction never count.
 */

/** SPL Memo v3 and the legacy v1 program; RPC's jsonParsed decodes both as program "spl-memo". */
export const MEMO_PROGRAM_IDS: readonly string[] = ['MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr', 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo'];

/** Prefix of the memo that names the account to credit. */
export const DEPOSIT_MEMO_PREFIX = 'doug:deposit:';

/** The memo a depositor attaches to name the account to credit. */
export const depositMemo = (account: string): string => `${DEPOSIT_MEMO_PREFIX}${account}`;

/** The account decider's Credit ref of a deposit: one credit per signature, ever. */
export const depositRef = (signature: string): string => `deposit:${signature}`;

/** Where deposits go. decimals is $DOUG's (9); a token balance with other decimals is refused. */
export interface DepositConfig {
  mint: string;
  custodyTokenAccount: string;
  decimals: number;
}

/** A verified deposit: credit `amount` to `account` under depositRef(signature). */
export interface Deposit {
  signature: string;
  account: string;
  amount: Amount;
  slot: number;
  blockTime: number | null;
}

// ---- The subset of getTransaction's answer that is read (encoding jsonParsed or json, v0 or legacy) ----

/** jsonParsed gives objects; the legacy json encoding gives bare base58 strings. */
export type RpcAccountKey = string | { pubkey: string; signer: boolean; writable: boolean; source?: 'transaction' | 'lookupTable' };

/** An entry of meta.preTokenBalances / postTokenBalances. */
export interface RpcTokenBalance {
  accountIndex: number;
  mint: string;
  owner?: string;
  programId?: string;
  uiTokenAmount: { amount: string; decimals: number; uiAmount?: number | null; uiAmountString?: string };
}

/** An instruction of a program RPC knows how to parse (jsonParsed); a memo's `parsed` is its text. */
export interface RpcParsedInstruction {
  program: string;
  programId: string;
  parsed: unknown;
  stackHeight?: number | null;
}

/** An instruction of a program RPC does not parse (jsonParsed): accounts as keys, data in base58. */
export interface RpcPartiallyDecodedInstruction {
  programId: string;
  accounts: string[];
  data: string;
  stackHeight?: number | null;
}

/** An instruction in the json encoding: indices into the account keys, data in base58. */
export interface RpcCompiledInstruction {
  programIdIndex: number;
  accounts: number[];
  data: string;
  stackHeight?: number | null;
}

export type RpcInstruction = RpcParsedInstruction | RpcPartiallyDecodedInstruction | RpcCompiledInstruction;

/** getTransaction's result (null when the node has no such transaction). */
export interface RpcTransaction {
  slot: number;
  blockTime: number | null;
  version?: 'legacy' | 0;
  meta: {
    err: unknown;
    preTokenBalances?: RpcTokenBalance[] | null;
    postTokenBalances?: RpcTokenBalance[] | null;
    innerInstructions?: { index: number; instructions: RpcInstruction[] }[] | null;
    /** json encoding of a v0 transaction: keys loaded from lookup tables, indexed after the static keys. */
    loadedAddresses?: { writable: string[]; readonly: string[] } | null;
  } | null;
  transaction: {
    signatures: string[];
    message: { accountKeys: RpcAccountKey[]; instructions: RpcInstruction[] };
  };
}

type Code = keyof typeof CUSTODY_ERRORS & string;
const refuse = (code: Code, context: Record<string, unknown>) => fail(makeError(CUSTODY_ERRORS, code, context));

interface BalanceChange {
  mint: string;
  decimals: number;
  pre: Amount;
  post: Amount;
}

/** A landed transaction as both verifiers read it: its keys in index order and its token balance changes. */
interface Landed {
  tx: RpcTransaction;
  keys: string[];
  changes: Map<number, BalanceChange>;
}

/** The checks every deposit shares: found, readable, signature, status, balances. */
function landed(signature: string, tx: RpcTransaction | null | undefined): Result<Landed> {
  if (!tx) return refuse('CUSTODY__DEPOSIT_UNKNOWN', { signature });
  const malformed = (problem: string) => refuse('CUSTODY__DEPOSIT_MALFORMED', { signature, problem });
  const message = tx.transaction?.message;
  if (!message || !Array.isArray(message.accountKeys) || !Array.isArray(message.instructions)) return malformed('it has no message');
  if (tx.transaction.signatures?.[0] !== signature) return malformed(`it is the transaction of signature ${String(tx.transaction.signatures?.[0])}`);
  if (!tx.meta) return malformed('it has no status metadata');
  if (tx.meta.err !== null && tx.meta.err !== undefined) return refuse('CUSTODY__DEPOSIT_FAILED', { signature, error: describe(tx.meta.err) });
  const changes = balanceChanges(tx);
  if (typeof changes === 'string') return malformed(changes);
  return ok({ tx, keys: accountKeys(tx), changes });
}

/**
 * What `destination` (an account index, or -1 when absent) gained of the configured mint, or the
 * refusal: another mint there, or nothing of ours arriving there (WRONG_MINT when only another
 * mint arrived anywhere, else WRONG_DESTINATION with `where`).
 */
function received(signature: string, l: Landed, destination: number, config: { mint: string; decimals: number }, where: Record<string, unknown>): Result<Amount> {
  const wrongMint = (mint: string, decimals: number) =>
    refuse('CUSTODY__DEPOSIT_WRONG_MINT', { signature, mint, decimals, expectedMint: config.mint, expectedDecimals: config.decimals });
  const change = destination >= 0 ? l.changes.get(destination) : undefined;
  if (change && (change.mint !== config.mint || change.decimals !== config.decimals)) return wrongMint(change.mint, change.decimals);
  const amount = change ? change.post - change.pre : 0n;
  if (amount <= 0n) {
    const grew = [...l.changes.values()].filter((c) => c.post > c.pre);
    const foreign = grew.find((c) => c.mint !== config.mint);
    if (foreign && !grew.some((c) => c.mint === config.mint)) return wrongMint(foreign.mint, foreign.decimals);
    return refuse('CUSTODY__DEPOSIT_WRONG_DESTINATION', { signature, mint: config.mint, ...where });
  }
  return ok(amount);
}

/** Checks that a transaction deposits the configured mint into custody and names one account in its memo. */
export function verifyDeposit(o: { signature: string; transaction: RpcTransaction | null | undefined; config: DepositConfig }): Result<Deposit> {
  const { signature, config } = o;
  const l = landed(signature, o.transaction);
  if (!l.ok) return l;
  const { tx, keys } = l.value;
  const got = received(signature, l.value, keys.indexOf(config.custodyTokenAccount), config, {
    custodyTokenAccount: config.custodyTokenAccount,
    destination: `the custody account ${config.custodyTokenAccount}`,
  });
  if (!got.ok) return got;
  const amount = got.value;

  const memos = memoTexts(tx, keys).filter((text) => text.startsWith(DEPOSIT_MEMO_PREFIX));
  if (memos.length === 0) return refuse('CUSTODY__DEPOSIT_NO_MEMO', { signature });
  if (memos.length > 1) {
    return refuse('CUSTODY__DEPOSIT_BAD_MEMO', { signature, problem: `it has ${memos.length} deposit memos; exactly one must name the account`, memos });
  }
  const account = memos[0]!.slice(DEPOSIT_MEMO_PREFIX.length);
  if (!isPublicKey(account)) {
    return refuse('CUSTODY__DEPOSIT_BAD_MEMO', { signature, problem: `the memo names "${account}", which is not a base58 public key`, memo: memos[0] });
  }
  return ok({ signature, account, amount, slot: tx.slot, blockTime: tx.blockTime ?? null });
}

/**
 * Where buyers deposit in escrow mode: the escrow program, its `deposit` instruction's number, and
 * the mint. The program itself checks that the vault is the buyer's (PDA "vault" of PDA "escrow",
 * buyer), that the buyer signed and that the mint is the configuration's; a transaction that
 * landed without error has passed those checks.
 */
export interface EscrowDepositConfig {
  mint: string;
  decimals: number;
  escrowProgram: string;
  /** The first data byte of `deposit` (programs/escrow/constants.ts). */
  depositInstruction: number;
}

/** Position of the buyer and of the vault among a `deposit` instruction's accounts (programs/escrow/idl.ts). */
const DEPOSIT_BUYER = 0;
const DEPOSIT_VAULT = 3;

/**
 * Checks that a transaction deposits the configured mint into one buyer's escrow, and credits that
 * buyer with the vault's exact increase. Refusals beyond verifyDeposit's shared ones: no escrow
 * `deposit` at all (top level or inner) is DEPOSIT_NOT_ESCROW; deposits for two buyers in one
 * transaction are DEPOSIT_SEVERAL_ESCROWS; the vault not growing in our mint is WRONG_MINT or
 * WRONG_DESTINATION as for custody. Memos play no part: the escrow names the account.
 */
export function verifyEscrowDeposit(o: { signature: string; transaction: RpcTransaction | null | undefined; config: EscrowDepositConfig }): Result<Deposit> {
  const { signature, config } = o;
  const l = landed(signature, o.transaction);
  if (!l.ok) return l;
  const { tx, keys } = l.value;
  const deposits = escrowInstructions(tx, keys, config.escrowProgram, config.depositInstruction)
    .map((accounts) => ({ buyer: accounts[DEPOSIT_BUYER], vault: accounts[DEPOSIT_VAULT] }))
    .filter((d): d is { buyer: string; vault: string } => d.buyer !== undefined && d.vault !== undefined);
  if (deposits.length === 0) return refuse('CUSTODY__DEPOSIT_NOT_ESCROW', { signature, escrowProgram: config.escrowProgram });
  const buyers = [...new Set(deposits.map((d) => d.buyer))];
  if (buyers.length > 1) return refuse('CUSTODY__DEPOSIT_SEVERAL_ESCROWS', { signature, buyers: buyers.join(', ') });
  const { buyer, vault } = deposits[0]!;
  const got = received(signature, l.value, keys.indexOf(vault), config, { vault, destination: `the escrow vault ${vault}` });
  if (!got.ok) return got;
  return ok({ signature, account: buyer, amount: got.value, slot: tx.slot, blockTime: tx.blockTime ?? null });
}

/** Where buyers leave alone: the escrow program, its `withdraw` instruction's number, the settlement authority, the mint. */
export interface EscrowExitConfig {
  mint: string;
  decimals: number;
  escrowProgram: string;
  /** The first data byte of `withdraw` (programs/escrow/constants.ts). */
  withdrawInstruction: number;
  /** The settlement authority: a withdrawal it co-signed is already in the ledger. */
  authority: string;
}

/** A buyer's own withdrawal from their escrow: debit `amount` from `account` under escrowExitRef(signature). */
export type EscrowExit = Deposit;

/** The account decider's ref of a buyer's own withdrawal: one debit per signature, ever. */
export const escrowExitRef = (signature: string): string => `escrow-exit:${signature}`;

/** Position of the buyer, the authority and the vault among a `withdraw` instruction's accounts (programs/escrow/idl.ts). */
const WITHDRAW_BUYER = 0;
const WITHDRAW_AUTHORITY = 1;
const WITHDRAW_VAULT = 4;

/**
 * Checks that a transaction is a buyer's own withdrawal from their escrow (after the timelock,
 * without the settlement authority's signature), and how much left the vault: the ledger then
 * follows the chain. Refusals beyond the shared ones: no escrow `withdraw` (top level or inner) is
 * EXIT_NOT_WITHDRAWAL; withdrawals of two buyers, EXIT_SEVERAL_ESCROWS; one whose authority account
 * signed (a co-signed withdrawal, already debited; the program takes only the authority of the day
 * there, so one co-signed before a rotation is known too), EXIT_COSIGNED; keys without signer flags (read it
 * with jsonParsed) or a vault that did not shrink in our mint, MALFORMED.
 */
export function verifyEscrowExit(o: { signature: string; transaction: RpcTransaction | null | undefined; config: EscrowExitConfig }): Result<EscrowExit> {
  const { signature, config } = o;
  const l = landed(signature, o.transaction);
  if (!l.ok) return l;
  const { tx, keys, changes } = l.value;
  const malformed = (problem: string) => refuse('CUSTODY__DEPOSIT_MALFORMED', { signature, problem });
  const exits = escrowInstructions(tx, keys, config.escrowProgram, config.withdrawInstruction).map((accounts) => ({ buyer: accounts[WITHDRAW_BUYER], authority: accounts[WITHDRAW_AUTHORITY], vault: accounts[WITHDRAW_VAULT] }));
  const found = exits.filter((e): e is { buyer: string; authority: string; vault: string } => e.buyer !== undefined && e.authority !== undefined && e.vault !== undefined);
  if (found.length === 0) return refuse('CUSTODY__EXIT_NOT_WITHDRAWAL', { signature, escrowProgram: config.escrowProgram });
  const buyers = [...new Set(found.map((e) => e.buyer))];
  if (buyers.length > 1) return refuse('CUSTODY__EXIT_SEVERAL_ESCROWS', { signature, buyers: buyers.join(', ') });
  const signers = tx.transaction.message.accountKeys.map((k) => (typeof k === 'string' ? null : k.signer));
  if (signers.some((s) => s === null)) return malformed('its account keys carry no signer flags: read it with encoding jsonParsed');
  const cosigner = [config.authority, ...found.map((e) => e.authority)].find((k) => signers[keys.indexOf(k)] === true);
  if (cosigner !== undefined) return refuse('CUSTODY__EXIT_COSIGNED', { signature, authority: cosigner });
  const { buyer, vault } = found[0]!;
  const change = changes.get(keys.indexOf(vault));
  if (!change || change.mint !== config.mint || change.decimals !== config.decimals || change.pre <= change.post) return malformed(`the escrow vault ${vault} did not pay out ${config.mint}`);
  return ok({ signature, account: buyer, amount: change.pre - change.post, slot: tx.slot, blockTime: tx.blockTime ?? null });
}

/** The accounts (as keys) of every instruction of `program` whose data starts with `tag`, top level and inner. */
function escrowInstructions(tx: RpcTransaction, keys: string[], program: string, tag: number): (string | undefined)[][] {
  const found: (string | undefined)[][] = [];
  for (const ix of allInstructions(tx)) {
    const programId = 'programIdIndex' in ix ? keys[ix.programIdIndex] : ix.programId;
    if (programId !== program || 'parsed' in ix) continue;
    const data = typeof ix.data === 'string' ? decodeBase58(ix.data) : null;
    if (!data || data[0] !== tag) continue;
    found.push((ix.accounts as (string | number)[]).map((a) => (typeof a === 'number' ? keys[a] : a)));
  }
  return found;
}

/** Every instruction, top level first, then the inner ones, in the forms RPC gives them. */
function allInstructions(tx: RpcTransaction): RpcInstruction[] {
  return [...tx.transaction.message.instructions, ...(tx.meta?.innerInstructions ?? []).flatMap((inner) => inner.instructions ?? [])];
}

/** The transaction's account keys in index order: static keys, then (json encoding) loaded writable, loaded readonly. */
function accountKeys(tx: RpcTransaction): string[] {
  const keys = tx.transaction.message.accountKeys.map((k) => (typeof k === 'string' ? k : k.pubkey));
  // jsonParsed already lists looked-up keys (source "lookupTable"); json lists them in meta.loadedAddresses.
  if (tx.transaction.message.accountKeys.every((k) => typeof k === 'string') && tx.meta?.loadedAddresses) {
    keys.push(...(tx.meta.loadedAddresses.writable ?? []), ...(tx.meta.loadedAddresses.readonly ?? []));
  }
  return keys;
}

/** Token balance before and after, by account index; a problem in words when an entry is unreadable. */
function balanceChanges(tx: RpcTransaction): Map<number, BalanceChange> | string {
  const changes = new Map<number, BalanceChange>();
  for (const [when, list] of [
    ['pre', tx.meta?.preTokenBalances ?? []],
    ['post', tx.meta?.postTokenBalances ?? []],
  ] as const) {
    for (const b of list) {
      const amount = parseAmount(b?.uiTokenAmount?.amount);
      if (amount === null || !Number.isInteger(b.accountIndex) || typeof b.mint !== 'string' || !Number.isInteger(b.uiTokenAmount.decimals)) {
        return `${when}TokenBalances has an unreadable entry ${describe(b)}`;
      }
      const c = changes.get(b.accountIndex) ?? { mint: b.mint, decimals: b.uiTokenAmount.decimals, pre: 0n, post: 0n };
      if (c.mint !== b.mint) return `account index ${b.accountIndex} has mint ${c.mint} before and ${b.mint} after`;
      c[when] = amount;
      changes.set(b.accountIndex, c);
    }
  }
  return changes;
}

/** Texts of every memo instruction, top-level and inner, in whichever form RPC gave them. */
function memoTexts(tx: RpcTransaction, keys: string[]): string[] {
  const texts: string[] = [];
  for (const ix of allInstructions(tx)) {
    const programId = 'programIdIndex' in ix ? keys[ix.programIdIndex] : ix.programId;
    if (programId === undefined || !MEMO_PROGRAM_IDS.includes(programId)) continue;
    const text = 'parsed' in ix ? (typeof ix.parsed === 'string' ? ix.parsed : null) : utf8(ix.data);
    if (text !== null) texts.push(text);
  }
  return texts;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text of base58 instruction data; null when it is not base58 or not UTF-8 (not a memo of ours). */
function utf8(data: unknown): string | null {
  if (typeof data !== 'string') return null;
  const bytes = decodeBase58(data);
  if (!bytes) return null;
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
