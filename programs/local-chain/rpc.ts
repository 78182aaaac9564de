// The JSON-RPC methods: parameters checked and results shaped as Agave's RPC does, over a Chain.
// Requests are answered synchronously (LiteSVM is), so requests never interleave.

import { TOKEN_PROGRAM } from '../client/address.ts';
import { decodeBase58, decodePublicKey, encodeBase58 } from '../client/base58.ts';
import { LAMPORTS_PER_SIGNATURE, SLOTS_PER_EPOCH, type AccountView, type Chain, type TransactionRecord } from './chain.ts';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  invalidParams,
  METHOD_NOT_FOUND,
  MIN_CONTEXT_SLOT_NOT_REACHED,
  RpcError,
  UNSUPPORTED_TRANSACTION_VERSION,
} from './errors.ts';
import { isMemoProgram, memoText, parseInstruction } from './parse.ts';
import { decodeMint, decodeTokenAccount, isTokenProgram, parseTokenAccountData, TOKEN_2022_PROGRAM, uiTokenAmount } from './token.ts';
import { isWritableIndex, parseTransaction, type ParsedMessage } from './wire.ts';

/** The RPC API version the answers follow. */
export const API_VERSION = '2.3.0';
const COMMITMENTS = new Set(['processed', 'confirmed', 'finalized', 'recent', 'single', 'singleGossip', 'root', 'max']);
/** Slots a signature stays in the status cache (what getSignatureStatuses sees without history). */
const STATUS_CACHE_SLOTS = 300;
const MAX_BASE64_TRANSACTION = 1644;
const MAX_BASE58_TRANSACTION = 1683;

type Config = Record<string, unknown>;
type Method = (chain: Chain, params: unknown[]) => unknown;

const context = (chain: Chain, value: unknown) => ({ context: { apiVersion: API_VERSION, slot: chain.slot }, value });

function config(chain: Chain, value: unknown): Config {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParams('expected a configuration object');
  const c = value as Config;
  if (c.commitment !== undefined && (typeof c.commitment !== 'string' || !COMMITMENTS.has(c.commitment))) throw invalidParams(`unknown commitment ${JSON.stringify(c.commitment)}`);
  if (c.minContextSlot !== undefined) {
    if (typeof c.minContextSlot !== 'number') throw invalidParams('minContextSlot must be a number');
    if (c.minContextSlot > chain.slot) throw new RpcError(MIN_CONTEXT_SLOT_NOT_REACHED, 'Minimum context slot has not been reached', { contextSlot: chain.slot });
  }
  return c;
}

function address(value: unknown): string {
  if (!decodePublicKey(value)) throw invalidParams(`invalid address ${JSON.stringify(value)}`);
  return value as string;
}

function signature(value: unknown): string {
  if (typeof value !== 'string' || decodeBase58(value)?.length !== 64) throw invalidParams(`invalid signature ${JSON.stringify(value)}`);
  return value;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidParams(`${what} must be a non-negative integer`);
  return value;
}

