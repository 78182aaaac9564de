import type { Amount } from '../money.ts';
import { PROTOCOL, type MarketParams } from '../params.ts';
import { Ladder, Links, NIL } from './book.ts';
import { ABSENT, IdTable, idHash } from './id-table.ts';
import type { AttributeValue, JobSpec, Requirement } from './commands.ts';
import type { MarketEvent } from './events.ts';

// ---------------------------------------------------------------------------------------------
// Orders as slots
//
// Every order the market knows (open asks and bids, asks closed with slots still in use, replica
// bids, and the closed orders it still remembers) is an integer slot, its fields spread over one
// array per field: typed arrays for the numbers, plain arrays for the strings and the rare object
// fields. A market holds hundreds of thousands of orders (every ask whose slots are in use stays
// until its jobs release them); as objects they were most of the garbage collector's work, and as
// slots placing an order allocates nothing that outlives the command. Slots are reused once an
// order is forgotten.

/** What kind of order a slot holds. */
export const ASK = 0;
export const BID = 1;
export const REPLICA = 2;

/** An order's status. */
export const OPEN = 0;
export const FILLED = 1;
export const CANCELLED = 2;
export const EXPIRED = 3;
export const STATUS_NAMES = ['open', 'filled', 'cancelled', 'expired'] as const;
export type StatusName = (typeof STATUS_NAMES)[number];
const statusCode = (name: StatusName): number => STATUS_NAMES.indexOf(name);

/** A slot's life: an order, the closed record of one (side = kind, owner, status), or free. */
export const LIVE = 0;
export const CLOSED = 1;
const FREE = 2;

/** A buyer's own bid excludes no provider (one frozen array for all). */
const NO_EXCLUSIONS: readonly string[] = Object.freeze([]);

/**
 * The attributes of an ask that declares none and the requirements of a bid that has none (most
 * orders): one frozen object for all, instead of the command's own empty object or array. Each one
 * kept was one more object per resting order for the young-generation collector to copy and
 * promote (with the order's owner and price, most of what a placed order left alive). Handed out
 * of the book (events, views, snapshots) as a fresh empty one (shownAttributes, shownRequirements).
 */
const NO_ATTRIBUTES: Record<string, AttributeValue> = Object.freeze({});
const NO_REQUIREMENTS = Object.freeze([]) as unknown as Requirement[];

/** True when the object has no own enumerable property (a loop, not Object.keys: no array). */
function noKeys(v: object): boolean {
  for (const k in v) if (Object.hasOwn(v, k)) return false;
  return true;
}

/**
 * One slot's numbers take 64 bytes of one buffer (one cache line): four float64s, then four bytes,
 * then seven int32s. Its references take eight entries of a plain array. Touching an order thus
 * reads two cache lines however many of its fields a command needs: a large book is mostly out of
 * the processor's caches, and one array per field cost a cache miss per field. The references come
 * in fixed chunks of CHUNK slots, added as the book grows and never copied: growing one plain array
 * of millions of entries (copying it, and faulting in fresh memory for each copy) cost more than
 * all the rest of placing an order.
 */
const RECORD = 64;
// float64 fields (index slot * 8 + field)
const EXPIRES_AT = 0;
const PLACED_SEQ = 1;
const SEQ = 2;
const WITHDRAW_AT = 3;
// byte fields (index slot * 64 + field)
const KIND = 32;
const STATUS = 33;
const LIFE = 34;
const SUSPENDED = 35;
// int32 fields (index slot * 16 + field)
const CAPACITY = 9;
const USED = 10;
const UNITS = 11;
const REPLICAS = 12;
const REPLICA_INDEX = 13;
const HASH = 14;
// references (index slot * 8 + field)
const REFS = 8;
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;
const ID = 0;
const OWNER = 1;
const PRICE = 2;
const ATTRIBUTES = 3;
const REQUIREMENTS = 4;
const SPEC = 5;
const EXCLUDE = 6;
const JOBS = 7;

type Ref = string | string[] | Amount | Record<string, AttributeValue> | Requirement[] | JobSpec | readonly string[] | undefined;

/** The order slots of one market. */
export class Orders {
  private bytes: Uint8Array = new Uint8Array(0);
  private ints: Int32Array = new Int32Array(0);
  private floats: Float64Array = new Float64Array(0);
  /** References, REFS per slot: slot s at chunks[s >> CHUNK_BITS][(s % CHUNK) * REFS + field]. */
  private readonly chunks: Ref[][] = [];
  /** Slots ever handed out; those below it not in use wait in `free`. */
  private top = 0;
  private readonly free: number[] = [];

  /** Slots ever handed out (every slot in use is below it). */
  get extent(): number {
    return this.top;
  }

