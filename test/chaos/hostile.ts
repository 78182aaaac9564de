import WebSocket from 'ws';
import { toJsonSchema } from '@valibot/to-json-schema';
import { AgentMessageSchema } from '../../durable-objects/contracts/agent-messages.ts';
import { AGENT_PROTOCOL_VERSION, helloMessage } from '../../durable-objects/contracts/agent.ts';
import { manifestSha256, type ChatManifest } from '../../durable-objects/contracts/chat.ts';
import type { ChainInfo, ROUTES } from '../../durable-objects/contracts/api.ts';
import { routeScope } from '../../durable-objects/contracts/openapi.ts';
import { AUTH_HEADERS, createDelegation, DELEGATION_SCOPES, generateKeypair, sha256Hex, signRequest, signText, type Delegation, type DelegationScope, type Keypair, type SigningScope } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { MAX_AGENT_FRAME_BYTES } from '../../durable-objects/domain/dispatch/index.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { prng } from '../../gpu-agent/models/prng.ts';
import { DougClient, type FetchLike } from '../../sdk/client.ts';
import { depositToEscrow, faucetAndDeposit, transferToCustody } from '../../sdk/deposit.ts';
import { startStack } from '../e2e/stack.ts';
import { brokenBodies, CODE, errorCode, fuzzInit, fuzzRequests, sample, type OpenApiDocument, type Operation, type Schema } from '../support/fuzz.ts';
import { anyShapeModel } from '../support/onnx-model.ts';

/**
 * The hostile-input part of the chaos suite (issue 16), against the live local stack (wrangler dev,
 * `startStack`): requests generated from GET /v1/openapi.json and broken (test/support/fuzz.ts),
 * signed requests replayed byte for byte, signatures that do not hold, every mutating route tried
 * on another key's resources and under a delegation that lacks its scope, and agent socket frames
 * generated from the protocol's schemas and broken the same way. Every answer must be below 500, a
 * refusal must carry a coded error, nothing broken may be accepted, and a refused request changes
 * nothing for the keys involved (balances, holds, orders, ledger, jobs, API keys). The list of
 * mutating routes comes from the document: one without an authorization or a replay case is a
 * failure, not a silent skip.
 */

export interface HostileReport {
  requests: number;
  fiveXx: number;
  uncoded: number;
  accepted: number;
  stateChanges: number;
  replays: number;
  authzAttempts: number;
  socketFrames: number;
  failures: string[];
}

type Json = Record<string, unknown>;
type Body = string | Uint8Array;

/** A request ready to send (and to send again, byte for byte). */
interface Prepared {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Body;
}

interface Answer {
  status: number;
  text: string;
  json: unknown;
  code: string | undefined;
  retryAfterS: number;
}

/** Who signs: a wallet's own key, or a key acting for a wallet under its delegation. */
interface Signer {
  key: Keypair;
  delegation?: Delegation;
}

/** The scope a route needs of a signer (workers/routes): a delegation scope, the wallet itself, a session key, or an API key. */
type RouteScope = SigningScope | 'bearer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hour = () => Date.now() + 3600_000;
/** A job spec whose model and inputs were never uploaded: bids take it (nothing can be checked), agents are never asked to run it here. */
const SPEC = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 1024, tolerance: null };
/**
 * Prices no other client uses (the stack may be shared with other traffic): resting bids at LOW,
 * resting asks at HIGH, never crossing; jobs at JOB_PRICE with the provider's ask, which only bids
 * requiring its tag reach (no one else bids that high). The book is watched at these prices only.
 */
const LOW = '1';
const JOB_PRICE = '123456789';
const HIGH = '987654321000';
const OUR_PRICES = new Set([LOW, JOB_PRICE, HIGH]);
/** Close codes the agent socket documents (runtime/agent-gateway.ts): bye, no heartbeat, no hello, frame too large. */
const DOCUMENTED_CLOSES = new Set([1000, 1001, 1008, 1009]);
const FRAME_CODES = ['AGENT__MALFORMED_MESSAGE', 'AGENT__RESULT_INVALID'];

// ---- the run: counters, failures, HTTP ---------------------------------------------------------

class Run {
  readonly report: HostileReport = { requests: 0, fiveXx: 0, uncoded: 0, accepted: 0, stateChanges: 0, replays: 0, authzAttempts: 0, socketFrames: 0, failures: [] };
  readonly fetchFn: FetchLike;

  constructor(
    readonly url: string,
    readonly log: (line: string) => void,
  ) {
    this.fetchFn = (u, init) => {
      this.report.requests++;
      return fetch(u, init);
    };
  }

  fail(line: string): void {
    this.report.failures.push(line);
  }

  client(signer: Signer): DougClient {
    return new DougClient({ baseUrl: this.url, keypair: signer.key, delegation: signer.delegation, fetch: this.fetchFn });
  }

