// The local chain: one LiteSVM instance plus what a validator adds around its bank — slots and
// blockhashes that advance with time, a blockhash window for transaction lifetimes, a history of
// processed transactions with their metadata (LiteSVM only answers each send with a result object),
// a faucet, and a JSON state that survives restarts.

import { createHash, createPrivateKey, randomBytes, sign as signEd25519, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Account, Clock, FailedTransactionMetadata, LiteSVM, type TransactionMetadata } from 'litesvm';
import { decodeBase58, decodePublicKey, encodeBase58 } from '../client/base58.ts';
import {
  fieldless,
  fromLiteSvm,
  invalidParams,
  isCommitted,
  RpcError,
  SEND_TRANSACTION_PREFLIGHT_FAILURE,
  TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
  type TransactionErrorJson,
  type TransactionFailure,
} from './errors.ts';
import { SYSTEM_PROGRAM, TOKEN_PROGRAM } from '../client/address.ts';
import { compileLegacyMessage, serializeTransaction } from '../client/tx.ts';
import { decodeMint, decodeTokenAccount, isTokenProgram, uiTokenAmount, type UiTokenAmount } from './token.ts';
import { isWritableIndex, parseMessage, parseTransaction, WireError, type ParsedMessage, type ParsedTransaction } from './wire.ts';

/** Blocks a blockhash stays usable for (MAX_PROCESSING_AGE). */
export const MAX_PROCESSING_AGE = 150;
export const LAMPORTS_PER_SIGNATURE = 5000;
export const SLOTS_PER_EPOCH = 432_000;
const LITESVM_VERSION = '1.5.0';
const NATIVE_LOADER = 'NativeLoader1111111111111111111111111111111';
const SYSVAR_OWNER = 'Sysvar1111111111111111111111111111111111111';
const COMPUTE_BUDGET_PROGRAM = 'ComputeBudget111111111111111111111111111111';
const UPGRADEABLE_LOADER = 'BPFLoaderUpgradeab1e11111111111111111111111';
const ADDRESS_LOOKUP_TABLE_PROGRAM = 'AddressLookupTab1e1111111111111111111111111';
const PRECOMPILES = new Set(['Ed25519SigVerify111111111111111111111111111', 'KeccakSecp256k11111111111111111111111111111', 'Secp256r1SigVerify1111111111111111111111111']);
const FAUCET_LAMPORTS = 500_000_000n * 1_000_000_000n;

/** The napi object under LiteSVM's @solana/kit wrapper: the same VM, taking wire bytes and raw keys. */
interface NativeAccount {
  lamports(): bigint;
  data(): Uint8Array;
  owner(): Uint8Array;
  executable(): boolean;
  rentEpoch(): bigint;
}
interface NativeSimulation {
  meta(): TransactionMetadata;
  postAccounts(): { address: Uint8Array; account(): NativeAccount }[];
}
interface NativeSvm {
  getAccount(pubkey: Uint8Array): NativeAccount | null;
  getProgramAccounts(programId: Uint8Array): { address: Uint8Array; account(): NativeAccount }[];
  setAccount(pubkey: Uint8Array, account: Account): void;
  sendLegacyTransaction(tx: Uint8Array): TransactionMetadata | FailedTransactionMetadata;
  sendVersionedTransaction(tx: Uint8Array): TransactionMetadata | FailedTransactionMetadata;
  simulateLegacyTransaction(tx: Uint8Array): NativeSimulation | FailedTransactionMetadata;
  simulateVersionedTransaction(tx: Uint8Array): NativeSimulation | FailedTransactionMetadata;
  getSigverify(): boolean;
  setSigverify(on: boolean): void;
  expireBlockhash(): void;
  setClock(clock: Clock): void;
  setSlotHashes(hashes: { slot: bigint; hash: string }[]): void;
  minimumBalanceForRentExemption(len: bigint): bigint;
}

/**
 * LiteSVM 1.5.0's public methods convert through @solana/kit on every call (31 µs for one getAccount
 * against 3 µs underneath, and sends want kit Transaction objects); the chain holds raw wire bytes, so
 * it talks to the napi object the wrapper keeps in `inner`. The version is pinned exactly.
 */
function nativeOf(svm: LiteSVM): NativeSvm {
  const inner = (svm as unknown as { inner?: NativeSvm }).inner;
  if (!inner || typeof inner.sendLegacyTransaction !== 'function') throw new Error(`litesvm ${LITESVM_VERSION}'s native object not found`);
  return inner;
}