  /** A fresh slot of this kind, open and live, its numbers zero and its references cleared; the caller fills in the order. */
  alloc(kind: number): number {
    let s = this.free.pop();
    if (s === undefined) {
      s = this.top++;
      // Four-fold: a book grows from nothing to hundreds of thousands of slots (held asks), and
      // each step copies every record into freshly zeroed memory (growing the records and the
      // expiry heap two-fold took about 6% of the bench's run). Pages past the records in use are not
      // touched until used, so the spare room costs address space, not memory.
      if (s * RECORD >= this.bytes.length) this.grow(Math.max(1024, (4 * this.bytes.length) / RECORD));
      if ((s & (CHUNK - 1)) === 0) this.chunks.push(new Array<Ref>(CHUNK * REFS).fill(undefined));
    } else {
      this.bytes.fill(0, s * RECORD, (s + 1) * RECORD);
    }
    this.bytes[s * RECORD + KIND] = kind;
    return s;
  }

  /** Drops the references a closed record does not need (its id and owner stay). */
  shed(s: number): void {
    const r = this.chunks[s >> CHUNK_BITS]!;
    const at = (s & (CHUNK - 1)) * REFS;
    for (let i = PRICE; i < REFS; i++) r[at + i] = undefined;
    this.ints[s * 16 + USED] = 0;
  }

  /** Gives a slot back for reuse. */
  release(s: number): void {
    const r = this.chunks[s >> CHUNK_BITS]!;
    const at = (s & (CHUNK - 1)) * REFS;
    for (let i = 0; i < REFS; i++) r[at + i] = undefined;
    this.bytes[s * RECORD + LIFE] = FREE;
    this.free.push(s);
  }

  private grow(slots: number): void {
    const bytes = new Uint8Array(slots * RECORD);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.ints = new Int32Array(bytes.buffer);
    this.floats = new Float64Array(bytes.buffer);
  }

  kind(s: number): number {
    return this.bytes[s * RECORD + KIND]!;
  }
  setKind(s: number, v: number): void {
    this.bytes[s * RECORD + KIND] = v;
  }
  status(s: number): number {
    return this.bytes[s * RECORD + STATUS]!;
  }
  setStatus(s: number, v: number): void {
    this.bytes[s * RECORD + STATUS] = v;
  }
  life(s: number): number {
    return this.bytes[s * RECORD + LIFE]!;
  }
  setLife(s: number, v: number): void {
    this.bytes[s * RECORD + LIFE] = v;
  }
  /** 1 while an ask's agent is gone (AskSuspended): off the book until AskResumed, withdrawn at withdrawAt. */
  suspended(s: number): number {
    return this.bytes[s * RECORD + SUSPENDED]!;
  }
  setSuspended(s: number, v: number): void {
    this.bytes[s * RECORD + SUSPENDED] = v;
  }
  /** An ask's capacity. */
  capacity(s: number): number {
    return this.ints[s * 16 + CAPACITY]!;
  }
  setCapacity(s: number, v: number): void {
    this.ints[s * 16 + CAPACITY] = v;
  }
  /** How many of an ask's slots are in use. */
  used(s: number): number {
    return this.ints[s * 16 + USED]!;
  }
  /** How many of an ask's slots are free. */
  freeSlots(s: number): number {
    return this.capacity(s) - this.used(s);
  }
  units(s: number): number {
    return this.ints[s * 16 + UNITS]!;
  }
  setUnits(s: number, v: number): void {
    this.ints[s * 16 + UNITS] = v;
  }
  replicas(s: number): number {
    return this.ints[s * 16 + REPLICAS]!;
  }
  setReplicas(s: number, v: number): void {
    this.ints[s * 16 + REPLICAS] = v;
  }
  /** A replica bid's replica index. */
  replica(s: number): number {
    return this.ints[s * 16 + REPLICA_INDEX]!;
  }
  setReplica(s: number, v: number): void {
    this.ints[s * 16 + REPLICA_INDEX] = v;
  }
  /** idHash of the id, so that forgetting a cold id does not read its characters again. */
  hash(s: number): number {
    return this.ints[s * 16 + HASH]!;
  }
  setHash(s: number, v: number): void {
    this.ints[s * 16 + HASH] = v;
  }
  expiresAt(s: number): number {
    return this.floats[s * 8 + EXPIRES_AT]!;
  }
  setExpiresAt(s: number, v: number): void {
    this.floats[s * 8 + EXPIRES_AT] = v;
  }
  /** When it was placed (pricing: a fill prices at whichever of bid and ask was placed first). */
  placedSeq(s: number): number {
    return this.floats[s * 8 + PLACED_SEQ]!;
  }
  setPlacedSeq(s: number, v: number): void {
    this.floats[s * 8 + PLACED_SEQ] = v;
  }
  /** An ask's time priority: placedSeq, or the moment it re-entered its level after being full or away. */
  seq(s: number): number {
    return this.floats[s * 8 + SEQ]!;
  }
  setSeq(s: number, v: number): void {
    this.floats[s * 8 + SEQ] = v;
  }
  withdrawAt(s: number): number {
    return this.floats[s * 8 + WITHDRAW_AT]!;
  }
  setWithdrawAt(s: number, v: number): void {
    this.floats[s * 8 + WITHDRAW_AT] = v;
  }

