import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChainInfo, IntegrityReport, ObjectKind } from '../../durable-objects/contracts/api.ts';
import { generateKeypair, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { associatedTokenAddress } from '../../programs/client/address.ts';
import { readEscrow } from '../../programs/client/escrow.ts';
import { solanaRpc, type SolanaRpc } from '../../programs/client/rpc.ts';
import { startLocalChain, type LocalChain } from '../../programs/local-chain/server.ts';
import { DougApiError, DougClient, type JobView } from '../../sdk/client.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { benchStateRoot, withTimeout } from '../bench/harness.ts';
import { eventually, startAgent, type AgentProcess } from '../e2e/agents.ts';
import { startRpcProxy, type RpcProxy } from '../e2e/rpc-proxy.ts';
import { startStack, type Stack } from '../e2e/stack.ts';

/*
 * The world the chaos suite attacks: `npm start`'s stack (wrangler dev, real workerd, escrow
 * custody) on a local chain this process runs (so that it can stop and restart it on the same port
 * and state), a fault proxy between the Worker and the chain, real `doug-agent` processes, and
 * buyers funded through their escrows. It remembers everything it touched (bids, jobs, accounts,
 * withdrawals), so that the checks after a scenario can ask each of those objects whether its
 * replayed log gives its live state, and compare every balance with the chain.
 */

/** Markets with short leases and windows, so that lapses and settlements happen within a scenario. */
export const CHAOS_MARKETS = [
  { id: 'cpu', description: 'chaos: faults', params: { leaseMs: 3_000, replicaBidTtlMs: 20_000, challengeWindowMs: 2_000 } },
  { id: 'load-a', description: 'chaos: load', params: { leaseMs: 10_000, challengeWindowMs: 1_000 } },
  { id: 'load-b', description: 'chaos: load', params: { leaseMs: 10_000, challengeWindowMs: 1_000 } },
  { id: 'load-c', description: 'chaos: load', params: { leaseMs: 10_000, challengeWindowMs: 1_000 } },
];
export const PRICE = '0.001';
export const PRICE_UNITS = UNITS_PER_DOUG / 1000n;

export interface AgentSlot {
  name: string;
  key: Keypair;
  proc: AgentProcess;
  frozen: boolean;
}

export interface Buyer {
  key: Keypair;
  client: DougClient;
}

export interface World {
  dir: string;
  stack: Stack;
  local: LocalChain;
  proxy: RpcProxy;
  rpc: SolanaRpc;
  chain: ChainInfo;
  spec: { modelSha256: string; inputSha256: string; inputBytes: number };
  buyers: Buyer[];
  agents: AgentSlot[];
  /** Accepted bids (their ids are their jobs' ids) by buyer key. */
  bids: Map<string, string>;
  /** Keys whose account objects the checks read (buyers and providers). */
  accounts: Set<string>;
  providers: Set<string>;
  withdrawals: Set<string>;
  /** Defects seen while a scenario ran (a 500); the runner reports and clears them after each scenario. */
  problems: string[];
  markets: string[];
  log: (line: string) => void;
  /** Restarts the chain on the same port and state file. */
  restartChain: (downMs: number) => Promise<void>;
  /** Waits until every agent's ask is listed and the chat model is servable. */
  ready: () => Promise<void>;
  close: () => Promise<void>;
}

/** Funds a new buyer: $DOUG from the faucet into their escrow on chain, credited to their ledger. */
export async function newBuyer(w: Pick<World, 'stack' | 'accounts'>, doug: bigint): Promise<Buyer> {
  const key = await generateKeypair();
  const client = new DougClient({ baseUrl: w.stack.url, keypair: key });
  await faucetAndDeposit(client, key, doug * UNITS_PER_DOUG);
  w.accounts.add(key.publicKey);
  return { key, client };
}

export async function startWorld(o: { agents: number; buyers: number; log: (line: string) => void }): Promise<World> {
  const dir = await mkdtemp(join(benchStateRoot(), 'doug-chaos-'));
  const stateFile = join(dir, 'chain.json');
  let local = await startLocalChain({ port: 0, stateFile });
  const chainPort = Number(new URL(local.url).port);
  const proxy = await startRpcProxy(local.url);
  o.log(`chaos: chain on ${local.url}, fault proxy on ${proxy.url}; starting the stack`);
  const stack = await startStack({ markets: JSON.stringify(CHAOS_MARKETS), chainUrl: local.url, workerRpcUrl: proxy.url, custody: 'escrow', chaosDelivery: true, tmp: dir });
  const w: World = {
    dir,
    stack,
    local,
    proxy,
    rpc: solanaRpc(local.url),
    chain: await new DougClient({ baseUrl: stack.url }).chain(),
    spec: { modelSha256: '', inputSha256: '', inputBytes: 0 },
    buyers: [],
    agents: [],
    bids: new Map(),
    accounts: new Set(),
    providers: new Set(),
    withdrawals: new Set(),
    problems: [],
    markets: CHAOS_MARKETS.map((m) => m.id),
    log: o.log,
    restartChain: async (downMs) => {
      await local.stop();
      await new Promise((r) => setTimeout(r, downMs));
      local = await startLocalChain({ port: chainPort, stateFile });
      w.local = local;
    },
    ready: () => ready(w),
    close: async () => {
      await Promise.all(w.agents.map((a) => (a.frozen ? signal(a, 'SIGCONT') : undefined)));
      await Promise.all(w.agents.map((a) => a.proc.stop()));
      await stack.stop();
      await proxy.stop();
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < o.buyers; i++) w.buyers.push(await newBuyer(w, 100n));
  const buyer = w.buyers[0]!.client;
  const model = await buyer.uploadModel(buildMlpModel({ inputSize: 8, hidden: 16, outputSize: 3, seed: 11 }));
  const x = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5, 1, 0]);
  const input = await buyer.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(x.buffer))]);
  w.spec = { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes };
  for (let i = 0; i < o.agents; i++) w.agents.push(await launchAgent(w, `chaos-${i + 1}`));
  await w.ready();
  return w;
}

