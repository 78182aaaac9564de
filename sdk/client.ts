import type { ApiKeyResponse } from '../durable-objects/contracts/api.ts';
import type {
  AmountString,
  AuditReport,
  BalanceView,
  ChainInfo,
  DepositResponse,
  EscrowExitResponse,
  LedgerEntry,
  MarketDetail,
  MarketSummary,
  OrderStatus,
  OrderView,
  Page,
  PlaceAskBatchResponse,
  PlaceOrderResponse,
  RevokeSessionResponse,
  WithdrawalResponse,
  WithdrawalWire,
} from '../durable-objects/contracts/api.ts';
import type {
  DepositBody,
  FaucetBody,
  JobBody,
  ORDER_SORTS,
  ORDER_STATUSES,
  PlaceAskBatchBody,
  PlaceAskBody,
  PlaceBidBody,
  RevokeSessionBody,
  WithdrawalBody,
} from '../durable-objects/contracts/schemas.ts';
import { encodeBase58Nonce, sha256Hex, signRequest } from '../durable-objects/contracts/auth.ts';
import { apiKeyText } from '../durable-objects/contracts/chat.ts';
import type { Delegation, Signer } from '../durable-objects/contracts/auth.ts';
import { parseAmount } from '../durable-objects/domain/money.ts';
import type { WireTensor } from '../durable-objects/contracts/tensors.ts';

/**
 * Typed client of the HTTP API (`/v1`, docs/architecture.md, "Protocols"). One method per route of `ROUTES`.
 * Mutating requests are signed over the exact body sent and the path with its query string.
 */

/** Any fetch-shaped function: global fetch, workerd's `SELF.fetch`, a service binding. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface DougClientOptions {
  baseUrl: string;
  /** Signs mutating requests; the wallet itself, or a key the wallet delegated to. */
  keypair?: Signer;
  /** Sent with each signed request when `keypair` acts for a wallet. */
  delegation?: Delegation;
  fetch?: FetchLike;
  /**
   * How long in all to wait out the account's request budget (429 API__RATE_LIMITED) before giving
   * up, each wait what Retry-After says; default 60 s, 0: never wait (the refusal is thrown). A
   * refused request changed nothing, so it is sent again (signed anew).
   */
  rateLimitWaitMs?: number;
}

/** A non-2xx answer, or a client-side failure (status 0: network, missing key, bad response). */
export class DougApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly context: Record<string, unknown>;

  constructor(o: { status: number; code: string; message: string; context?: Record<string, unknown> }) {
    super(o.message);
    this.name = 'DougApiError';
    this.status = o.status;
    this.code = o.code;
    this.context = o.context ?? {};
  }
}

/** Client-side error codes (namespace CLIENT__); the server's codes come from its registry. */
export const CLIENT_ERRORS = {
  /** The body of an answer was not JSON, or an error answer was not `{error:{code,message}}`. */
  BAD_RESPONSE: 'CLIENT__BAD_RESPONSE',
  /** The request never got an answer. */
  NETWORK: 'CLIENT__NETWORK',
  /** A mutating request was made without a keypair. */
  NO_KEY: 'CLIENT__NO_KEY',
  /** An argument was refused before sending (bad amount, id). */
  INVALID_ARGUMENT: 'CLIENT__INVALID_ARGUMENT',
  /** A wallet asked to sign a transaction answered one its key did not sign, or not a transaction at all. */
  WALLET_SIGNATURE_INVALID: 'CLIENT__WALLET_SIGNATURE_INVALID',
  /** The marketplace names no staking program (custody without the escrow program). */
  STAKING_UNAVAILABLE: 'CLIENT__STAKING_UNAVAILABLE',
  /** A staking action that cannot be taken now (no such position, still locked, nothing to claim). */
  STAKING_REFUSED: 'CLIENT__STAKING_REFUSED',
  /** The marketplace names no governance program (its configurations are not administered by one). */
  GOVERNANCE_UNAVAILABLE: 'CLIENT__GOVERNANCE_UNAVAILABLE',
  /** A governance action that cannot be taken now (no such proposal, voting over, no position that may vote). */
  GOVERNANCE_REFUSED: 'CLIENT__GOVERNANCE_REFUSED',
  /** One of the marketplace's programs refused the transaction on chain: its error, in words. */
  PROGRAM_REFUSED: 'CLIENT__PROGRAM_REFUSED',
} as const;

export interface PageParams {
  cursor?: string | null;
  limit?: number;
}