/** A LiteSVM configured as the chain runs it: blockhash lifetimes and duplicates are checked here. */
function createSvm(): LiteSVM {
  return new LiteSVM().withBlockhashCheck(false).withTransactionHistory(0n);
}

export interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner: string;
  programId: string;
  uiTokenAmount: UiTokenAmount;
}

export interface InnerInstructionsJson {
  index: number;
  instructions: { programIdIndex: number; accounts: number[]; data: string; stackHeight: number }[];
}

/** A processed transaction's metadata, already in the RPC's JSON shape. */
export interface TransactionMetaJson {
  err: TransactionErrorJson | null;
  fee: number;
  preBalances: number[];
  postBalances: number[];
  preTokenBalances: TokenBalance[];
  postTokenBalances: TokenBalance[];
  logMessages: string[];
  innerInstructions: InnerInstructionsJson[];
  loadedAddresses: { writable: string[]; readonly: string[] };
  computeUnitsConsumed: number;
  returnData: { programId: string; data: [string, 'base64'] } | null;
}

/** One entry of the transaction history. */
export interface TransactionRecord {
  signature: string;
  slot: number;
  blockTime: number;
  /** The transaction as it was sent (wire bytes). */
  wire: Uint8Array;
  meta: TransactionMetaJson;
}

export interface AccountJson {
  address: string;
  lamports: string;
  owner: string;
  executable: boolean;
  rentEpoch: string;
  /** base64 */
  data: string;
}

/** The state file's content (JSON). */
export interface ChainState {
  format: 'dougai-local-chain';
  version: 1;
  litesvm: string;
  genesisHash: string;
  slot: number;
  transactionCount: number;
  /** The blockhash window, oldest first; the last entry is the latest blockhash. */
  blockhashes: [string, number][];
  accounts: AccountJson[];
  transactions: { signature: string; slot: number; blockTime: number; transaction: string; meta: TransactionMetaJson }[];
  /** How far timeTravel has moved the clock ahead of real time, in ms (absent: 0). */
  clockOffsetMs?: number;
}

/** An account as the chain reads it. */
export interface AccountView {
  lamports: bigint;
  owner: string;
  executable: boolean;
  rentEpoch: bigint;
  data: Uint8Array;
}

export interface ChainOptions {
  /** Milliseconds per slot; slots (and blockhashes) advance with time (default 400). 0: only by advanceSlots. */
  slotMs?: number;
  /** Transactions kept in history beyond the current blockhash window (default 20,000). */
  historyLimit?: number;
  /** Clock for slots and block times (default Date.now). */
  now?: () => number;
}

export interface SendOptions {
  skipPreflight?: boolean;
}

export interface SimulateOptions {
  sigVerify?: boolean;
  replaceRecentBlockhash?: boolean;
  /** Addresses whose post-simulation state is returned. */
  accounts?: string[];
}

export interface SimulationResult {
  err: TransactionErrorJson | null;
  logs: string[];
  unitsConsumed: number;
  returnData: TransactionMetaJson['returnData'];
  innerInstructions: InnerInstructionsJson[];
  accounts: (AccountView | null)[] | null;
  failure: TransactionFailure | null;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;
const TOKEN_PROGRAM_BYTES = decodeBase58(TOKEN_PROGRAM)!;
const TOKEN_2022_PROGRAM_BYTES = decodeBase58('TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb')!;
const isTokenOwner = (owner: Uint8Array): boolean => bytesEqual(owner, TOKEN_PROGRAM_BYTES) || bytesEqual(owner, TOKEN_2022_PROGRAM_BYTES);

/** An ed25519 keypair from a 32-byte seed (node:crypto, PKCS#8). */
function keypairFromSeed(seed: Uint8Array): { privateKey: KeyObject; publicKey: Uint8Array } {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string };
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x, 'base64url')) };
}

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