  /** Sends one request; a request that gets no answer at all is a failure (status 0). */
  async send(p: Prepared): Promise<Answer> {
    try {
      const res = await this.fetchFn(this.url + p.path, { method: p.method, headers: p.headers, ...(p.body !== undefined ? { body: p.body as BodyInit } : {}) });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, text, json, code: errorCode(text), retryAfterS: Number(res.headers.get('retry-after')) || 1 };
    } catch (e) {
      this.fail(`${p.what}: no answer (${e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` : String(e)})`);
      return { status: 0, text: '', json: undefined, code: undefined, retryAfterS: 1 };
    }
  }

  /** GET, answered 200 with JSON (anything else is a failure and answers null). */
  async read<T>(path: string): Promise<T | null> {
    const a = await this.send({ what: `GET ${path}`, method: 'GET', path, headers: {} });
    if (a.status === 200 && a.json !== undefined) return a.json as T;
    if (a.status !== 0) this.fail(`GET ${path}: ${a.status} ${a.text.slice(0, 200)}`);
    return null;
  }

  /** Sends a request built afresh each try, waiting out the account's request budget (a 429 is a refusal that changed nothing). */
  async sendWithin(build: () => Promise<Prepared>): Promise<{ prepared: Prepared; answer: Answer }> {
    for (let i = 0; ; i++) {
      const prepared = await build();
      const answer = await this.send(prepared);
      if (answer.code !== 'API__RATE_LIMITED' || i >= 2) return { prepared, answer };
      this.log(`  ${prepared.what}: rate limited, waiting ${answer.retryAfterS} s`);
      await sleep(answer.retryAfterS * 1000);
    }
  }

  /** Classifies an answer to hostile input; true when it is a coded refusal. */
  refused(what: string, a: Answer, expect?: readonly string[]): boolean {
    if (a.status === 0) return false;
    if (a.status >= 500) {
      this.report.fiveXx++;
      this.fail(`${what}: ${a.status} ${a.text.slice(0, 200)}`);
      return false;
    }
    if (a.status < 400) {
      this.report.accepted++;
      this.fail(`${what}: accepted (${a.status}) ${a.text.slice(0, 200)}`);
      return false;
    }
    if (a.code === undefined) {
      this.report.uncoded++;
      this.fail(`${what}: ${a.status} without a coded error: ${a.text.slice(0, 200)}`);
      return false;
    }
    if (expect && !expect.includes(a.code)) this.fail(`${what}: refused with ${a.code} (${a.status}), expected ${expect.join(' or ')}`);
    return true;
  }

  /** A request that must be accepted (setting up, the first send of a replay); false and a failure when it is not. */
  accepted(what: string, a: Answer): boolean {
    if (a.status >= 200 && a.status < 300) return true;
    if (a.status >= 500) this.report.fiveXx++;
    if (a.status !== 0) this.fail(`${what}: a valid request was not accepted: ${a.status} ${a.text.slice(0, 200)}`);
    return false;
  }
}

/** Headers that sign a request; `as` claims another key than the one that signs (a signature by the wrong key). */
async function prepare(o: {
  what: string;
  signer: Signer;
  method: string;
  path: string;
  body?: Body;
  contentType?: string;
  timestamp?: number;
  nonce?: string;
  signBody?: Body;
  signPath?: string;
  signMethod?: string;
  as?: string;
  drop?: string;
  set?: Record<string, string>;
}): Promise<Prepared> {
  const body = o.body ?? '';
  const headers = await signRequest(o.signer.key, {
    method: o.signMethod ?? o.method,
    path: o.signPath ?? o.path,
    body: o.signBody ?? body,
    ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
    ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
    ...(o.signer.delegation ? { delegation: o.signer.delegation } : {}),
  });
  if (o.as) headers[AUTH_HEADERS.key] = o.as;
  if (o.drop) delete headers[o.drop];
  Object.assign(headers, o.set ?? {});
  if (body.length > 0) headers['content-type'] = o.contentType ?? 'application/json';
  return { what: o.what, method: o.method, path: o.path, headers, ...(o.method === 'GET' ? {} : { body }) };
}

// ---- state: what a refused request must leave alone -------------------------------------------

/** What is watched: accounts (live and read models), jobs, API keys, the market's live book. */
interface Subjects {
  keys: string[];
  jobs?: string[];
  apiKeysOf?: Signer[];
  market?: string;
}

type State = Record<string, string>;

/** The live state only (no read model): balances and holds, jobs, the book, API keys. Cheap enough around each request. */
async function liveState(run: Run, s: Subjects): Promise<State> {
  const out: State = {};
  await Promise.all([
    ...s.keys.map(async (k) => {
      const view = await run.read<Json>(`/v1/accounts/${k}`);
      if (view) {
        // The settlement on chain moves with batches of other accounts' work; balances and holds are what a request could change.
        const { settlement: _s, ...balance } = view;
        out[`account ${k.slice(0, 8)}`] = JSON.stringify(balance);
      }
    }),
    ...(s.jobs ?? []).map(async (id) => {
      const view = await run.read<{ job: { status: string; replicas: { replica: number; status: string; lease: { leaseId: string } | null }[] } }>(`/v1/jobs/${id}`);
      if (view) out[`job ${id}`] = JSON.stringify({ status: view.job.status, replicas: view.job.replicas.map((r) => [r.replica, r.status, r.lease?.leaseId ?? null]) });
    }),
    ...(s.market ? [(async () => {
      const view = await run.read<{ book: { bids: { price: string }[]; asks: { price: string }[] } }>(`/v1/markets/${s.market}?depth=100`);
      if (view) out[`book ${s.market}`] = JSON.stringify([view.book.bids.filter((l) => OUR_PRICES.has(l.price)), view.book.asks.filter((l) => OUR_PRICES.has(l.price))]);
    })()] : []),
    ...(s.apiKeysOf ?? []).map(async (signer) => {
      const { answer } = await run.sendWithin(() => prepare({ what: 'GET /v1/api-keys', signer, method: 'GET', path: '/v1/api-keys' }));
      out[`api keys ${signer.key.publicKey.slice(0, 8)}`] = answer.status === 200 ? JSON.stringify((answer.json as { items: unknown[] }).items) : `${answer.status}`;
    }),
  ]);
  return out;
}

/** Everything watched: the live state plus the read models (holds, orders, ledger, withdrawals) and API keys. */
async function fullState(run: Run, s: Subjects): Promise<State> {
  const out = await liveState(run, s);
  const items = async (path: string) => JSON.stringify((await run.read<{ items: unknown[] }>(path))?.items ?? null);
  await Promise.all([
    ...s.keys.map(async (k) => {
      const short = k.slice(0, 8);
      const [holds, bids, asks, ledger, withdrawals] = await Promise.all([
        items(`/v1/accounts/${k}/holds?limit=200`),
        items(`/v1/bids?owner=${k}&status=all&limit=200`),
        items(`/v1/asks?owner=${k}&status=all&limit=200`),
        run.read<{ items: { seq: number; type: string }[] }>(`/v1/accounts/${k}/ledger?limit=500`),
        items(`/v1/accounts/${k}/withdrawals?limit=200`),
      ]);
      Object.assign(out, {
        [`holds ${short}`]: holds,
        [`bids ${short}`]: bids,
        [`asks ${short}`]: asks,
        [`ledger ${short}`]: JSON.stringify(ledger?.items.map((e) => `${e.seq}:${e.type}`) ?? null),
        [`withdrawals ${short}`]: withdrawals,
      });
    }),
  ]);
  return out;
}

/** The full state once it holds still (the read models are fed through a queue that batches for up to a second). */
async function settledState(run: Run, s: Subjects): Promise<State> {
  let before = await fullState(run, s);
  for (let i = 0; i < 8; i++) {
    await sleep(1200);
    const now = await fullState(run, s);
    if (sameState(before, now)) return now;
    before = now;
  }
  run.log('  (the state did not hold still within 10 s)');
  return before;
}

const sameState = (a: State, b: State) => Object.keys({ ...a, ...b }).every((k) => a[k] === b[k]);

/** Counts and reports each watched thing that changed. */
function compareState(run: Run, what: string, before: State, after: State): void {
  for (const k of Object.keys({ ...before, ...after })) {
    if (before[k] === after[k]) continue;
    run.report.stateChanges++;
    run.fail(`${what}: ${k} changed: ${(before[k] ?? 'nothing').slice(0, 300)} → ${(after[k] ?? 'nothing').slice(0, 300)}`);
  }
}

/** Sends a request that must be refused (with one of `expect`), and checks that the live state of `subjects` did not move. */
async function refusedWithoutChange(run: Run, o: { what: string; build: () => Promise<Prepared>; expect?: readonly string[]; subjects: Subjects }): Promise<Answer> {
  const before = await liveState(run, o.subjects);
  const { answer } = await run.sendWithin(o.build);
  run.refused(o.what, answer, o.expect);
  compareState(run, o.what, before, await liveState(run, o.subjects));
  return answer;
}

// ---- the agent socket --------------------------------------------------------------------------

/** One agent WebSocket to the market (ws), its messages kept until taken. */
class AgentSocket {
  private readonly inbox: Json[] = [];
  private wake: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;
  /** Set by whoever closes it on purpose. */
  closing = false;

  private constructor(
    readonly ws: WebSocket,
    private readonly run: Run,
    readonly name: string,
  ) {
    ws.on('message', (data, isBinary) => {
      let message: unknown;
      try {
        message = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : String(data));
      } catch {
        message = undefined;
      }
      if (message === null || typeof message !== 'object') run.fail(`${name}: the server sent a frame that is not a JSON message: ${String(data).slice(0, 100)}`);
      else this.inbox.push(message as Json);
      for (const w of this.wake.splice(0)) w();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.wake.splice(0)) w();
    });
    ws.on('error', () => {
      // A close follows; what it means is judged there.
    });
  }

  /** Opens a socket to `market`; a refused upgrade answers its HTTP status and body instead. */
  static open(run: Run, market: string, name: string): Promise<AgentSocket | Answer> {
    run.report.requests++;
    const ws = new WebSocket(`${run.url.replace(/^http/, 'ws')}/v1/markets/${market}/agent`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    return new Promise((resolve) => {
      ws.once('open', () => resolve(new AgentSocket(ws, run, name)));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: undefined, code: errorCode(text), retryAfterS: 1 }));
      });
      ws.once('error', (e) => resolve({ status: 0, text: e.message, json: undefined, code: undefined, retryAfterS: 1 }));
    });
  }

  /** The next message that `pick` takes (earlier others are kept), or null on timeout or close. */
  async next(pick: (m: Json) => boolean, timeoutMs = 5000): Promise<Json | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pick);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (this.closed || Date.now() > deadline) return null;
      await new Promise<void>((r) => {
        this.wake.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Takes every unread message. */
  drain(): Json[] {
    return this.inbox.splice(0);
  }

  send(frame: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== WebSocket.OPEN) return resolve();
      this.ws.send(frame, () => resolve());
    });
  }

  close(): void {
    this.closing = true;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000, 'done');
  }

  /** Answers the challenge with a hello signed by `agent` (or as told), for `askId`. */
  async hello(o: { agent: Keypair; askId: string; market: string; signedBy?: Keypair; agentKey?: string; v?: number; nonce?: string; delegation?: Delegation; more?: Json }): Promise<string> {
    const nonce = o.nonce ?? String((await this.next((m) => m.type === 'challenge'))?.nonce ?? '');
    const agentKey = o.agentKey ?? o.agent.publicKey;
    const signature = await signText(o.signedBy ?? o.agent, helloMessage({ market: o.market, nonce, agentKey }));
    const hello = {
      type: 'hello',
      v: o.v ?? AGENT_PROTOCOL_VERSION,
      agentKey,
      signature,
      askId: o.askId,
      hardware: { cpuModel: 'chaos', cores: 2, memoryGb: 4, gpus: [] },
      runtime: { onnxruntime: '1.30.0', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: ['avx2'] },
      ...(o.delegation ? { delegation: o.delegation } : {}),
      ...o.more,
    };
    const text = JSON.stringify(hello);
    await this.send(text);
    return text;
  }
}

/** The provider's well-behaved agent: says hello, announces slots, keeps every lease it is given alive, returns no result. */
class ProviderAgent {
  readonly leases = new Map<string, { jobId: string; leaseId: string }>();
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly socket: AgentSocket,
    private readonly run: Run,
  ) {}

  static async start(run: Run, o: { key: Keypair; askId: string; market: string; slots: number }): Promise<ProviderAgent | null> {
    const socket = await AgentSocket.open(run, o.market, 'the provider agent');
    if (!(socket instanceof AgentSocket)) {
      run.fail(`the provider agent's socket was refused: ${socket.status} ${socket.text.slice(0, 200)}`);
      return null;
    }
    await socket.hello({ agent: o.key, askId: o.askId, market: o.market });
    const welcome = await socket.next((m) => m.type === 'welcome' || m.type === 'error', 10_000);
    if (welcome?.type !== 'welcome') {
      run.fail(`the provider agent was not welcomed: ${JSON.stringify(welcome)}`);
      return null;
    }
    const agent = new ProviderAgent(socket, run);
    const heartbeatMs = Number(welcome.heartbeatMs) || 1000;
    agent.timer = setInterval(() => agent.tick(), Math.max(200, Math.floor(heartbeatMs / 2)));
    await socket.send(JSON.stringify({ type: 'ready', slots: o.slots }));
    return agent;
  }

  /** Takes what the server sent (assignments, cancellations) and heartbeats the leases held. */
  private tick(): void {
    for (const m of this.socket.drain()) {
      if (m.type === 'assign') this.leases.set(String(m.leaseId), { jobId: String(m.jobId), leaseId: String(m.leaseId) });
      else if (m.type === 'cancel') this.leases.delete(String(m.leaseId));
      else if (m.type === 'error') this.run.fail(`the provider agent was refused: ${JSON.stringify(m).slice(0, 200)}`);
    }
    if (this.socket.closed && !this.socket.closing) {
      this.run.fail(`the provider agent's socket closed (${this.socket.closed.code} ${this.socket.closed.reason})`);
      this.socket.closing = true;
    }
    void this.socket.send(JSON.stringify({ type: 'heartbeat', leases: [...this.leases.keys()] }));
  }

  /** The lease it holds for `jobId`, once assigned. */
  async leaseOf(jobId: string, timeoutMs = 15_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const l of this.leases.values()) if (l.jobId === jobId) return l.leaseId;
      await sleep(100);
    }
    return null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.socket.close();
  }
}

