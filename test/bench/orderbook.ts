/**
 * Order book benchmark. market_decider_*: what a market runs (the market decider's decide + evolve)
 * against the npm package nodejs-order-book on one seeded unit-quantity stream of adds, cancels and
 * crossing orders, checked to end with the same resting orders and traded quantity. orderbook_*:
 * the plain LimitOrderBook against the package on a stream with quantities 1-10 (no market uses it).
 * Prints a table and, last, one JSON line.
 *
 *   node --import tsx test/bench/orderbook.ts [ops]
 */
import { OrderBook as PackageBook } from 'nodejs-order-book';
import { LimitOrderBook } from '../support/limit-order-book.ts';
import { marketDecider, type MarketCommand } from '../../durable-objects/domain/market/index.ts';
import type { CommandMeta } from '../../durable-objects/domain/decider.ts';
import { prng } from '../../gpu-agent/models/prng.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { printResult } from './harness.ts';

/**
 * A full collection before each timed run, for every engine alike: each run starts on a settled heap
 * instead of paying for the garbage the run before it left (the warm-up's books are hundreds of
 * megabytes, and collecting them inside the next engine's timed loop cost it a fifth of its time).
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const MID = 10_000;
const LEVELS = 100;
const TARGET = 10_000;
const ADD = 0;
const CANCEL = 1;
const CROSS = 2;

/** A pre-generated op stream in flat arrays (generation is not timed). */
interface Stream {
  n: number;
  kind: Uint8Array;
  id: Int32Array;
  buy: Uint8Array;
  price: Int32Array;
  qty: Int32Array;
  idStr: string[];
  counts: [number, number, number];
}

/**
 * ~50% non-crossing adds (buys in [MID-100, MID-1], sells in [MID+1, MID+100]), ~30% cancels of
 * live orders, ~20% marketable limits priced at the far end of the other side. The mix leans to
 * add or cancel to hold the book near TARGET resting orders. Liveness is tracked with our engine.
 */
export function generate(n: number, seed: number, unit = false): Stream {
  const rnd = prng(seed);
  const s: Stream = {
    n,
    kind: new Uint8Array(n),
    id: new Int32Array(n),
    buy: new Uint8Array(n),
    price: new Int32Array(n),
    qty: new Int32Array(n),
    idStr: new Array<string>(n),
    counts: [0, 0, 0],
  };
  const book = new LimitOrderBook<number>();
  const live: number[] = [];
  let nextId = 1;
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let kind = i < TARGET ? ADD : r < 0.5 ? ADD : r < 0.8 ? CANCEL : CROSS;
    if (kind === CANCEL && book.size < TARGET * 0.98) kind = ADD;
    else if (kind === ADD && book.size > TARGET * 1.02) kind = CANCEL;
    if (kind === CANCEL) {
      let id = -1;
      while (live.length > 0) {
        const at = Math.floor(rnd() * live.length);
        const cand = live[at]!;
        live[at] = live[live.length - 1]!;
        live.pop();
        if (book.get(cand) !== undefined) {
          id = cand;
          break;
        }
      }
      if (id < 0) kind = ADD;
      else {
        book.cancel(id);
        s.kind[i] = CANCEL;
        s.id[i] = id;
        s.idStr[i] = String(id);
        s.counts[CANCEL]++;
        continue;
      }
    }
    const buy = rnd() < 0.5;
    const id = nextId++;
    let price: number;
    let qty: number;
    if (kind === ADD) {
      price = buy ? MID - 1 - Math.floor(rnd() * LEVELS) : MID + 1 + Math.floor(rnd() * LEVELS);
      qty = 1 + Math.floor(rnd() * 10);
    } else {
      price = buy ? MID + LEVELS : MID - LEVELS;
      qty = 1 + Math.floor(rnd() * 8);
    }
    if (unit) qty = 1;
    book.limit(id, buy ? 'buy' : 'sell', price, qty);
    if (book.get(id) !== undefined) live.push(id);
    s.kind[i] = kind;
    s.id[i] = id;
    s.buy[i] = buy ? 1 : 0;
    s.price[i] = price;
    s.qty[i] = qty;
    s.idStr[i] = String(id);
    s.counts[kind as 0 | 1 | 2]++;
  }
  return s;
}

interface RunResult {
  ns: bigint;
  resting: number;
  traded: number;
  depth: string;
}

function runOurs(s: Stream): RunResult {
  const book = new LimitOrderBook<number>();
  const { kind, id, buy, price, qty } = s;
  collect();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < s.n; i++) {
    if (kind[i] === CANCEL) book.cancel(id[i]!);
    else book.limit(id[i]!, buy[i] === 1 ? 'buy' : 'sell', price[i]!, qty[i]!);
  }
  const ns = process.hrtime.bigint() - t0;
  const d = book.depth();
  return {
    ns,
    resting: book.size,
    traded: book.tradedQuantity,
    depth: JSON.stringify([d.asks.map(([p, q]) => [p, q]), d.bids.map(([p, q]) => [p, q])]),
  };
}

function runPackage(s: Stream): RunResult {
  const book = new PackageBook();
  const { kind, buy, price, qty, idStr } = s;
  let traded = 0;
  collect();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < s.n; i++) {
    if (kind[i] === CANCEL) book.cancel(idStr[i]!);
    else {
      const size = qty[i]!;
      const r = book.limit({ id: idStr[i]!, side: (buy[i] === 1 ? 'buy' : 'sell') as never, size, price: price[i]! });
      traded += size - r.quantityLeft;
    }
  }
  const ns = process.hrtime.bigint() - t0;
  const [asks, bids] = book.depth();
  // The package's depth lists asks from the cheapest and bids from the highest, as ours does.
  const resting = Object.keys((book as unknown as { orders: Record<string, unknown> }).orders).length;
  return { ns, resting, traded, depth: JSON.stringify([asks, [...bids].sort((a, b) => b[0]! - a[0]!)]) };
}