const u64le = (n: number | bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

export class Chain {
  readonly svm: LiteSVM;
  private readonly native: NativeSvm;
  /** 'slot' (slot: number), 'transaction' (record: TransactionRecord, writable: string[], keys: string[]). */
  readonly events = new EventEmitter();
  readonly genesisHash: string;
  private slotNow: number;
  private readonly blockhashes = new Map<string, number>();
  private readonly slotHashes: { slot: bigint; hash: string }[] = [];
  /** Mixed into every blockhash, so that a chain restored from an older save never hands out a
   * blockhash it already gave out before (which would let a transaction signed then land again). */
  private readonly runSalt = randomBytes(32);
  private latest: string;
  private readonly history = new Map<string, TransactionRecord>();
  private readonly byAddress = new Map<string, string[]>();
  private readonly tracked = new Set<string>();
  private readonly decimals = new Map<string, number>();
  private readonly builtins = new Map<string, boolean>();
  /** Milliseconds per slot (0: slots move only by advanceSlots). */
  readonly slotIntervalMs: number;
  private readonly historyLimit: number;
  private readonly now: () => number;
  private nextSlotAt: number;
  private pristine: NativeSvm | null = null;
  private readonly faucet = keypairFromSeed(sha256(new TextEncoder().encode('dougai local chain faucet')));
  readonly faucetAddress = encodeBase58(this.faucet.publicKey);
  transactionCount = 0;
  /** Whether anything changed since the last `toState()`. */
  dirty = false;
  /** How far timeTravel has moved the programs' clock and block times ahead of `now`. */
  private clockOffsetMs = 0;

  constructor(options: ChainOptions = {}, state?: ChainState) {
    this.slotIntervalMs = options.slotMs ?? 400;
    this.historyLimit = options.historyLimit ?? 20_000;
    this.now = options.now ?? Date.now;
    this.svm = createSvm();
    this.native = nativeOf(this.svm);
    this.nextSlotAt = this.now() + this.slotIntervalMs;
    if (state) {
      this.clockOffsetMs = state.clockOffsetMs ?? 0;
      this.genesisHash = state.genesisHash;
      this.slotNow = state.slot;
      this.transactionCount = state.transactionCount;
      for (const [hash, slot] of state.blockhashes) {
        this.blockhashes.set(hash, slot);
        this.slotHashes.unshift({ slot: BigInt(slot), hash });
      }
      this.latest = state.blockhashes.at(-1)?.[0] ?? encodeBase58(sha256(decodeBase58(this.genesisHash)!));
      this.restoreAccounts(state.accounts);
      for (const t of state.transactions) {
        const record: TransactionRecord = { signature: t.signature, slot: t.slot, blockTime: t.blockTime, wire: new Uint8Array(Buffer.from(t.transaction, 'base64')), meta: t.meta };
        this.history.set(record.signature, record);
        this.indexRecord(record, this.keysOf(parseTransaction(record.wire).message, record.meta.loadedAddresses));
      }
      // A restart is a new slot; the blockhash window carries over, so a transaction signed just
      // before the restart can still land.
      this.advanceTo(this.slotNow + 1);
    } else {
      this.genesisHash = encodeBase58(randomBytes(32));
      this.slotNow = 0;
      this.latest = encodeBase58(sha256(decodeBase58(this.genesisHash)!));
      this.advanceTo(1);
    }
    this.fundFaucet();
    this.dirty = false;
  }

  /** The current slot (equal to the block height: every slot has a block). */
  get slot(): number {
    return this.slotNow;
  }

  get latestBlockhash(): { blockhash: string; lastValidBlockHeight: number } {
    return { blockhash: this.latest, lastValidBlockHeight: this.blockhashes.get(this.latest)! + MAX_PROCESSING_AGE };
  }

  /** Advances the slot to wall-clock time (one slot per `slotMs`). */
  tick(): void {
    if (this.slotIntervalMs <= 0) return;
    const now = this.now();
    if (now < this.nextSlotAt) return;
    const slots = Math.floor((now - this.nextSlotAt) / this.slotIntervalMs) + 1;
    this.nextSlotAt += slots * this.slotIntervalMs;
    this.advanceTo(this.slotNow + slots);
  }

  /** Moves `n` slots forward at once (each call makes one new blockhash). */
  advanceSlots(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('advanceSlots: n must be a positive integer');
    this.advanceTo(this.slotNow + n);
  }

  /** Moves past the lifetime of every blockhash handed out so far. */
  /**
   * Moves the programs' clock and block times `seconds` ahead, for good (a development chain's way
   * to let a vote or an appeal window end; slots keep their pace). Never backwards.
   */
  timeTravel(seconds: number): number {
    if (!Number.isSafeInteger(seconds) || seconds < 1) throw new RangeError('timeTravel: seconds must be a positive integer');
    this.clockOffsetMs += seconds * 1000;
    this.dirty = true;
    this.advanceSlots(1);
    return Math.floor(this.clockMs() / 1000);
  }

  /** The time programs see (the Clock sysvar) and transactions are stamped with, in ms. */
  private clockMs(): number {
    return this.now() + this.clockOffsetMs;
  }

  expireBlockhash(): void {
    this.advanceSlots(MAX_PROCESSING_AGE + 1);
  }

  private advanceTo(slot: number): void {
    const parent = this.slotNow;
    this.slotNow = slot;
    this.latest = encodeBase58(sha256(decodeBase58(this.latest)!, u64le(slot), this.runSalt));
    this.blockhashes.set(this.latest, slot);
    for (const [hash, at] of this.blockhashes) {
      if (at >= slot - MAX_PROCESSING_AGE) break;
      this.blockhashes.delete(hash);
    }
    // LiteSVM's own blockhash feeds durable nonces; the clock and SlotHashes feed programs.
    // SlotHashes includes the current slot: here every slot is final at once, so clients pass it
    // (as the recent slot of a new address lookup table, say) where a validator's would be older.
    this.native.expireBlockhash();
    this.slotHashes.unshift({ slot: BigInt(slot), hash: this.latest });
    if (this.slotHashes.length > 512) this.slotHashes.length = 512;
    this.native.setSlotHashes(this.slotHashes);
    const unix = BigInt(Math.floor(this.clockMs() / 1000));
    const epoch = BigInt(Math.floor(slot / SLOTS_PER_EPOCH));
    this.native.setClock(new Clock(BigInt(slot), unix, epoch, epoch + 1n, unix));
    this.events.emit('slot', { slot, parent, root: slot });
  }

  /** Whether a blockhash is still within its lifetime. */
  isBlockhashValid(blockhash: string): boolean {
    const at = this.blockhashes.get(blockhash);
    return at !== undefined && this.slotNow - at <= MAX_PROCESSING_AGE;
  }

  /** A durable-nonce transaction: first instruction AdvanceNonceAccount on a nonce holding the blockhash. */
  private isValidNonceTransaction(m: ParsedMessage): boolean {
    const ix = m.instructions[0];
    if (!ix || m.staticKeys[ix.programIdIndex] !== SYSTEM_PROGRAM || ix.data.length < 4) return false;
    if (new DataView(ix.data.buffer, ix.data.byteOffset, 4).getUint32(0, true) !== 4) return false;
    const nonceIndex = ix.accounts[0];
    if (nonceIndex === undefined || nonceIndex >= m.staticKeyBytes.length) return false;
    const account = this.native.getAccount(m.staticKeyBytes[nonceIndex]!);
    if (!account || encodeBase58(account.owner()) !== SYSTEM_PROGRAM) return false;
    const data = account.data();
    if (data.length !== 80 || data[4] !== 1) return false;
    return encodeBase58(data.subarray(40, 72)) === m.recentBlockhash;
  }

  // ---- reading state ----

  /** The account at an address; null when it does not exist (or holds no lamports). */
  getAccount(address: string | Uint8Array): AccountView | null {
    const key = typeof address === 'string' ? decodePublicKey(address) : address;
    if (!key) return null;
    return this.view(this.native.getAccount(key));
  }

  private view(a: NativeAccount | null): AccountView | null {
    if (!a || a.lamports() === 0n) return null;
    return { lamports: a.lamports(), owner: encodeBase58(a.owner()), executable: a.executable(), rentEpoch: a.rentEpoch(), data: a.data() };
  }

  /** Every account a program owns. */
  getProgramAccounts(programId: string): { address: string; account: AccountView }[] {
    const key = decodePublicKey(programId);
    if (!key) return [];
    const out: { address: string; account: AccountView }[] = [];
    for (const entry of this.native.getProgramAccounts(key)) {
      const account = this.view(entry.account());
      if (account) out.push({ address: encodeBase58(entry.address), account });
    }
    return out;
  }

  /** A mint's decimals (cached: they never change once a mint is initialized). */
  decimalsOf = (mint: string): number | null => {
    const known = this.decimals.get(mint);
    if (known !== undefined) return known;
    const account = this.getAccount(mint);
    if (!account || !isTokenProgram(account.owner)) return null;
    const state = decodeMint(account.data);
    if (!state) return null;
    this.decimals.set(mint, state.decimals);
    return state.decimals;
  };

  minimumBalanceForRentExemption(dataLength: number): bigint {
    return this.native.minimumBalanceForRentExemption(BigInt(dataLength));
  }

  /** Writes an account directly (tests, setup), outside any transaction. */
  setAccount(address: string, account: { lamports: bigint; owner: string; executable?: boolean; rentEpoch?: bigint; data?: Uint8Array }): void {
    const key = decodePublicKey(address);
    const owner = decodePublicKey(account.owner);
    if (!key || !owner) throw new Error('setAccount: invalid address');
    this.native.setAccount(key, new Account(account.lamports, account.data ?? new Uint8Array(0), owner, account.executable ?? false, account.rentEpoch ?? 0n));
    this.tracked.add(address);
    this.dirty = true;
  }

  // ---- history ----

  getTransaction(signature: string): TransactionRecord | null {
    return this.history.get(signature) ?? null;
  }

  /** Signatures of transactions that touched an address, newest first. */
  signaturesFor(address: string): TransactionRecord[] {
    const list = this.byAddress.get(address) ?? [];
    const out: TransactionRecord[] = [];
    for (let i = list.length - 1; i >= 0; i--) {
      const record = this.history.get(list[i]!);
      if (record) out.push(record);
    }
    return out;
  }

  private indexRecord(record: TransactionRecord, keys: string[]): void {
    for (const key of new Set(keys)) {
      this.tracked.add(key);
      let list = this.byAddress.get(key);
      if (!list) this.byAddress.set(key, (list = []));
      list.push(record.signature);
    }
  }

  private evictHistory(): void {
    if (this.history.size <= this.historyLimit) return;
    // Never evict within the blockhash window: those signatures guard against replays.
    const keepFrom = this.slotNow - MAX_PROCESSING_AGE - 1;
    for (const [signature, record] of this.history) {
      if (this.history.size <= this.historyLimit || record.slot >= keepFrom) break;
      this.history.delete(signature);
    }
  }

  // ---- fees ----

  /** The fee for a message: 5,000 lamports a signature (precompile ones included) plus the priority fee. */
  feeFor(m: ParsedMessage): number {
    let signatures = m.header.numRequiredSignatures;
    let unitLimit: number | null = null;
    let microLamportsPerUnit = 0n;
    let defaultLimit = 0;
    for (const ix of m.instructions) {
      const program = m.staticKeys[ix.programIdIndex]!;
      if (PRECOMPILES.has(program) && ix.data.length > 0) signatures += ix.data[0]!;
      if (program === COMPUTE_BUDGET_PROGRAM) {
        const view = new DataView(ix.data.buffer, ix.data.byteOffset, ix.data.length);
        if (ix.data[0] === 2 && ix.data.length >= 5) unitLimit = view.getUint32(1, true);
        if (ix.data[0] === 3 && ix.data.length >= 9) microLamportsPerUnit = view.getBigUint64(1, true);
      }
      // Builtin programs reserve 3,000 compute units by default, others 200,000.
      defaultLimit += this.isBuiltin(program, m.staticKeyBytes[ix.programIdIndex]!) ? 3_000 : 200_000;
    }
    const limit = BigInt(Math.min(unitLimit ?? defaultLimit, 1_400_000));
    const priority = (microLamportsPerUnit * limit + 999_999n) / 1_000_000n;
    return signatures * LAMPORTS_PER_SIGNATURE + Number(priority);
  }

  private isBuiltin(program: string, key: Uint8Array): boolean {
    let builtin = this.builtins.get(program);
    if (builtin === undefined) {
      const account = this.native.getAccount(key);
      builtin = account !== null && encodeBase58(account.owner()) === NATIVE_LOADER;
      // Builtins exist from the start; a program deployed later is never one.
      if (account) this.builtins.set(program, builtin);
    }
    return builtin;
  }

  /** The fee for a serialized message; null when its blockhash has expired. */
  feeForMessage(messageBytes: Uint8Array): number | null {
    let m: ParsedMessage;
    try {
      m = parseMessage(messageBytes);
    } catch (err) {
      if (err instanceof WireError) throw invalidParams(err.message);
      throw err;
    }
    if (!this.isBlockhashValid(m.recentBlockhash) && !this.isValidNonceTransaction(m)) return null;
    return this.feeFor(m);
  }

  // ---- sending ----

  private parse(wire: Uint8Array): ParsedTransaction {
    try {
      return parseTransaction(wire);
    } catch (err) {
      if (err instanceof WireError) throw invalidParams(`invalid transaction: ${err.message}`);
      throw err;
    }
  }

  /** The addresses a v0 transaction loads from lookup tables (best effort: LiteSVM rejects bad ones). */
  private loadedAddresses(m: ParsedMessage): { writable: string[]; readonly: string[] } {
    const writable: string[] = [];
    const readonly: string[] = [];
    for (const lookup of m.addressTableLookups) {
      const table = this.getAccount(lookup.accountKey);
      if (!table || table.owner !== ADDRESS_LOOKUP_TABLE_PROGRAM) return { writable: [], readonly: [] };
      const at = (i: number): string | null => (56 + (i + 1) * 32 <= table.data.length ? encodeBase58(table.data.subarray(56 + i * 32, 56 + (i + 1) * 32)) : null);
      for (const [indexes, out] of [[lookup.writableIndexes, writable], [lookup.readonlyIndexes, readonly]] as const) {
        for (const i of indexes) {
          const address = at(i);
          if (!address) return { writable: [], readonly: [] };
          out.push(address);
        }
      }
    }
    return { writable, readonly };
  }

  private keysOf(m: ParsedMessage, loaded: { writable: string[]; readonly: string[] }): string[] {
    return [...m.staticKeys, ...loaded.writable, ...loaded.readonly];
  }

  private tokenBalances(accounts: (NativeAccount | null)[]): TokenBalance[] {
    const out: TokenBalance[] = [];
    accounts.forEach((account, accountIndex) => {
      if (!account || !isTokenOwner(account.owner())) return;
      const state = decodeTokenAccount(account.data());
      if (!state) return;
      const decimals = this.decimalsOf(state.mint);
      if (decimals === null) return;
      out.push({ accountIndex, mint: state.mint, owner: state.owner, programId: encodeBase58(account.owner()), uiTokenAmount: uiTokenAmount(state.amount, decimals) });
    });
    return out;
  }

  private simulateRaw(tx: ParsedTransaction, wire: Uint8Array): NativeSimulation | FailedTransactionMetadata {
    return tx.message.version === 'legacy' ? this.native.simulateLegacyTransaction(wire) : this.native.simulateVersionedTransaction(wire);
  }

  /** Runs a transaction without committing it. */
  simulate(wire: Uint8Array, options: SimulateOptions = {}): SimulationResult & { tx: ParsedTransaction } {
    const tx = this.parse(wire);
    const replace = options.replaceRecentBlockhash ?? false;
    const sigVerify = options.sigVerify ?? false;
    if (replace && sigVerify) throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    const base = { tx, logs: [], unitsConsumed: 0, returnData: null, innerInstructions: [], accounts: null };
    if (!replace && !this.isBlockhashValid(tx.message.recentBlockhash) && !this.isValidNonceTransaction(tx.message)) {
      const failure = fieldless('BlockhashNotFound');
      return { ...base, err: failure.json, failure };
    }
    if (this.history.has(tx.signatures[0]!)) {
      const failure = fieldless('AlreadyProcessed');
      return { ...base, err: failure.json, failure };
    }
    const before = this.native.getSigverify();
    if (before !== sigVerify) this.native.setSigverify(sigVerify);
    let result: NativeSimulation | FailedTransactionMetadata;
    try {
      result = this.simulateRaw(tx, wire);
    } finally {
      if (before !== sigVerify) this.native.setSigverify(before);
    }
    const failed = result instanceof FailedTransactionMetadata;
    const meta = result.meta();
    const failure = result instanceof FailedTransactionMetadata ? fromLiteSvm(result.err()) : null;
    let accounts: (AccountView | null)[] | null = null;
    if (options.accounts) {
      const post = failed ? [] : (result as NativeSimulation).postAccounts();
      accounts = options.accounts.map((address) => {
        const hit = post.find((p) => encodeBase58(p.address) === address);
        return hit ? this.view(hit.account()) : this.getAccount(address);
      });
    }
    return {
      tx,
      err: failure ? failure.json : null,
      failure,
      logs: meta.logs(),
      unitsConsumed: Number(meta.computeUnitsConsumed()),
      returnData: returnDataJson(meta),
      innerInstructions: innerInstructionsJson(meta),
      accounts,
    };
  }

  /**
   * Submits a transaction as sendTransaction does: preflight (signatures, blockhash, a simulation)
   * unless skipped, then processing in the current slot. Returns the signature; a transaction that
   * cannot land (expired blockhash, no fee, bad signature without preflight) is dropped, as a
   * cluster drops it, and never gets a status.
   */
  send(wire: Uint8Array, options: SendOptions = {}): string {
    const tx = this.parse(wire);
    const signature = tx.signatures[0]!;
    if (!options.skipPreflight) {
      const sim = this.simulate(wire, { sigVerify: true });
      if (sim.failure) {
        if (sim.failure.json === 'SignatureFailure') throw new RpcError(TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, 'Transaction signature verification failure');
        throw new RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, `Transaction simulation failed: ${sim.failure.message}`, {
          accounts: null,
          err: sim.err,
          innerInstructions: null,
          loadedAccountsDataSize: 0,
          logs: sim.logs,
          replacementBlockhash: null,
          returnData: sim.returnData,
          unitsConsumed: sim.unitsConsumed,
        });
      }
    }
    if (this.history.has(signature)) return signature;
    if (!this.isBlockhashValid(tx.message.recentBlockhash) && !this.isValidNonceTransaction(tx.message)) return signature;
    this.process(tx, wire);
    return signature;
  }

  /**
   * Runs a legacy transaction straight through the VM and returns its failure, or null: no preflight,
   * blockhash, duplicate or (with `unsigned`) signature check, no history, no events. For property
   * runs of millions of steps on a chain set up the ordinary way: the programs judge every
   * instruction as always, signer flags included.
   */
  execute(wire: Uint8Array, o: { unsigned?: boolean } = {}): TransactionFailure | null {
    if (o.unsigned) this.native.setSigverify(false);
    try {
      const result = this.native.sendLegacyTransaction(wire);
      return result instanceof FailedTransactionMetadata ? fromLiteSvm(result.err()) : null;
    } finally {
      if (o.unsigned) this.native.setSigverify(true);
    }
  }

  private process(tx: ParsedTransaction, wire: Uint8Array): TransactionRecord | null {
    const m = tx.message;
    const loaded = this.loadedAddresses(m);
    const keys = this.keysOf(m, loaded);
    const keyBytes = [...m.staticKeyBytes, ...[...loaded.writable, ...loaded.readonly].map((k) => decodeBase58(k)!)];
    const pre = keyBytes.map((k) => this.native.getAccount(k));
    const result = m.version === 'legacy' ? this.native.sendLegacyTransaction(wire) : this.native.sendVersionedTransaction(wire);
    const failed = result instanceof FailedTransactionMetadata;
    const failure = failed ? fromLiteSvm(result.err()) : null;
    if (failure && !isCommitted(failure)) return null;
    const meta = failed ? result.meta() : (result as TransactionMetadata);
    const writable = keys.map((_, i) => isWritableIndex(m, i, loaded.writable.length));
    const post = keyBytes.map((k, i) => (writable[i] ? this.native.getAccount(k) : pre[i]!));
    const record: TransactionRecord = {
      signature: tx.signatures[0]!,
      slot: this.slotNow,
      blockTime: Math.floor(this.clockMs() / 1000),
      wire: new Uint8Array(wire),
      meta: {
        err: failure ? failure.json : null,
        fee: this.feeFor(m),
        preBalances: pre.map((a) => Number(a?.lamports() ?? 0n)),
        postBalances: post.map((a) => Number(a?.lamports() ?? 0n)),
        preTokenBalances: this.tokenBalances(pre),
        postTokenBalances: this.tokenBalances(post),
        logMessages: meta.logs(),
        innerInstructions: innerInstructionsJson(meta),
        loadedAddresses: loaded,
        computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
        returnData: returnDataJson(meta),
      },
    };
    this.history.set(record.signature, record);
    this.indexRecord(record, keys);
    this.transactionCount++;
    this.dirty = true;
    this.evictHistory();
    this.events.emit('transaction', record, keys.filter((_, i) => writable[i]), keys);
    return record;
  }

  // ---- faucet ----

  private fundFaucet(): void {
    const balance = this.native.getAccount(this.faucet.publicKey)?.lamports() ?? 0n;
    if (balance < FAUCET_LAMPORTS / 2n) this.setAccount(this.faucetAddress, { lamports: FAUCET_LAMPORTS, owner: SYSTEM_PROGRAM });
  }

  /** Sends `lamports` from the faucet in a real system transfer; returns its signature. */
  airdrop(address: string, lamports: bigint): string {
    const to = decodePublicKey(address);
    if (!to) throw invalidParams('invalid address');
    if (lamports <= 0n || lamports > FAUCET_LAMPORTS / 4n) throw invalidParams('lamports out of range');
    if (address === this.faucetAddress) throw invalidParams('cannot airdrop to the faucet');
    this.fundFaucet();
    for (let attempt = 0; ; attempt++) {
      const data = new Uint8Array(12);
      const view = new DataView(data.buffer);
      view.setUint32(0, 2, true);
      view.setBigUint64(4, lamports, true);
      const transfer = { programId: SYSTEM_PROGRAM, keys: [{ pubkey: this.faucetAddress, isSigner: true, isWritable: true }, { pubkey: address, isSigner: false, isWritable: true }], data };
      const message = compileLegacyMessage({ payer: this.faucetAddress, recentBlockhash: this.latest, instructions: [transfer] }).bytes;
      const signature = new Uint8Array(signEd25519(null, message, this.faucet.privateKey));
      const wire = serializeTransaction([signature], message);
      // The same request twice in one slot is the same transaction: move to a new blockhash.
      if (this.history.has(encodeBase58(signature)) && attempt === 0) {
        this.advanceSlots(1);
        continue;
      }
      return this.send(wire);
    }
  }

  // ---- persistence ----

  /** Whether an account is one LiteSVM creates itself, unchanged (programs, sysvars): never saved. */
  private isPreloaded(key: Uint8Array, account: NativeAccount): boolean {
    if (encodeBase58(account.owner()) === SYSVAR_OWNER) return true;
    this.pristine ??= nativeOf(createSvm());
    const fresh = this.pristine.getAccount(key);
    return (
      fresh !== null &&
      fresh.lamports() === account.lamports() &&
      fresh.executable() === account.executable() &&
      bytesEqual(fresh.owner(), account.owner()) &&
      bytesEqual(fresh.data(), account.data())
    );
  }

  private restoreAccounts(accounts: AccountJson[]): void {
    // Data accounts first: a program account is compiled from its program-data account when set.
    const ordered = [...accounts.filter((a) => !a.executable), ...accounts.filter((a) => a.executable)];
    for (const a of ordered) {
      const key = decodePublicKey(a.address);
      const owner = decodePublicKey(a.owner);
      if (!key || !owner || a.owner === SYSVAR_OWNER) continue;
      // Never clobber what LiteSVM preloads (builtins, SPL programs).
      if (this.native.getAccount(key)?.executable()) continue;
      this.native.setAccount(key, new Account(BigInt(a.lamports), new Uint8Array(Buffer.from(a.data, 'base64')), owner, a.executable, BigInt(a.rentEpoch)));
      this.tracked.add(a.address);
    }
  }

  /** The whole chain as JSON-ready state. */
  toState(): ChainState {
    const accounts: AccountJson[] = [];
    // An upgradeable program's code lives in its program-data account, which transactions calling
    // the program never name: save it with the program.
    for (const address of [...this.tracked]) {
      const account = this.native.getAccount(decodeBase58(address)!);
      const data = account?.data();
      if (account?.executable() && data && data.length === 36 && data[0] === 2 && encodeBase58(account.owner()) === UPGRADEABLE_LOADER) this.tracked.add(encodeBase58(data.subarray(4, 36)));
    }
    for (const address of [...this.tracked].sort()) {
      const key = decodeBase58(address)!;
      const account = this.native.getAccount(key);
      if (!account || account.lamports() === 0n || this.isPreloaded(key, account)) continue;
      accounts.push({
        address,
        lamports: account.lamports().toString(),
        owner: encodeBase58(account.owner()),
        executable: account.executable(),
        rentEpoch: account.rentEpoch().toString(),
        data: Buffer.from(account.data()).toString('base64'),
      });
    }
    this.dirty = false;
    return {
      format: 'dougai-local-chain',
      version: 1,
      litesvm: LITESVM_VERSION,
      genesisHash: this.genesisHash,
      slot: this.slotNow,
      transactionCount: this.transactionCount,
      blockhashes: [...this.blockhashes],
      accounts,
      transactions: [...this.history.values()].map((r) => ({ signature: r.signature, slot: r.slot, blockTime: r.blockTime, transaction: Buffer.from(r.wire).toString('base64'), meta: r.meta })),
      ...(this.clockOffsetMs > 0 ? { clockOffsetMs: this.clockOffsetMs } : {}),
    };
  }

  /** A chain from saved state (checked for its format first). */
  static fromState(state: unknown, options: ChainOptions = {}): Chain {
    const s = state as Partial<ChainState> | null;
    if (!s || s.format !== 'dougai-local-chain' || s.version !== 1 || !Array.isArray(s.accounts) || !Array.isArray(s.transactions) || !Array.isArray(s.blockhashes))
      throw new Error('not a dougai-local-chain state (version 1)');
    return new Chain(options, s as ChainState);
  }
}

function returnDataJson(meta: TransactionMetadata): TransactionMetaJson['returnData'] {
  const rd = meta.returnData();
  const data = rd.data();
  if (data.length === 0) return null;
  return { programId: encodeBase58(rd.programId()), data: [Buffer.from(data).toString('base64'), 'base64'] };
}

function innerInstructionsJson(meta: TransactionMetadata): InnerInstructionsJson[] {
  const out: InnerInstructionsJson[] = [];
  meta.innerInstructions().forEach((list, index) => {
    if (list.length === 0) return;
    out.push({
      index,
      instructions: list.map((inner) => {
        const ix = inner.instruction();
        return { programIdIndex: ix.programIdIndex(), accounts: Array.from(ix.accounts()), data: encodeBase58(ix.data()), stackHeight: inner.stackHeight() };
      }),
    });
  });
  return out;
}

export type { ParsedTransaction, ParsedMessage };
