import type { Amount } from '../money.ts';
import { PROTOCOL, type MarketParams } from '../params.ts';
import { Ladder, type Level } from './book.ts';
import { IdTable, idHash } from './id-table.ts';
import type { AttributeValue, JobSpec, Requirement } from './commands.ts';
import type { MarketEvent } from './events.ts';

/** A provider's ask. It sits in its price level while open with a free slot; a full ask waits off the book. */
export interface AskOrder {
  kind: 'ask';
  id: string;
  owner: string;
  price: Amount;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
  /** When it was placed (pricing: a fill prices at whichever of bid and ask was placed first). */
  placedSeq: number;
  /** Its time priority: placedSeq, or the moment it re-entered its level after being full. */
  seq: number;
  status: 'open' | 'cancelled' | 'expired';
  /** Set while its agent is gone (AskSuspended): off the book like a full ask until AskResumed, withdrawn at this time. */
  withdrawAt: number | null;
  /**
   * Jobs holding a slot (one slot per job), oldest first; NO_JOBS until the first is taken
   * (takeSlot). An array, not a Set: most asks hold one or two jobs, and a Set per ask (about four
   * times the memory of a one-element array) was a large share of the decider's garbage. Capacity is
   * at most LIMITS.capacity.max, so a linear `includes` stays bounded.
   */
  inUse: string[];
  prev: AskOrder | null;
  next: AskOrder | null;
  level: Level<bigint, AskOrder> | null;
}

/** A buyer's bid resting in the book (bids that match on arrival never rest). */
export interface BidOrder {
  kind: 'bid';
  id: string;
  owner: string;
  maxPrice: Amount;
  units: number;
  replicas: number;
  requirements: Requirement[];
  excludeProviders: readonly string[];
  expiresAt: number;
  spec: JobSpec;
  placedSeq: number;
  status: 'open' | 'filled' | 'cancelled' | 'expired';
  prev: RestingBid | null;
  next: RestingBid | null;
  level: Level<bigint, RestingBid> | null;
}

/** A job's bid for one more replica, resting in the book. */
export interface ReplicaBidOrder {
  kind: 'replica';
  /** replicaKey(jobId, replica) */
  id: string;
  jobId: string;
  replica: number;
  owner: string;
  maxPrice: Amount;
  units: number;
  replicas: 1;
  requirements: Requirement[];
  excludeProviders: readonly string[];
  expiresAt: number;
  placedSeq: number;
  status: 'open' | 'filled' | 'expired';
  prev: RestingBid | null;
  next: RestingBid | null;
  level: Level<bigint, RestingBid> | null;
}

export type RestingBid = BidOrder | ReplicaBidOrder;
export type ExpiringOrder = AskOrder | RestingBid;

/**
 * How many closed orders the book remembers (oldest forgotten first), so that cancelling a filled
 * or expired order answers MARKET__ORDER_CLOSED rather than not-found. The memory is bounded
 * because it travels in every snapshot: a busy market closes orders without end. A forgotten id
 * cannot be placed again either way: the shell's command log answers a repeated order id.
 */
export const CLOSED_MEMORY = 10_000;

/** What is remembered of an order that has left the book for good (ids are never reused). */
export interface ClosedOrder {
  kind: 'closed';
  side: 'ask' | 'bid';
  owner: string;
  status: 'filled' | 'cancelled' | 'expired';
}

/** Whatever the market knows under an order id: an open order, a closed ask still holding slots, or a closed order. */
export type KnownOrder = AskOrder | BidOrder | ClosedOrder;

/**
 * The closed orders remembered in `byId`, oldest forgotten first. Closed orders live in the same
 * table as open ones, so that every command asks one table about an id (is it new, open or
 * closed?) and closing an order overwrites its entry in place instead of moving it between maps.
 * This keeps only the closing order, in a ring of ids (and their hashes, so that forgetting a cold
 * id does not read its characters again): once full, the oldest id is forgotten (deleted from
 * `byId`) as the newest takes its place, with no allocation.
 */
