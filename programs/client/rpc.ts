import type { RpcTransaction } from '../../durable-objects/domain/custody/deposit.ts';
import type { RpcSignatureStatus } from '../../durable-objects/domain/custody/withdrawal.ts';

/*
 * A small Solana JSON-RPC client over fetch, for the Worker (no web3.js there). Every failure throws
 * a SolanaRpcError whose `kind` says what went wrong:
 *   network — fetch itself failed (connection refused, DNS, reset);
 *   timeout — no answer within timeoutMs (AbortSignal.timeout) or the caller's signal aborted;
 *   http    — an HTTP status other than 200 (a proxy or a rate limit; `code` is the HTTP status);
 *   rpc     — a JSON-RPC error object (`code`, `message`, `data` as the node sent them);
 *   malformed — an answer that is not JSON-RPC, or a result of the wrong shape.
 * A JSON-RPC error is the node's answer ("no", "bad params", "simulation failed"); the others mean
 * the node's answer is unknown, so a caller that sent a transaction must assume it may have landed.
 */

export type Commitment = 'processed' | 'confirmed' | 'finalized';

export type RpcFailureKind = 'network' | 'timeout' | 'http' | 'rpc' | 'malformed';

/** A failed RPC call; `code` is the JSON-RPC error code (rpc) or the HTTP status (http), else null. */
export class SolanaRpcError extends Error {
  readonly kind: RpcFailureKind;
  readonly method: string;
  readonly code: number | null;
  readonly data: unknown;
  constructor(o: { kind: RpcFailureKind; method: string; message: string; code?: number | null; data?: unknown; cause?: unknown }) {
    super(`${o.method}: ${o.message}`, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'SolanaRpcError';
    this.kind = o.kind;
    this.method = o.method;
    this.code = o.code ?? null;
    this.data = o.data;
  }
}

/** Whether an error is a JSON-RPC answer from the node (as opposed to no answer at all). */
export const isRpcAnswer = (err: unknown): err is SolanaRpcError => err instanceof SolanaRpcError && err.kind === 'rpc';

/** JSON-RPC codes Solana nodes answer with (sendTransaction and friends). */
export const RPC_CODES = {
  SEND_TRANSACTION_PREFLIGHT_FAILURE: -32002,
  TRANSACTION_SIGNATURE_VERIFICATION_FAILURE: -32003,
  INVALID_PARAMS: -32602,
  METHOD_NOT_FOUND: -32601,
} as const;

export interface RpcOptions {
  /** Per-call deadline (default 10,000 ms). */
  timeoutMs?: number;
  /** fetch to use (tests); defaults to the global one. */
  fetch?: typeof fetch;
}

/** Context-wrapped answers (`{ context: { slot }, value }`). */
export interface WithContext<T> {
  contextSlot: number;
  value: T;
}

export interface TokenAmount {
  /** Base units as a decimal string (u64). */
  amount: string;
  decimals: number;
  uiAmountString?: string;
}

export interface LatestBlockhash {
  blockhash: string;
  lastValidBlockHeight: number;
  contextSlot: number;
}

/** getEpochInfo's answer; blockHeight and absoluteSlot come from the same reading. */
export interface EpochInfo {
  absoluteSlot: number;
  blockHeight: number;
  epoch: number;
  slotIndex: number;
  slotsInEpoch: number;
  transactionCount?: number | null;
}

export interface AccountInfo {
  lamports: number;
  owner: string;
  executable: boolean;
  rentEpoch: number;
  /** The account's data, decoded from base64. */
  data: Uint8Array;
}

export interface SendOptions {
  skipPreflight?: boolean;
  preflightCommitment?: Commitment;
  maxRetries?: number;
  minContextSlot?: number;
}

export interface GetTransactionOptions {
  commitment?: 'confirmed' | 'finalized';
  encoding?: 'json' | 'jsonParsed';
  maxSupportedTransactionVersion?: number;
}

export interface SolanaRpc {
  readonly url: string;
  /** Calls any method; the result as the node sent it. */
  call<T = unknown>(method: string, params?: unknown[], signal?: AbortSignal): Promise<T>;
  /** The transaction, or null when the node has none at that commitment. Defaults: finalized, jsonParsed, v0. */
  getTransaction(signature: string, options?: GetTransactionOptions): Promise<RpcTransaction | null>;
  /** A token account's balance; RPC error -32602 when the account is not a token account. */
  getTokenAccountBalance(address: string, commitment?: Commitment): Promise<WithContext<TokenAmount>>;
  /** Statuses in order (null: not found), with the slot the node had processed. */
  getSignatureStatuses(signatures: string[], options?: { searchTransactionHistory?: boolean }): Promise<WithContext<(RpcSignatureStatus | null)[]>>;
  /** Block height and the slot it was read at, from one getEpochInfo call (what ObserveChain needs). */
  getBlockHeight(commitment?: Commitment): Promise<{ blockHeight: number; blockHeightSlot: number }>;
  getEpochInfo(commitment?: Commitment): Promise<EpochInfo>;
  getSlot(commitment?: Commitment): Promise<number>;
  getLatestBlockhash(commitment?: Commitment): Promise<LatestBlockhash>;
  /** Sends a signed transaction (base64 wire bytes); answers its signature. */
  sendTransaction(transaction: string, options?: SendOptions): Promise<string>;
  /** The account (data decoded from base64), or null when it does not exist. */
  getAccountInfo(address: string, commitment?: Commitment): Promise<WithContext<AccountInfo | null>>;
  getBalance(address: string, commitment?: Commitment): Promise<WithContext<number>>;
  getMinimumBalanceForRentExemption(size: number, commitment?: Commitment): Promise<number>;
  /** Asks a test validator (or the local chain) for lamports; answers the airdrop's signature. */
  requestAirdrop(address: string, lamports: number, commitment?: Commitment): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

let nextId = 1;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A JSON-RPC client for `url`. */
export function solanaRpc(url: string, options: RpcOptions = {}): SolanaRpc {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function call<T>(method: string, params: unknown[] = [], signal?: AbortSignal): Promise<T> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([deadline, signal]) : deadline;
    const id = nextId++;
    let text: string;
    try {
      const response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: combined,
      });
      text = await response.text();
      if (response.status !== 200) {
        // Some nodes put a JSON-RPC error in a non-200 answer; prefer it when there is one.
        const rpcError = parseError(text);
        if (rpcError) throw new SolanaRpcError({ kind: 'rpc', method, ...rpcError });
        throw new SolanaRpcError({ kind: 'http', method, code: response.status, message: `HTTP ${response.status}: ${text.slice(0, 200)}` });
      }
    } catch (err) {
      if (err instanceof SolanaRpcError) throw err;
      if (combined.aborted) {
        const why = deadline.aborted ? `no answer within ${timeoutMs} ms` : 'aborted by the caller';
        throw new SolanaRpcError({ kind: 'timeout', method, message: why, cause: err });
      }
      throw new SolanaRpcError({ kind: 'network', method, message: err instanceof Error ? err.message : String(err), cause: err });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SolanaRpcError({ kind: 'malformed', method, message: `the answer is not JSON: ${text.slice(0, 200)}` });
    }
    if (!isObject(body)) throw new SolanaRpcError({ kind: 'malformed', method, message: 'the answer is not a JSON-RPC object' });
    if (body.error !== undefined) {
      const e = isObject(body.error) ? body.error : {};
      throw new SolanaRpcError({
        kind: 'rpc',
        method,
        code: typeof e.code === 'number' ? e.code : null,
        message: typeof e.message === 'string' ? e.message : JSON.stringify(body.error),
        data: e.data,
      });
    }
    if (!('result' in body)) throw new SolanaRpcError({ kind: 'malformed', method, message: 'the answer has neither result nor error' });
    return body.result as T;
  }

  const malformed = (method: string, what: string): never => {
    throw new SolanaRpcError({ kind: 'malformed', method, message: `unexpected result: ${what}` });
  };

  /** Unwraps `{ context: { slot }, value }`. */
  function withContext<T>(method: string, result: unknown): WithContext<T> {
    if (!isObject(result) || !isObject(result.context) || !isCount(result.context.slot) || !('value' in result)) return malformed(method, 'no context.slot and value');
    return { contextSlot: result.context.slot, value: result.value as T };
  }

  const commitmentConfig = (commitment: Commitment | undefined) => (commitment ? [{ commitment }] : []);

  return {
    url,
    call,

    async getTransaction(signature, o = {}) {
      const config = { commitment: o.commitment ?? 'finalized', encoding: o.encoding ?? 'jsonParsed', maxSupportedTransactionVersion: o.maxSupportedTransactionVersion ?? 0 };
      const result = await call<unknown>('getTransaction', [signature, config]);
      if (result === null) return null;
      if (!isObject(result) || !isCount(result.slot) || !isObject(result.transaction)) return malformed('getTransaction', 'not a transaction');
      return result as unknown as RpcTransaction;
    },

    async getTokenAccountBalance(address, commitment) {
      const r = withContext<unknown>('getTokenAccountBalance', await call('getTokenAccountBalance', [address, ...commitmentConfig(commitment)]));
      const v = r.value;
      if (!isObject(v) || typeof v.amount !== 'string' || !/^[0-9]+$/.test(v.amount) || !isCount(v.decimals)) return malformed('getTokenAccountBalance', 'no amount and decimals');
      const value: TokenAmount = { amount: v.amount, decimals: v.decimals };
      if (typeof v.uiAmountString === 'string') value.uiAmountString = v.uiAmountString;
      return { contextSlot: r.contextSlot, value };
    },

    async getSignatureStatuses(signatures, o = {}) {
      const params: unknown[] = [signatures];
      if (o.searchTransactionHistory) params.push({ searchTransactionHistory: true });
      const r = withContext<unknown>('getSignatureStatuses', await call('getSignatureStatuses', params));
      if (!Array.isArray(r.value) || r.value.length !== signatures.length) return malformed('getSignatureStatuses', `not ${signatures.length} statuses`);
      for (const s of r.value) {
        if (s !== null && (!isObject(s) || !isCount(s.slot))) return malformed('getSignatureStatuses', 'a status without a slot');
      }
      return { contextSlot: r.contextSlot, value: r.value as (RpcSignatureStatus | null)[] };
    },

    async getEpochInfo(commitment) {
      const r = await call<unknown>('getEpochInfo', commitmentConfig(commitment));
      if (!isObject(r) || !isCount(r.absoluteSlot) || !isCount(r.blockHeight) || !isCount(r.epoch)) return malformed('getEpochInfo', 'no absoluteSlot, blockHeight and epoch');
      return r as unknown as EpochInfo;
    },

    async getBlockHeight(commitment) {
      const info = await this.getEpochInfo(commitment);
      return { blockHeight: info.blockHeight, blockHeightSlot: info.absoluteSlot };
    },

    async getSlot(commitment) {
      const r = await call<unknown>('getSlot', commitmentConfig(commitment));
      if (!isCount(r)) return malformed('getSlot', 'not a slot number');
      return r;
    },

    async getLatestBlockhash(commitment) {
      const r = withContext<unknown>('getLatestBlockhash', await call('getLatestBlockhash', commitmentConfig(commitment)));
      const v = r.value;
      if (!isObject(v) || typeof v.blockhash !== 'string' || !isCount(v.lastValidBlockHeight)) return malformed('getLatestBlockhash', 'no blockhash and lastValidBlockHeight');
      return { blockhash: v.blockhash, lastValidBlockHeight: v.lastValidBlockHeight, contextSlot: r.contextSlot };
    },

    async sendTransaction(transaction, o = {}) {
      const config: Record<string, unknown> = { encoding: 'base64', skipPreflight: o.skipPreflight ?? false };
      if (o.preflightCommitment) config.preflightCommitment = o.preflightCommitment;
      if (o.maxRetries !== undefined) config.maxRetries = o.maxRetries;
      if (o.minContextSlot !== undefined) config.minContextSlot = o.minContextSlot;
      const r = await call<unknown>('sendTransaction', [transaction, config]);
      if (typeof r !== 'string') return malformed('sendTransaction', 'not a signature');
      return r;
    },

    async getAccountInfo(address, commitment) {
      const config: Record<string, unknown> = { encoding: 'base64' };
      if (commitment) config.commitment = commitment;
      const r = withContext<unknown>('getAccountInfo', await call('getAccountInfo', [address, config]));
      if (r.value === null) return { contextSlot: r.contextSlot, value: null };
      const v = r.value;
      if (!isObject(v) || !isCount(v.lamports) || typeof v.owner !== 'string' || !Array.isArray(v.data) || typeof v.data[0] !== 'string') {
        return malformed('getAccountInfo', 'not an account in base64');
      }
      return {
        contextSlot: r.contextSlot,
        value: { lamports: v.lamports, owner: v.owner, executable: v.executable === true, rentEpoch: typeof v.rentEpoch === 'number' ? v.rentEpoch : 0, data: fromBase64(v.data[0]) },
      };
    },

    async getBalance(address, commitment) {
      const r = withContext<unknown>('getBalance', await call('getBalance', [address, ...commitmentConfig(commitment)]));
      if (!isCount(r.value)) return malformed('getBalance', 'not a lamport count');
      return { contextSlot: r.contextSlot, value: r.value };
    },

    async getMinimumBalanceForRentExemption(size, commitment) {
      const r = await call<unknown>('getMinimumBalanceForRentExemption', [size, ...commitmentConfig(commitment)]);
      if (!isCount(r)) return malformed('getMinimumBalanceForRentExemption', 'not a lamport count');
      return r;
    },

    async requestAirdrop(address, lamports, commitment) {
      const r = await call<unknown>('requestAirdrop', [address, lamports, ...commitmentConfig(commitment)]);
      if (typeof r !== 'string') return malformed('requestAirdrop', 'not a signature');
      return r;
    },
  };
}

/** Short name: `rpc(url).call(method, params)`. */
export const rpc = solanaRpc;

/** Parses a JSON-RPC error out of a body, if it holds one. */
function parseError(text: string): { code: number | null; message: string; data: unknown } | null {
  try {
    const body = JSON.parse(text) as unknown;
    if (isObject(body) && isObject(body.error) && typeof body.error.message === 'string') {
      return { code: typeof body.error.code === 'number' ? body.error.code : null, message: body.error.message, data: body.error.data };
    }
  } catch {
    // not JSON
  }
  return null;
}

/** base64 → bytes (atob exists in workerd, browsers and Node). */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** bytes → base64. */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