  /** Order id (a replica bid's is replicaKey(jobId, replica)); kept while the id is indexed. */
  id(s: number): string {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + ID] as string;
  }
  setId(s: number, v: string): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + ID] = v;
  }
  owner(s: number): string {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + OWNER] as string;
  }
  setOwner(s: number, v: string): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + OWNER] = v;
  }
  /** An ask's price, a bid's maxPrice. */
  price(s: number): Amount {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + PRICE] as Amount;
  }
  setPrice(s: number, v: Amount): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + PRICE] = v;
  }
  /** An ask's attributes, for matching (NO_ATTRIBUTES when it declares none: read it, never hand it out). */
  attributes(s: number): Record<string, AttributeValue> {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + ATTRIBUTES] as Record<string, AttributeValue>;
  }
  /** An ask's attributes as events, views and snapshots show them. */
  shownAttributes(s: number): Record<string, AttributeValue> {
    const v = this.attributes(s);
    return v === NO_ATTRIBUTES ? {} : v;
  }
  setAttributes(s: number, v: Record<string, AttributeValue>): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + ATTRIBUTES] = noKeys(v) ? NO_ATTRIBUTES : v;
  }
  /** A bid's or replica bid's requirements, for matching (NO_REQUIREMENTS when it has none: read it, never hand it out). */
  requirements(s: number): Requirement[] {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + REQUIREMENTS] as Requirement[];
  }
  /** A bid's or replica bid's requirements as events, views and snapshots show them. */
  shownRequirements(s: number): Requirement[] {
    const v = this.requirements(s);
    return v === NO_REQUIREMENTS ? [] : v;
  }
  setRequirements(s: number, v: Requirement[]): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + REQUIREMENTS] = v.length === 0 ? NO_REQUIREMENTS : v;
  }
  spec(s: number): JobSpec {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + SPEC] as JobSpec;
  }
  setSpec(s: number, v: JobSpec): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + SPEC] = v;
  }
  excludeProviders(s: number): readonly string[] {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + EXCLUDE] as readonly string[];
  }
  setExcludeProviders(s: number, v: readonly string[]): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + EXCLUDE] = v;
  }
  /** The job a bid becomes (its own id) or a replica bid serves. */
  jobId(s: number): string {
    return this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + JOBS] as string;
  }
  setJobId(s: number, v: string): void {
    this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + JOBS] = v;
  }

  // An ask's JOBS reference: the jobs holding its slots (one slot per job), oldest first: nothing
  // while none does, the job id itself while one does (most asks hold one job: no array), an array
  // beyond.

  /** True when ask `s` holds a slot for this job. */
  holds(s: number, jobId: string): boolean {
    const n = this.used(s);
    if (n === 0) return false;
    const jobs = this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + JOBS];
    return n === 1 ? jobs === jobId : (jobs as string[]).includes(jobId);
  }

  /** The jobs holding slots of ask `s`, oldest first (a new array). */
  jobList(s: number): string[] {
    const n = this.used(s);
    if (n === 0) return [];
    const jobs = this.chunks[s >> CHUNK_BITS]![(s & (CHUNK - 1)) * REFS + JOBS];
    return n === 1 ? [jobs as string] : [...(jobs as string[])];
  }

  /** Ask `s` gives a slot to this job (nothing when it holds one already). */
  addJob(s: number, jobId: string): void {
    const n = this.used(s);
    const r = this.chunks[s >> CHUNK_BITS]!;
    const at = (s & (CHUNK - 1)) * REFS + JOBS;
    if (n === 0) r[at] = jobId;
    else if (n === 1) {
      const only = r[at] as string;
      if (only === jobId) return;
      r[at] = [only, jobId];
    } else {
      const jobs = r[at] as string[];
      if (jobs.includes(jobId)) return;
      jobs.push(jobId);
    }
    this.ints[s * 16 + USED] = n + 1;
  }

  /** Ask `s` takes its slot back from this job; false when the job held none. */
  removeJob(s: number, jobId: string): boolean {
    const n = this.used(s);
    const r = this.chunks[s >> CHUNK_BITS]!;
    const at = (s & (CHUNK - 1)) * REFS + JOBS;
    if (n === 0) return false;
    if (n === 1) {
      if (r[at] !== jobId) return false;
      r[at] = undefined;
    } else {
      const jobs = r[at] as string[];
      const i = jobs.indexOf(jobId);
      if (i < 0) return false;
      jobs.splice(i, 1);
      if (n === 2) r[at] = jobs[0];
    }
    this.ints[s * 16 + USED] = n - 1;
    return true;
  }
}