function bytesParam(value: unknown, encoding: unknown, what: string): Uint8Array {
  if (typeof value !== 'string') throw invalidParams(`${what} must be a string`);
  if (encoding === undefined || encoding === 'base58') {
    if (value.length > MAX_BASE58_TRANSACTION) throw invalidParams(`base58 encoded ${what} too large: ${value.length} bytes (max: encoded/raw ${MAX_BASE58_TRANSACTION}/1232)`);
    const bytes = decodeBase58(value);
    if (!bytes) throw invalidParams(`invalid base58 encoding: ${what}`);
    return bytes;
  }
  if (encoding === 'base64') {
    if (value.length > MAX_BASE64_TRANSACTION) throw invalidParams(`base64 encoded ${what} too large: ${value.length} bytes (max: encoded/raw ${MAX_BASE64_TRANSACTION}/1232)`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw invalidParams(`invalid base64 encoding: ${what}`);
    return new Uint8Array(Buffer.from(value, 'base64'));
  }
  throw invalidParams(`unsupported encoding ${JSON.stringify(encoding)}`);
}

// ---- accounts ----

interface DataSlice {
  offset: number;
  length: number;
}

function dataSlice(c: Config): DataSlice | null {
  if (c.dataSlice === undefined) return null;
  const d = c.dataSlice as Partial<DataSlice> | null;
  if (!d || typeof d !== 'object') throw invalidParams('dataSlice must be {offset, length}');
  return { offset: integer(d.offset, 'dataSlice.offset'), length: integer(d.length, 'dataSlice.length') };
}

const ACCOUNT_ENCODINGS = new Set(['binary', 'base58', 'base64', 'jsonParsed', 'base64+zstd']);

function accountEncoding(c: Config, fallback: string): string {
  const e = c.encoding ?? fallback;
  if (typeof e !== 'string' || !ACCOUNT_ENCODINGS.has(e)) throw invalidParams(`unknown encoding ${JSON.stringify(e)}`);
  if (e === 'base64+zstd') throw invalidParams('base64+zstd is not supported by the local chain; use base64');
  return e;
}

/** An account as the RPC writes it, in the requested encoding. */
export function encodeAccount(chain: Chain, a: AccountView, encoding: string, slice: DataSlice | null): Record<string, unknown> {
  let data: unknown;
  const parsed = encoding === 'jsonParsed' && isTokenProgram(a.owner) ? parseTokenAccountData(a.data, a.owner, chain.decimalsOf) : null;
  if (parsed) data = parsed;
  else {
    // jsonParsed falls back to base64 for data it cannot parse, as the validator does.
    const bytes = slice ? a.data.subarray(slice.offset, slice.offset + slice.length) : a.data;
    if (encoding === 'binary' || encoding === 'base58') {
      if (bytes.length > 128) throw new RpcError(INVALID_REQUEST, 'Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.');
      data = encoding === 'binary' ? encodeBase58(bytes) : [encodeBase58(bytes), 'base58'];
    } else data = [Buffer.from(bytes).toString('base64'), 'base64'];
  }
  return { lamports: Number(a.lamports), data, owner: a.owner, executable: a.executable, rentEpoch: Number(a.rentEpoch), space: a.data.length };
}

interface Filter {
  dataSize?: number;
  memcmp?: { offset: number; bytes: Uint8Array };
}

function filters(value: unknown): Filter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 4) throw invalidParams('filters must be an array of at most 4 filters');
  return value.map((f: Record<string, unknown>) => {
    if (f && typeof f.dataSize === 'number') return { dataSize: f.dataSize };
    const m = f?.memcmp as { offset?: unknown; bytes?: unknown; encoding?: unknown } | undefined;
    if (m && typeof m.bytes === 'string') {
      const bytes = m.encoding === 'base64' ? new Uint8Array(Buffer.from(m.bytes, 'base64')) : decodeBase58(m.bytes);
      if (!bytes || bytes.length > 128) throw invalidParams('invalid memcmp bytes');
      return { memcmp: { offset: integer(m.offset, 'memcmp.offset'), bytes } };
    }
    throw invalidParams('unknown filter');
  });
}

const matches = (data: Uint8Array, fs: Filter[]): boolean =>
  fs.every((f) => {
    if (f.dataSize !== undefined) return data.length === f.dataSize;
    const { offset, bytes } = f.memcmp!;
    return offset + bytes.length <= data.length && Buffer.compare(data.subarray(offset, offset + bytes.length), bytes) === 0;
  });

function tokenAccount(chain: Chain, addr: string) {
  const account = chain.getAccount(addr);
  const state = account && isTokenProgram(account.owner) ? decodeTokenAccount(account.data) : null;
  if (!state) throw invalidParams('Invalid param: not a Token account');
  const decimals = chain.decimalsOf(state.mint);
  if (decimals === null) throw invalidParams('Invalid param: could not find mint');
  return { state, decimals };
}

function tokenMint(chain: Chain, addr: string) {
  const account = chain.getAccount(addr);
  const state = account && isTokenProgram(account.owner) ? decodeMint(account.data) : null;
  if (!state || !account) throw invalidParams('Invalid param: not a Token mint');
  return { state, owner: account.owner };
}

// ---- transactions ----

function statusOf(record: TransactionRecord) {
  return {
    slot: record.slot,
    confirmations: null,
    err: record.meta.err,
    status: record.meta.err === null ? { Ok: null } : { Err: record.meta.err },
    confirmationStatus: 'finalized',
  };
}