/** Filters of `GET /v1/asks` and `GET /v1/bids` (the offers read model). */
export interface OrderFilters extends PageParams {
  market?: string;
  owner?: string;
  /** Default 'open'. */
  status?: (typeof ORDER_STATUSES)[number];
  accelerator?: string;
  region?: string;
  minMemoryGb?: number;
  /** Only orders priced at or below this (base units). */
  maxPrice?: AmountString | bigint;
  /** Asks whose provider completed at least this many jobs. */
  minCompleted?: number;
  /** Default 'price' for asks, '-price' for bids; 'reputation' ranks providers by their score (durable-objects/domain/reputation.ts). */
  sort?: (typeof ORDER_SORTS)[number];
}
export type AskFilters = OrderFilters;
export type BidFilters = OrderFilters;

export interface JobFilters extends PageParams {
  buyer?: string;
  provider?: string;
}

export interface HealthView {
  ok: boolean;
  [field: string]: unknown;
}

/** One replica fill: a bid's replica priced at the resting ask. */
export interface TradeView {
  jobId: string;
  askId: string;
  buyer: string;
  provider: string;
  price: AmountString;
  units: number;
  replica: number;
  at: number;
  /** Whether the job paid this fill (a lapsed, re-matched, outvoted or refunded fill never is). */
  paid: boolean;
  [field: string]: unknown;
}

export interface JobReplicaView {
  replica: number;
  role: string;
  status: string;
  provider: string | null;
  askId: string | null;
  price: AmountString;
  lease: { leaseId: string; expiresAt: number } | null;
  digest: string | null;
  rematches: number;
  [field: string]: unknown;
}

/** A job as `GET /v1/jobs/:id` shows it (the job id is its bid's id). */
export interface JobView {
  jobId: string;
  status: string;
  buyer: string;
  units: number;
  maxPrice: AmountString;
  replicaCount: number;
  replicas: JobReplicaView[];
  [field: string]: unknown;
}
/** The wire envelope of `GET /v1/jobs/:id`; `job()` returns the view inside. */
export interface JobResponse {
  job: JobView;
}
export type HoldView = BalanceView['holds'][number];
/** `GET /v1/accounts/:key`: the balance; holds come from `holds()`. */
export type AccountView = Omit<BalanceView, 'holds'> & { holds?: HoldView[] };
/** One event of a job's history or an account's ledger. */
export type HistoryEntry = LedgerEntry & { actor?: string };
export interface CancelOrderResponse {
  order: OrderView;
  [field: string]: unknown;
}
/**
 * POST /v1/faucet. Without a chain the ledger is credited: `credited`, `available`. With one, $DOUG
 * is minted to the wallet on chain (`minted`, `wallet`, `tokenAccount`, `signature`): deposit it next.
 */
export interface FaucetResponse {
  credited?: AmountString;
  available?: AmountString;
  minted?: AmountString;
  wallet?: string;
  tokenAccount?: string;
  signature?: string;
  [field: string]: unknown;
}

/** `PlaceAskBody` with the client id optional (a fresh one is made) and the price as string or bigint. */
export type PlaceAskInput = Omit<PlaceAskBody, 'clientId' | 'price' | 'attributes'> & {
  clientId?: string;
  price: AmountString | bigint;
  attributes?: PlaceAskBody['attributes'];
};

/** `PlaceBidBody` with defaults: fresh client id, 1 replica, no requirements, not IOC. */
export type PlaceBidInput = Omit<PlaceBidBody, 'clientId' | 'maxPrice' | 'replicas' | 'requirements' | 'ioc' | 'job'> & {
  clientId?: string;
  maxPrice: AmountString | bigint;
  replicas?: number;
  requirements?: PlaceBidBody['requirements'];
  ioc?: boolean;
  /** The job: uploaded inputs by digest (`inputSha256`, `inputBytes`), or small inputs inline (`inputs`). */
  job: JobBody;
};

/** A random client id that fits `CLIENT_ID`: `c-` and 32 hex digits. */
export function newClientId(): string {
  let hex = '';
  for (const b of crypto.getRandomValues(new Uint8Array(16))) hex += b.toString(16).padStart(2, '0');
  return `c-${hex}`;
}

/** Reads an amount string from an answer as bigint; throws CLIENT__BAD_RESPONSE when malformed. */
export function toAmount(value: AmountString): bigint {
  const amount = parseAmount(value);
  if (amount === null) {
    throw new DougApiError({ status: 0, code: CLIENT_ERRORS.BAD_RESPONSE, message: `not an amount: ${JSON.stringify(value)}`, context: { value } });
  }
  return amount;
}