// ---- the world the hostile requests aim at ----------------------------------------------------

interface World {
  run: Run;
  doc: OpenApiDocument;
  market: string;
  chain: ChainInfo | null;
  /** Attacker (funded), victim (funded, owns resources), provider (its agent holds the victim's job), hostile agent, withdrawer (funded). */
  A: Keypair;
  B: Keypair;
  P: Keypair;
  H: Keypair;
  W: Keypair;
  /** B's sessions: every scope; every scope but one; expired. A's own session; and one A forged for B (A signed a delegation naming B). */
  bAll: Signer;
  bWithout: Record<DelegationScope, Signer>;
  bExpired: Signer;
  aAll: Signer;
  forged: Signer;
  pAsk: string;
  /** The provider ask's attribute `chaos`, which the job bids require (so that no other ask takes them). */
  tag: string;
  hAsk: string;
  bBid: string;
  bAsk: string;
  job1: string;
  job1Lease: string | null;
  bApiKey: { id: string; key: string };
  bDeposit: string | null;
  agent: ProviderAgent | null;
  /** A's session that revokes itself in the replay phase. */
  replaySession?: Signer;
  n: number;
}

/** A fresh client id (unique per request). */
const clientId = (w: World, tag: string) => `chaos-${tag}-${++w.n}-${Date.now().toString(36)}`;
const apiKeyId = (w: World) => `chaos${(++w.n).toString(36)}${Date.now().toString(36)}`.slice(0, 32);
const json = (v: unknown) => JSON.stringify(v);

/** A valid request of each signed route, on the victim B's things where it names one: the path and body a correct client of B would send. */
type ValidRequest = { path: string; body: Body; contentType?: string };
const VALID: Record<string, (w: World) => Promise<ValidRequest> | ValidRequest> = {
  placeAsk: (w) => ({ path: '/v1/asks', body: json({ market: w.market, clientId: clientId(w, 'ask'), price: HIGH, capacity: 1, attributes: {}, expiresAt: hour() }) }),
  placeAskBatch: (w) => ({ path: '/v1/asks/batch', body: json({ market: w.market, asks: [{ clientId: clientId(w, 'batch'), price: HIGH, capacity: 1, attributes: {}, expiresAt: hour() }] }) }),
  cancelAsk: (w) => ({ path: `/v1/asks/${w.bAsk}`, body: '' }),
  placeBid: (w) => ({ path: '/v1/bids', body: json({ market: w.market, clientId: clientId(w, 'bid'), maxPrice: LOW, units: 1, replicas: 1, requirements: [], expiresAt: hour(), ioc: false, job: SPEC }) }),
  cancelBid: (w) => ({ path: `/v1/bids/${w.bBid}`, body: '' }),
  jobResult: (w) => ({ path: `/v1/jobs/${w.job1}/result`, body: '' }),
  challengeJob: (w) => ({ path: `/v1/jobs/${w.job1}/challenge`, body: '{}' }),
  cancelJob: (w) => ({ path: `/v1/jobs/${w.job1}/cancel`, body: '{}' }),
  uploadModel: () => ({ path: '/v1/models', body: anyShapeModel('chaos-valid'), contentType: 'application/octet-stream' }),
  uploadInputs: () => ({ path: '/v1/inputs', body: json({ tensors: [toWire('x', 'float32', [1], new Uint8Array(4))] }) }),
  faucet: () => ({ path: '/v1/faucet', body: json({ amount: '1' }) }),
  deposit: async (w) => ({ path: '/v1/deposits', body: json({ signature: w.bDeposit ?? (await randomSignature()) }) }),
  escrowExit: async (w) => ({ path: '/v1/escrow/exits', body: json({ signature: w.bDeposit ?? (await randomSignature()) }) }),
  revokeSession: () => ({ path: '/v1/sessions/revoke', body: '{}' }),
  requestWithdrawal: (w) => ({ path: '/v1/withdrawals', body: json({ clientId: clientId(w, 'wd'), amount: '1', destination: w.B.publicKey }) }),
  createApiKey: async (w) => ({ path: '/v1/api-keys', body: json({ id: apiKeyId(w), name: 'chaos', secretSha256: await sha256Hex(`secret-${w.n}`), limit: '1000', expiresAt: hour() }) }),
  apiKeys: () => ({ path: '/v1/api-keys', body: '' }),
  revokeApiKey: (w) => ({ path: `/v1/api-keys/${w.bApiKey.id}`, body: '{}' }),
};

/** A base58 transaction signature that names no transaction. */
async function randomSignature(): Promise<string> {
  const k = await generateKeypair();
  return signText(k, 'chaos');
}

/** Who signs a route's valid request for B: its session for the route that only a session may call, else B itself. */
const victimSigner = (w: World, op: string): Signer => (op === 'revokeSession' ? w.bAll : { key: w.B });

/** Routes refused for want of a chain (or of escrow custody) before their signature is looked at. */
const unconfigured = (w: World, op: string) => (op === 'deposit' && w.chain === null) || (op === 'escrowExit' && !w.chain?.escrow);
const withChainRefusal = (w: World, op: string, codes: readonly string[]) => (unconfigured(w, op) ? [...codes, 'CUSTODY__NOT_CONFIGURED'] : codes);

interface RouteInfo {
  op: string;
  method: string;
  template: string;
  signed: boolean;
  bearer: boolean;
}

/** Every operation of the document, with how it is authorised. */
function routesOf(doc: OpenApiDocument): RouteInfo[] {
  return Object.entries(doc.paths).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]: [string, Operation]) => ({
      op: op.operationId ?? `${method.toUpperCase()} ${template}`,
      method: method.toUpperCase(),
      template,
      signed: op.security !== undefined && template !== '/v1/chat/completions',
      bearer: template === '/v1/chat/completions',
    })),
  );
}

/** Routes that act for a caller: every non-GET, and GETs that are signed (they read the caller's own things). */
const actsForCaller = (r: RouteInfo) => r.method !== 'GET' || r.signed || r.bearer;