/** Every agent's ask listed and the chat model servable with two holders of each stage. */
async function ready(w: World): Promise<void> {
  const stack = w.stack;
  for (const a of w.agents) await waitForAsk(w, a);
  await eventually(async () => {
    const list = (await (await fetch(`${stack.url}/v1/models`)).json()) as { data: { id: string; routes: { stages: number; holders: number[] }[] }[] };
    return list.data.find((m) => m.id === CHAT_MODEL)?.routes.some((r) => r.stages === 2 && r.holders.every((h) => h >= 2));
  }, 'the chat model with two holders of each stage', 60_000, () => w.agents.map((a) => a.proc.log().slice(-800)).join('\n'));
}

/**
 * An agent of the fault market. Each also holds one of the two stages of the shipped chat model
 * (examples/chat), agents in turn, so that every stage has two holders and a killed holder's
 * conversations are taken over by the other.
 */
async function launchAgent(w: Pick<World, 'stack' | 'accounts' | 'providers'>, name: string, key?: Keypair): Promise<AgentSlot> {
  const stage = Number(name.split('-').at(-1)) % 2;
  const args = ['--chat-model', 'examples/chat', '--stages', '2', '--hold', String(stage)];
  const proc = await startAgent({ url: w.stack.url, dir: w.stack.dir, name, market: 'cpu', price: PRICE, capacity: 2, args, ...(key ? { key } : {}) });
  w.accounts.add(proc.key.publicKey);
  w.providers.add(proc.key.publicKey);
  return { name, key: proc.key, proc, frozen: false };
}

export async function waitForAsk(w: World, a: AgentSlot): Promise<void> {
  const reader = new DougClient({ baseUrl: w.stack.url });
  await eventually(async () => (await reader.asks({ market: 'cpu', owner: a.key.publicKey })).items.length > 0, `${a.name}'s ask`, 60_000, a.proc.log);
}

/** Sends a signal to an agent's whole process group. */
export function signal(a: AgentSlot, sig: NodeJS.Signals): void {
  if (a.proc.child.pid === undefined || a.proc.child.exitCode !== null) return;
  try {
    process.kill(-a.proc.child.pid, sig);
  } catch {
    // gone already
  }
}

