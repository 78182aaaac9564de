/**
 * The naive reference market: plain arrays, full scans and sorts, and matching done by evolving a
 * deep copy of the state one event at a time. Slow on purpose and written apart from the fast book:
 * it is the test oracle that random command sequences are checked against. Not for production use.
 */
import type { CommandMeta } from '../decider.ts';
import { fail, ok, type Result } from '../result.ts';
import type { AttributeValue, JobSpec, MarketCommand, Requirement } from './commands.ts';
import type { Fill, MarketEvent } from './events.ts';
import { marketError, validateAsk, validateBid, validateReplicaBid } from './validate.ts';
import { CLOSED_MEMORY } from './state.ts';
import { PROTOCOL } from '../params.ts';

/** The naive form of the bounded memory of closed orders: a Map, oldest deleted first. */
function rememberClosed<T>(closed: Map<string, T>, id: string, order: T): void {
  closed.set(id, order);
  if (closed.size > CLOSED_MEMORY) closed.delete(closed.keys().next().value as string);
}

export interface RefAsk {
  id: string;
  owner: string;
  price: bigint;
  capacity: number;
  attributes: Record<string, AttributeValue>;
  expiresAt: number;
  placedSeq: number;
  seq: number;
  status: 'open' | 'cancelled' | 'expired';
  inUse: string[];
  /** Set while its agent is gone: it takes no fills, and is withdrawn at this time. */
  withdrawAt: number | null;
}

export interface RefBid {
  kind: 'bid' | 'replica';
  /** bid id, or the job id for a replica bid */
  jobId: string;
  replica: number;
  owner: string;
  maxPrice: bigint;
  units: number;
  replicas: number;
  requirements: Requirement[];
  exclude: string[];
  expiresAt: number;
  spec: JobSpec | null;
  placedSeq: number;
}

export interface RefState {
  seq: number;
  asks: RefAsk[];
  bids: RefBid[];
  closed: Map<string, { side: 'ask' | 'bid'; owner: string; status: string }>;
  /** The market's agentGraceMs (the oracle takes no ConfigureMarket: a test sets it on both sides). */
  graceMs: number;
}

export const refInitialState = (): RefState => ({ seq: 1, asks: [], bids: [], closed: new Map(), graceMs: PROTOCOL.agentGraceMs });

function holds(attrs: Record<string, AttributeValue>, reqs: Requirement[]): boolean {
  return reqs.every((r) => {
    if (!(r.key in attrs) || !Object.prototype.hasOwnProperty.call(attrs, r.key)) return false;
    const a = attrs[r.key];
    if (r.op === 'eq') return a === r.value;
    if (r.op === 'neq') return a !== r.value;
    if (r.op === 'gte') return typeof a === 'number' && a >= (r.value as number);
    if (r.op === 'lte') return typeof a === 'number' && a <= (r.value as number);
    return (r.value as AttributeValue[]).some((v) => v === a);
  });
}

const cmpBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** Asks that could take a fill now, cheapest then oldest. */
function liveAsks(s: RefState, now: number): RefAsk[] {
  return s.asks
    .filter((a) => a.status === 'open' && a.withdrawAt === null && a.inUse.length < a.capacity && a.expiresAt > now)
    .sort((a, b) => cmpBig(a.price, b.price) || a.seq - b.seq);
}

/** Resting bids that are not expired, highest maxPrice then oldest. */
function liveBids(s: RefState, now: number): RefBid[] {
  return s.bids.filter((b) => b.expiresAt > now).sort((a, b) => cmpBig(b.maxPrice, a.maxPrice) || a.placedSeq - b.placedSeq);
}

/** Greedy choice of `count` distinct providers for a bid, or null. */
function choose(asks: RefAsk[], b: RefBid, count: number, alsoExclude: string[]): RefAsk[] | null {
  const chosen: RefAsk[] = [];
  for (const a of asks) {
    if (chosen.length === count) break;
    if (a.price > b.maxPrice) continue;
    if (a.owner === b.owner || b.exclude.includes(a.owner) || alsoExclude.includes(a.owner)) continue;
    if (a.inUse.includes(b.jobId)) continue;
    if (chosen.some((c) => c.owner === a.owner)) continue;
    if (!holds(a.attributes, b.requirements)) continue;
    chosen.push(a);
  }
  return chosen.length === count ? chosen : null;
}

const priceOf = (a: RefAsk, b: RefBid) => (a.placedSeq < b.placedSeq ? a.price : b.maxPrice);