/** The command and its meta for op i of a unit stream, as a request to the market object brings them. */
function marketCommand(s: Stream, i: number): { command: MarketCommand; meta: CommandMeta } {
  const id = s.idStr[i]!;
  const owner = `owner-${id}`;
  const command: MarketCommand =
    s.kind[i] === CANCEL
      ? { type: 'CancelOrder', orderId: id }
      : s.buy[i] === 1
        ? { type: 'PlaceBid', bidId: id, owner, maxPrice: BigInt(s.price[i]!), units: 10, replicas: 1, requirements: [], expiresAt: EXPIRES_AT, ioc: false, spec: SPEC }
        : { type: 'PlaceAsk', askId: id, owner, price: BigInt(s.price[i]!), capacity: 1, attributes: {}, expiresAt: EXPIRES_AT };
  return { command, meta: { commandId: `c${i}`, actor: owner, now: 1_700_000_000_000 + i } };
}

const SPEC = { modelSha256: 'a'.repeat(64), inputSha256: 'b'.repeat(64), inputBytes: 1024, tolerance: null };
const EXPIRES_AT = 4_000_000_000_000;

/**
 * Decide + evolve over the stream as market commands, as the market object runs them; a BidMatched
 * is one unit traded. A sell is an ask of capacity 1, a buy a bid for one replica, each order its
 * own owner (no self-trade), so on a unit-quantity stream the decider must end where the package
 * does. Each command is built in the timed loop, as the package's run builds each order it takes:
 * a million commands built beforehand (~370 MB) stayed alive through the run, and marking them was
 * most of a full collection's cost, which is the harness's, not the market's (a market object
 * receives one command at a time).
 */
export function runMarket(s: Stream): { ns: bigint; events: number; traded: number; resting: number } {
  const d = marketDecider;
  let state = d.initialState();
  let events = 0;
  let traded = 0;
  collect();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < s.n; i++) {
    const { command, meta } = marketCommand(s, i);
    const res = d.decide(state, command, meta);
    if (!res.ok) throw new Error(`market run: ${res.error.code}`);
    const evs = res.value;
    for (let j = 0; j < evs.length; j++) {
      const e = evs[j]!;
      if (e.type === 'BidMatched') traded++;
      state = d.evolve(state, e, meta);
    }
    events += evs.length;
  }
  const ns = process.hrtime.bigint() - t0;
  return { ns, events, traded, resting: state.asks.size + state.bids.size };
}

const perSecond = (ops: number, ns: bigint) => Math.round((ops * 1e9) / Number(ns));

/** Runs the benchmark and returns its numbers. */
export async function runOrderbookBench(opts: { ops?: number } = {}): Promise<Record<string, number>> {
  const ops = opts.ops ?? 1_000_000;
  const stream = generate(ops, 42);
  const warm = generate(Math.min(200_000, ops), 7);
  runOurs(warm);
  runPackage(warm);
  const ours = runOurs(stream);
  const pkg = runPackage(stream);
  if (ours.resting !== pkg.resting || ours.traded !== pkg.traded || ours.depth !== pkg.depth)
    throw new Error(`engines disagree: ours resting ${ours.resting} traded ${ours.traded}; package resting ${pkg.resting} traded ${pkg.traded}; depth equal ${ours.depth === pkg.depth}`);

  // The market decider and the package on one unit-quantity stream (a market order is one slot).
  const unit = generate(ops, 99, true);
  // Both engines warm up on another unit stream until the compiler has settled (the decider's first
  // 100,000 ops ran about a fifth slower than its later runs).
  const unitWarm = generate(Math.min(300_000, ops), 5, true);
  for (let k = 0; k < 2; k++) runMarket(unitWarm);
  runPackage(unitWarm);
  const m = runMarket(unit);
  const unitPkg = runPackage(unit);
  if (m.resting !== unitPkg.resting || m.traded !== unitPkg.traded)
    throw new Error(`market decider and package disagree: market resting ${m.resting} traded ${m.traded}; package resting ${unitPkg.resting} traded ${unitPkg.traded}`);

  const oursRate = perSecond(ops, ours.ns);
  const pkgRate = perSecond(ops, pkg.ns);
  const marketRate = perSecond(ops, m.ns);
  const unitPkgRate = perSecond(ops, unitPkg.ns);
  return {
    orderbook_ops: ops,
    orderbook_adds: stream.counts[ADD],
    orderbook_cancels: stream.counts[CANCEL],
    orderbook_crossing: stream.counts[CROSS],
    orderbook_resting_at_end: ours.resting,
    orderbook_traded_quantity: ours.traded,
    orderbook_ops_per_s: oursRate,
    orderbook_nodejs_order_book_ops_per_s: pkgRate,
    orderbook_vs_nodejs_order_book: Math.round((oursRate / pkgRate) * 100) / 100,
    market_decider_ops: ops,
    market_decider_events: m.events,
    market_decider_traded_quantity: m.traded,
    market_decider_ops_per_s: marketRate,
    market_nodejs_order_book_ops_per_s: unitPkgRate,
    market_decider_vs_nodejs_order_book: Math.round((marketRate / unitPkgRate) * 100) / 100,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ops = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runOrderbookBench(ops ? { ops } : {}));
}