/** Kills an agent outright (no drain) and starts it again with the same key after `downMs`. */
export async function killAndRestart(w: World, a: AgentSlot, downMs: number): Promise<void> {
  const exited = a.proc.child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => a.proc.child.once('exit', () => r()));
  signal(a, 'SIGKILL');
  await exited;
  await new Promise((r) => setTimeout(r, downMs));
  const next = await launchAgent(w, a.name, a.key);
  a.proc = next.proc;
}

/**
 * Places a 2-replica bid for the world's job from `buyer`; answers its id, or null when it was
 * refused (a refusal must be coded) or never answered (the server down: it may still have been
 * placed, so the buyer's open bids are looked up later by `adoptOpenBids`).
 */
export async function placeBid(w: World, buyer: Buyer, o: { market?: string; replicas?: number; ttlMs?: number } = {}): Promise<string | null> {
  try {
    const res = await withTimeout(
      buyer.client.placeBid({ market: o.market ?? 'cpu', maxPrice: 2n * PRICE_UNITS, units: 1, replicas: o.replicas ?? 2, expiresAt: Date.now() + (o.ttlMs ?? 20_000), job: w.spec }),
      30_000,
      'a bid',
    );
    w.bids.set(res.order.id, buyer.key.publicKey);
    return res.order.id;
  } catch (err) {
    // Refused in words, or unanswered while the server was down, is what faults may cause; a 500 is a defect.
    if (err instanceof DougApiError && err.status === 500) w.problems.push(`a bid was answered 500 ${err.code}: ${err.message}`);
    return null;
  }
}

/** Bids the buyers have in the read model that the world did not hear accepted (their answer was lost). */
export async function adoptOpenBids(w: World): Promise<number> {
  let adopted = 0;
  for (const b of w.buyers) {
    for (const market of w.markets) {
      let cursor: string | null = null;
      do {
        const page = await b.client.bids({ market, owner: b.key.publicKey, limit: 200, ...(cursor ? { cursor } : {}) });
        for (const order of page.items) {
          if (!w.bids.has(order.id)) {
            w.bids.set(order.id, b.key.publicKey);
            adopted++;
          }
        }
        cursor = page.nextCursor;
      } while (cursor);
    }
  }
  return adopted;
}

/** Where the checks stand after a scenario. */
export interface CheckReport {
  /** Balances and amounts compared (ledger against chain, ledger against jobs, read model against object). */
  moneyChecked: number;
  moneyMismatches: number;
  /** Accepted bids that did not end settled or refunded, and payouts missing or paid twice. */
  lostOrDoubled: number;
  objectsChecked: number;
  /** How long after the world went quiet every check passed (the read models and the chain caught up); null when they never did. */
  convergedMs?: number | null;
  failures: string[];
}

const ENDED = new Set(['settled', 'refunded']);

/** The live job, or null when the bid never matched. */
async function liveJob(reader: DougClient, id: string): Promise<JobView | null> {
  try {
    return await reader.job(id);
  } catch (err) {
    if (err instanceof DougApiError && err.status === 404) return null;
    throw err;
  }
}

/**
 * Waits until the world is quiet (every accepted bid's job ended or its hold released, every
 * payout final on chain, the read models caught up), then checks it:
 *  - every accepted bid ended settled or refunded, and every buyer holds nothing;
 *  - no hold is settled twice, a settled job's payouts are its hold's, and each provider's token
 *    account on chain holds exactly what the buyers' ledgers paid it (a payout paid twice or lost
 *    shows here);
 *  - each buyer's escrow vault on chain holds exactly what the ledger says is theirs;
 *  - the audit passes (conservation over every account, custody and the escrow vaults);
 *  - every object touched replays from zero to its live state hash;
 *  - the jobs read model agrees with every job object.
 */