function matchedEvent(b: RefBid, fills: Fill[]): MarketEvent {
  if (b.kind === 'replica') {
    const f = fills[0]!;
    return { type: 'ReplicaMatched', jobId: b.jobId, replica: b.replica, askId: f.askId, provider: f.provider, price: f.price };
  }
  return {
    type: 'BidMatched',
    bidId: b.jobId,
    buyer: b.owner,
    units: b.units,
    maxPrice: b.maxPrice,
    replicas: b.replicas,
    spec: b.spec!,
    requirements: b.requirements,
    fills,
  };
}

/** After `supplierId` gained free slots in `s` (a private copy), fills resting bids one at a time. */
function supply(s: RefState, supplierId: string, now: number, out: MarketEvent[]): void {
  for (const b of liveBids(s, now)) {
    const x = s.asks.find((a) => a.id === supplierId)!;
    if (x.inUse.length >= x.capacity) return;
    if (b.maxPrice < x.price) return;
    if (b.owner === x.owner || b.exclude.includes(x.owner) || x.inUse.includes(b.jobId) || !holds(x.attributes, b.requirements)) continue;
    const others = choose(liveAsks(s, now), b, b.replicas - 1, [x.owner]);
    if (others === null) continue;
    const fills = [x, ...others].map((a, replica) => ({ replica, askId: a.id, provider: a.owner, price: priceOf(a, b) }));
    const e = matchedEvent(b, fills);
    out.push(e);
    refEvolve(s, e);
  }
}