export interface BalanceAmounts {
  available: bigint;
  held: bigint;
  credited: bigint;
  withdrawn: bigint;
  payoutsSent: bigint;
  payoutsReceived: bigint;
  payoutsOnChain: bigint;
}

/** The amounts of a balance as bigint. */
export function balanceAmounts(view: Omit<BalanceView, 'holds'>): BalanceAmounts {
  return {
    available: toAmount(view.available),
    held: toAmount(view.held),
    credited: toAmount(view.credited),
    withdrawn: toAmount(view.withdrawn),
    payoutsSent: toAmount(view.payoutsSent),
    payoutsReceived: toAmount(view.payoutsReceived),
    payoutsOnChain: toAmount(view.payoutsOnChain),
  };
}

export class DougClient {
  readonly baseUrl: string;
  readonly keypair: Signer | undefined;
  readonly delegation: Delegation | undefined;
  private readonly fetchFn: FetchLike;
  private readonly rateLimitWaitMs: number;

  constructor(o: DougClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.keypair = o.keypair;
    this.delegation = o.delegation;
    this.rateLimitWaitMs = o.rateLimitWaitMs ?? 60_000;
    const f = o.fetch;
    // Wrapped so that global fetch is never called with a foreign `this` (workerd refuses it).
    this.fetchFn = f ? (url, init) => f(url, init) : (url, init) => fetch(url, init);
  }

  /** The account this client acts for: the delegating wallet, else the keypair's own key. */
  get accountKey(): string | undefined {
    return this.delegation?.wallet ?? this.keypair?.publicKey;
  }

  /** GET /v1/health */
  health(): Promise<HealthView> {
    return this.get('/v1/health');
  }

  /** GET /v1/markets */
  markets(page: PageParams = {}): Promise<Page<MarketSummary>> {
    return this.get('/v1/markets', page);
  }

  /** GET /v1/markets/:market, with `depth` book levels per side. */
  market(id: string, o: { depth?: number } = {}): Promise<MarketDetail> {
    return this.get(`/v1/markets/${seg(id)}`, { depth: o.depth });
  }

  /** GET /v1/markets/:market/trades */
  trades(market: string, page: PageParams = {}): Promise<Page<TradeView>> {
    return this.get(`/v1/markets/${seg(market)}/trades`, page);
  }

  /** GET /v1/asks */
  asks(filters: AskFilters = {}): Promise<Page<OrderView>> {
    return this.get('/v1/asks', { ...filters });
  }

  /** POST /v1/asks; the client id defaults to a fresh one. */
  placeAsk(input: PlaceAskInput): Promise<PlaceOrderResponse> {
    const body: PlaceAskBody = {
      market: input.market,
      clientId: input.clientId ?? newClientId(),
      price: String(input.price),
      capacity: input.capacity,
      attributes: input.attributes ?? {},
      expiresAt: input.expiresAt,
    };
    return this.send('POST', '/v1/asks', body);
  }

  /** POST /v1/asks/batch: up to 100 asks in one market; each gets its own outcome. */
  placeAskBatch(market: string, asks: Omit<PlaceAskInput, 'market'>[]): Promise<PlaceAskBatchResponse> {
    const body: PlaceAskBatchBody = {
      market,
      asks: asks.map((a) => ({ clientId: a.clientId ?? newClientId(), price: String(a.price), capacity: a.capacity, attributes: a.attributes ?? {}, expiresAt: a.expiresAt })),
    };
    return this.send('POST', '/v1/asks/batch', body);
  }

  /** DELETE /v1/asks/:id */
  cancelAsk(id: string): Promise<CancelOrderResponse> {
    return this.send('DELETE', `/v1/asks/${seg(id)}`);
  }

  /** GET /v1/bids */
  bids(filters: BidFilters = {}): Promise<Page<OrderView>> {
    return this.get('/v1/bids', { ...filters });
  }

  /** POST /v1/bids; client id, replicas, requirements, ioc and tolerance have defaults. */
  placeBid(input: PlaceBidInput): Promise<PlaceOrderResponse> {
    const body: PlaceBidBody = {
      market: input.market,
      clientId: input.clientId ?? newClientId(),
      maxPrice: String(input.maxPrice),
      units: input.units,
      replicas: input.replicas ?? 1,
      requirements: input.requirements ?? [],
      expiresAt: input.expiresAt,
      ioc: input.ioc ?? false,
      job: { ...input.job, tolerance: input.job.tolerance ?? null },
    };
    return this.send('POST', '/v1/bids', body);
  }