function grownF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}
function grownI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Closed orders

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

/**
 * The closed orders remembered, oldest forgotten first. A closed order keeps its slot (and its
 * entry in `byId`), marked CLOSED: every command asks one index about an id (is it new, open or
 * closed?) and closing an order changes its slot in place. This keeps only the closing order, in a
 * ring of slots: once full, the oldest is forgotten (its id deleted from `byId`, its slot freed) as
 * the newest takes its place, with no allocation.
 */
export class ClosedMemory {
  /** Closed slots in closing order; once it holds `limit`, a ring whose oldest entry is at `head`. */
  private readonly ring: Int32Array;
  /**
   * The idHash of each ring entry's id, kept here when the order closes (its record is in the cache
   * then): reading it from the record of the order being forgotten, 10,000 closes later, was a trip
   * to memory per close.
   */
  private readonly hashes: Int32Array;
  private count = 0;
  private head = 0;

  constructor(
    private readonly orders: Orders,
    private readonly byId: IdTable,
    private readonly limit: number,
  ) {
    this.ring = new Int32Array(limit);
    this.hashes = new Int32Array(limit);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Closes slot `s` for good (its kind, owner and status already say what is remembered). A slot
   * closed before keeps its place in the closing order.
   */
  remember(s: number): void {
    const orders = this.orders;
    if (orders.life(s) === CLOSED) return;
    orders.setLife(s, CLOSED);
    orders.setSuspended(s, 0);
    orders.shed(s);
    const h = orders.hash(s);
    if (this.count < this.limit) {
      this.hashes[this.count] = h;
      this.ring[this.count++] = s;
      return;
    }
    const at = this.head;
    const old = this.ring[at]!;
    this.byId.deleteSlot(old, this.hashes[at]!);
    orders.release(old);
    this.ring[at] = s;
    this.hashes[at] = h;
    this.head = at + 1 === this.limit ? 0 : at + 1;
  }

  /** Closed slots, oldest first. */
  *slots(): IterableIterator<number> {
    for (let i = 0; i < this.count; i++) yield this.ring[(this.head + i) % this.count]!;
  }

  /** Oldest first. */
  *entries(): IterableIterator<[string, ClosedOrder]> {
    const o = this.orders;
    for (const s of this.slots()) {
      const status = STATUS_NAMES[o.status(s)] as ClosedOrder['status'];
      yield [o.id(s), { kind: 'closed', side: o.kind(s) === ASK ? 'ask' : 'bid', owner: o.owner(s), status }];
    }
  }

  *keys(): IterableIterator<string> {
    for (const s of this.slots()) yield this.orders.id(s);
  }
}

// ---------------------------------------------------------------------------------------------
// Expiry heap

/**
 * Min-heap by (expiresAt, placedSeq) of the orders that may expire, in typed arrays. Orders that
 * close stay until they reach the top (or the next rebuild): an entry counts only while its slot
 * still holds that open order (the same placedSeq: a freed slot may hold another order since).
 */
export class ExpiryHeap {
  private slot: Int32Array = new Int32Array(1024);
  private at: Float64Array = new Float64Array(1024);
  private seq: Float64Array = new Float64Array(1024);
  length = 0;

  constructor(private readonly orders: Orders) {}

  /** True while entry i stands for an open order. */
  valid(i: number): boolean {
    const o = this.orders;
    const s = this.slot[i]!;
    return o.life(s) === LIVE && o.status(s) === OPEN && o.placedSeq(s) === this.seq[i];
  }

  /** The slot of entry i. */
  slotAt(i: number): number {
    return this.slot[i]!;
  }

  /** The expiry of entry i. */
  expiryAt(i: number): number {
    return this.at[i]!;
  }

  private before(i: number, at: number, seq: number): boolean {
    const a = this.at[i]!;
    return a < at || (a === at && this.seq[i]! < seq);
  }

  push(s: number): void {
    if (this.length === this.slot.length) {
      const n = 4 * this.length; // four-fold, as Orders grows its records
      this.slot = grownI32(this.slot, n);
      this.at = grownF64(this.at, n);
      this.seq = grownF64(this.seq, n);
    }
    const at = this.orders.expiresAt(s);
    const seq = this.orders.placedSeq(s);
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pa = this.at[parent]!;
      if (!(at < pa || (at === pa && seq < this.seq[parent]!))) break;
      this.move(parent, i);
      i = parent;
    }
    this.slot[i] = s;
    this.at[i] = at;
    this.seq[i] = seq;
  }

  private move(from: number, to: number): void {
    this.slot[to] = this.slot[from]!;
    this.at[to] = this.at[from]!;
    this.seq[to] = this.seq[from]!;
  }