export class ClosedMemory {
  /** Closed ids in closing order; once it holds `limit`, a ring whose oldest entry is at `head`. */
  private readonly ring: string[] = [];
  private readonly hashes: Int32Array;
  private head = 0;

  constructor(
    private readonly byId: IdTable<KnownOrder>,
    private readonly limit: number,
  ) {
    this.hashes = new Int32Array(limit);
  }

  get size(): number {
    return this.ring.length;
  }

  get(id: string): ClosedOrder | undefined {
    const o = this.byId.get(id);
    return o !== undefined && o.kind === 'closed' ? o : undefined;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * Records that `id` closed. `known` is what byId held under it (the caller has just looked it up):
   * an id closed before keeps its place in the closing order and only takes the new record.
   */
  remember(id: string, record: ClosedOrder, known: KnownOrder | undefined): void {
    this.byId.set(id, record);
    if (known !== undefined && known.kind === 'closed') return;
    const ring = this.ring;
    if (ring.length < this.limit) {
      this.hashes[ring.length] = idHash(id);
      ring.push(id);
      return;
    }
    const at = this.head;
    this.byId.delete(ring[at]!, this.hashes[at]!);
    ring[at] = id;
    this.hashes[at] = idHash(id);
    this.head = at + 1 === this.limit ? 0 : at + 1;
  }

  /** Oldest first. */
  *entries(): IterableIterator<[string, ClosedOrder]> {
    const ring = this.ring;
    for (let i = 0; i < ring.length; i++) {
      const id = ring[(this.head + i) % ring.length]!;
      yield [id, this.byId.get(id) as ClosedOrder];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [id] of this.entries()) yield id;
  }
}

const closedRecord = (side: ClosedOrder['side'], owner: string, status: ClosedOrder['status']): ClosedOrder => ({ kind: 'closed', side, owner, status });

/**
 * The book of one market. Mutable: evolve updates it in place (the shell owns the only copy);
 * decide only reads it.
 */
export interface MarketState {
  /** Time-priority counter: every order entering a level takes the next value. */
  seq: number;
  asks: Ladder<bigint, AskOrder>;
  bids: Ladder<bigint, RestingBid>;
  /**
   * Every id the market knows: open asks and bids, closed asks whose slots are still in use, and the
   * closed orders still remembered (`closed` keeps their closing order). One map, so that a command
   * looks an id up once whether it is new, open or closed.
   */
  byId: IdTable<KnownOrder>;
  /** Resting replica bids by replicaKey. */
  replicaBids: Map<string, ReplicaBidOrder>;
  closed: ClosedMemory;
  /** Min-heap by (expiresAt, placedSeq) of orders that may expire; closed ones are dropped lazily. */
  expiries: ExpiringOrder[];
  /** Open asks whose agent is gone, by id (few: each leaves within agentGraceMs). */
  suspended: Map<string, AskOrder>;
  /** This market's parameters (jobs matched here are created under their job part). */
  params: MarketParams;
}

/** Key of a replica bid: the replica index is an integer, so the last '#' separates unambiguously. */
export const replicaKey = (jobId: string, replica: number): string => `${jobId}#${replica}`;

/** An empty book. */
export function initialState(): MarketState {
  const byId = new IdTable<KnownOrder>();
  return {
    seq: 1,
    asks: new Ladder<bigint, AskOrder>(true),
    bids: new Ladder<bigint, RestingBid>(false),
    byId,
    replicaBids: new Map(),
    closed: new ClosedMemory(byId, CLOSED_MEMORY),
    expiries: [],
    suspended: new Map(),
    params: { ...PROTOCOL },
  };
}

/** Free slots of an ask. */
export const freeSlots = (ask: AskOrder): number => ask.capacity - ask.inUse.length;

/** Folds one event into the book, in place. */
export function evolve(state: MarketState, event: MarketEvent): MarketState {
  switch (event.type) {
    case 'MarketConfigured':
      state.params = { ...PROTOCOL, ...event.params };
      break;
    case 'AskPlaced': {
      const seq = state.seq++;
      const ask = newAsk(event.askId, event.owner, event.price, event.capacity, event.attributes, event.expiresAt, seq, seq, 'open', NO_JOBS);
      state.byId.set(ask.id, ask);
      state.asks.append(ask, ask.price);
      heapPush(state.expiries, ask);
      break;
    }
    case 'BidPlaced': {
      const e = event;
      const bid = newBid(e.bidId, e.owner, e.maxPrice, e.units, e.replicas, e.requirements, e.expiresAt, e.spec, state.seq++);
      state.byId.set(bid.id, bid);
      state.bids.append(bid, bid.maxPrice);
      heapPush(state.expiries, bid);
      break;
    }
    case 'ReplicaBidPlaced': {
      const e = event;
      const rb = newReplicaBid(e.jobId, e.replica, e.buyer, e.maxPrice, e.units, e.requirements, e.excludeProviders, e.expiresAt, state.seq++);
      state.replicaBids.set(rb.id, rb);
      state.bids.append(rb, rb.maxPrice);
      heapPush(state.expiries, rb);
      break;
    }
    case 'BidMatched': {
      for (const fill of event.fills) takeSlot(state, fill.askId, event.bidId);
      const bid = state.byId.get(event.bidId);
      if (bid !== undefined && bid.kind === 'bid') {
        bid.status = 'filled';
        state.bids.unlink(bid);
      }
      state.closed.remember(event.bidId, closedRecord('bid', event.buyer, 'filled'), bid);
      break;
    }
    case 'ReplicaMatched': {
      takeSlot(state, event.askId, event.jobId);
      const key = replicaKey(event.jobId, event.replica);
      const rb = state.replicaBids.get(key);
      if (rb !== undefined) {
        rb.status = 'filled';
        state.bids.unlink(rb);
        state.replicaBids.delete(key);
      }
      break;
    }
    case 'AskCancelled':
    case 'AskExpired': {
      const ask = state.byId.get(event.askId);
      if (ask !== undefined && ask.kind === 'ask') {
        ask.status = event.type === 'AskCancelled' ? 'cancelled' : 'expired';
        ask.withdrawAt = null;
        if (state.suspended.size > 0) state.suspended.delete(ask.id);
        state.asks.unlink(ask);
        if (ask.inUse.length === 0) retireAsk(state, ask);
      }
      break;
    }
    case 'BidCancelled':
    case 'BidExpired': {
      const status = event.type === 'BidCancelled' ? 'cancelled' : 'expired';
      const bid = state.byId.get(event.bidId);
      if (bid !== undefined && bid.kind === 'bid') {
        bid.status = status;
        state.bids.unlink(bid);
      }
      state.closed.remember(event.bidId, closedRecord('bid', event.buyer, status), bid);
      break;
    }
    case 'ReplicaBidExpired': {
      const key = replicaKey(event.jobId, event.replica);
      const rb = state.replicaBids.get(key);
      if (rb !== undefined) {
        rb.status = 'expired';
        state.bids.unlink(rb);
        state.replicaBids.delete(key);
      }
      break;
    }
    case 'AskSuspended': {
      const ask = state.byId.get(event.askId);
      if (ask === undefined || ask.kind !== 'ask' || ask.status !== 'open') break;
      ask.withdrawAt = event.withdrawAt;
      state.suspended.set(ask.id, ask);
      if (ask.level !== null) state.asks.unlink(ask);
      break;
    }
    case 'AskResumed': {
      const ask = state.byId.get(event.askId);
      if (ask === undefined || ask.kind !== 'ask' || ask.withdrawAt === null) break;
      ask.withdrawAt = null;
      state.suspended.delete(ask.id);
      if (ask.status === 'open' && ask.level === null && ask.inUse.length < ask.capacity) {
        ask.seq = state.seq++;
        state.asks.append(ask, ask.price);
      }
      break;
    }
    case 'SlotReleased': {
      const ask = state.byId.get(event.askId);
      if (ask === undefined || ask.kind !== 'ask') break;
      const at = ask.inUse.indexOf(event.jobId);
      if (at < 0) break;
      if (ask.inUse.length === 1) ask.inUse = NO_JOBS;
      else ask.inUse.splice(at, 1);
      if (ask.status === 'open') {
        if (ask.level === null && ask.withdrawAt === null) {
          ask.seq = state.seq++;
          state.asks.append(ask, ask.price);
        }
      } else if (ask.inUse.length === 0) {
        retireAsk(state, ask);
      }
      break;
    }
  }
  pruneExpiries(state);
  return state;
}

/** A buyer's own bid excludes no provider (one frozen array for all). */
const NO_EXCLUSIONS: readonly string[] = Object.freeze([]);

/** The one place an ask is built (placed or restored), so every ask has the same shape. */
function newAsk(
  id: string,
  owner: string,
  price: Amount,
  capacity: number,
  attributes: Record<string, AttributeValue>,
  expiresAt: number,
  placedSeq: number,
  seq: number,
  status: AskOrder['status'],
  inUse: string[],
): AskOrder {
  return { kind: 'ask', id, owner, price, capacity, attributes, expiresAt, placedSeq, seq, status, withdrawAt: null, inUse, prev: null, next: null, level: null };
}

/** The one place a buyer's resting bid is built (placed or restored). */
function newBid(
  id: string,
  owner: string,
  maxPrice: Amount,
  units: number,
  replicas: number,
  requirements: Requirement[],
  expiresAt: number,
  spec: JobSpec,
  placedSeq: number,
): BidOrder {
  const excludeProviders = NO_EXCLUSIONS;
  return { kind: 'bid', id, owner, maxPrice, units, replicas, requirements, excludeProviders, expiresAt, spec, placedSeq, status: 'open', prev: null, next: null, level: null };
}

/** The one place a job's replica bid is built (placed or restored). */
function newReplicaBid(
  jobId: string,
  replica: number,
  owner: string,
  maxPrice: Amount,
  units: number,
  requirements: Requirement[],
  excludeProviders: readonly string[],
  expiresAt: number,
  placedSeq: number,
): ReplicaBidOrder {
  const id = replicaKey(jobId, replica);
  return { kind: 'replica', id, jobId, replica, owner, maxPrice, units, replicas: 1, requirements, excludeProviders, expiresAt, placedSeq, status: 'open', prev: null, next: null, level: null };
}

/**
 * The empty slot list every ask without jobs shares (many asks never hold a job, and a list per
 * ask is garbage on the decider's hot path). Never added to (frozen): takeSlot gives an empty ask a
 * list of its own, and releasing the last job puts this one back.
 */
const NO_JOBS: string[] = Object.freeze([]) as unknown as string[];

function takeSlot(state: MarketState, askId: string, jobId: string): void {
  const ask = state.byId.get(askId);
  if (ask === undefined || ask.kind !== 'ask') return;
  if (ask.inUse.length === 0) ask.inUse = [jobId];
  else if (!ask.inUse.includes(jobId)) ask.inUse.push(jobId);
  if (ask.inUse.length >= ask.capacity && ask.level !== null) state.asks.unlink(ask);
}

function retireAsk(state: MarketState, ask: AskOrder): void {
  state.closed.remember(ask.id, closedRecord('ask', ask.owner, ask.status === 'cancelled' ? 'cancelled' : 'expired'), ask);
}

// ---------------------------------------------------------------------------------------------
// Expiry heap

function before(a: ExpiringOrder, b: ExpiringOrder): boolean {
  return a.expiresAt < b.expiresAt || (a.expiresAt === b.expiresAt && a.placedSeq < b.placedSeq);
}

function heapPush(heap: ExpiringOrder[], item: ExpiringOrder): void {
  let i = heap.length;
  heap.push(item);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (!before(item, p)) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = item;
}

function heapPop(heap: ExpiringOrder[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  let i = 0;
  const n = heap.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && before(heap[r]!, heap[l]!) ? r : l;
    if (!before(heap[c]!, last)) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = last;
}

/**
 * Drops closed orders from the top so that the top is always the next real expiry. Closed orders
 * below the top would otherwise stay until they reach it, keeping every cancelled or filled order
 * alive (and the garbage collector walking them); once they outnumber the open ones 3 to 1 the heap
 * is rebuilt from the open ones (a sorted array is a heap; only the top is ever read in order).
 */
function pruneExpiries(state: MarketState): void {
  const heap = state.expiries;
  while (heap.length > 0 && heap[0]!.status !== 'open') heapPop(heap);
  if (heap.length > 1024 && heap.length > 4 * (state.byId.size - state.closed.size + state.replicaBids.size)) {
    const open = heap.filter((o) => o.status === 'open').sort((a, b) => (before(a, b) ? -1 : 1));
    heap.length = 0;
    for (const o of open) heap.push(o);
  }
}

/** Open orders with expiresAt <= now, in (expiresAt, placedSeq) order. Reads only. */
export function dueOrders(state: MarketState, now: number): ExpiringOrder[] {
  const heap = state.expiries;
  const out: ExpiringOrder[] = [];
  const stack: number[] = heap.length > 0 && heap[0]!.expiresAt <= now ? [0] : [];
  while (stack.length > 0) {
    const i = stack.pop()!;
    const o = heap[i]!;
    if (o.status === 'open') out.push(o);
    for (const c of [2 * i + 1, 2 * i + 2]) if (c < heap.length && heap[c]!.expiresAt <= now) stack.push(c);
  }
  return out.sort((a, b) => (before(a, b) ? -1 : 1));
}

/** Suspended asks due for withdrawal at `now` (not those expiring anyway), in (withdrawAt, placedSeq) order. Reads only. */
export function dueWithdrawals(state: MarketState, now: number): AskOrder[] {
  const out: AskOrder[] = [];
  for (const a of state.suspended.values()) if (a.withdrawAt! <= now && a.expiresAt > now) out.push(a);
  return out.sort((a, b) => a.withdrawAt! - b.withdrawAt! || a.placedSeq - b.placedSeq);
}

/** The earliest expiresAt among open orders or withdrawAt among suspended asks, or null: the shell sets its alarm to it. */
export function nextExpiry(state: MarketState): number | null {
  let at = state.expiries[0]?.expiresAt ?? null;
  for (const a of state.suspended.values()) if (at === null || a.withdrawAt! < at) at = a.withdrawAt;
  return at;
}

// ---------------------------------------------------------------------------------------------
// Snapshot

export interface AskSnapshot {
  askId: string;
  owner: string;
  price: Amount;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
  placedSeq: number;
  seq: number;
  status: AskOrder['status'];
  inUse: string[];
  /** Only while suspended. */
  withdrawAt?: number;
}

export type BidSnapshot =
  | {
      kind: 'bid';
      bidId: string;
      owner: string;
      maxPrice: Amount;
      units: number;
      replicas: number;
      requirements: Requirement[];
      expiresAt: number;
      spec: JobSpec;
      placedSeq: number;
    }
  | {
      kind: 'replica';
      jobId: string;
      replica: number;
      buyer: string;
      maxPrice: Amount;
      units: number;
      requirements: Requirement[];
      excludeProviders: string[];
      expiresAt: number;
      placedSeq: number;
    };

export interface MarketSnapshot {
  version: 1;
  seq: number;
  /** Asks on the book, in priority order (cheapest first, then oldest). */
  asks: AskSnapshot[];
  /** Asks off the book (full, or closed with slots still in use), by id. */
  heldAsks: AskSnapshot[];
  /** Resting bids and replica bids in priority order (highest maxPrice first, then oldest). */
  bids: BidSnapshot[];
  /** [id, side, owner, status] of orders that left the book, by id. */
  closed: [string, ClosedOrder['side'], string, ClosedOrder['status']][];
  /** Absent in snapshots taken before markets were configurable (or agentGraceMs existed): the protocol defaults. */
  params?: Partial<MarketParams>;
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function askSnapshot(a: AskOrder): AskSnapshot {
  return {
    askId: a.id,
    owner: a.owner,
    price: a.price,
    capacity: a.capacity,
    attributes: a.attributes,
    expiresAt: a.expiresAt,
    placedSeq: a.placedSeq,
    seq: a.seq,
    status: a.status,
    inUse: [...a.inUse].sort(byId),
    ...(a.withdrawAt !== null ? { withdrawAt: a.withdrawAt } : {}),
  };
}

/** Plain, deterministic data: equal books give equal canonical JSON. */
export function snapshot(state: MarketState): MarketSnapshot {
  const asks: AskSnapshot[] = [];
  state.asks.forEach((a) => {
    asks.push(askSnapshot(a));
  });
  const heldAsks: AskSnapshot[] = [];
  for (const o of state.byId.values()) if (o.kind === 'ask' && o.level === null) heldAsks.push(askSnapshot(o));
  heldAsks.sort((a, b) => byId(a.askId, b.askId));
  const bids: BidSnapshot[] = [];
  state.bids.forEach((b) => {
    bids.push(
      b.kind === 'bid'
        ? {
            kind: 'bid',
            bidId: b.id,
            owner: b.owner,
            maxPrice: b.maxPrice,
            units: b.units,
            replicas: b.replicas,
            requirements: b.requirements,
            expiresAt: b.expiresAt,
            spec: b.spec,
            placedSeq: b.placedSeq,
          }
        : {
            kind: 'replica',
            jobId: b.jobId,
            replica: b.replica,
            buyer: b.owner,
            maxPrice: b.maxPrice,
            units: b.units,
            requirements: b.requirements,
            excludeProviders: [...b.excludeProviders],
            expiresAt: b.expiresAt,
            placedSeq: b.placedSeq,
          },
    );
  });
  // In closing order, not sorted: the order decides which closed order is forgotten next.
  const closed: MarketSnapshot['closed'] = [...state.closed.entries()].map(([id, c]) => [id, c.side, c.owner, c.status]);
  return { version: 1, seq: state.seq, asks, heldAsks, bids, closed, params: { ...state.params } };
}

/** Rebuilds a book from snapshot data (the inverse of snapshot). */
export function restore(data: unknown): MarketState {
  const snap = data as MarketSnapshot;
  const state = initialState();
  state.seq = snap.seq;
  if (snap.params) state.params = { ...PROTOCOL, ...snap.params };
  const addAsk = (s: AskSnapshot, onBook: boolean) => {
    const ask = newAsk(s.askId, s.owner, BigInt(s.price), s.capacity, s.attributes, s.expiresAt, s.placedSeq, s.seq, s.status, s.inUse.length === 0 ? NO_JOBS : [...s.inUse]);
    state.byId.set(ask.id, ask);
    if (s.withdrawAt !== undefined) {
      ask.withdrawAt = s.withdrawAt;
      state.suspended.set(ask.id, ask);
    }
    if (onBook) state.asks.append(ask, ask.price);
    if (ask.status === 'open') heapPush(state.expiries, ask);
  };
  for (const s of snap.asks) addAsk(s, true);
  for (const s of snap.heldAsks) addAsk(s, false);
  for (const s of snap.bids) {
    let b: RestingBid;
    if (s.kind === 'bid') {
      b = newBid(s.bidId, s.owner, BigInt(s.maxPrice), s.units, s.replicas, s.requirements, s.expiresAt, s.spec, s.placedSeq);
      state.byId.set(b.id, b);
    } else {
      b = newReplicaBid(s.jobId, s.replica, s.buyer, BigInt(s.maxPrice), s.units, s.requirements, s.excludeProviders, s.expiresAt, s.placedSeq);
      state.replicaBids.set(b.id, b);
    }
    state.bids.append(b, b.maxPrice);
    heapPush(state.expiries, b);
  }
  for (const [id, side, owner, status] of snap.closed) state.closed.remember(id, closedRecord(side, owner, status), state.byId.get(id));
  return state;
}