async function setUp(run: Run, o: { seed: number }): Promise<World | null> {
  const doc = await run.read<OpenApiDocument>('/v1/openapi.json');
  const markets = await run.read<{ items: { market: string; openAsks: number; openBids: number }[] }>('/v1/markets?limit=200');
  if (!doc || !markets?.items[0]) return null;
  // The quietest market: the stack may be serving others.
  const market = [...markets.items].sort((a, b) => a.openAsks + a.openBids - (b.openAsks + b.openBids))[0]!.market;
  const chainAnswer = await run.send({ what: 'GET /v1/chain', method: 'GET', path: '/v1/chain', headers: {} });
  const chain = chainAnswer.status === 200 ? (chainAnswer.json as ChainInfo) : null;
  const [A, B, P, H, W, aSession, bSession, forgedKey] = await Promise.all(Array.from({ length: 8 }, () => generateKeypair()));
  const sessions = await Promise.all(DELEGATION_SCOPES.map(() => generateKeypair()));
  const expiredKey = await generateKeypair();
  const all = [...DELEGATION_SCOPES];
  const bWithout = Object.fromEntries(
    await Promise.all(DELEGATION_SCOPES.map(async (scope, i) => [scope, { key: sessions[i]!, delegation: await createDelegation(B!, { delegate: sessions[i]!.publicKey, scopes: all.filter((s) => s !== scope), expiresAt: hour() }) }])),
  ) as Record<DelegationScope, Signer>;
  const forgedDelegation = { ...(await createDelegation(A!, { delegate: forgedKey!.publicKey, scopes: all, expiresAt: hour() })), wallet: B!.publicKey };

  // Funding: the faucet, and with a chain a deposit into the marketplace (about a second each, so few keys).
  const funded = await Promise.all(
    [A!, B!, W!].map((k, i) =>
      faucetAndDeposit(run.client({ key: k }), k, 50n * UNITS_PER_DOUG).catch((e: unknown) => {
        run.fail(`funding key ${i}: ${e instanceof Error ? e.message : String(e)}`);
        return null;
      }),
    ),
  );
  const bDeposit = funded[1]?.deposit?.signature ?? null;

  const w: World = {
    run,
    doc,
    market,
    chain,
    A: A!,
    B: B!,
    P: P!,
    H: H!,
    W: W!,
    bAll: { key: bSession!, delegation: await createDelegation(B!, { delegate: bSession!.publicKey, scopes: all, expiresAt: hour() }) },
    bWithout,
    bExpired: { key: expiredKey, delegation: await createDelegation(B!, { delegate: expiredKey.publicKey, scopes: all, expiresAt: Date.now() - 60_000 }) },
    aAll: { key: aSession!, delegation: await createDelegation(A!, { delegate: aSession!.publicKey, scopes: all, expiresAt: hour() }) },
    forged: { key: forgedKey!, delegation: forgedDelegation },
    pAsk: '',
    tag: `hostile${o.seed}x${Date.now().toString(36)}`,
    hAsk: '',
    bBid: '',
    bAsk: '',
    job1: '',
    job1Lease: null,
    bApiKey: { id: '', key: '' },
    bDeposit,
    agent: null,
    n: o.seed * 1000,
  };
  try {
    const p = run.client({ key: w.P });
    const h = run.client({ key: w.H });
    const b = run.client({ key: w.B });
    w.pAsk = (await p.placeAsk({ market, price: JOB_PRICE, capacity: 4, attributes: { chaos: w.tag }, expiresAt: hour() })).order.id;
    w.hAsk = (await h.placeAsk({ market, price: HIGH, capacity: 1, attributes: {}, expiresAt: hour() })).order.id;
    w.agent = await ProviderAgent.start(run, { key: w.P, askId: w.pAsk, market, slots: 4 });
    w.bBid = (await b.placeBid({ market, maxPrice: LOW, units: 1, expiresAt: hour(), job: SPEC })).order.id;
    w.bAsk = (await b.placeAsk({ market, price: HIGH, capacity: 1, attributes: {}, expiresAt: hour() })).order.id;
    const created = await b.createApiKey({ name: 'chaos', limit: '1000', expiresAt: hour() });
    w.bApiKey = { id: created.id, key: created.key };
    const job = await b.placeBid({ market, maxPrice: JOB_PRICE, units: 1, requirements: [{ key: 'chaos', op: 'eq', value: w.tag }], expiresAt: hour(), job: SPEC });
    if (!job.jobId) run.fail(`the victim's job bid was not matched with the provider's ask: ${json(job.order)}`);
    w.job1 = job.jobId ?? job.order.id;
    w.job1Lease = (await w.agent?.leaseOf(w.job1)) ?? null;
    if (w.agent && !w.job1Lease) run.fail(`the provider agent was never assigned the victim's job ${w.job1}`);
  } catch (e) {
    run.fail(`setting up the victim's resources: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
  return w;
}

// ---- 1. schema-driven hostile requests ---------------------------------------------------------

/** Operations a funded signer fuzzes: a broken request there must be refused for being broken, not for want of money. */
const FUNDED_FUZZ = new Set(['placeBid', 'requestWithdrawal']);

async function fuzzPhase(w: World, o: { seed: number; size: 'quick' | 'full' }): Promise<Keypair[]> {
  const { run } = w;
  const seeds = o.size === 'full' ? [o.seed, o.seed + 1] : [o.seed];
  const requests = seeds.flatMap((seed) => [...fuzzRequests(w.doc, { rand: prng(seed), bodies: o.size === 'full' ? 120 : 40, extra: true })]);
  const fresh: Keypair[] = [await generateKeypair()];
  let withFresh = 0;
  const funded = [w.A, w.W];
  let withFunded = 0;
  const signerFor = async (operationId: string): Promise<Keypair> => {
    // Each key well within its account's request budget (300 per 10 s).
    if (FUNDED_FUZZ.has(operationId)) return funded[Math.floor(withFunded++ / 140) % funded.length]!;
    if (++withFresh > 200) {
      fresh.push(await generateKeypair());
      withFresh = 1;
    }
    return fresh.at(-1)!;
  };
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const r = requests[next++]!;
      // The chat API's bodies are read only behind a valid API key: B's (a broken body spends nothing).
      const init = await fuzzInit(r, () => signerFor(r.operationId), { bearer: w.bApiKey.key });
      const answer = await run.send({ what: r.what, method: r.method, path: r.path, headers: init.headers as Record<string, string>, ...(init.body !== undefined ? { body: init.body as string } : {}) });
      if (answer.status === 0) continue;
      if (answer.status < 400 && r.mayAccept) continue;
      run.refused(r.what, answer);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  run.log(`  ${requests.length} generated requests`);
  return fresh;
}

// ---- 2. signatures that do not hold -------------------------------------------------------------

const MIS_SIGNED: { what: string; expect: string; make: (w: World, signer: Signer, r: RouteInfo, v: ValidRequest) => Parameters<typeof prepare>[0] | null }[] = [
  { what: 'signed over another body', expect: 'AUTH__SIGNATURE_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, signBody: typeof v.body === 'string' ? `${v.body} ` : new Uint8Array([...v.body, 0]) }) },
  { what: 'signed by another key', expect: 'AUTH__SIGNATURE_INVALID', make: (w, s, r, v) => ({ what: '', signer: { key: w.A, delegation: s.delegation }, as: s.key.publicKey, method: r.method, path: v.path, body: v.body, contentType: v.contentType }) },
  { what: 'with a stale timestamp', expect: 'AUTH__TIMESTAMP_STALE', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, timestamp: Date.now() - 5 * 60_000 }) },
  { what: 'with a timestamp from the future', expect: 'AUTH__TIMESTAMP_STALE', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, timestamp: Date.now() + 5 * 60_000 }) },
  { what: 'signed for another path', expect: 'AUTH__SIGNATURE_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, signPath: `${v.path}/x` }) },
  { what: 'signed for another method', expect: 'AUTH__SIGNATURE_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, signMethod: r.method === 'POST' ? 'PUT' : 'POST' }) },
  { what: 'without a signature', expect: 'AUTH__MISSING', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, drop: AUTH_HEADERS.signature }) },
  { what: 'with a signature that is not one', expect: 'AUTH__SIGNATURE_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.signature]: '1'.repeat(88) } }) },
  { what: 'with a key that is not one', expect: 'AUTH__KEY_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, as: 'not-a-key' }) },
  { what: 'with a timestamp that is not a number', expect: 'AUTH__TIMESTAMP_STALE', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.timestamp]: '1e3' } }) },
  { what: 'with a malformed nonce', expect: 'API__INVALID_INPUT', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.nonce]: 'a b' } }) },
  { what: 'with a delegation that is not base64url JSON', expect: 'AUTH__DELEGATION_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.delegation]: '!!not-base64!!' } }) },
  { what: 'with a delegation missing its fields', expect: 'AUTH__DELEGATION_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.delegation]: Buffer.from('{"wallet":1,"scopes":["root"]}').toString('base64url') } }) },
  { what: 'with a delegation header of 16 KiB', expect: 'AUTH__DELEGATION_INVALID', make: (_w, s, r, v) => ({ what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType, set: { [AUTH_HEADERS.delegation]: 'A'.repeat(16 * 1024) } }) },
  // Correctly signed, but the body is described as something else.
  { what: 'sent as text/plain', expect: 'API__UNSUPPORTED_MEDIA_TYPE', make: (_w, s, r, v) => (v.body.length === 0 ? null : { what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: 'text/plain' }) },
  { what: 'sent in another charset', expect: 'API__UNSUPPORTED_MEDIA_TYPE', make: (_w, s, r, v) => (v.body.length === 0 ? null : { what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: `${v.contentType ?? 'application/json'}; charset=latin1` }) },
  { what: 'sent as the other media type', expect: 'API__UNSUPPORTED_MEDIA_TYPE', make: (_w, s, r, v) => (v.body.length === 0 ? null : { what: '', signer: s, method: r.method, path: v.path, body: v.body, contentType: v.contentType === 'application/octet-stream' ? 'application/json' : 'application/octet-stream' }) },
];

async function misSignedPhase(w: World): Promise<void> {
  const { run } = w;
  const subjects: Subjects = { keys: [w.A.publicKey, w.B.publicKey], jobs: [w.job1], market: w.market };
  for (const r of routesOf(w.doc).filter((r) => r.signed)) {
    const valid = VALID[r.op];
    if (!valid) continue; // the authorization sweep reports a route it cannot build a request for
    for (const m of MIS_SIGNED) {
      const what = `${r.method} ${r.template} ${m.what}`;
      if (m.make(w, victimSigner(w, r.op), r, await valid(w)) === null) continue;
      await refusedWithoutChange(run, {
        what,
        build: async () => prepare({ ...m.make(w, victimSigner(w, r.op), r, await valid(w))!, what }),
        expect: withChainRefusal(w, r.op, [m.expect]),
        subjects,
      });
    }
  }
}

// ---- 3. authorization: another key's resources, delegations that do not cover the route ------

interface Attempt {
  what: string;
  signer: Signer;
  /** The request (default: the route's valid request for B). */
  request?: (w: World) => Promise<ValidRequest> | ValidRequest;
  expect?: readonly string[];
  /** Checked after the refusal: what else must still hold. */
  after?: (w: World) => Promise<string | null>;
}

/** Each route that acts for a caller: the attempts on other keys' things beyond the generic ones (the scope it needs is the contract's: routeScope). */
const AUTHZ: Record<string, { others: (w: World) => Attempt[] }> = {
  placeAsk: { others: () => [] },
  placeAskBatch: { others: () => [] },
  cancelAsk: {
    others: (w) => [
      { what: "A cancels B's ask", signer: { key: w.A }, expect: ['MARKET__NOT_ORDER_OWNER'] },
      { what: "A's session cancels B's ask", signer: w.aAll, expect: ['MARKET__NOT_ORDER_OWNER'] },
      { what: "A cancels the provider's ask", signer: { key: w.A }, request: (w) => ({ path: `/v1/asks/${w.pAsk}`, body: '' }), expect: ['MARKET__NOT_ORDER_OWNER'] },
    ],
  },
  placeBid: { others: () => [] },
  cancelBid: {
    others: (w) => [
      { what: "A cancels B's bid", signer: { key: w.A }, expect: ['MARKET__NOT_ORDER_OWNER'] },
      { what: "A's session cancels B's bid", signer: w.aAll, expect: ['MARKET__NOT_ORDER_OWNER'] },
      { what: "A cancels B's matched bid (its job)", signer: { key: w.A }, request: (w) => ({ path: `/v1/bids/${w.job1}`, body: '' }) },
    ],
  },
  jobResult: { others: (w) => [{ what: "A reads B's job result", signer: { key: w.A }, expect: ['AUTH__FORBIDDEN'] }] },
  challengeJob: { others: (w) => [{ what: "A challenges B's job", signer: { key: w.A }, expect: ['JOB__NOT_BUYER'] }] },
  cancelJob: {
    others: (w) => [
      { what: "A cancels B's job", signer: { key: w.A }, expect: ['JOB__NOT_BUYER'] },
      { what: "the provider cancels B's job", signer: { key: w.P }, expect: ['JOB__NOT_BUYER'] },
    ],
  },
  uploadModel: { others: () => [] },
  uploadInputs: { others: () => [] },
  faucet: { others: () => [] },
  deposit: {
    others: (w) => (w.bDeposit ? [{ what: "A submits B's deposit again", signer: { key: w.A }, expect: ['CUSTODY__DEPOSIT_ALREADY_CREDITED'] }] : []),
  },
  escrowExit: {
    others: (w) => (w.bDeposit ? [{ what: "A submits B's deposit as B's exit from escrow", signer: { key: w.A } }] : []),
  },
  revokeSession: {
    others: (w) => [
      {
        what: "A presents B's session's delegation to revoke it",
        signer: { key: w.A, delegation: w.bAll.delegation! },
        expect: ['AUTH__DELEGATION_INVALID'],
        after: async (w) => {
          const { answer } = await w.run.sendWithin(() => prepare({ what: 'GET /v1/api-keys', signer: w.bAll, method: 'GET', path: '/v1/api-keys' }));
          return answer.status === 200 ? null : `B's session no longer signs: ${answer.status} ${answer.text.slice(0, 200)}`;
        },
      },
    ],
  },
  requestWithdrawal: {
    others: (w) => [{ what: "A's session (every scope) withdraws A's money to B", signer: w.aAll, expect: ['AUTH__FORBIDDEN'] }],
  },
  createApiKey: { others: () => [] },
  apiKeys: { others: () => [] },
  revokeApiKey: {
    others: (w) => [
      { what: "A revokes B's API key", signer: { key: w.A }, expect: ['ACCOUNT__API_KEY_NOT_FOUND'] },
      { what: "A's session revokes B's API key", signer: w.aAll, expect: ['ACCOUNT__API_KEY_NOT_FOUND'] },
    ],
  },
  chatCompletions: { others: () => [] },
};