/** Decides like the market decider, naively. */
export function refDecide(state: RefState, c: MarketCommand, meta: CommandMeta): Result<MarketEvent[]> {
  const now = meta.now;
  const known = (id: string) => state.asks.some((a) => a.id === id) || state.bids.some((b) => b.kind === 'bid' && b.jobId === id) || state.closed.has(id);
  switch (c.type) {
    case 'DispatchReplica':
    case 'ConfigureMarket':
      // Parameters and dispatch hand-offs are not part of the oracle's random streams: parameters
      // only shape outbox messages (and the grace period, set on both sides), a hand-off changes no book.
      return fail(marketError('MARKET__UNKNOWN_COMMAND', { type: c.type }));
    case 'SuspendAsk':
    case 'ResumeAsk': {
      if (!meta.actor.startsWith('system')) return fail(marketError('MARKET__NOT_SYSTEM', { action: "change an ask's agent presence", actor: meta.actor }));
      const ask = state.asks.find((a) => a.id === c.askId);
      if (!ask) return state.closed.get(c.askId)?.side === 'ask' ? ok([]) : fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
      if (ask.status !== 'open') return ok([]);
      if (c.type === 'SuspendAsk') return ok(ask.withdrawAt !== null ? [] : [{ type: 'AskSuspended', askId: ask.id, owner: ask.owner, withdrawAt: now + state.graceMs }]);
      if (ask.withdrawAt === null) return ok([]);
      const resumed: MarketEvent = { type: 'AskResumed', askId: ask.id, owner: ask.owner };
      const out: MarketEvent[] = [resumed];
      if (ask.expiresAt > now) {
        const s = structuredClone(state);
        refEvolve(s, resumed);
        supply(s, ask.id, now, out);
      }
      return ok(out);
    }
    case 'PlaceAsk': {
      const e = validateAsk(c, now);
      if (e) return fail(e);
      if (known(c.askId)) return fail(marketError('MARKET__ORDER_EXISTS', { orderId: c.askId }));
      const s = structuredClone(state);
      const placed: MarketEvent = { type: 'AskPlaced', askId: c.askId, owner: c.owner, price: c.price, capacity: c.capacity, attributes: c.attributes, expiresAt: c.expiresAt };
      const out: MarketEvent[] = [placed];
      refEvolve(s, placed);
      supply(s, c.askId, now, out);
      return ok(out);
    }
    case 'PlaceBid':
    case 'PlaceReplicaBid': {
      const e = c.type === 'PlaceBid' ? validateBid(c, now) : validateReplicaBid(c, now);
      if (e) return fail(e);
      if (c.type === 'PlaceBid' && known(c.bidId)) return fail(marketError('MARKET__ORDER_EXISTS', { orderId: c.bidId }));
      if (c.type === 'PlaceReplicaBid' && state.bids.some((b) => b.kind === 'replica' && b.jobId === c.jobId && b.replica === c.replica)) return ok([]);
      const b: RefBid =
        c.type === 'PlaceBid'
          ? { kind: 'bid', jobId: c.bidId, replica: 0, owner: c.owner, maxPrice: c.maxPrice, units: c.units, replicas: c.replicas, requirements: c.requirements, exclude: [], expiresAt: c.expiresAt, spec: c.spec, placedSeq: state.seq }
          : { kind: 'replica', jobId: c.jobId, replica: c.replica, owner: c.buyer, maxPrice: c.maxPrice, units: c.units, replicas: 1, requirements: c.requirements, exclude: c.excludeProviders, expiresAt: c.expiresAt, spec: null, placedSeq: state.seq };
      const chosen = choose(liveAsks(state, now), b, b.replicas, []);
      if (chosen) return ok([matchedEvent(b, chosen.map((a, replica) => ({ replica, askId: a.id, provider: a.owner, price: priceOf(a, b) })))]);
      if (c.type === 'PlaceBid') {
        if (c.ioc) return ok([{ type: 'BidCancelled', bidId: c.bidId, buyer: c.owner, reason: 'ioc' }]);
        return ok([{ type: 'BidPlaced', bidId: c.bidId, owner: c.owner, maxPrice: c.maxPrice, units: c.units, replicas: c.replicas, requirements: c.requirements, expiresAt: c.expiresAt, spec: c.spec }]);
      }
      return ok([{ type: 'ReplicaBidPlaced', jobId: c.jobId, replica: c.replica, buyer: c.buyer, maxPrice: c.maxPrice, units: c.units, requirements: c.requirements, excludeProviders: c.excludeProviders, expiresAt: c.expiresAt }]);
    }
    case 'CancelOrder': {
      const ask = state.asks.find((a) => a.id === c.orderId);
      const bid = state.bids.find((b) => b.kind === 'bid' && b.jobId === c.orderId);
      const closed = state.closed.get(c.orderId);
      const owner = ask?.owner ?? bid?.owner ?? closed?.owner;
      if (owner === undefined) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.orderId }));
      if (owner !== meta.actor) return fail(marketError('MARKET__NOT_ORDER_OWNER', { orderId: c.orderId, actor: meta.actor }));
      if (ask && ask.status === 'open') return ok([{ type: 'AskCancelled', askId: ask.id, owner: ask.owner, reason: 'owner' }]);
      if (bid) return ok([{ type: 'BidCancelled', bidId: bid.jobId, buyer: bid.owner, reason: 'owner' }]);
      return fail(marketError('MARKET__ORDER_CLOSED', { orderId: c.orderId, status: ask?.status ?? closed!.status }));
    }
    case 'ReleaseSlot': {
      if (typeof c.askId !== 'string' || c.askId.length === 0) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
      if (typeof c.jobId !== 'string' || c.jobId.length === 0) return fail(marketError('MARKET__INVALID_JOB_ID', { max: 128 }));
      const ask = state.asks.find((a) => a.id === c.askId);
      if (!ask) {
        const closed = state.closed.get(c.askId);
        const isBid = state.bids.some((b) => b.kind === 'bid' && b.jobId === c.askId);
        if (isBid || closed?.side === 'bid') return fail(marketError('MARKET__NOT_AN_ASK', { orderId: c.askId }));
        if (!closed) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
        return ok([]);
      }
      if (!ask.inUse.includes(c.jobId)) return ok([]);
      const released: MarketEvent = { type: 'SlotReleased', askId: c.askId, jobId: c.jobId };
      const out: MarketEvent[] = [released];
      if (ask.status === 'open' && ask.withdrawAt === null && ask.expiresAt > now) {
        const s = structuredClone(state);
        refEvolve(s, released);
        supply(s, c.askId, now, out);
      }
      return ok(out);
    }
    case 'ExpireOrders': {
      const due: { expiresAt: number; seq: number; event: MarketEvent }[] = [];
      for (const a of state.asks)
        if (a.status === 'open' && a.expiresAt <= now) due.push({ expiresAt: a.expiresAt, seq: a.placedSeq, event: { type: 'AskExpired', askId: a.id, owner: a.owner } });
      for (const b of state.bids)
        if (b.expiresAt <= now)
          due.push({
            expiresAt: b.expiresAt,
            seq: b.placedSeq,
            event: b.kind === 'bid' ? { type: 'BidExpired', bidId: b.jobId, buyer: b.owner } : { type: 'ReplicaBidExpired', jobId: b.jobId, replica: b.replica },
          });
      const withdrawn = state.asks
        .filter((a) => a.status === 'open' && a.withdrawAt !== null && a.withdrawAt <= now && a.expiresAt > now)
        .sort((x, y) => x.withdrawAt! - y.withdrawAt! || x.placedSeq - y.placedSeq)
        .map((a): MarketEvent => ({ type: 'AskCancelled', askId: a.id, owner: a.owner, reason: 'agent gone' }));
      return ok([...due.sort((x, y) => x.expiresAt - y.expiresAt || x.seq - y.seq).map((d) => d.event), ...withdrawn]);
    }
  }
}