  /** DELETE /v1/bids/:id */
  cancelBid(id: string): Promise<CancelOrderResponse> {
    return this.send('DELETE', `/v1/bids/${seg(id)}`);
  }

  /** GET /v1/jobs */
  jobs(filters: JobFilters = {}): Promise<Page<JobView>> {
    return this.get('/v1/jobs', { ...filters });
  }

  /** GET /v1/jobs/:id, unwrapped from its `{ job }` envelope. */
  async job(id: string): Promise<JobView> {
    const res = await this.get<Partial<JobResponse>>(`/v1/jobs/${seg(id)}`);
    if (!isRecord(res.job)) throw new DougApiError({ status: 200, code: CLIENT_ERRORS.BAD_RESPONSE, message: `GET /v1/jobs/${id} answered without a job`, context: {} });
    return res.job;
  }

  /** PUT /v1/models (signed): uploads an ONNX model; its SHA-256 is its name. */
  async uploadModel(bytes: Uint8Array): Promise<{ sha256: string; bytes: number }> {
    if (!this.keypair) throw new DougApiError({ status: 0, code: CLIENT_ERRORS.NO_KEY, message: 'PUT /v1/models must be signed; the client has no keypair' });
    const path = '/v1/models';
    const headers = { 'content-type': 'application/octet-stream', ...(await signRequest(this.keypair, { method: 'PUT', path, body: bytes, delegation: this.delegation })) };
    const res = await this.fetchFn(this.baseUrl + path, { method: 'PUT', headers, body: bytes as unknown as BodyInit });
    const parsed = (await res.json().catch(() => null)) as { sha256: string; bytes: number } | { error: { code: string; message: string; context?: Record<string, unknown> } } | null;
    if (res.ok && parsed && 'sha256' in parsed) return parsed;
    const error = parsed && 'error' in parsed ? parsed.error : { code: CLIENT_ERRORS.BAD_RESPONSE, message: `PUT ${path} answered ${res.status}` };
    throw new DougApiError({ status: res.status, ...error });
  }

  /** PUT /v1/inputs[?model=] (signed): uploads a job's input tensors; the digest of their canonical encoding names them. With `model`, the server refuses tensors that do not fit it. */
  uploadInputs(tensors: WireTensor[], o: { model?: string } = {}): Promise<{ inputSha256: string; inputBytes: number }> {
    const query = o.model === undefined ? '' : `?model=${encodeURIComponent(o.model)}`;
    return this.request('PUT', `/v1/inputs${query}`, JSON.stringify({ tensors }), true);
  }

  /** POST /v1/jobs/:id/challenge: disputes a single-replica result; the re-run's cost is held. */
  challengeJob(id: string): Promise<{ job: JobView; held: AmountString }> {
    return this.send('POST', `/v1/jobs/${seg(id)}/challenge`, {});
  }

  /** POST /v1/jobs/:id/cancel: refunds a job before any result. */
  cancelJob(id: string): Promise<{ job: JobView }> {
    return this.send('POST', `/v1/jobs/${seg(id)}/cancel`, {});
  }

  /** GET /v1/jobs/:id/result, signed: the verified outputs, for the buyer (served once after settlement). */
  jobResult(id: string): Promise<{ replica: number; outputDigest: string; outputs: WireTensor[] }> {
    return this.request('GET', `/v1/jobs/${seg(id)}/result`, undefined, true);
  }

  /** GET /v1/jobs/:id/history */
  jobHistory(id: string, page: PageParams = {}): Promise<Page<HistoryEntry>> {
    return this.get(`/v1/jobs/${seg(id)}/history`, page);
  }

  /** GET /v1/accounts/:key; the key defaults to this client's account. */
  account(key?: string): Promise<AccountView> {
    return this.get(`/v1/accounts/${seg(this.keyOrSelf(key))}`);
  }

  /** GET /v1/accounts/:key/holds */
  holds(key?: string, page: PageParams = {}): Promise<Page<HoldView>> {
    return this.get(`/v1/accounts/${seg(this.keyOrSelf(key))}/holds`, page);
  }

  /** GET /v1/accounts/:key/ledger */
  ledger(key?: string, page: PageParams = {}): Promise<Page<HistoryEntry>> {
    return this.get(`/v1/accounts/${seg(this.keyOrSelf(key))}/ledger`, page);
  }