/** The attempts every signed route gets: its valid request for B under a delegation that does not cover it, forged, expired, or another key's. */
function genericAttempts(w: World, op: string, scope: Exclude<RouteScope, 'bearer'>): Attempt[] {
  const out: Attempt[] = [];
  if (scope === 'owner') out.push({ what: "B's session with every scope (the wallet alone may)", signer: w.bAll, expect: ['AUTH__FORBIDDEN'] });
  else if (scope === 'delegated') out.push({ what: "B's wallet itself (only a session may)", signer: { key: w.B }, expect: ['AUTH__FORBIDDEN'] });
  else out.push({ what: `B's session without scope ${scope}`, signer: w.bWithout[scope], expect: ['AUTH__FORBIDDEN'] });
  out.push(
    { what: 'a delegation A forged in B’s name', signer: w.forged, expect: ['AUTH__DELEGATION_INVALID'] },
    { what: "B's expired delegation", signer: w.bExpired, expect: ['AUTH__DELEGATION_INVALID'] },
  );
  if (op !== 'revokeSession') out.push({ what: "B's session's delegation presented by A", signer: { key: w.A, delegation: w.bAll.delegation! }, expect: ['AUTH__DELEGATION_INVALID'] });
  return out;
}

/** The last path segment with its last character percent-escaped: the same resource, spelled another way. */
function escapedId(path: string): string | null {
  const m = /^(.*\/)([^/]*)([A-Za-z0-9])(\/(?:result|challenge|cancel))?$/.exec(path);
  return m ? `${m[1]}${m[2]}%${m[3]!.charCodeAt(0).toString(16).toUpperCase()}${m[4] ?? ''}` : null;
}

/** Bearer attempts on the chat API: no key, B's key with a wrong secret, a key B never made. */
function bearerAttempts(w: World): { what: string; authorization: string | null }[] {
  const [, , id] = /^sk-doug_([^_]+)_([^_]+)_/.exec(w.bApiKey.key) ?? [];
  return [
    { what: 'without an API key', authorization: null },
    { what: "B's API key with a wrong secret", authorization: `Bearer sk-doug_${w.B.publicKey}_${id ?? 'x'}_${'1'.repeat(40)}` },
    { what: 'an API key B never made', authorization: `Bearer sk-doug_${w.B.publicKey}_chaosnone_${'1'.repeat(40)}` },
    { what: 'a malformed API key', authorization: 'Bearer sk-doug_x' },
  ];
}

async function authzPhase(w: World): Promise<void> {
  const { run } = w;
  const subjects: Subjects = { keys: [w.A.publicKey, w.B.publicKey, w.P.publicKey], jobs: [w.job1], market: w.market };
  for (const r of routesOf(w.doc).filter(actsForCaller)) {
    const table = AUTHZ[r.op];
    if (!table) {
      run.fail(`route ${r.method} ${r.template} (${r.op}) has no authorization case`);
      continue;
    }
    // A signed route's scope is the contract's (contracts/openapi.ts); a route acting for a caller without a signature takes an API key.
    const scope: RouteScope = routeScope(r.op as keyof typeof ROUTES) ?? 'bearer';
    if (scope === 'bearer') {
      for (const b of bearerAttempts(w)) {
        run.report.authzAttempts++;
        const body = json({ model: 'chaos', messages: [{ role: 'user', content: 'hi' }] });
        const what = `${r.method} ${r.template} ${b.what}`;
        await refusedWithoutChange(run, {
          what,
          build: async () => ({ what, method: r.method, path: r.template, headers: { 'content-type': 'application/json', ...(b.authorization ? { authorization: b.authorization } : {}) }, body }),
          subjects: { ...subjects, apiKeysOf: [{ key: w.B }] },
        });
      }
      continue;
    }
    const valid = VALID[r.op];
    if (!valid) {
      run.fail(`route ${r.method} ${r.template} (${r.op}) has no valid request to build its authorization case on`);
      continue;
    }
    // A route naming a resource in its path: B names its own with a percent-escape (ids never need one).
    const escaped: Attempt[] = r.template.includes('{')
      ? [{ what: 'B names its own resource with a percent-escape', signer: victimSigner(w, r.op), request: async (w) => { const v = await valid(w); return { ...v, path: escapedId(v.path) ?? v.path }; } }]
      : [];
    for (const a of [...genericAttempts(w, r.op, scope), ...table.others(w), ...escaped]) {
      run.report.authzAttempts++;
      const what = `${r.method} ${r.template}: ${a.what}`;
      await refusedWithoutChange(run, {
        what,
        build: async () => {
          const v = await (a.request ?? valid)(w);
          return prepare({ what, signer: a.signer, method: r.method, path: v.path, body: v.body, contentType: v.contentType });
        },
        expect: a.expect ? withChainRefusal(w, r.op, a.expect) : undefined,
        subjects,
      });
      const problem = await a.after?.(w);
      if (problem) run.fail(`${what}: ${problem}`);
    }
  }
  // A's own list of API keys names none of B's.
  const { answer } = await run.sendWithin(() => prepare({ what: 'GET /v1/api-keys', signer: { key: w.A }, method: 'GET', path: '/v1/api-keys' }));
  if (answer.text.includes(w.bApiKey.id)) run.fail(`GET /v1/api-keys signed by A lists B's key ${w.bApiKey.id}`);
}

// ---- 4. the agent socket -----------------------------------------------------------------------

/** Frames generated from the agent protocol's schemas, each broken (fuzz.ts's breaks); none past 1 MiB (the frame limit has its own case). */
function brokenFrames(rand: () => number, perMessage: number): string[] {
  const schema = toJsonSchema(AgentMessageSchema as never, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' }) as { oneOf?: Schema[]; anyOf?: Schema[] };
  const variants = schema.oneOf ?? schema.anyOf ?? [];
  const frames = variants.flatMap((v) => brokenBodies(v, rand, perMessage).map((b) => JSON.stringify(b)));
  return frames.filter((f) => f !== undefined && f.length <= 1024 * 1024);
}

/** Well-formed messages of every type but hello, for a socket that has not said hello. */
async function wellFormed(w: World): Promise<string[]> {
  const outputs: WireTensor[] = [toWire('y', 'float32', [1], new Uint8Array(4))];
  return [
    { type: 'ready', slots: 1 },
    { type: 'start', jobId: w.job1, leaseId: w.job1Lease ?? 'lease_x' },
    { type: 'heartbeat', leases: [w.job1Lease ?? 'lease_x'] },
    { type: 'result', jobId: w.job1, leaseId: w.job1Lease ?? 'lease_x', outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 0 } },
    { type: 'error', jobId: w.job1, leaseId: w.job1Lease ?? 'lease_x', code: 'AGENT__RUN_FAILED', message: 'chaos', failure: 'runtime' },
    { type: 'stage-output', id: 'chaos', token: 1, ms: 1 },
    { type: 'stage-error', id: 'chaos', code: 'STAGE__FAILED', message: 'chaos' },
  ].map((m) => JSON.stringify(m));
}

class SocketPhase {
  private probes = 0;
  /** How the frames were refused, by code (for the log). */
  private readonly codes = new Map<string, number>();
  constructor(private readonly w: World) {}

  private get run(): Run {
    return this.w.run;
  }

  async open(name: string): Promise<AgentSocket | null> {
    const s = await AgentSocket.open(this.run, this.w.market, name);
    if (s instanceof AgentSocket) return s;
    this.run.refused(`${name}: opening the socket`, s);
    if (s.status !== 0 && s.status < 500 && s.code) this.run.fail(`${name}: the socket was refused (${s.code})`);
    return null;
  }

