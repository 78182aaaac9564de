/**
 * Bench worker for test/bench/intake.ts: runs timed loops INSIDE workerd (Miniflare) so that the
 * Node <-> workerd proxy is not what is measured. Not part of the deployed Worker.
 *
 *   GET /run?kind=single|batch|raw&n=N&batch=B&object=NAME&seed=S[&quiet=1|&nosnap=1] -> timings as JSON
 *   GET /seed?object=NAME&events=N&batch=B&budgetMs=T              -> seeds a quiet market object
 *   GET /first?object=NAME                                          -> times the first call (cold load)
 *   GET /seq?object=NAME&after=S                                    -> last seq via history (cheap)
 *   GET /integrity?object=NAME                                      -> integrity() (replays from zero: slow)
 *   GET /probe?n=N&rounds=R                                         -> µs per command of each part of intake
 */
import { DurableObject } from 'cloudflare:workers';
import type { CommandMeta } from '../../durable-objects/domain/decider.ts';
import { marketDecider, type MarketCommand, type MarketEvent } from '../../durable-objects/domain/market/index.ts';
import { toJson } from '../../durable-objects/domain/canonical.ts';
import { EventStore, requestHash } from '../../durable-objects/runtime/event-store.ts';
import type { Env } from '../../durable-objects/runtime/env.ts';
import { MarketObject } from '../../durable-objects/runtime/market-object.ts';
import { prng } from '../../gpu-agent/models/prng.ts';

export { AccountObject } from '../../durable-objects/runtime/account-object.ts';
export { JobObject } from '../../durable-objects/runtime/job-object.ts';
export { MarketObject } from '../../durable-objects/runtime/market-object.ts';

/**
 * The market object used for the replay test: the project's MarketObject, unchanged in its command
 * and load paths, except that it never arms its alarm (no outbox delivery, no projection feed), so
 * that nothing but the bench's own first call constructs it after a restart.
 */
export class QuietMarketObject extends MarketObject {
  protected override schedule(_now: number): void {}
}

/**
 * Diagnostic only: the quiet market object with snapshots off (the same EventStore with
 * snapshotEvery beyond reach), to show what the periodic snapshot costs intake.
 */
export class NoSnapshotMarketObject extends QuietMarketObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    (this as unknown as { store: unknown }).store = new EventStore(ctx.storage, marketDecider, {
      snapshotEvery: Number.MAX_SAFE_INTEGER,
      source: () => `market:${this.name}`,
    });
  }
}

/** A bare SQLite-backed object whose RPC method appends one row per request. */
export class RawAppendObject extends DurableObject<Env> {
  private seq: number;
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)');
    this.seq = this.sql.exec<{ s: number }>('SELECT COALESCE(MAX(seq), 0) AS s FROM log').one().s;
  }

  /** Same arguments as MarketObject.place; stores the command as JSON (similar size to an event row). */
  async append(_market: string, command: MarketCommand, meta: CommandMeta): Promise<{ ok: true; seq: number }> {
    this.seq++;
    this.sql.exec('INSERT INTO log (seq, data) VALUES (?, ?)', this.seq, JSON.stringify({ command, meta }, bigintReplacer));
    return { ok: true, seq: this.seq };
  }
}

/**
 * Diagnostic: runs one part of the intake path over many commands inside one call, so that the
 * caller's clock (which advances only across I/O) times that part alone. Each stage starts on a
 * fresh object; `noop` is the cost of the call and of shipping the commands.
 */