  /**
   * POST /v1/withdrawals (signed by the wallet itself): takes `amount` base units from the ledger and
   * pays them out of custody to `destination` (default: the wallet). Answers at once (202); follow
   * it with `withdrawal(id)`. A repeat with the same clientId answers the same withdrawal.
   */
  async withdraw(input: { amount: AmountString | bigint; destination?: string; clientId?: string }): Promise<WithdrawalWire> {
    const body: WithdrawalBody = { clientId: input.clientId ?? newClientId(), amount: String(input.amount), destination: input.destination ?? this.keyOrSelf(undefined) };
    return unwrapWithdrawal(await this.send<Partial<WithdrawalResponse>>('POST', '/v1/withdrawals', body), 'POST /v1/withdrawals');
  }

  /** GET /v1/withdrawals/:id, unwrapped from its `{ withdrawal }` envelope. */
  async withdrawal(id: string): Promise<WithdrawalWire> {
    return unwrapWithdrawal(await this.get<Partial<WithdrawalResponse>>(`/v1/withdrawals/${seg(id)}`), `GET /v1/withdrawals/${id}`);
  }

  /** GET /v1/accounts/:key/withdrawals (default: this client's account), newest first. */
  withdrawals(key?: string, page: PageParams = {}): Promise<Page<WithdrawalWire>> {
    return this.get(`/v1/accounts/${seg(this.keyOrSelf(key))}/withdrawals`, page);
  }

  /** GET /v1/audit */
  audit(): Promise<AuditReport> {
    return this.get('/v1/audit');
  }

  /** POST /v1/faucet (local mode only): credits base units to the signer's account (the wallet's, under a delegation). */
  faucet(amount: AmountString | bigint): Promise<FaucetResponse> {
    const body: FaucetBody = { amount: String(amount) };
    return this.send('POST', '/v1/faucet', body);
  }

  /**
   * POST /v1/deposits: has the server credit a finalized transfer of $DOUG into custody to the account
   * its memo names. A signature already credited is refused with CUSTODY__DEPOSIT_ALREADY_CREDITED (409).
   */
  deposit(signature: string): Promise<DepositResponse> {
    const body: DepositBody = { signature };
    return this.send('POST', '/v1/deposits', body);
  }

  /** POST /v1/escrow/exits: has the ledger follow a buyer's own withdrawal from their escrow (its signature). */
  escrowExit(signature: string): Promise<EscrowExitResponse> {
    const body: DepositBody = { signature };
    return this.send('POST', '/v1/escrow/exits', body);
  }

  /** GET /v1/chain: the RPC URL, the $DOUG mint and custody's token account (CUSTODY__NOT_CONFIGURED without a chain). */
  chain(): Promise<ChainInfo> {
    return this.get('/v1/chain');
  }

  /**
   * POST /v1/sessions/revoke: revokes this client's session key (signed with it and its delegation)
   * for good; every later request it signs is refused with AUTH__KEY_REVOKED. A wallet's own key is refused.
   */
  revokeSession(): Promise<RevokeSessionResponse> {
    const body: RevokeSessionBody = {};
    return this.send('POST', '/v1/sessions/revoke', body);
  }

  /**
   * POST /v1/api-keys: a new API key for the chat API (scope chat), spending at most `limit` (base
   * units) until `expiresAt`. The secret is made here and never sent (only its SHA-256 is): the
   * returned `key` is the one place it exists; keep it.
   */
  async createApiKey(o: { name: string; limit: AmountString | bigint; expiresAt: number; id?: string }): Promise<ApiKeyResponse & { key: string }> {
    if (!this.accountKey) throw new DougApiError({ status: 0, code: CLIENT_ERRORS.NO_KEY, message: 'an API key belongs to a wallet: give the client a keypair' });
    const secret = encodeBase58Nonce() + encodeBase58Nonce();
    const id = o.id ?? Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
    const body = { id, name: o.name, secretSha256: await sha256Hex(secret), limit: o.limit.toString(), expiresAt: o.expiresAt };
    const created = await this.send<ApiKeyResponse>('POST', '/v1/api-keys', body);
    return { ...created, key: apiKeyText({ wallet: this.accountKey, id, secret }) };
  }

  /** GET /v1/api-keys, signed: this wallet's API keys (never their secrets). */
  apiKeys(): Promise<{ items: ApiKeyResponse[] }> {
    return this.request('GET', '/v1/api-keys', undefined, true);
  }