  /** Sends a frame that must be refused with a coded error frame (one of `codes`). */
  async refused(sock: AgentSocket, what: string, frame: string | Buffer, codes: readonly string[] | null): Promise<boolean> {
    this.run.report.socketFrames++;
    await sock.send(frame);
    const m = await sock.next((m) => m.type === 'error', 10_000);
    if (!m) {
      this.run.fail(sock.closed ? `${what}: the socket closed (${sock.closed.code} ${sock.closed.reason}) instead of refusing the frame` : `${what}: no refusal within 10 s`);
      return false;
    }
    const code = typeof m.code === 'string' ? m.code : '';
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    if (!CODE.test(code) || typeof m.message !== 'string') {
      this.run.report.uncoded++;
      this.run.fail(`${what}: refused without a coded error: ${JSON.stringify(m).slice(0, 200)}`);
    } else if (codes && !codes.includes(code)) this.run.fail(`${what}: refused with ${code} (${String(m.message).slice(0, 100)}), expected ${codes.join(' or ')}`);
    return true;
  }

  /** Sends a frame the protocol may leave unanswered (a report about nothing); a probe after it must still be answered. */
  async quiet(sock: AgentSocket, what: string, frame: string): Promise<void> {
    this.run.report.socketFrames++;
    await sock.send(frame);
    const probe = `probe-${++this.probes}`;
    await this.refused(sock, `${what} (then a probe)`, JSON.stringify({ type: 'start', jobId: probe, leaseId: probe }), null);
    for (const m of sock.drain()) {
      if (m.type === 'error' && !CODE.test(String(m.code))) this.run.fail(`${what}: answered without a coded error: ${JSON.stringify(m).slice(0, 200)}`);
    }
  }