const memoOf = (m: ParsedMessage): string | null => {
  const memos: string[] = [];
  for (const ix of m.instructions) {
    if (!isMemoProgram(m.staticKeys[ix.programIdIndex]!)) continue;
    const text = memoText(ix.data);
    if (text !== null) memos.push(`[${ix.data.length}] ${text}`);
  }
  return memos.length > 0 ? memos.join('; ') : null;
};

/** A history entry as getTransaction returns it, in `encoding`. */
export function encodeTransaction(record: TransactionRecord, encoding: string, withVersion: boolean): Record<string, unknown> {
  const tx = parseTransaction(record.wire);
  const m = tx.message;
  const meta = record.meta;
  const keys = [...m.staticKeys, ...meta.loadedAddresses.writable, ...meta.loadedAddresses.readonly];
  const lookups = m.version === 0 ? { addressTableLookups: m.addressTableLookups } : {};
  const baseMeta = {
    err: meta.err,
    status: meta.err === null ? { Ok: null } : { Err: meta.err },
    fee: meta.fee,
    preBalances: meta.preBalances,
    postBalances: meta.postBalances,
    innerInstructions: meta.innerInstructions,
    logMessages: meta.logMessages,
    preTokenBalances: meta.preTokenBalances,
    postTokenBalances: meta.postTokenBalances,
    rewards: [],
    ...(meta.returnData ? { returnData: meta.returnData } : {}),
    computeUnitsConsumed: meta.computeUnitsConsumed,
  };
  let transaction: unknown;
  let outMeta: Record<string, unknown> = { ...baseMeta, loadedAddresses: meta.loadedAddresses };
  if (encoding === 'base64') transaction = [Buffer.from(record.wire).toString('base64'), 'base64'];
  else if (encoding === 'base58') transaction = [encodeBase58(record.wire), 'base58'];
  else if (encoding === 'jsonParsed') {
    const numWritableLoaded = meta.loadedAddresses.writable.length;
    transaction = {
      signatures: tx.signatures,
      message: {
        accountKeys: keys.map((pubkey, i) => ({
          pubkey,
          signer: i < m.header.numRequiredSignatures,
          source: i < m.staticKeys.length ? 'transaction' : 'lookupTable',
          writable: isWritableIndex(m, i, numWritableLoaded),
        })),
        instructions: m.instructions.map((ix) => parseInstruction(keys[ix.programIdIndex]!, ix.accounts.map((a) => keys[a]!), ix.data, null)),
        recentBlockhash: m.recentBlockhash,
        ...lookups,
      },
    };
    outMeta = {
      ...baseMeta,
      innerInstructions: meta.innerInstructions.map((group) => ({
        index: group.index,
        instructions: group.instructions.map((ix) => parseInstruction(keys[ix.programIdIndex]!, ix.accounts.map((a) => keys[a]!), decodeBase58(ix.data) ?? new Uint8Array(0), ix.stackHeight)),
      })),
    };
  } else {
    transaction = {
      signatures: tx.signatures,
      message: {
        accountKeys: m.staticKeys,
        header: m.header,
        instructions: m.instructions.map((ix) => ({ accounts: ix.accounts, data: encodeBase58(ix.data), programIdIndex: ix.programIdIndex, stackHeight: null })),
        recentBlockhash: m.recentBlockhash,
        ...lookups,
      },
    };
  }
  return { blockTime: record.blockTime, meta: outMeta, slot: record.slot, transaction, ...(withVersion ? { version: m.version } : {}) };
}

function simulationAccounts(c: Config): { addresses: string[]; encoding: string } | null {
  if (c.accounts === undefined || c.accounts === null) return null;
  const a = c.accounts as { addresses?: unknown; encoding?: unknown };
  if (!Array.isArray(a.addresses)) throw invalidParams('accounts.addresses must be an array');
  return { addresses: a.addresses.map(address), encoding: accountEncoding({ encoding: a.encoding }, 'base64') };
}

// ---- the method table ----