  /** DELETE /v1/api-keys/:id: revokes an API key for good. */
  revokeApiKey(id: string): Promise<ApiKeyResponse> {
    return this.send('DELETE', `/v1/api-keys/${seg(id)}`, {});
  }

  private keyOrSelf(key: string | undefined): string {
    const k = key ?? this.accountKey;
    if (!k) throw new DougApiError({ status: 0, code: CLIENT_ERRORS.NO_KEY, message: 'no account key given and the client has no keypair' });
    return k;
  }

  private get<T>(path: string, query: object = {}): Promise<T> {
    return this.request<T>('GET', path + queryString(query));
  }

  private send<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.request<T>(method, path, body === undefined ? '' : JSON.stringify(body));
  }

  /** One API call; past the account's request budget it is sent again after Retry-After, within rateLimitWaitMs in all. */
  private async request<T>(method: string, pathAndQuery: string, body?: string, sign = method !== 'GET'): Promise<T> {
    const giveUpAt = Date.now() + this.rateLimitWaitMs;
    for (;;) {
      try {
        return await this.requestOnce<T>(method, pathAndQuery, body, sign);
      } catch (e) {
        if (!(e instanceof DougApiError) || e.code !== 'API__RATE_LIMITED') throw e;
        const waitMs = 1000 * (Number(e.context.retryAfterS) || 1);
        if (Date.now() + waitMs > giveUpAt) throw e;
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  private async requestOnce<T>(method: string, pathAndQuery: string, body?: string, sign = method !== 'GET'): Promise<T> {
    const url = new URL(this.baseUrl + pathAndQuery);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (sign) {
      if (!this.keypair) {
        throw new DougApiError({ status: 0, code: CLIENT_ERRORS.NO_KEY, message: `${method} ${url.pathname} must be signed; the client has no keypair` });
      }
      // The signature covers the path as the server sees it, query string included.
      Object.assign(headers, await signRequest(this.keypair, { method, path: url.pathname + url.search, body: body ?? '', delegation: this.delegation }));
      if (body) headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.fetchFn(url.toString(), { method, headers, body: body || undefined });
    } catch (err) {
      throw new DougApiError({
        status: 0,
        code: CLIENT_ERRORS.NETWORK,
        message: `cannot reach ${url.origin}: ${describe(err)}`,
        context: { url: url.toString() },
      });
    }
    const text = await res.text();
    let parsed: unknown;
    let isJson = true;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      isJson = false;
    }
    if (res.ok) {
      if (!isJson || parsed === undefined) {
        throw new DougApiError({ status: res.status, code: CLIENT_ERRORS.BAD_RESPONSE, message: `${method} ${url.pathname} answered ${res.status} without a JSON body`, context: { body: text.slice(0, 200) } });
      }
      return parsed as T;
    }
    const error = apiErrorOf(parsed);
    if (error) throw new DougApiError({ status: res.status, ...error, context: { ...error.context, ...(res.headers.get('retry-after') ? { retryAfterS: Number(res.headers.get('retry-after')) } : {}) } });
    throw new DougApiError({
      status: res.status,
      code: CLIENT_ERRORS.BAD_RESPONSE,
      message: `${method} ${url.pathname} answered ${res.status} without an API error body`,
      context: { body: text.slice(0, 200) },
    });
  }
}

function apiErrorOf(value: unknown): { code: string; message: string; context: Record<string, unknown> } | null {
  if (!isRecord(value) || !isRecord(value.error)) return null;
  const { code, message, context } = value.error;
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  return { code, message, context: isRecord(context) ? context : {} };
}

/** An error's message with its cause (undici says only "fetch failed" and puts ECONNREFUSED in the cause). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause ? `${err.message} (${cause})` : err.message;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unwrapWithdrawal(res: Partial<WithdrawalResponse>, what: string): WithdrawalWire {
  if (!isRecord(res.withdrawal)) throw new DougApiError({ status: 200, code: CLIENT_ERRORS.BAD_RESPONSE, message: `${what} answered without a withdrawal`, context: {} });
  return res.withdrawal;
}

function seg(value: string): string {
  if (value === '') throw new DougApiError({ status: 0, code: CLIENT_ERRORS.INVALID_ARGUMENT, message: 'an id in the path is empty' });
  return encodeURIComponent(value);
}

/** Query string of the defined fields, in the order given. */
function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query) as [string, unknown][]) if (v !== undefined && v !== null) params.append(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}