  /**
   * A stage holder's hostile manifests: it announces chat stages of manifests that do not hold
   * together (numbers that do not fit, a tokenizer that is not the one named, one that is not JSON,
   * one with token ids of its choosing, one larger than its model), and one it never announced. Each
   * is refused with a coded error, and no model of theirs is listed.
   */
  async stageHolder(): Promise<void> {
    const { w, run } = this;
    const tokenizer = (vocab: Record<string, number>) => JSON.stringify({ model: { type: 'BPE', vocab, merges: [] }, pre_tokenizer: { type: 'ByteLevel' } });
    const manifestOf = async (name: string, tokenizerText: string, over: Json = {}) => ({
      manifest: { name, vocab: 16, embed: 8, heads: 2, layers: 1, maxPositions: 16, endTokens: [0], tokenizerSha256: await sha256Hex(tokenizerText), stages: [{ from: 0, to: 0, sha256: 'c'.repeat(64) }], ...over },
      tokenizer: tokenizerText,
    });
    const cases = [
      { what: 'a manifest whose numbers do not fit', ...(await manifestOf('chaos-embed', tokenizer({ a: 0 }), { embed: 7 })) },
      { what: 'a manifest sent with another tokenizer', ...(await manifestOf('chaos-other', tokenizer({ a: 0 }))), tokenizer: tokenizer({ b: 0 }) },
      { what: 'a manifest whose tokenizer is not JSON', ...(await manifestOf('chaos-text', 'not json')) },
      { what: 'a manifest whose tokenizer names token id 4e9', ...(await manifestOf('chaos-huge', tokenizer({ a: 0, b: 4_000_000_000 }))) },
      { what: 'a manifest whose tokenizer is larger than its model', ...(await manifestOf('chaos-large', tokenizer(Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`t${i}`, i]))))) },
    ];
    const unannounced = await manifestOf('chaos-unasked', tokenizer({ a: 0 }));
    const sock = await this.open('a stage holder');
    if (!sock) return;
    try {
      const stages = await Promise.all(cases.map(async (c) => ({ manifest: await manifestSha256(c.manifest as ChatManifest), index: 0 })));
      run.report.socketFrames++;
      await sock.hello({ agent: w.H, askId: w.hAsk, market: w.market, more: { stages } });
      const welcome = await sock.next((m) => m.type === 'welcome' || m.type === 'error', 10_000);
      if (welcome?.type !== 'welcome') return run.fail(`a stage holder's hello was not welcomed: ${JSON.stringify(welcome)}`);
      const heartbeat = setInterval(() => void sock.send(JSON.stringify({ type: 'heartbeat', leases: [] })), Math.max(200, Math.floor(Number(welcome.heartbeatMs) / 2) || 500));
      try {
        for (const [i, c] of cases.entries()) {
          const asked = await sock.next((m) => m.type === 'need-manifest' && m.manifest === stages[i]!.manifest, 10_000);
          if (!asked) run.fail(`a stage holder was never asked for the manifest it announced (${c.what})`);
          await this.refused(sock, c.what, JSON.stringify({ type: 'manifest', manifest: c.manifest, tokenizer: c.tokenizer }), ['AGENT__MALFORMED_MESSAGE']);
        }
        await this.refused(sock, 'a manifest nobody asked for', JSON.stringify({ type: 'manifest', ...unannounced }), ['AGENT__MALFORMED_MESSAGE']);
        await this.quiet(sock, 'a stage output with a hidden state that is not float32', JSON.stringify({ type: 'stage-output', id: 'chaos-step', hidden: 'AAA', ms: 1 }));
      } finally {
        clearInterval(heartbeat);
      }
    } finally {
      sock.close();
    }
    const models = await run.read<{ data: { id: string }[] }>('/v1/models');
    const listed = models?.data.filter((m) => m.id.startsWith('chaos-')) ?? [];
    if (listed.length > 0) run.fail(`GET /v1/models lists the stage holder's refused models: ${listed.map((m) => m.id).join(', ')}`);
  }

  /** Sends frames on a socket that has not said hello, reopening it when the hello timeout closes it. */
  async beforeHello(frames: string[], codes: readonly string[]): Promise<void> {
    let sock = await this.open('a socket before hello');
    for (const [i, frame] of frames.entries()) {
      if (!sock) return;
      if (sock.closed) {
        if (sock.closed.code !== 1008) this.run.fail(`a socket before hello closed with ${sock.closed.code} ${sock.closed.reason}`);
        sock = await this.open('a socket before hello');
        if (!sock) return;
      }
      await this.refused(sock, `socket before hello, frame ${i}: ${frame.slice(0, 100)}`, frame, codes);
    }
    sock?.close();
  }

  async sweep(o: { seed: number; size: 'quick' | 'full' }): Promise<void> {
    const { w, run } = this;
    const frames = brokenFrames(prng(o.seed), o.size === 'full' ? 60 : 25);
    const jobBefore = await liveState(run, { keys: [w.P.publicKey, w.B.publicKey], jobs: [w.job1] });

    // Before hello: broken frames are refused by the schema, well-formed ones for want of a hello.
    await this.beforeHello(frames, FRAME_CODES);
    await this.beforeHello(await wellFormed(w), ['AGENT__NOT_AUTHENTICATED']);

    // Hellos that must not be accepted, then the hostile agent's own, then a second one.
    const sock = await this.open('the hostile agent');
    if (!sock) return;
    const hellos: { what: string; hello: Parameters<AgentSocket['hello']>[0]; expect: string }[] = [
      { what: 'a hello signed by another key', hello: { agent: w.H, askId: w.hAsk, market: w.market, signedBy: w.A }, expect: 'AUTH__SIGNATURE_INVALID' },
      { what: 'a hello over another nonce', hello: { agent: w.H, askId: w.hAsk, market: w.market, nonce: 'not-the-challenge' }, expect: 'AUTH__SIGNATURE_INVALID' },
      { what: 'a hello for another market', hello: { agent: w.H, askId: w.hAsk, market: `${w.market}-x` }, expect: 'AUTH__SIGNATURE_INVALID' },
      { what: 'a hello in another protocol version', hello: { agent: w.H, askId: w.hAsk, market: w.market, v: AGENT_PROTOCOL_VERSION + 1 }, expect: 'AGENT__VERSION_UNSUPPORTED' },
      { what: 'a hello whose key is not one', hello: { agent: w.H, askId: w.hAsk, market: w.market, agentKey: 'not-a-key' }, expect: 'AUTH__KEY_INVALID' },
      { what: "a hello for the provider's ask", hello: { agent: w.H, askId: w.pAsk, market: w.market }, expect: 'AGENT__ASK_NOT_OWNED' },
      {
        what: 'a hello under a delegation without scope work',
        hello: { agent: w.A, askId: w.hAsk, market: w.market, delegation: await createDelegation(w.H, { delegate: w.A.publicKey, scopes: ['orders', 'asks'], expiresAt: hour() }) },
        expect: 'AUTH__DELEGATION_INVALID',
      },
      {
        what: "a hello under a delegation forged in the provider's name",
        hello: { agent: w.H, askId: w.pAsk, market: w.market, delegation: { ...(await createDelegation(w.H, { delegate: w.H.publicKey, scopes: ['work'], expiresAt: hour() })), wallet: w.P.publicKey } },
        expect: 'AUTH__DELEGATION_INVALID',
      },
    ];
    // The challenge is read once: every hello after the first answers the same nonce.
    const challenge = await sock.next((m) => m.type === 'challenge');
    for (const h of hellos) {
      run.report.socketFrames++;
      const again = { ...h.hello, nonce: h.hello.nonce ?? String(challenge?.nonce ?? '') };
      await sock.hello(again);
      const m = await sock.next((m) => m.type === 'error' || m.type === 'welcome', 10_000);
      if (m?.type !== 'error') run.fail(`${h.what}: ${m ? `accepted: ${JSON.stringify(m).slice(0, 200)}` : sock.closed ? `the socket closed (${sock.closed.code})` : 'no answer'}`);
      else if (m.code !== h.expect) run.fail(`${h.what}: refused with ${String(m.code)}, expected ${h.expect}`);
    }
    run.report.socketFrames++;
    await sock.hello({ agent: w.H, askId: w.hAsk, market: w.market, nonce: String(challenge?.nonce ?? '') });
    const welcome = await sock.next((m) => m.type === 'welcome' || m.type === 'error', 10_000);
    if (welcome?.type !== 'welcome') {
      run.fail(`the hostile agent's own hello was not welcomed: ${JSON.stringify(welcome)}`);
      return;
    }
    const heartbeat = setInterval(() => void sock.send(JSON.stringify({ type: 'heartbeat', leases: [] })), Math.max(200, Math.floor(Number(welcome.heartbeatMs) / 2) || 500));
    try {
      await this.refused(sock, 'a second hello', await (async () => {
        const text = JSON.stringify({ type: 'hello', v: AGENT_PROTOCOL_VERSION, agentKey: w.H.publicKey, signature: await signText(w.H, 'x'), askId: w.hAsk, hardware: {}, runtime: { onnxruntime: '1', executionProvider: 'cpu', platform: 'linux', arch: 'x64', cpuFeatures: [] } });
        return text;
      })(), ['AGENT__MALFORMED_MESSAGE']);
      await sock.send(JSON.stringify({ type: 'ready', slots: 0 }));

      // After hello: the same broken frames, then messages about work the agent does not hold.
      for (const [i, frame] of frames.entries()) await this.refused(sock, `hostile agent, frame ${i}: ${frame.slice(0, 100)}`, frame, FRAME_CODES);
      const outputs: WireTensor[] = [toWire('y', 'float32', [1], new Uint8Array(4))];
      const digest = await tensorsDigest(outputs);
      const lease = w.job1Lease ?? 'lease_x';
      await this.refused(sock, "a result for B's job under the provider's lease", json({ type: 'result', jobId: w.job1, leaseId: lease, outputs, outputDigest: digest, timings: { loadMs: 0, runMs: 0 } }), ['AGENT__LEASE_UNKNOWN']);
      await this.refused(sock, 'a result for a lease nobody holds', json({ type: 'result', jobId: w.job1, leaseId: 'lease_chaos', outputs, outputDigest: digest, timings: { loadMs: 0, runMs: 0 } }), ['AGENT__LEASE_UNKNOWN']);
      await this.refused(sock, 'a result with a wrong digest', json({ type: 'result', jobId: w.job1, leaseId: lease, outputs, outputDigest: 'f'.repeat(64), timings: { loadMs: 0, runMs: 0 } }), ['AGENT__LEASE_UNKNOWN', 'AGENT__DIGEST_MISMATCH']);
      await this.refused(sock, 'a result whose tensor does not fit its dims', json({ type: 'result', jobId: w.job1, leaseId: lease, outputs: [{ ...outputs[0]!, dims: [1000] }], outputDigest: digest, timings: { loadMs: 0, runMs: 0 } }), ['AGENT__RESULT_INVALID']);
      await this.refused(sock, "a start of the provider's lease", json({ type: 'start', jobId: w.job1, leaseId: lease }), ['AGENT__LEASE_UNKNOWN']);
      await this.quiet(sock, "a heartbeat for the provider's lease", json({ type: 'heartbeat', leases: [lease] }));
      await this.quiet(sock, "a run failure for the provider's lease", json({ type: 'error', jobId: w.job1, leaseId: lease, code: 'AGENT__RUN_FAILED', message: 'chaos', failure: 'runtime' }));
      await this.quiet(sock, 'a stage output for no step', json({ type: 'stage-output', id: 'chaos-step', token: 1, ms: 1 }));
      await this.quiet(sock, 'a stage error for no step', json({ type: 'stage-error', id: 'chaos-step', code: 'STAGE__FAILED', message: 'chaos' }));
      await this.refused(sock, 'a manifest that is not one', json({ type: 'manifest', manifest: { name: 'x' }, tokenizer: '{}' }), FRAME_CODES);
      await this.refused(sock, 'text that is not JSON', '{"type": "ready", ', FRAME_CODES);
      await this.refused(sock, 'a binary frame of garbage', Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37) % 256)), FRAME_CODES);
      await this.refused(sock, 'a binary frame of invalid UTF-8', Buffer.from([0xff, 0xfe, 0xfd, 0x7b]), FRAME_CODES);
      await this.refused(sock, 'a message 2 MiB long', json({ type: 'error', jobId: 'x', leaseId: 'y', code: 'AGENT__RUN_FAILED', message: 'm'.repeat(2 * 1024 * 1024) }), FRAME_CODES);
      await this.refused(sock, 'an unknown message type', json({ type: 'gossip', text: 'x' }), FRAME_CODES);

      // A frame over the limit: refused, and the socket closed with 1009.
      run.report.socketFrames++;
      await sock.send('x'.repeat(MAX_AGENT_FRAME_BYTES + 1));
      const tooLarge = await sock.next((m) => m.type === 'error', 20_000);
      if (tooLarge?.code !== 'AGENT__FRAME_TOO_LARGE') run.fail(`a frame over ${MAX_AGENT_FRAME_BYTES} bytes: ${tooLarge ? `refused with ${String(tooLarge.code)}` : 'not refused'}`);
      const deadline = Date.now() + 10_000;
      while (!sock.closed && Date.now() < deadline) await sleep(50);
      if (sock.closed?.code !== 1009) run.fail(`a frame over ${MAX_AGENT_FRAME_BYTES} bytes: the socket ${sock.closed ? `closed with ${sock.closed.code}` : 'stayed open'}, expected 1009`);
    } finally {
      clearInterval(heartbeat);
      sock.close();
    }
    if (sock.closed && !DOCUMENTED_CLOSES.has(sock.closed.code)) run.fail(`the hostile agent's socket closed with ${sock.closed.code}, which the protocol does not document`);

    await this.stageHolder();

    // Nothing the hostile agent sent touched B's job or the provider's lease.
    compareState(run, 'the agent socket phase', jobBefore, await liveState(run, { keys: [w.P.publicKey, w.B.publicKey], jobs: [w.job1] }));
    if (w.agent && w.job1Lease && !w.agent.leases.has(w.job1Lease)) run.fail(`the provider agent lost its lease ${w.job1Lease} on B's job`);

    // The market goes on serving: its read routes, and a fresh well-formed hello.
    const market = await run.send({ what: 'GET /v1/markets', method: 'GET', path: '/v1/markets', headers: {} });
    if (market.status !== 200) run.fail(`GET /v1/markets after the socket phase: ${market.status} ${market.text.slice(0, 200)}`);
    const fresh = await this.open('a fresh agent');
    if (fresh) {
      run.report.socketFrames++;
      await fresh.hello({ agent: w.H, askId: w.hAsk, market: w.market });
      const m = await fresh.next((m) => m.type === 'welcome' || m.type === 'error', 10_000);
      if (m?.type !== 'welcome') run.fail(`a fresh well-formed hello after the socket phase was not welcomed: ${JSON.stringify(m)}`);
      fresh.close();
    }
    run.log(`  frames refused: ${[...this.codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  }
}

// ---- 5. replayed signed requests ---------------------------------------------------------------

/** How each signed route's valid request is made for a replay (by A or W on their own things), or why there is none cheap enough. */
type ReplayCase = { skip: string } | { signer: (w: World) => Signer; make: (w: World) => Promise<ValidRequest> };

const REPLAY: Record<string, ReplayCase> = {
  placeAsk: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.placeAsk!(w) },
  placeAskBatch: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.placeAskBatch!(w) },
  cancelAsk: {
    signer: (w) => ({ key: w.A }),
    make: async (w) => ({ path: `/v1/asks/${(await w.run.client({ key: w.A }).placeAsk({ market: w.market, price: HIGH, capacity: 1, attributes: {}, expiresAt: hour() })).order.id}`, body: '' }),
  },
  placeBid: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.placeBid!(w) },
  cancelBid: {
    signer: (w) => ({ key: w.A }),
    make: async (w) => ({ path: `/v1/bids/${(await w.run.client({ key: w.A }).placeBid({ market: w.market, maxPrice: LOW, units: 1, expiresAt: hour(), job: SPEC })).order.id}`, body: '' }),
  },
  cancelJob: {
    signer: (w) => ({ key: w.A }),
    make: async (w) => {
      const bid = await w.run.client({ key: w.A }).placeBid({ market: w.market, maxPrice: JOB_PRICE, units: 1, requirements: [{ key: 'chaos', op: 'eq', value: w.tag }], expiresAt: hour(), job: SPEC });
      if (!bid.jobId) throw new Error(`A's job bid was not matched: ${json(bid.order)}`);
      return { path: `/v1/jobs/${bid.jobId}/cancel`, body: '{}' };
    },
  },
  challengeJob: { skip: 'needs a verified single-replica result inside its challenge window' },
  jobResult: { skip: 'needs a settled job (its result is served once)' },
  uploadModel: { signer: (w) => ({ key: w.A }), make: async (w) => ({ path: '/v1/models', body: anyShapeModel(`chaos-replay-${w.n++}-${Date.now()}`), contentType: 'application/octet-stream' }) },
  uploadInputs: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.uploadInputs!(w) },
  faucet: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.faucet!(w) },
  deposit: {
    signer: (w) => ({ key: w.A }),
    make: async (w) => {
      if (!w.chain) throw new Skip('no chain: deposits are refused before anything is recorded');
      await w.run.client({ key: w.A }).faucet(1_000_000n);
      const chain = w.chain;
      const { signature } = chain.escrow
        ? await depositToEscrow({ chain: { ...chain, escrow: chain.escrow }, wallet: w.A, amount: 1_000_000n })
        : await transferToCustody({ chain, wallet: w.A, amount: 1_000_000n });
      return { path: '/v1/deposits', body: json({ signature }) };
    },
  },
  escrowExit: { skip: "needs the buyer's own withdrawal from escrow, past its timelock" },
  revokeSession: {
    signer: (w) => w.replaySession!,
    make: async () => ({ path: '/v1/sessions/revoke', body: '{}' }),
  },
  requestWithdrawal: {
    signer: (w) => ({ key: w.W }),
    make: async (w) => {
      if (!w.chain) throw new Skip('no chain: withdrawals are refused before anything is recorded');
      return { path: '/v1/withdrawals', body: json({ clientId: clientId(w, 'wd'), amount: '1000', destination: w.W.publicKey }) };
    },
  },
  createApiKey: { signer: (w) => ({ key: w.A }), make: async (w) => VALID.createApiKey!(w) },
  apiKeys: { signer: (w) => ({ key: w.A }), make: async () => ({ path: '/v1/api-keys', body: '' }) },
  revokeApiKey: {
    signer: (w) => ({ key: w.A }),
    make: async (w) => ({ path: `/v1/api-keys/${(await w.run.client({ key: w.A }).createApiKey({ name: 'chaos', limit: '1', expiresAt: hour() })).id}`, body: '{}' }),
  },
};

