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
  chainPort: number;
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
  markets: string[];
  log: (line: string) => void;
  /** Restarts the chain on the same port and state file. */
  restartChain: (downMs: number) => Promise<void>;
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
    chainPort,
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
    markets: CHAOS_MARKETS.map((m) => m.id),
    log: o.log,
    restartChain: async (downMs) => {
      await local.stop();
      await new Promise((r) => setTimeout(r, downMs));
      local = await startLocalChain({ port: chainPort, stateFile });
      w.local = local;
    },
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
  for (const a of w.agents) await waitForAsk(w, a);
  return w;
}

async function launchAgent(w: Pick<World, 'stack' | 'accounts' | 'providers'>, name: string, key?: Keypair): Promise<AgentSlot> {
  const proc = await startAgent({ url: w.stack.url, dir: w.stack.dir, name, market: 'cpu', price: PRICE, capacity: 2, ...(key ? { key } : {}) });
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
    if (err instanceof DougApiError) return null;
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
 *  - each provider's ledger payouts equal the sum of the net payouts its jobs name (a payout paid
 *    twice or lost shows here), and equal what reached its token account on chain;
 *  - each buyer's escrow vault on chain holds exactly what the ledger says is theirs;
 *  - the audit passes (conservation over every account, custody and the escrow vaults);
 *  - every object touched replays from zero to its live state hash;
 *  - the jobs read model agrees with every job object.
 */
export async function quiesceAndCheck(w: World, timeoutMs: number): Promise<CheckReport> {
  const reader = new DougClient({ baseUrl: w.stack.url });
  const failures: string[] = [];
  let moneyChecked = 0;
  let moneyMismatches = 0;
  let lostOrDoubled = 0;
  await adoptOpenBids(w).catch(() => 0);
  const deadline = Date.now() + timeoutMs;
  const jobs = new Map<string, JobView | null>();
  // 1. Every accepted bid ends: its job settled or refunded, or (never matched) its hold released.
  for (;;) {
    let open = 0;
    for (const id of w.bids.keys()) {
      const known = jobs.get(id);
      if (known && ENDED.has(known.status)) continue;
      const job = await liveJob(reader, id).catch(() => undefined);
      if (job === undefined) {
        open++;
        continue;
      }
      jobs.set(id, job);
      if (!job || !ENDED.has(job.status)) open++;
    }
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
  for (const [id, job] of jobs) {
    if (job && !ENDED.has(job.status)) {
      lostOrDoubled++;
      failures.push(`bid ${id}: its job is ${job.status}, neither settled nor refunded`);
    }
  }
  // 2. Providers: ledger payouts = the jobs' net payouts = what reached the chain.
  const expected = new Map<string, bigint>();
  for (const job of jobs.values()) {
    for (const p of (job?.payouts ?? []) as { provider: string; net: string }[]) expected.set(p.provider, (expected.get(p.provider) ?? 0n) + BigInt(p.net));
  }
  for (const provider of w.providers) {
    const account = await reader.account(provider);
    const received = BigInt(account.payoutsReceived);
    const onChainLedger = BigInt(account.payoutsOnChain);
    const wallet = await tokenBalance(w, await associatedTokenAddress(provider, w.chain.mint));
    const want = expected.get(provider) ?? 0n;
    moneyChecked += 3;
    if (received !== want) {
      moneyMismatches++;
      lostOrDoubled++;
      failures.push(`provider ${provider.slice(0, 8)}: ledger payouts ${received} ≠ ${want} named by its jobs`);
    }
    if (onChainLedger !== received) {
      moneyMismatches++;
      failures.push(`provider ${provider.slice(0, 8)}: ${onChainLedger} of ${received} paid on chain`);
    }
    if (wallet !== onChainLedger) {
      moneyMismatches++;
      lostOrDoubled++;
      failures.push(`provider ${provider.slice(0, 8)}: token account holds ${wallet}, the ledger paid ${onChainLedger} on chain`);
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
  let objectsChecked = 0;
  await pool(objects, 4, async ([kind, id]) => {
    const res = await fetch(`${w.stack.url}/v1/objects/${kind}/${id}/integrity`);
    const report = (await res.json()) as IntegrityReport;
    objectsChecked++;
    if (!res.ok || !report.consistent) failures.push(`${kind} ${id}: live state ${report.hash?.slice(0, 12)} at ${report.seq}, replay ${report.replay?.hash.slice(0, 12)} at ${report.replay?.seq}`);
  });
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

/** Runs `fn` over `items`, `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Lines the Worker logged for the chaos suite's delivery fault (each a message delivered twice). */
export const deliveryFaults = (w: World): number => (w.stack.log().match(/chaos-delivery:/g) ?? []).length;