export class ProbeObject extends DurableObject<Env> {
  async stage(kind: string, commands: MarketCommand[], metas: CommandMeta[]): Promise<number> {
    const sql = this.ctx.storage.sql;
    let n = 0;
    if (kind === 'noop') return commands.length;
    if (kind === 'raw' || kind === 'rawtx') {
      sql.exec('CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)');
      const append = (i: number) => sql.exec('INSERT INTO log (seq, data) VALUES (?, ?)', i + 1, JSON.stringify({ command: commands[i], meta: metas[i] }, bigintReplacer));
      for (let i = 0; i < commands.length; i++) kind === 'raw' ? append(i) : this.ctx.storage.transactionSync(() => append(i));
      return commands.length;
    }
    if (kind === 'events' || kind === 'eventsnoindex') {
      // The event row as the store writes it (command record on it), with and without its index.
      sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
        command_id TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL, request_hash TEXT, command_last_seq INTEGER)`);
      if (kind === 'events') sql.exec('CREATE UNIQUE INDEX IF NOT EXISTS events_by_command ON events (command_id) WHERE request_hash IS NOT NULL');
      const insert =
        'INSERT INTO events (seq, type, version, data, command_id, actor, at, request_hash, command_last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING';
      const rows = commands.map((c) => toJson(c));
      for (let i = 0; i < commands.length; i++) sql.exec(insert, i + 1, commands[i]!.type, 1, rows[i]!, metas[i]!.commandId, metas[i]!.actor, metas[i]!.now, 'h', i + 1);
      return commands.length;
    }
    if (kind === 'json') for (const c of commands) n += toJson(c).length;
    else if (kind === 'hash') for (const c of commands) n += requestHash(c).length;
    else if (kind === 'decide') {
      let state = marketDecider.initialState();
      for (let i = 0; i < commands.length; i++) {
        const r = marketDecider.decide(state, commands[i]!, metas[i]!);
        if (r.ok) for (const e of r.value) state = marketDecider.evolve(state, e, metas[i]!);
      }
    } else if (kind === 'store' || kind === 'storesnap') {
      const store = new EventStore(this.ctx.storage, marketDecider, { snapshotEvery: kind === 'store' ? Number.MAX_SAFE_INTEGER : 5000, source: () => 'market:probe' });
      for (let i = 0; i < commands.length; i++) store.execute(commands[i]!, metas[i]!);
    } else throw new Error(`unknown stage ${kind}`);
    return n;
  }
}

interface BenchEnv extends Omit<Env, 'MARKETS'> {
  PROBE: DurableObjectNamespace<ProbeObject>;
  MARKETS: DurableObjectNamespace<MarketObject>;
  QUIET: DurableObjectNamespace<QuietMarketObject>;
  NOSNAP: DurableObjectNamespace<NoSnapshotMarketObject>;
  RAW: DurableObjectNamespace<RawAppendObject>;
}

function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}


const OWNERS = Array.from({ length: 50 }, (_, i) => `owner_${String(i).padStart(2, '0')}`);
const MARKET = 'cpu';
const ASK_BASE = 1_000_000n;
const LEVELS = 100;
const CROSS_P = 0.1;

/** A set of order ids with O(1) add, remove and random pick. */
class IdSet {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  add(id: string): void {
    this.index.set(id, this.ids.length);
    this.ids.push(id);
  }
  remove(id: string): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    const last = this.ids.pop()!;
    this.index.delete(id);
    if (i < this.ids.length) {
      this.ids[i] = last;
      this.index.set(last, i);
    }
    return true;
  }
}

/**
 * A realistic order stream: resting asks above and bids below a mid price, about 10% bids priced
 * into the ask range (they match when a non-own ask is there, else rest and match a later ask), and
 * cancels of live orders by their owner that keep the book near `target` resting orders. It follows
 * the outcomes the object returns to know which orders are live.
 */
class Stream {
  private readonly rnd: () => number;
  private readonly live = new IdSet();
  private readonly byOwner = new Map<string, IdSet>();
  private readonly ownerOf = new Map<string, string>();
  private readonly digest: string;
  counts = { ask: 0, bid: 0, cross: 0, cancel: 0, events: 0, rejected: 0, matched: 0 };

  constructor(
    seed: number,
    private readonly target: number,
    private readonly expiresAt: number,
  ) {
    this.rnd = prng(seed);
    this.digest = (this.hex() + this.hex() + this.hex()).slice(0, 64);
    for (const o of OWNERS) this.byOwner.set(o, new IdSet());
  }

  private hex(): string {
    let s = '';
    for (let i = 0; i < 3; i++) s += ((this.rnd() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
    return s;
  }

  get liveCount(): number {
    return this.live.ids.length;
  }

  randomOwner(): string {
    return OWNERS[Math.floor(this.rnd() * OWNERS.length)]!;
  }

  /** The next command and the actor that sends it; with `owner`, every command is that owner's. */
  next(owner?: string): { command: MarketCommand; actor: string } {
    const r = this.rnd();
    const who = owner ?? this.randomOwner();
    if (r < CROSS_P) {
      this.counts.cross++;
      return { command: this.bid(who, ASK_BASE + BigInt(Math.floor(this.rnd() * LEVELS))), actor: who };
    }
    if (this.live.ids.length > 0 && r < CROSS_P + 0.45 * (this.live.ids.length / this.target)) {
      const pool = owner === undefined ? this.live : this.byOwner.get(owner)!;
      const id = pool.ids[Math.floor(this.rnd() * pool.ids.length)];
      if (id !== undefined) {
        const by = this.ownerOf.get(id)!;
        // Taken off now, so that a batch does not cancel one order twice; the outcome confirms it.
        this.forget(id);
        this.counts.cancel++;
        return { command: { type: 'CancelOrder', orderId: id }, actor: by };
      }
    }
    if (this.rnd() < 0.5) {
      this.counts.ask++;
      return {
        command: {
          type: 'PlaceAsk',
          askId: `ask_cpu_${this.hex()}`,
          owner: who,
          price: ASK_BASE + BigInt(Math.floor(this.rnd() * LEVELS)),
          capacity: 1,
          attributes: {},
          expiresAt: this.expiresAt,
        },
        actor: who,
      };
    }
    this.counts.bid++;
    return { command: this.bid(who, ASK_BASE - 1n - BigInt(Math.floor(this.rnd() * LEVELS))), actor: who };
  }

  private bid(owner: string, maxPrice: bigint): MarketCommand {
    return {
      type: 'PlaceBid',
      bidId: `bid_cpu_${this.hex()}`,
      owner,
      maxPrice,
      units: 1 + Math.floor(this.rnd() * 100),
      replicas: 1,
      requirements: [],
      expiresAt: this.expiresAt,
      ioc: false,
      spec: { modelSha256: this.digest, inputSha256: this.digest, inputBytes: 1024, tolerance: null },
    };
  }

  /** Follows one command's outcome. */
  observe(result: Outcome): void {
    if (!result.ok || !result.value) {
      this.counts.rejected++;
      return;
    }
    for (const e of result.value.events) {
      this.counts.events++;
      switch (e.type) {
        case 'AskPlaced':
          this.add(e.askId, e.owner);
          break;
        case 'BidPlaced':
          this.add(e.bidId, e.owner);
          break;
        case 'BidMatched':
          this.counts.matched++;
          this.forget(e.bidId);
          for (const f of e.fills) this.forget(f.askId); // capacity 1: the ask is full
          break;
        case 'AskCancelled':
        case 'AskExpired':
          this.forget(e.askId);
          break;
        case 'BidCancelled':
        case 'BidExpired':
          this.forget(e.bidId);
          break;
        default:
          break;
      }
    }
  }

  private add(id: string, owner: string): void {
    this.live.add(id);
    this.byOwner.get(owner)?.add(id);
    this.ownerOf.set(id, owner);
  }

  private forget(id: string): void {
    const owner = this.ownerOf.get(id);
    if (owner === undefined) return;
    this.live.remove(id);
    this.byOwner.get(owner)?.remove(id);
    this.ownerOf.delete(id);
  }
}

type Outcome = { ok: boolean; value?: { events: MarketEvent[] } };

const DAY = 86_400_000;
/** Streams of seeding runs, kept across /seed calls (same isolate). */
const seeders = new Map<string, { stream: Stream; calls: number; seq: number }>();

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, bigintReplacer), { status, headers: { 'content-type': 'application/json' } });
}

function quantiles(lat: Float64Array): { p50: number; p99: number; max: number } {
  const s = Array.from(lat).sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? 0 };
}

async function run(url: URL, env: BenchEnv): Promise<Response> {
  const kind = url.searchParams.get('kind') ?? 'single';
  const n = Number(url.searchParams.get('n') ?? '1000');
  const batch = Number(url.searchParams.get('batch') ?? '200');
  const object = url.searchParams.get('object') ?? `bench-${kind}`;
  const seed = Number(url.searchParams.get('seed') ?? '1');
  const stream = new Stream(seed, Number(url.searchParams.get('target') ?? '10000'), Date.now() + DAY);
  const tag = `${object}:${seed}`;
  const variant = url.searchParams.get('quiet') === '1' ? env.QUIET : url.searchParams.get('nosnap') === '1' ? env.NOSNAP : env.MARKETS;
  const markets = variant as unknown as DurableObjectNamespace<MarketObject>;
  const lat = new Float64Array(kind === 'batch' ? Math.ceil(n / batch) : n);
  let t0 = 0;
  let t1 = 0;
  if (kind === 'single') {
    const stub = markets.get(markets.idFromName(object));
    t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const { command, actor } = stream.next();
      const s = Date.now();
      const r = (await stub.place(MARKET, command, { commandId: `${tag}:${i}`, actor, now: s })) as unknown as Outcome;
      lat[i] = Date.now() - s;
      stream.observe(r);
    }
    t1 = Date.now();
  } else if (kind === 'raw') {
    // Same stream, generated up front (the raw object returns no outcomes to follow).
    const cmds: { command: MarketCommand; actor: string }[] = [];
    for (let i = 0; i < n; i++) cmds.push(stream.next());
    const stub = env.RAW.get(env.RAW.idFromName(object));
    t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const { command, actor } = cmds[i]!;
      const s = Date.now();
      await stub.append(MARKET, command, { commandId: `${tag}:${i}`, actor, now: s });
      lat[i] = Date.now() - s;
    }
    t1 = Date.now();
  } else if (kind === 'batch') {
    const stub = markets.get(markets.idFromName(object));
    t0 = Date.now();
    for (let done = 0, b = 0; done < n; done += batch, b++) {
      const s = Date.now();
      const rs = await placeBatch(stub, stream, Math.min(batch, n - done), `${tag}:${done}`);
      lat[b] = Date.now() - s;
      for (const r of rs) stream.observe(r);
    }
    t1 = Date.now();
  } else {
    return json({ error: `unknown kind ${kind}` }, 400);
  }
  const ms = t1 - t0;
  return json({ kind, n, batch: kind === 'batch' ? batch : 1, ms, perSec: ms > 0 ? (n * 1000) / ms : 0, latencyMs: quantiles(lat), counts: stream.counts, live: stream.liveCount });
}

/**
 * One placeMany call (one transaction): a batch carries one meta, so one actor, and CancelOrder is
 * checked against it; each batch is therefore one owner's orders and cancels of its own live orders
 * (a provider or buyer placing many orders at once). Each command gets its own id.
 */
async function placeBatch(stub: DurableObjectStub<MarketObject>, stream: Stream, size: number, tag: string): Promise<Outcome[]> {
  const owner = stream.randomOwner();
  const commands: MarketCommand[] = [];
  const ids: string[] = [];
  for (let i = 0; i < size; i++) {
    commands.push(stream.next(owner).command);
    ids.push(`${tag}:${i}`);
  }
  return (await stub.placeMany(MARKET, commands, { commandId: tag, actor: owner, now: Date.now() }, ids)) as unknown as Outcome[];
}

/** Seeds a quiet market object with batches until it holds `events` events or `budgetMs` passes. */
async function seedObject(url: URL, env: BenchEnv): Promise<Response> {
  const object = url.searchParams.get('object') ?? 'replay';
  const events = Number(url.searchParams.get('events') ?? '1000000');
  const batch = Number(url.searchParams.get('batch') ?? '200');
  const budgetMs = Number(url.searchParams.get('budgetMs') ?? '20000');
  let st = seeders.get(object);
  if (!st) seeders.set(object, (st = { stream: new Stream(7, 10_000, Date.now() + 30 * DAY), calls: 0, seq: 0 }));
  const stub = env.QUIET.get(env.QUIET.idFromName(object)) as unknown as DurableObjectStub<MarketObject>;
  const t0 = Date.now();
  let commands = 0;
  while (st.stream.counts.events < events && Date.now() - t0 < budgetMs) {
    const rs = await placeBatch(stub, st.stream, batch, `seed:${object}:${st.calls++}`);
    for (const r of rs) st.stream.observe(r);
    commands += rs.length;
  }
  const ms = Date.now() - t0;
  return json({ events: st.stream.counts.events, done: st.stream.counts.events >= events, commands, ms, live: st.stream.liveCount, counts: st.stream.counts });
}

/** Times the first call to an object (after a restart: its constructor loads snapshot + tail). */
async function first(url: URL, env: BenchEnv): Promise<Response> {
  const object = url.searchParams.get('object') ?? 'replay';
  const stub = env.QUIET.get(env.QUIET.idFromName(object));
  const t0 = Date.now();
  const depth = await stub.depth(MARKET, 1);
  const ms = Date.now() - t0;
  const t1 = Date.now();
  await stub.depth(MARKET, 1);
  const secondMs = Date.now() - t1;
  return json({ ms, secondMs, depth });
}

/** The object's last event seq, read through history (cheap) from a known lower bound. */
async function lastSeq(url: URL, env: BenchEnv): Promise<Response> {
  const object = url.searchParams.get('object') ?? 'replay';
  const stub = env.QUIET.get(env.QUIET.idFromName(object));
  let seq = Number(url.searchParams.get('after') ?? '0');
  for (;;) {
    const h = await stub.history(seq, 10_000);
    if (h.length === 0) break;
    seq = h[h.length - 1]!.seq;
  }
  return json({ seq });
}

/** µs per command of each probe stage (median of `rounds`, each stage on a fresh object), the call's own cost taken off. */
async function probe(url: URL, env: BenchEnv): Promise<Response> {
  const n = Number(url.searchParams.get('n') ?? '5000');
  const rounds = Number(url.searchParams.get('rounds') ?? '3');
  const stages = ['noop', 'raw', 'rawtx', 'events', 'eventsnoindex', 'json', 'hash', 'decide', 'store', 'storesnap'];
  const times: Record<string, number[]> = Object.fromEntries(stages.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const stream = new Stream(11 + r, 10_000, Date.now() + DAY);
    const commands: MarketCommand[] = [];
    const metas: CommandMeta[] = [];
    for (let i = 0; i < n; i++) {
      const { command, actor } = stream.next();
      commands.push(command);
      metas.push({ commandId: `probe:${r}:${i}`, actor, now: Date.now() });
    }
    for (const kind of stages) {
      const stub = env.PROBE.get(env.PROBE.idFromName(`${kind}:${r}:${Math.random()}`));
      await stub.stage('noop', [], []);
      const t0 = Date.now();
      await stub.stage(kind, commands, metas);
      times[kind]!.push(Date.now() - t0);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const noop = median(times.noop!);
  return json(Object.fromEntries(stages.map((k) => [k, Number((((median(times[k]!) - (k === 'noop' ? 0 : noop)) * 1000) / n).toFixed(2))])));
}

async function integrity(url: URL, env: BenchEnv): Promise<Response> {
  const object = url.searchParams.get('object') ?? 'replay';
  const stub = env.QUIET.get(env.QUIET.idFromName(object));
  const t0 = Date.now();
  const r = await stub.integrity();
  return json({ ...r, ms: Date.now() - t0, consistent: r.hash === r.replay.hash && r.seq === r.replay.seq });
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === '/run') return await run(url, env);
      if (url.pathname === '/seed') return await seedObject(url, env);
      if (url.pathname === '/first') return await first(url, env);
      if (url.pathname === '/seq') return await lastSeq(url, env);
      if (url.pathname === '/integrity') return await integrity(url, env);
      if (url.pathname === '/probe') return await probe(url, env);
      return json({ error: 'not found' }, 404);
    } catch (error) {
      return json({ error: String((error as Error)?.stack ?? error) }, 500);
    }
  },
  async queue(batch: MessageBatch<unknown>): Promise<void> {
    batch.ackAll();
  },
} satisfies ExportedHandler<BenchEnv>;