class Skip extends Error {}

async function replayPhase(w: World): Promise<void> {
  const { run } = w;
  const sessionKey = await generateKeypair();
  w.replaySession = { key: sessionKey, delegation: await createDelegation(w.A, { delegate: sessionKey.publicKey, scopes: ['orders'], expiresAt: hour() }) };
  /** Each accepted first send, and another valid request under its nonce (the same body spelled otherwise), where there is one. */
  const sent: { first: Prepared; other: (() => Promise<Prepared>) | null; stranger: (() => Promise<Prepared>) | null }[] = [];
  for (const r of routesOf(w.doc).filter((r) => r.signed)) {
    const c = REPLAY[r.op];
    if (!c) {
      run.fail(`route ${r.method} ${r.template} (${r.op}) has no replay case`);
      continue;
    }
    if ('skip' in c) {
      run.log(`  replay of ${r.op}: none (${c.skip})`);
      continue;
    }
    let v: ValidRequest;
    try {
      v = await c.make(w);
    } catch (e) {
      if (e instanceof Skip) run.log(`  replay of ${r.op}: none (${e.message})`);
      else run.fail(`replay of ${r.method} ${r.template}: building its valid request failed: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const signer = c.signer(w);
    const { prepared, answer } = await run.sendWithin(() => prepare({ what: `${r.method} ${r.template}`, signer, method: r.method, path: v.path, body: v.body, contentType: v.contentType }));
    if (!run.accepted(`replay of ${prepared.what} (its first send)`, answer)) continue;
    const respelled = typeof v.body !== 'string' || r.method === 'GET' ? null : v.body === '' ? '{}' : JSON.stringify(JSON.parse(v.body), null, 1);
    const nonce = prepared.headers[AUTH_HEADERS.nonce]!;
    sent.push({
      first: prepared,
      other: respelled === null ? null : () => prepare({ what: `${prepared.what} (another body under the same nonce)`, signer, method: r.method, path: v.path, body: respelled, nonce }),
      // A route acting on a thing named in its path: the same request by someone else, after its owner's.
      stranger: r.template.includes('{') ? () => prepare({ what: `${prepared.what} (by B, after its owner)`, signer: { key: w.B }, method: r.method, path: v.path, body: v.body, contentType: v.contentType }) : null,
    });
  }
  // Once what the first sends did has settled, the same bytes again: refused, nothing changes.
  const subjects: Subjects = { keys: [w.A.publicKey, w.W.publicKey, w.P.publicKey], market: w.market, apiKeysOf: [{ key: w.A }] };
  const before = await settledState(run, subjects);
  for (const { first, other, stranger } of sent) {
    run.report.replays++;
    await refusedWithoutChange(run, { what: `${first.what} replayed`, build: async () => first, expect: ['AUTH__NONCE_REPLAYED'], subjects: { ...subjects, apiKeysOf: [] } });
    if (other) {
      run.report.replays++;
      await refusedWithoutChange(run, { what: `${first.what}: another request under a spent nonce`, build: other, expect: ['AUTH__NONCE_REPLAYED'], subjects: { ...subjects, apiKeysOf: [] } });
    }
    if (stranger) {
      run.report.authzAttempts++;
      await refusedWithoutChange(run, { what: `${first.what}: the same request by B after its owner's`, build: stranger, subjects: { ...subjects, keys: [...subjects.keys, w.B.publicKey], apiKeysOf: [] } });
    }
  }
  compareState(run, 'the replays', before, await settledState(run, subjects));
}

// ---- the run -----------------------------------------------------------------------------------

/**
 * Runs the hostile-input sweep against the stack at `url`; `size` 'quick' sends about two thousand
 * requests and frames, 'full' several thousand more. Every violation is a line in `failures`.
 */
export async function runHostile(o: { url: string; seed: number; size: 'quick' | 'full'; log?: (line: string) => void }): Promise<HostileReport> {
  const log = o.log ?? (() => {});
  const run = new Run(o.url.replace(/\/+$/, ''), log);
  /** Runs one phase: what it throws is a failure too, and the next phase goes on. */
  const phase = async <T>(name: string, body: () => Promise<T>): Promise<T | null> => {
    const t0 = Date.now();
    const failures = run.report.failures.length;
    let out: T | null = null;
    try {
      out = await body();
    } catch (e) {
      run.fail(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
    log(`hostile: ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s, ${run.report.failures.length - failures} failures)`);
    return out;
  };
  const world = await phase('set-up', () => setUp(run, o));
  if (!world) return run.report;
  try {
    const watched: Subjects = { keys: [world.A.publicKey, world.B.publicKey, world.P.publicKey, world.H.publicKey, world.W.publicKey], jobs: [world.job1], market: world.market, apiKeysOf: [{ key: world.B }] };
    const start = await settledState(run, watched);
    const fuzzKeys = (await phase('requests generated from the OpenAPI document', () => fuzzPhase(world, o))) ?? [];
    await phase('signatures that do not hold', () => misSignedPhase(world));
    await phase('authorization sweep', () => authzPhase(world));
    const afterHttp = await settledState(run, watched);
    compareState(run, 'the refused requests (read models)', start, afterHttp);
    await phase('agent socket', () => new SocketPhase(world).sweep(o));
    await phase('replays', () => replayPhase(world));
    await phase('nothing left behind', async () => {
      // B's things and B's job (the hostile agent's own ask is suspended whenever its socket closes: the protocol's doing).
      const victims: Subjects = { keys: [world.B.publicKey], jobs: [world.job1], apiKeysOf: [{ key: world.B }] };
      const short = world.B.publicKey.slice(0, 8);
      const pick = (s: State) => Object.fromEntries(Object.entries(s).filter(([k]) => k.endsWith(short) || k.startsWith('job ')));
      compareState(run, "B's things after the socket and replay phases", pick(afterHttp), pick(await settledState(run, victims)));
      // The fuzzing keys own nothing: no balance, hold or order.
      for (const k of fuzzKeys) {
        const account = await run.read<{ available?: string; held?: string }>(`/v1/accounts/${k.publicKey}`);
        if (account && (account.available !== '0' || account.held !== '0')) run.fail(`fuzzing key ${k.publicKey} owns ${account.available} available, ${account.held} held`);
        for (const list of ['bids', 'asks']) {
          const page = await run.read<{ items: unknown[] }>(`/v1/${list}?owner=${k.publicKey}&status=all`);
          if (page && page.items.length > 0) run.fail(`fuzzing key ${k.publicKey} owns ${list}: ${json(page.items).slice(0, 200)}`);
        }
      }
      const markets = await run.send({ what: 'GET /v1/markets', method: 'GET', path: '/v1/markets', headers: {} });
      if (markets.status !== 200) run.fail(`GET /v1/markets at the end: ${markets.status}`);
    });
  } finally {
    world.agent?.stop();
  }
  return run.report;
}

// ---- try it: node --import tsx test/chaos/hostile.ts [--no-chain] [--full] [--delivery-twice] [--seed N]

if (import.meta.url === `file://${process.argv[1]}`) {
  const chain = !process.argv.includes('--no-chain');
  const size = process.argv.includes('--full') ? 'full' : 'quick';
  const t0 = Date.now();
  const stack = await startStack({ ...(chain ? {} : { chain: false }), ...(process.argv.includes('--delivery-twice') ? { chaosDelivery: true } : {}) });
  const up = Date.now();
  let failed = true;
  try {
    const seedAt = process.argv.indexOf('--seed');
    const report = await runHostile({ url: stack.url, seed: seedAt > 0 ? Number(process.argv[seedAt + 1]) : 16, size, log: (line) => console.log(line) });
    const { failures, ...counts } = report;
    console.log(`hostile (${size}, chain ${chain ? 'on' : 'off'}): ${json(counts)} in ${((Date.now() - up) / 1000).toFixed(1)} s (stack ${((up - t0) / 1000).toFixed(1)} s)`);
    for (const f of failures.slice(0, 50)) console.log(`  FAIL ${f}`);
    if (failures.length > 50) console.log(`  … and ${failures.length - 50} more`);
    failed = failures.length > 0;
  } finally {
    await stack.stop();
  }
  process.exitCode = failed ? 1 : 0;
}