const METHODS: Record<string, Method> = {
  getHealth: () => 'ok',
  getVersion: () => ({ 'solana-core': API_VERSION, 'feature-set': 0, litesvm: '1.5.0' }),
  getGenesisHash: (chain) => chain.genesisHash,
  getIdentity: (chain) => ({ identity: chain.faucetAddress }),
  getSlot: (chain, [c]) => (config(chain, c), chain.slot),
  getBlockHeight: (chain, [c]) => (config(chain, c), chain.slot),
  getTransactionCount: (chain, [c]) => (config(chain, c), chain.transactionCount),
  getFirstAvailableBlock: () => 0,
  minimumLedgerSlot: () => 0,
  getSlotLeader: (chain) => chain.faucetAddress,
  getEpochInfo: (chain, [c]) => {
    config(chain, c);
    return {
      absoluteSlot: chain.slot,
      blockHeight: chain.slot,
      epoch: Math.floor(chain.slot / SLOTS_PER_EPOCH),
      slotIndex: chain.slot % SLOTS_PER_EPOCH,
      slotsInEpoch: SLOTS_PER_EPOCH,
      transactionCount: chain.transactionCount,
    };
  },
  getEpochSchedule: () => ({ firstNormalEpoch: 0, firstNormalSlot: 0, leaderScheduleSlotOffset: SLOTS_PER_EPOCH, slotsPerEpoch: SLOTS_PER_EPOCH, warmup: false }),
  getRecentPrioritizationFees: () => [],

  getLatestBlockhash: (chain, [c]) => (config(chain, c), context(chain, chain.latestBlockhash)),
  getRecentBlockhash: (chain, [c]) => (config(chain, c), context(chain, { blockhash: chain.latestBlockhash.blockhash, feeCalculator: { lamportsPerSignature: LAMPORTS_PER_SIGNATURE } })),
  isBlockhashValid: (chain, [hash, c]) => {
    config(chain, c);
    if (typeof hash !== 'string' || decodeBase58(hash)?.length !== 32) throw invalidParams('invalid blockhash');
    return context(chain, chain.isBlockhashValid(hash));
  },
  getFeeForMessage: (chain, [message, c]) => {
    config(chain, c);
    return context(chain, chain.feeForMessage(bytesParam(message, 'base64', 'message')));
  },
  getMinimumBalanceForRentExemption: (chain, [len, c]) => {
    config(chain, c);
    return Number(chain.minimumBalanceForRentExemption(integer(len, 'data length')));
  },

  getBalance: (chain, [addr, c]) => {
    config(chain, c);
    return context(chain, Number(chain.getAccount(address(addr))?.lamports ?? 0n));
  },
  getAccountInfo: (chain, [addr, c]) => {
    const cfg = config(chain, c);
    const encoding = accountEncoding(cfg, 'binary');
    const account = chain.getAccount(address(addr));
    return context(chain, account ? encodeAccount(chain, account, encoding, dataSlice(cfg)) : null);
  },
  getMultipleAccounts: (chain, [addrs, c]) => {
    const cfg = config(chain, c);
    if (!Array.isArray(addrs) || addrs.length > 100) throw invalidParams('expected an array of at most 100 addresses');
    const encoding = accountEncoding(cfg, 'base64');
    const slice = dataSlice(cfg);
    return context(
      chain,
      addrs.map((a) => {
        const account = chain.getAccount(address(a));
        return account ? encodeAccount(chain, account, encoding, slice) : null;
      }),
    );
  },
  getProgramAccounts: (chain, [program, c]) => {
    const cfg = config(chain, c);
    const encoding = accountEncoding(cfg, 'binary');
    const fs = filters(cfg.filters);
    const slice = dataSlice(cfg);
    const list = chain
      .getProgramAccounts(address(program))
      .filter((e) => matches(e.account.data, fs))
      .map((e) => ({ account: encodeAccount(chain, e.account, encoding, slice), pubkey: e.address }));
    return cfg.withContext ? context(chain, list) : list;
  },

  getTokenAccountBalance: (chain, [addr, c]) => {
    config(chain, c);
    const { state, decimals } = tokenAccount(chain, address(addr));
    return context(chain, uiTokenAmount(state.amount, decimals));
  },
  getTokenSupply: (chain, [mint, c]) => {
    config(chain, c);
    const { state } = tokenMint(chain, address(mint));
    return context(chain, uiTokenAmount(state.supply, state.decimals));
  },
  getTokenLargestAccounts: (chain, [mint, c]) => {
    config(chain, c);
    const m = address(mint);
    const { state: mintState, owner } = tokenMint(chain, m);
    const holders = chain
      .getProgramAccounts(owner)
      .map((e) => ({ address: e.address, state: decodeTokenAccount(e.account.data) }))
      .filter((e) => e.state?.mint === m)
      .sort((a, b) => (a.state!.amount < b.state!.amount ? 1 : a.state!.amount > b.state!.amount ? -1 : 0))
      .slice(0, 20);
    return context(chain, holders.map((h) => ({ address: h.address, ...uiTokenAmount(h.state!.amount, mintState.decimals) })));
  },
  getTokenAccountsByOwner: (chain, [owner, filter, c]) => {
    const cfg = config(chain, c);
    const o = address(owner);
    const f = filter as { mint?: unknown; programId?: unknown } | null;
    let programs: string[];
    let mint: string | null = null;
    if (f && f.mint !== undefined) {
      mint = address(f.mint);
      programs = [tokenMint(chain, mint).owner];
    } else if (f && f.programId !== undefined) {
      const p = address(f.programId);
      if (p !== TOKEN_PROGRAM && p !== TOKEN_2022_PROGRAM) throw invalidParams('Invalid param: unrecognized Token program id');
      programs = [p];
    } else throw invalidParams('expected {mint} or {programId}');
    const encoding = accountEncoding(cfg, 'binary');
    const slice = dataSlice(cfg);
    const out: unknown[] = [];
    for (const program of programs) {
      for (const e of chain.getProgramAccounts(program)) {
        const state = decodeTokenAccount(e.account.data);
        if (!state || state.owner !== o || (mint && state.mint !== mint)) continue;
        out.push({ account: encodeAccount(chain, e.account, encoding, slice), pubkey: e.address });
      }
    }
    return context(chain, out);
  },

  /** The local chain's own: moves the clock `seconds` ahead (see Chain.timeTravel); answers the new unix time. */
  doug_timeTravel: (chain, [seconds]) => chain.timeTravel(integer(seconds, 'seconds')),
  requestAirdrop: (chain, [addr, lamports, c]) => {
    config(chain, c);
    return chain.airdrop(address(addr), BigInt(integer(lamports, 'lamports')));
  },
  sendTransaction: (chain, [encoded, c]) => {
    const cfg = config(chain, c);
    const wire = bytesParam(encoded, cfg.encoding, 'solana_transaction::versioned::VersionedTransaction');
    if (cfg.preflightCommitment !== undefined && !COMMITMENTS.has(cfg.preflightCommitment as string)) throw invalidParams('unknown preflightCommitment');
    return chain.send(wire, { skipPreflight: cfg.skipPreflight === true });
  },
  simulateTransaction: (chain, [encoded, c]) => {
    const cfg = config(chain, c);
    const wire = bytesParam(encoded, cfg.encoding, 'solana_transaction::versioned::VersionedTransaction');
    const wanted = simulationAccounts(cfg);
    const replace = cfg.replaceRecentBlockhash === true;
    const sim = chain.simulate(wire, { sigVerify: cfg.sigVerify === true, replaceRecentBlockhash: replace, ...(wanted ? { accounts: wanted.addresses } : {}) });
    return context(chain, {
      accounts: sim.accounts && wanted ? sim.accounts.map((a) => (a ? encodeAccount(chain, a, wanted.encoding, null) : null)) : null,
      err: sim.err,
      innerInstructions: cfg.innerInstructions === true ? sim.innerInstructions : null,
      loadedAccountsDataSize: 0,
      logs: sim.logs,
      replacementBlockhash: replace ? chain.latestBlockhash : null,
      returnData: sim.returnData,
      unitsConsumed: sim.unitsConsumed,
    });
  },
  getSignatureStatuses: (chain, [sigs, c]) => {
    if (!Array.isArray(sigs) || sigs.length > 256) throw invalidParams('expected an array of at most 256 signatures');
    const cfg = c === undefined || c === null ? {} : (c as Config);
    const search = cfg.searchTransactionHistory === true;
    return context(
      chain,
      sigs.map((s) => {
        const record = chain.getTransaction(signature(s));
        if (!record || (!search && chain.slot - record.slot > STATUS_CACHE_SLOTS)) return null;
        return statusOf(record);
      }),
    );
  },
  getTransaction: (chain, [sig, c]) => {
    const cfg = typeof c === 'string' ? { encoding: c } : config(chain, c);
    if (cfg.commitment === 'processed') throw invalidParams('Method does not support commitment below `confirmed`');
    const encoding = (cfg.encoding as string | undefined) ?? 'json';
    if (!['json', 'jsonParsed', 'base64', 'base58'].includes(encoding)) throw invalidParams(`unknown encoding ${JSON.stringify(encoding)}`);
    const record = chain.getTransaction(signature(sig));
    if (!record) return null;
    const max = cfg.maxSupportedTransactionVersion;
    // A validator takes any u8 here (a v0 transaction is answered whenever max >= 0); Umi sends 1.
    if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 0 && (max as number) <= 255)) {
      throw invalidParams(`unsupported maxSupportedTransactionVersion ${JSON.stringify(max)}`);
    }
    const version = parseTransaction(record.wire).message.version;
    if (version === 0 && max === undefined)
      throw new RpcError(
        UNSUPPORTED_TRANSACTION_VERSION,
        'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
      );
    return encodeTransaction(record, encoding, max !== undefined);
  },
  getSignaturesForAddress: (chain, [addr, c]) => {
    const cfg = config(chain, c);
    if (cfg.commitment === 'processed') throw invalidParams('Method does not support commitment below `confirmed`');
    const limit = cfg.limit === undefined ? 1000 : integer(cfg.limit, 'limit');
    if (limit < 1 || limit > 1000) throw invalidParams('Invalid limit; max 1000');
    const before = cfg.before === undefined ? null : signature(cfg.before);
    const until = cfg.until === undefined ? null : signature(cfg.until);
    const out: unknown[] = [];
    let started = before === null;
    for (const record of chain.signaturesFor(address(addr))) {
      if (!started) {
        started = record.signature === before;
        continue;
      }
      if (record.signature === until || out.length >= limit) break;
      out.push({
        signature: record.signature,
        slot: record.slot,
        err: record.meta.err,
        memo: memoOf(parseTransaction(record.wire).message),
        blockTime: record.blockTime,
        confirmationStatus: 'finalized',
      });
    }
    return out;
  },
};