  /** Removes the top. */
  pop(): void {
    const n = --this.length;
    if (n === 0) return;
    const s = this.slot[n]!;
    const at = this.at[n]!;
    const seq = this.seq[n]!;
    this.siftDown(0, s, at, seq, n);
  }

  /** Places (s, at, seq) at hole i of a heap of n entries, moving it down below smaller children. */
  private siftDown(i: number, s: number, at: number, seq: number, n: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(r, this.at[l]!, this.seq[l]!) ? r : l;
      if (!this.before(c, at, seq)) break;
      this.move(c, i);
      i = c;
    }
    this.slot[i] = s;
    this.at[i] = at;
    this.seq[i] = seq;
  }

  /**
   * Drops closed orders from the top so that the top is always the next real expiry. Closed orders
   * below the top would otherwise stay until they reach it; once they outnumber the open ones the
   * heap is rebuilt from the open ones (its arrays stay at most about twice the open orders).
   */
  prune(open: number): void {
    while (this.length > 0 && !this.valid(0)) this.pop();
    if (this.length > 1024 && this.length > 2 * open) {
      let n = 0;
      for (let i = 0; i < this.length; i++) if (this.valid(i)) this.move(i, n++);
      this.length = n;
      for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i, this.slot[i]!, this.at[i]!, this.seq[i]!, n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The book

/**
 * The book of one market. Mutable: evolve updates it in place (the shell owns the only copy);
 * decide only reads it.
 */
export interface MarketState {
  /** Time-priority counter: every order entering a level takes the next value. */
  seq: number;
  orders: Orders;
  /** Asks with a free slot, on the book (full and suspended asks wait off it). */
  asks: Ladder;
  /** Resting bids and replica bids. */
  bids: Ladder;
  /**
   * Every id the market knows: open asks and bids, closed asks whose slots are still in use, and the
   * closed orders still remembered (`closed` keeps their closing order). One index, so that a
   * command looks an id up once whether it is new, open or closed.
   */
  byId: IdTable;
  /** Resting replica bids by replicaKey. */
  replicaBids: Map<string, number>;
  closed: ClosedMemory;
  /** Open orders (asks, bids and replica bids); the expiry heap is rebuilt when it holds many more. */
  open: number;
  expiries: ExpiryHeap;
  /** Open asks whose agent is gone (few: each leaves within agentGraceMs). */
  suspended: Set<number>;
  /** Open bids by owner (a buyer's own, not the replica bids of its jobs): LIMITS.openBidsPerOwner bounds them. */
  openBids: Map<string, number>;
  /** This market's parameters (jobs matched here are created under their job part). */
  params: MarketParams;
}

/** Key of a replica bid: the replica index is an integer, so the last '#' separates unambiguously. */
export const replicaKey = (jobId: string, replica: number): string => `${jobId}#${replica}`;

/** An empty book. */
export function initialState(): MarketState {
  const orders = new Orders();
  const byId = new IdTable((slot) => orders.id(slot));
  const links = new Links();
  return {
    seq: 1,
    orders,
    asks: new Ladder(true, links),
    bids: new Ladder(false, links),
    byId,
    replicaBids: new Map(),
    closed: new ClosedMemory(orders, byId, CLOSED_MEMORY),
    open: 0,
    expiries: new ExpiryHeap(orders),
    suspended: new Set(),
    openBids: new Map(),
    params: { ...PROTOCOL },
  };
}

/** How many bids `owner` has open here (its own, not its jobs' replica bids). */
export const openBidsOf = (state: MarketState, owner: string): number => state.openBids.get(owner) ?? 0;

/** The slot of the live ask under this id, or ABSENT. */
export function liveAsk(state: MarketState, id: string): number {
  const s = state.byId.get(id);
  return s !== ABSENT && state.orders.kind(s) === ASK && state.orders.life(s) === LIVE ? s : ABSENT;
}

/** Folds one event into the book, in place. */
export function evolve(state: MarketState, event: MarketEvent): MarketState {
  const o = state.orders;
  switch (event.type) {
    case 'MarketConfigured':
      state.params = { ...PROTOCOL, ...event.params };
      break;
    case 'AskPlaced': {
      const seq = state.seq++;
      const s = newAsk(state, event.askId, event.owner, event.price, event.capacity, event.attributes, event.expiresAt);
      o.setPlacedSeq(s, seq);
      o.setSeq(s, seq);
      // The level's bigint, not the event's: one object per price however many orders rest at it.
      o.setPrice(s, state.asks.append(s, event.price));
      state.expiries.push(s);
      state.open++;
      break;
    }
    case 'BidPlaced': {
      const e = event;
      const s = newBid(state, e.bidId, e.owner, e.maxPrice, e.units, e.replicas, e.requirements, e.expiresAt, e.spec, state.seq++);
      o.setPrice(s, state.bids.append(s, e.maxPrice));
      state.expiries.push(s);
      state.open++;
      break;
    }
    case 'ReplicaBidPlaced': {
      const e = event;
      const s = newReplicaBid(state, e.jobId, e.replica, e.buyer, e.maxPrice, e.units, e.requirements, e.excludeProviders, e.expiresAt, state.seq++);
      o.setPrice(s, state.bids.append(s, e.maxPrice));
      state.expiries.push(s);
      state.open++;
      break;
    }
    case 'BidMatched': {
      const fills = event.fills;
      for (let i = 0; i < fills.length; i++) takeSlot(state, fills[i]!.askId, event.bidId);
      closeBid(state, event.bidId, event.buyer, FILLED);
      break;
    }
    case 'ReplicaMatched':
      takeSlot(state, event.askId, event.jobId);
      closeReplicaBid(state, event.jobId, event.replica, FILLED);
      break;
    case 'AskCancelled':
    case 'AskExpired': {
      const s = liveAsk(state, event.askId);
      if (s === ABSENT) break;
      if (o.status(s) === OPEN) state.open--;
      o.setStatus(s, event.type === 'AskCancelled' ? CANCELLED : EXPIRED);
      if (o.suspended(s) === 1) {
        o.setSuspended(s, 0);
        state.suspended.delete(s);
      }
      state.asks.unlink(s);
      if (o.used(s) === 0) state.closed.remember(s);
      break;
    }
    case 'BidCancelled':
    case 'BidExpired':
      closeBid(state, event.bidId, event.buyer, event.type === 'BidCancelled' ? CANCELLED : EXPIRED);
      break;
    case 'ReplicaBidExpired':
      closeReplicaBid(state, event.jobId, event.replica, EXPIRED);
      break;
    case 'AskSuspended': {
      const s = liveAsk(state, event.askId);
      if (s === ABSENT || o.status(s) !== OPEN) break;
      o.setWithdrawAt(s, event.withdrawAt);
      o.setSuspended(s, 1);
      state.suspended.add(s);
      state.asks.unlink(s);
      break;
    }
    case 'AskResumed': {
      const s = liveAsk(state, event.askId);
      if (s === ABSENT || o.suspended(s) === 0) break;
      o.setSuspended(s, 0);
      state.suspended.delete(s);
      if (o.status(s) === OPEN && !state.asks.has(s) && o.freeSlots(s) > 0) {
        o.setSeq(s, state.seq++);
        state.asks.append(s, o.price(s));
      }
      break;
    }
    case 'SlotReleased': {
      const s = liveAsk(state, event.askId);
      if (s === ABSENT || !o.removeJob(s, event.jobId)) break;
      if (o.status(s) === OPEN) {
        if (!state.asks.has(s) && o.suspended(s) === 0) {
          o.setSeq(s, state.seq++);
          state.asks.append(s, o.price(s));
        }
      } else if (o.used(s) === 0) {
        state.closed.remember(s);
      }
      break;
    }
  }
  state.expiries.prune(state.open);
  return state;
}

/** The one place an ask's slot is filled in (placed or restored); the caller sets placedSeq and seq. */
function newAsk(
  state: MarketState,
  id: string,
  owner: string,
  price: Amount,
  capacity: number,
  attributes: Record<string, AttributeValue>,
  expiresAt: number,
): number {
  const o = state.orders;
  const s = o.alloc(ASK);
  o.setId(s, id);
  o.setHash(s, idHash(id));
  o.setOwner(s, owner);
  o.setPrice(s, price);
  o.setCapacity(s, capacity);
  o.setAttributes(s, attributes);
  o.setExpiresAt(s, expiresAt);
  state.byId.set(id, s);
  state.asks.reserve(s + 1);
  return s;
}

/** The one place a buyer's resting bid is filled in (placed or restored). */
function newBid(
  state: MarketState,
  id: string,
  owner: string,
  maxPrice: Amount,
  units: number,
  replicas: number,
  requirements: Requirement[],
  expiresAt: number,
  spec: JobSpec,
  placedSeq: number,
): number {
  const o = state.orders;
  const s = o.alloc(BID);
  state.openBids.set(owner, (state.openBids.get(owner) ?? 0) + 1);
  o.setId(s, id);
  o.setHash(s, idHash(id));
  o.setJobId(s, id);
  o.setOwner(s, owner);
  o.setPrice(s, maxPrice);
  o.setUnits(s, units);
  o.setReplicas(s, replicas);
  o.setRequirements(s, requirements);
  o.setExcludeProviders(s, NO_EXCLUSIONS);
  o.setExpiresAt(s, expiresAt);
  o.setSpec(s, spec);
  o.setPlacedSeq(s, placedSeq);
  state.byId.set(id, s);
  return s;
}

/** The one place a job's replica bid is filled in (placed or restored). */
function newReplicaBid(
  state: MarketState,
  jobId: string,
  replica: number,
  owner: string,
  maxPrice: Amount,
  units: number,
  requirements: Requirement[],
  excludeProviders: readonly string[],
  expiresAt: number,
  placedSeq: number,
): number {
  const o = state.orders;
  const s = o.alloc(REPLICA);
  const key = replicaKey(jobId, replica);
  o.setId(s, key);
  o.setJobId(s, jobId);
  o.setReplica(s, replica);
  o.setOwner(s, owner);
  o.setPrice(s, maxPrice);
  o.setUnits(s, units);
  o.setReplicas(s, 1);
  o.setRequirements(s, requirements);
  o.setExcludeProviders(s, excludeProviders);
  o.setExpiresAt(s, expiresAt);
  o.setPlacedSeq(s, placedSeq);
  state.replicaBids.set(key, s);
  return s;
}

/** A closed record for an id the book does not know (a bid matched or cancelled on arrival, a restored closed order). */
function newClosed(state: MarketState, id: string, kind: number, owner: string, status: number): number {
  const o = state.orders;
  const s = o.alloc(kind);
  o.setId(s, id);
  o.setHash(s, idHash(id));
  o.setOwner(s, owner);
  o.setStatus(s, status);
  state.byId.set(id, s);
  return s;
}

function takeSlot(state: MarketState, askId: string, jobId: string): void {
  const s = liveAsk(state, askId);
  if (s === ABSENT) return;
  const o = state.orders;
  o.addJob(s, jobId);
  if (o.freeSlots(s) <= 0) state.asks.unlink(s);
}

/** A bid leaves the book (or never rested) filled, cancelled or expired: its id is remembered as closed. */
function closeBid(state: MarketState, bidId: string, buyer: string, status: number): void {
  const o = state.orders;
  const s = state.byId.get(bidId);
  if (s === ABSENT) {
    state.closed.remember(newClosed(state, bidId, BID, buyer, status));
    return;
  }
  if (o.life(s) === LIVE) {
    if (o.status(s) === OPEN) {
      state.open--;
      const left = (state.openBids.get(o.owner(s)) ?? 1) - 1;
      if (left > 0) state.openBids.set(o.owner(s), left);
      else state.openBids.delete(o.owner(s));
    }
    state.bids.unlink(s);
    state.asks.unlink(s);
    if (o.suspended(s) === 1) state.suspended.delete(s);
  }
  o.setKind(s, BID);
  o.setOwner(s, buyer);
  o.setStatus(s, status);
  state.closed.remember(s);
}

function closeReplicaBid(state: MarketState, jobId: string, replica: number, status: number): void {
  const key = replicaKey(jobId, replica);
  const s = state.replicaBids.get(key);
  if (s === undefined) return;
  state.orders.setStatus(s, status);
  state.open--;
  state.bids.unlink(s);
  state.replicaBids.delete(key);
  state.orders.release(s);
}

/** Open orders with expiresAt <= now, in (expiresAt, placedSeq) order, as slots. Reads only. */
export function dueOrders(state: MarketState, now: number): number[] {
  const heap = state.expiries;
  const o = state.orders;
  const out: number[] = [];
  const stack: number[] = heap.length > 0 && heap.expiryAt(0) <= now ? [0] : [];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (heap.valid(i)) out.push(heap.slotAt(i));
    for (let c = 2 * i + 1; c <= 2 * i + 2; c++) if (c < heap.length && heap.expiryAt(c) <= now) stack.push(c);
  }
  return out.sort((a, b) => o.expiresAt(a) - o.expiresAt(b) || o.placedSeq(a) - o.placedSeq(b));
}

/** Suspended asks due for withdrawal at `now` (not those expiring anyway), in (withdrawAt, placedSeq) order. Reads only. */
export function dueWithdrawals(state: MarketState, now: number): number[] {
  const o = state.orders;
  const out: number[] = [];
  for (const s of state.suspended) if (o.withdrawAt(s) <= now && o.expiresAt(s) > now) out.push(s);
  return out.sort((a, b) => o.withdrawAt(a) - o.withdrawAt(b) || o.placedSeq(a) - o.placedSeq(b));
}

/** The earliest expiresAt among open orders or withdrawAt among suspended asks, or null: the shell sets its alarm to it. */
export function nextExpiry(state: MarketState): number | null {
  let at = state.expiries.length > 0 ? state.expiries.expiryAt(0) : null;
  for (const s of state.suspended) {
    const w = state.orders.withdrawAt(s);
    if (at === null || w < at) at = w;
  }
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
  status: 'open' | 'cancelled' | 'expired';
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
  /** Asks off the book (full, suspended, or closed with slots still in use), by id. */
  heldAsks: AskSnapshot[];
  /** Resting bids and replica bids in priority order (highest maxPrice first, then oldest). */
  bids: BidSnapshot[];
  /** [id, side, owner, status] of orders that left the book, in closing order. */
  closed: [string, ClosedOrder['side'], string, ClosedOrder['status']][];
  /** Absent in snapshots taken before markets were configurable (or agentGraceMs existed): the protocol defaults. */
  params?: Partial<MarketParams>;
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function askSnapshot(o: Orders, s: number): AskSnapshot {
  return {
    askId: o.id(s),
    owner: o.owner(s),
    price: o.price(s),
    capacity: o.capacity(s),
    attributes: o.shownAttributes(s),
    expiresAt: o.expiresAt(s),
    placedSeq: o.placedSeq(s),
    seq: o.seq(s),
    status: STATUS_NAMES[o.status(s)] as AskSnapshot['status'],
    inUse: o.jobList(s).sort(byId),
    ...(o.suspended(s) === 1 ? { withdrawAt: o.withdrawAt(s) } : {}),
  };
}

/** What the snapshot and the read side (view.ts) say of a buyer's resting bid in slot s. */
export function bidFields(o: Orders, s: number) {
  return {
    bidId: o.id(s),
    owner: o.owner(s),
    maxPrice: o.price(s),
    units: o.units(s),
    replicas: o.replicas(s),
    requirements: o.shownRequirements(s),
    expiresAt: o.expiresAt(s),
    spec: o.spec(s),
  };
}

/** Plain, deterministic data: equal books give equal canonical JSON. */
export function snapshot(state: MarketState): MarketSnapshot {
  const o = state.orders;
  const asks: AskSnapshot[] = [];
  state.asks.forEach((s) => {
    asks.push(askSnapshot(o, s));
  });
  const heldAsks: AskSnapshot[] = [];
  for (let s = 0; s < o.extent; s++) if (o.life(s) === LIVE && o.kind(s) === ASK && !state.asks.has(s)) heldAsks.push(askSnapshot(o, s));
  heldAsks.sort((a, b) => byId(a.askId, b.askId));
  const bids: BidSnapshot[] = [];
  state.bids.forEach((s) => {
    bids.push(
      o.kind(s) === BID
        ? { kind: 'bid', ...bidFields(o, s), placedSeq: o.placedSeq(s) }
        : {
            kind: 'replica',
            jobId: o.jobId(s),
            replica: o.replica(s),
            buyer: o.owner(s),
            maxPrice: o.price(s),
            units: o.units(s),
            requirements: o.shownRequirements(s),
            excludeProviders: [...o.excludeProviders(s)],
            expiresAt: o.expiresAt(s),
            placedSeq: o.placedSeq(s),
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
  const o = state.orders;
  state.seq = snap.seq;
  if (snap.params) state.params = { ...PROTOCOL, ...snap.params };
  const addAsk = (a: AskSnapshot, onBook: boolean) => {
    const s = newAsk(state, a.askId, a.owner, BigInt(a.price), a.capacity, a.attributes, a.expiresAt);
    o.setPlacedSeq(s, a.placedSeq);
    o.setSeq(s, a.seq);
    o.setStatus(s, statusCode(a.status));
    for (const job of a.inUse) o.addJob(s, job);
    if (a.withdrawAt !== undefined) {
      o.setWithdrawAt(s, a.withdrawAt);
      o.setSuspended(s, 1);
      state.suspended.add(s);
    }
    if (onBook) o.setPrice(s, state.asks.append(s, o.price(s)));
    if (a.status === 'open') {
      state.expiries.push(s);
      state.open++;
    }
  };
  for (const a of snap.asks) addAsk(a, true);
  for (const a of snap.heldAsks) addAsk(a, false);
  for (const b of snap.bids) {
    const s =
      b.kind === 'bid'
        ? newBid(state, b.bidId, b.owner, BigInt(b.maxPrice), b.units, b.replicas, b.requirements, b.expiresAt, b.spec, b.placedSeq)
        : newReplicaBid(state, b.jobId, b.replica, b.buyer, BigInt(b.maxPrice), b.units, b.requirements, b.excludeProviders, b.expiresAt, b.placedSeq);
    o.setPrice(s, state.bids.append(s, o.price(s)));
    state.expiries.push(s);
    state.open++;
  }
  for (const [id, side, owner, status] of snap.closed) {
    const kind = side === 'ask' ? ASK : BID;
    const known = state.byId.get(id);
    if (known === ABSENT) state.closed.remember(newClosed(state, id, kind, owner, statusCode(status)));
    else {
      o.setKind(known, kind);
      o.setOwner(known, owner);
      o.setStatus(known, statusCode(status));
      state.closed.remember(known);
    }
  }
  return state;
}