export async function quiesceAndCheck(w: World, timeoutMs: number): Promise<CheckReport> {
  const reader = new DougClient({ baseUrl: w.stack.url });
  const failures: string[] = [];
  await adoptOpenBids(w).catch(() => 0);
  const deadline = Date.now() + timeoutMs;
  const jobs = new Map<string, JobView | null>();
  const wake = pacer(WAKES_PER_S);
  // 1. Every accepted bid ends: its job settled or refunded, or (never matched) its hold released.
  for (;;) {
    let open = 0;
    await pool([...w.bids.keys()], 8, async (id) => {
      const known = jobs.get(id);
      if (known && ENDED.has(known.status)) return;
      await wake();
      const job = await liveJob(reader, id).catch(() => undefined);
      if (job === undefined) {
        open++;
        return;
      }
      jobs.set(id, job);
      if (!job || !ENDED.has(job.status)) open++;
    });
    const held = await Promise.all(w.buyers.map(async (b) => BigInt((await reader.account(b.key.publicKey)).held)));
    const holding = held.filter((h) => h > 0n).length;
    // A bid that never matched has no job: it ends when its hold is released (expired or cancelled).
    const unmatchedOpen = [...w.bids.keys()].filter((id) => jobs.get(id) === null).length;
    const audit = await reader.audit().catch(() => null);
    const pending = audit?.escrow ? BigInt(audit.escrow.pending) : 0n;
    const quiet = holding === 0 && open - unmatchedOpen === 0 && pending === 0n && audit !== null && audit.readModel.objectsBehind === 0;
    if (quiet) break;
    if (Date.now() > deadline) {
      failures.push(`not quiet after ${Math.round(timeoutMs / 1000)} s: ${open - unmatchedOpen} job(s) not ended, ${holding} buyer(s) still holding, ${pending} base units of payouts pending on chain, read models ${audit ? `${audit.readModel.objectsBehind} object(s) behind` : 'unreadable'}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  // The read models and the chain converge: a check that fails is asked again until it passes or the time is up.
  // An object found consistent once stays so (the world is quiet): a retry asks only the others.
  const checksFrom = Date.now();
  const consistent = new Set<string>();
  let report = await check(w, reader, jobs, consistent, wake);
  if (report.failures.length > 0) w.log(`chaos: quiet, ${report.failures.length} check(s) not yet holding (first: ${report.failures[0]}); asking again until they converge`);
  while (report.failures.length > 0 && Date.now() < deadline + 30_000) {
    await new Promise((r) => setTimeout(r, 2_000));
    const unended = [...jobs].filter(([, job]) => !job || !ENDED.has(job.status)).map(([id]) => id);
    await pool(unended, 8, async (id) => {
      await wake();
      jobs.set(id, await liveJob(reader, id).catch(() => jobs.get(id) ?? null));
    });
    report = await check(w, reader, jobs, consistent, wake);
  }
  return { ...report, convergedMs: report.failures.length === 0 ? Date.now() - checksFrom : null, failures: [...failures, ...report.failures] };
}

async function check(w: World, reader: DougClient, jobs: Map<string, JobView | null>, consistent: Set<string>, wake: () => Promise<void>): Promise<CheckReport> {
  const failures: string[] = [];
  let moneyChecked = 0;
  let moneyMismatches = 0;
  let lostOrDoubled = 0;
  for (const [id, job] of jobs) {
    if (job && !ENDED.has(job.status)) {
      lostOrDoubled++;
      failures.push(`bid ${id}: its job is ${job.status}, neither settled nor refunded`);
    }
  }
  // 2. Payouts. Every buyer's ledger settles each hold once; a settled job's payouts are its
  // hold's; and each provider's token account on chain holds exactly what the ledgers paid it
  // (with escrow custody a provider is paid on chain from the buyer's escrow, to its own token
  // account). A payout paid twice or lost shows in one of the three.
  const paid = new Map<string, bigint>();
  const settledHolds = new Map<string, { account: string; amount: bigint }[]>();
  for (const b of w.buyers) {
    let cursor: string | null = null;
    do {
      const page = await reader.ledger(b.key.publicKey, { limit: 500, ...(cursor ? { cursor } : {}) });
      for (const e of page.items) {
        if (e.type !== 'HoldSettled') continue;
        const d = e.data as { holdId: string; payouts: { account: string; amount: string }[] };
        if (settledHolds.has(d.holdId)) {
          lostOrDoubled++;
          failures.push(`hold ${d.holdId} of ${b.key.publicKey.slice(0, 8)} settled twice`);
        }
        const payouts = d.payouts.map((p) => ({ account: p.account, amount: BigInt(p.amount) }));
        settledHolds.set(d.holdId, payouts);
        for (const p of payouts) paid.set(p.account, (paid.get(p.account) ?? 0n) + p.amount);
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  for (const job of jobs.values()) {
    if (!job || job.status !== 'settled') continue;
    const net = (job.payouts as { provider: string; net: string }[]).map((p) => `${p.provider}:${p.net}`).sort().join(',');
    const held = (settledHolds.get(job.holdId as string) ?? []).map((p) => `${p.account}:${p.amount}`).sort().join(',');
    moneyChecked++;
    if (net !== held) {
      moneyMismatches++;
      lostOrDoubled++;
      failures.push(`job ${job.jobId}: pays ${net || 'nothing'}, its hold settled ${held || 'nothing'}`);
    }
  }
  for (const provider of w.providers) {
    const wallet = await tokenBalance(w, await associatedTokenAddress(provider, w.chain.mint));
    const want = paid.get(provider) ?? 0n;
    moneyChecked++;
    if (wallet !== want) {
      moneyMismatches++;
      lostOrDoubled++;
      failures.push(`provider ${provider.slice(0, 8)}: its token account holds ${wallet}, the buyers' ledgers paid it ${want} (a payout ${wallet > want ? 'paid twice' : 'lost'})`);
    }
  }
  // 3. Buyers: nothing held, and the escrow vault holds what the ledger says is theirs.
  for (const b of w.buyers) {
    const account = await reader.account(b.key.publicKey);
    const escrow = await readEscrow(w.rpc, b.key.publicKey, w.chain.escrow!.program);
    const ledger = BigInt(account.available) + BigInt(account.held);
    moneyChecked += 2;
    if (BigInt(account.held) !== 0n) {
      moneyMismatches++;
      failures.push(`buyer ${b.key.publicKey.slice(0, 8)} still holds ${account.held}`);
    }
    if ((escrow?.balance ?? 0n) !== ledger) {
      moneyMismatches++;
      failures.push(`buyer ${b.key.publicKey.slice(0, 8)}: escrow vault ${escrow?.balance ?? 0n} ≠ ledger ${ledger}`);
    }
  }
  // 4. The audit: conservation over every account, custody and the vaults.
  const audit = await reader.audit();
  moneyChecked += 1;
  if (!audit.ok) {
    moneyMismatches++;
    failures.push(`audit not ok: ${JSON.stringify({ violations: audit.violations.slice(0, 3), readModel: audit.readModel, custody: audit.custody, escrow: audit.escrow })}`);
  }
  // 5. Every object touched replays to its live state.
  const objects: [ObjectKind, string][] = [
    ...w.markets.map((m): [ObjectKind, string] => ['market', m]),
    ...[...w.accounts].map((a): [ObjectKind, string] => ['account', a]),
    ...w.buyers.map((b): [ObjectKind, string] => ['settlement', b.key.publicKey]),
    ...[...w.withdrawals].map((id): [ObjectKind, string] => ['withdrawal', id]),
    ...[...w.bids.keys()].flatMap((id): [ObjectKind, string][] => [['placement', id], ...(jobs.get(id) ? [['job', id] as [ObjectKind, string]] : [])]),
  ];
  await pool(objects, 4, async ([kind, id]) => {
    if (consistent.has(`${kind}:${id}`)) return;
    await wake();
    const res = await fetch(`${w.stack.url}/v1/objects/${kind}/${id}/integrity`);
    const body = await res.text();
    if (!res.ok) return void failures.push(`${kind} ${id}: the integrity check answered HTTP ${res.status}: ${body.slice(0, 300)}`);
    const report = JSON.parse(body) as IntegrityReport;
    if (report.consistent) consistent.add(`${kind}:${id}`);
    else failures.push(`${kind} ${id}: live state ${report.hash.slice(0, 12)} at ${report.seq}, replay ${report.replay.hash.slice(0, 12)} at ${report.replay.seq}`);
  });
  const objectsChecked = consistent.size;
  // 6. The jobs read model against the job objects.
  for (const b of w.buyers) {
    const projected = new Map<string, string>();
    let cursor: string | null = null;
    do {
      const page = await reader.jobs({ buyer: b.key.publicKey, limit: 200, ...(cursor ? { cursor } : {}) });
      for (const j of page.items) projected.set(j.jobId, j.status);
      cursor = page.nextCursor;
    } while (cursor);
    for (const [id, owner] of w.bids) {
      const job = jobs.get(id);
      if (owner !== b.key.publicKey || !job) continue;
      if (projected.get(id) !== job.status) failures.push(`job ${id}: read model says ${projected.get(id) ?? 'nothing'}, the object ${job.status}`);
    }
  }
  return { moneyChecked, moneyMismatches, lostOrDoubled, objectsChecked, failures };
}

async function tokenBalance(w: World, account: string): Promise<bigint> {
  try {
    return BigInt((await w.rpc.getTokenAccountBalance(account, 'finalized')).value.amount);
  } catch {
    return 0n;
  }
}

/**
 * How many objects a check wakes per second. Local workerd keeps an object in memory until it has
 * been idle 10 s, and SQLite's memory there is one budget for the whole process (512 MiB, about
 * 195 KB per live object, measured): a check that woke thousands of objects at once ran it out
 * (SQLITE_NOMEM on every object). At this pace a check keeps at most about 800 objects awake.
 */
const WAKES_PER_S = 80;

/** Spaces calls `1 / perSecond` apart: `await wake()` before each request that wakes an object. */
function pacer(perSecond: number): () => Promise<void> {
  let next = 0;
  return async () => {
    const at = Math.max(next, Date.now());
    next = at + 1000 / perSecond;
    if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
  };
}

/** Runs `fn` over `items`, `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Lines the Worker logged for the chaos suite's delivery fault (each a message delivered twice). */
export const deliveryFaults = (w: World): number => (w.stack.log().match(/chaos-delivery:/g) ?? []).length;

export const CHAT_MODEL = 'doug-austen';

export interface ChatOutcome {
  completions: number;
  answered: number;
  tokens: number;
  refusedByCode: Record<string, number>;
  failures: string[];
}

/**
 * `sessions` chat conversations, one completion after another each, until `until` settles: each
 * completion must be answered (200) or refused with a coded error (a route lost to a kill is
 * CHAT__ROUTE_FAILED, 503); a 500 or an answer without a code is a failure.
 */
export async function chatSessions(w: World, buyer: Buyer, sessions: number, until: Promise<unknown>): Promise<ChatOutcome> {
  const out: ChatOutcome = { completions: 0, answered: 0, tokens: 0, refusedByCode: {}, failures: [] };
  let done = false;
  const end = () => void (done = true);
  until.then(end, end);
  let key: string;
  try {
    key = (await buyer.client.createApiKey({ name: `chaos-${Date.now()}`, limit: 10n * UNITS_PER_DOUG, expiresAt: Date.now() + 3600_000 })).key;
  } catch (err) {
    out.failures.push(`an API key for the chat conversations: ${err instanceof Error ? err.message : String(err)}`);
    return out;
  }
  const session = async (n: number) => {
    while (!done) {
      out.completions++;
      try {
        const res = await withTimeout(
          fetch(`${w.stack.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify({ model: CHAT_MODEL, messages: [{ role: 'user', content: `Tell me of the ball, part ${n}.` }], max_tokens: 12, temperature: 0 }),
          }),
          60_000,
          'a chat completion',
        );
        const body = (await res.json().catch(() => null)) as { usage?: { total_tokens: number }; error?: { code?: string } } | null;
        if (res.status === 200 && body?.usage) {
          out.answered++;
          out.tokens += body.usage.total_tokens;
        } else if (res.status < 500 || (res.status === 503 && body?.error?.code)) {
          const code = body?.error?.code ?? `HTTP ${res.status} without a code`;
          out.refusedByCode[code] = (out.refusedByCode[code] ?? 0) + 1;
          if (!body?.error?.code) out.failures.push(`a chat completion got ${res.status} without a coded error`);
        } else out.failures.push(`a chat completion got ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
      } catch (err) {
        out.failures.push(`a chat completion failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: sessions }, (_, i) => session(i)));
  return out;
}