/** The method names the local chain answers over HTTP. */
export const RPC_METHODS = Object.keys(METHODS);

export interface RpcResponse {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export const errorResponse = (id: unknown, code: number, message: string, data?: unknown): RpcResponse => ({
  jsonrpc: '2.0',
  error: data === undefined ? { code, message } : { code, message, data },
  id,
});

const validId = (id: unknown): boolean => id === null || typeof id === 'string' || typeof id === 'number';

/**
 * Answers one JSON-RPC request object; undefined for a notification (no id). `extra` answers
 * methods outside the table (the WebSocket subscriptions); any error becomes an error response.
 */
export function handleRequest(chain: Chain, request: unknown, extra?: (method: string, params: unknown[], id: unknown) => unknown): RpcResponse | undefined {
  if (!request || typeof request !== 'object' || Array.isArray(request)) return errorResponse(null, INVALID_REQUEST, 'Invalid request');
  const r = request as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  const isNotification = !('id' in r);
  const id = isNotification ? null : r.id;
  if (!validId(id) || r.jsonrpc !== '2.0' || typeof r.method !== 'string') return errorResponse(validId(id) ? id : null, INVALID_REQUEST, 'Invalid request');
  if (r.params !== undefined && !Array.isArray(r.params)) return errorResponse(id, -32602, 'Invalid params: expected an array of parameters');
  const params = (r.params as unknown[] | undefined) ?? [];
  try {
    chain.tick();
    const method = Object.prototype.hasOwnProperty.call(METHODS, r.method) ? METHODS[r.method] : undefined;
    let result: unknown;
    if (method) result = method(chain, params);
    else if (extra) result = extra(r.method, params, id);
    else throw new RpcError(METHOD_NOT_FOUND, 'Method not found');
    return isNotification ? undefined : { jsonrpc: '2.0', result, id };
  } catch (err) {
    if (isNotification) return undefined;
    if (err instanceof RpcError) return errorResponse(id, err.code, err.message, err.data);
    return errorResponse(id, INTERNAL_ERROR, `Internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