/** Applies one event to the reference state in place. */
export function refEvolve(s: RefState, e: MarketEvent): RefState {
  const removeBid = (kind: 'bid' | 'replica', jobId: string, replica: number) => {
    s.bids = s.bids.filter((b) => !(b.kind === kind && b.jobId === jobId && (kind === 'bid' || b.replica === replica)));
  };
  const retireIfDrained = (a: RefAsk) => {
    if (a.status !== 'open' && a.inUse.length === 0) {
      s.asks = s.asks.filter((x) => x !== a);
      rememberClosed(s.closed, a.id, { side: 'ask', owner: a.owner, status: a.status });
    }
  };
  switch (e.type) {
    case 'AskPlaced': {
      const seq = s.seq++;
      s.asks.push({ id: e.askId, owner: e.owner, price: e.price, capacity: e.capacity, attributes: e.attributes, expiresAt: e.expiresAt, placedSeq: seq, seq, status: 'open', inUse: [], withdrawAt: null });
      break;
    }
    case 'BidPlaced':
      s.bids.push({ kind: 'bid', jobId: e.bidId, replica: 0, owner: e.owner, maxPrice: e.maxPrice, units: e.units, replicas: e.replicas, requirements: e.requirements, exclude: [], expiresAt: e.expiresAt, spec: e.spec, placedSeq: s.seq++ });
      break;
    case 'ReplicaBidPlaced':
      s.bids.push({ kind: 'replica', jobId: e.jobId, replica: e.replica, owner: e.buyer, maxPrice: e.maxPrice, units: e.units, replicas: 1, requirements: e.requirements, exclude: e.excludeProviders, expiresAt: e.expiresAt, spec: null, placedSeq: s.seq++ });
      break;
    case 'BidMatched':
      for (const f of e.fills) s.asks.find((a) => a.id === f.askId)!.inUse.push(e.bidId);
      removeBid('bid', e.bidId, 0);
      rememberClosed(s.closed, e.bidId, { side: 'bid', owner: e.buyer, status: 'filled' });
      break;
    case 'ReplicaMatched':
      s.asks.find((a) => a.id === e.askId)!.inUse.push(e.jobId);
      removeBid('replica', e.jobId, e.replica);
      break;
    case 'AskCancelled':
    case 'AskExpired': {
      const a = s.asks.find((x) => x.id === e.askId)!;
      a.status = e.type === 'AskCancelled' ? 'cancelled' : 'expired';
      a.withdrawAt = null;
      retireIfDrained(a);
      break;
    }
    case 'BidCancelled':
    case 'BidExpired':
      removeBid('bid', e.bidId, 0);
      rememberClosed(s.closed, e.bidId, { side: 'bid', owner: e.buyer, status: e.type === 'BidCancelled' ? 'cancelled' : 'expired' });
      break;
    case 'ReplicaBidExpired':
      removeBid('replica', e.jobId, e.replica);
      break;
    case 'AskSuspended': {
      const a = s.asks.find((x) => x.id === e.askId)!;
      a.withdrawAt = e.withdrawAt;
      break;
    }
    case 'AskResumed': {
      // Back at the end of its price level when it has a free slot (off the book until then).
      const a = s.asks.find((x) => x.id === e.askId)!;
      a.withdrawAt = null;
      if (a.inUse.length < a.capacity) a.seq = s.seq++;
      break;
    }
    case 'SlotReleased': {
      const a = s.asks.find((x) => x.id === e.askId)!;
      const wasFull = a.inUse.length >= a.capacity;
      a.inUse = a.inUse.filter((j) => j !== e.jobId);
      if (a.status === 'open' && a.withdrawAt === null && wasFull) a.seq = s.seq++;
      retireIfDrained(a);
      break;
    }
  }
  return s;
}
