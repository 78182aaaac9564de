import type { CommandMeta } from '../decider.ts';
import { fail, ok, type Result } from '../result.ts';
import type { CancelOrder, ConfigureMarket, DispatchReplica, MarketCommand, PlaceAsk, PlaceBid, PlaceReplicaBid, ReleaseSlot, ResumeAsk, SuspendAsk } from './commands.ts';
import { PARAM_BOUNDS, type MarketParams } from '../params.ts';
import type { Fill, MarketEvent } from './events.ts';
import { NIL } from './book.ts';
import { ABSENT } from './id-table.ts';
import { ASK, BID, CLOSED, OPEN, STATUS_NAMES, dueOrders, dueWithdrawals, liveAsk, openBidsOf, replicaKey, type MarketState } from './state.ts';
import { LIMITS, marketError, satisfies, validateAsk, validateBid, validateReplicaBid } from './validate.ts';

/**
 * Decides a command against the book without changing it. Matching is worked out here (evolve only
 * applies the fills the events name): price-time priority, all-or-none across `replicas` distinct
 * providers, no self-trade, orders whose expiresAt has passed are treated as gone.
 */
export function decide(state: MarketState, command: MarketCommand, meta: CommandMeta): Result<MarketEvent[]> {
  switch (command.type) {
    case 'PlaceAsk':
      return placeAsk(state, command, meta.now);
    case 'PlaceBid':
      return placeBid(state, command, meta.now);
    case 'PlaceReplicaBid':
      return placeReplicaBid(state, command, meta.now);
    case 'CancelOrder':
      return cancelOrder(state, command, meta);
    case 'ReleaseSlot':
      return releaseSlot(state, command, meta.now);
    case 'SuspendAsk':
    case 'ResumeAsk':
      return agentPresence(state, command, meta);
    case 'ConfigureMarket':
      return configure(state, command, meta);
    case 'DispatchReplica':
      return dispatchReplica(state, command, meta);
    case 'ExpireOrders': {
      // Orders past their expiry, then asks whose agent stayed away past the grace period.
      const o = state.orders;
      const events = dueOrders(state, meta.now).map((s): MarketEvent => {
        if (o.kind(s) === ASK) return { type: 'AskExpired', askId: o.id(s), owner: o.owner(s) };
        if (o.kind(s) === BID) return { type: 'BidExpired', bidId: o.id(s), buyer: o.owner(s) };
        return { type: 'ReplicaBidExpired', jobId: o.jobId(s), replica: o.replica(s) };
      });
      for (const s of dueWithdrawals(state, meta.now)) events.push({ type: 'AskCancelled', askId: o.id(s), owner: o.owner(s), reason: 'agent gone' });
      return ok(events);
    }
    default:
      return fail(marketError('MARKET__UNKNOWN_COMMAND', { type: (command as { type: unknown }).type }));
  }
}

const NONE: MarketEvent[] = [];

/**
 * The asks pickAsks chose, as slots (one decision at a time: decide runs to the end before the next
 * command); a bid asks for at most LIMITS.replicas.max.
 */
const PICKED = new Int32Array(LIMITS.replicas.max);

/** Open, holding slots, or closed and still remembered: all under one index. */
function exists(state: MarketState, id: string): boolean {
  return state.byId.has(id);
}

function placeBid(state: MarketState, c: PlaceBid, now: number): Result<MarketEvent[]> {
  const invalid = validateBid(c, now);
  if (invalid) return fail(invalid);
  if (exists(state, c.bidId)) return fail(marketError('MARKET__ORDER_EXISTS', { orderId: c.bidId }));
  if (openBidsOf(state, c.owner) >= LIMITS.openBidsPerOwner) return fail(marketError('MARKET__TOO_MANY_OPEN_BIDS', { limit: LIMITS.openBidsPerOwner }));
  if (pickAsks(state, c.owner, c.maxPrice, c.replicas, c.requirements, null, c.bidId, now)) {
    const o = state.orders;
    const fills: Fill[] = new Array(c.replicas);
    for (let i = 0; i < c.replicas; i++) {
      const a = PICKED[i]!;
      fills[i] = { replica: i, askId: o.id(a), provider: o.owner(a), price: o.price(a) };
    }
    return ok([
      {
        type: 'BidMatched',
        bidId: c.bidId,
        buyer: c.owner,
        units: c.units,
        maxPrice: c.maxPrice,
        replicas: c.replicas,
        spec: c.spec,
        requirements: c.requirements,
        fills,
      },
    ]);
  }
  if (c.ioc) return ok([{ type: 'BidCancelled', bidId: c.bidId, buyer: c.owner, reason: 'ioc' }]);
  return ok([
    {
      type: 'BidPlaced',
      bidId: c.bidId,
      owner: c.owner,
      maxPrice: c.maxPrice,
      units: c.units,
      replicas: c.replicas,
      requirements: c.requirements,
      expiresAt: c.expiresAt,
      spec: c.spec,
    },
  ]);
}

function placeReplicaBid(state: MarketState, c: PlaceReplicaBid, now: number): Result<MarketEvent[]> {
  const invalid = validateReplicaBid(c, now);
  if (invalid) return fail(invalid);
  // The same replica already waiting: a repeat, not a second request.
  if (state.replicaBids.has(replicaKey(c.jobId, c.replica))) return ok(NONE);
  if (pickAsks(state, c.buyer, c.maxPrice, 1, c.requirements, c.excludeProviders, c.jobId, now)) {
    const o = state.orders;
    const a = PICKED[0]!;
    return ok([{ type: 'ReplicaMatched', jobId: c.jobId, replica: c.replica, askId: o.id(a), provider: o.owner(a), price: o.price(a) }]);
  }
  return ok([
    {
      type: 'ReplicaBidPlaced',
      jobId: c.jobId,
      replica: c.replica,
      buyer: c.buyer,
      maxPrice: c.maxPrice,
      units: c.units,
      requirements: c.requirements,
      excludeProviders: c.excludeProviders,
      expiresAt: c.expiresAt,
    },
  ]);
}

/** True when one of the first `n` picked asks belongs to this provider. */
function pickedProvider(state: MarketState, n: number, owner: string): boolean {
  const o = state.orders;
  for (let i = 0; i < n; i++) if (o.owner(PICKED[i]!) === owner) return true;
  return false;
}

/**
 * Best asks for an arriving bid: cheapest first, oldest first within a price, one per provider,
 * skipping the buyer's own, excluded providers, asks already serving this job and expired ones.
 * False unless `count` distinct providers are found (all-or-none); they are then PICKED[0..count).
 */
function pickAsks(
  state: MarketState,
  buyer: string,
  maxPrice: bigint,
  count: number,
  requirements: PlaceBid['requirements'],
  exclude: readonly string[] | null,
  jobId: string,
  now: number,
): boolean {
  const o = state.orders;
  const book = state.asks;
  const levels = book.levels;
  let picked = 0;
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (book.price[level]! > maxPrice) break;
    for (let a = book.head[level]!; a !== NIL; a = book.next(a)) {
      const owner = o.owner(a);
      if (o.expiresAt(a) <= now || owner === buyer) continue;
      if (exclude !== null && exclude.includes(owner)) continue;
      if (o.holds(a, jobId)) continue;
      if (picked > 0 && pickedProvider(state, picked, owner)) continue;
      if (requirements.length > 0 && !satisfies(o.attributes(a), requirements)) continue;
      PICKED[picked++] = a;
      if (picked === count) return true;
    }
  }
  return false;
}

/**
 * An ask that has just gained free slots (placed, or a slot released, or its agent back): works
 * through resting bids by priority, each taking one slot of this ask plus, when it needs more
 * replicas, the best other asks by price-time. Fills price at whichever order was placed first.
 */
interface Supplier {
  id: string;
  owner: string;
  price: bigint;
  attributes: Record<string, string | number>;
  placedSeq: number;
  free: number;
  /** The ask's slot when it is on the book already (its jobs hold slots), else NIL. */
  slot: number;
  /** The job whose slot is being released (it no longer holds one), or null. */
  released: string | null;
}

/** True when the supplier's ask holds a slot for this job (after the release being decided). */
function supplierHolds(state: MarketState, s: Supplier, jobId: string): boolean {
  return s.slot !== NIL && jobId !== s.released && state.orders.holds(s.slot, jobId);
}

function matchSupplier(state: MarketState, s: Supplier, now: number, events: MarketEvent[]): void {
  const o = state.orders;
  const book = state.bids;
  // Jobs given a slot in this decision: of the supplier, and of other asks (evolve has not run yet).
  let supplied: string[] | null = null;
  let used: Map<number, string[]> | null = null;
  const levels = book.levels;
  outer: for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (book.price[level]! < s.price) break;
    for (let b = book.head[level]!; b !== NIL; b = book.next(b)) {
      if (o.expiresAt(b) <= now || o.owner(b) === s.owner) continue;
      const jobId = o.jobId(b);
      const excluded = o.excludeProviders(b);
      if ((excluded.length > 0 && excluded.includes(s.owner)) || supplierHolds(state, s, jobId) || (supplied !== null && supplied.includes(jobId))) continue;
      const requirements = o.requirements(b);
      if (requirements.length > 0 && !satisfies(s.attributes, requirements)) continue;
      const maxPrice = o.price(b);
      const placedSeq = o.placedSeq(b);
      const first = s.placedSeq < placedSeq ? s.price : maxPrice;
      if (o.kind(b) !== BID) {
        events.push({ type: 'ReplicaMatched', jobId, replica: o.replica(b), askId: s.id, provider: s.owner, price: first });
      } else {
        const fills: Fill[] = [{ replica: 0, askId: s.id, provider: s.owner, price: first }];
        const replicas = o.replicas(b);
        if (replicas > 1) {
          const others = pickOthers(state, b, s.owner, used, now);
          if (others === null) continue;
          used ??= new Map();
          for (const a of others) {
            const jobs = used.get(a);
            if (jobs === undefined) used.set(a, [jobId]);
            else jobs.push(jobId);
            fills.push({ replica: fills.length, askId: o.id(a), provider: o.owner(a), price: o.placedSeq(a) < placedSeq ? o.price(a) : maxPrice });
          }
        }
        events.push({
          type: 'BidMatched',
          bidId: o.id(b),
          buyer: o.owner(b),
          units: o.units(b),
          maxPrice,
          replicas,
          spec: o.spec(b),
          requirements: o.shownRequirements(b),
          fills,
        });
      }
      if (--s.free === 0) break outer;
      (supplied ??= []).push(jobId);
    }
  }
}

/** The other replicas of resting bid b, from resting asks other than the supplier's provider. */
function pickOthers(state: MarketState, b: number, supplier: string, used: Map<number, string[]> | null, now: number): number[] | null {
  const o = state.orders;
  const need = o.replicas(b) - 1;
  const bidId = o.id(b);
  const buyer = o.owner(b);
  const maxPrice = o.price(b);
  const requirements = o.requirements(b);
  const picked: number[] = [];
  const book = state.asks;
  const levels = book.levels;
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (book.price[level]! > maxPrice) break;
    for (let a = book.head[level]!; a !== NIL; a = book.next(a)) {
      const owner = o.owner(a);
      if (o.expiresAt(a) <= now || owner === buyer || owner === supplier || picked.some((p) => o.owner(p) === owner)) continue;
      if (o.holds(a, bidId)) continue;
      if (used !== null) {
        const jobs = used.get(a);
        if (jobs !== undefined && (o.freeSlots(a) - jobs.length <= 0 || jobs.includes(bidId))) continue;
      }
      if (requirements.length > 0 && !satisfies(o.attributes(a), requirements)) continue;
      picked.push(a);
      if (picked.length === need) return picked;
    }
  }
  return null;
}

function placeAsk(state: MarketState, c: PlaceAsk, now: number): Result<MarketEvent[]> {
  const invalid = validateAsk(c, now);
  if (invalid) return fail(invalid);
  if (exists(state, c.askId)) return fail(marketError('MARKET__ORDER_EXISTS', { orderId: c.askId }));
  const events: MarketEvent[] = [
    { type: 'AskPlaced', askId: c.askId, owner: c.owner, price: c.price, capacity: c.capacity, attributes: c.attributes, expiresAt: c.expiresAt },
  ];
  const best = state.bids.best();
  if (best !== NIL && state.bids.price[best]! >= c.price) {
    const supplier: Supplier = { id: c.askId, owner: c.owner, price: c.price, attributes: c.attributes, placedSeq: state.seq, free: c.capacity, slot: NIL, released: null };
    matchSupplier(state, supplier, now, events);
  }
  return ok(events);
}

function releaseSlot(state: MarketState, c: ReleaseSlot, now: number): Result<MarketEvent[]> {
  if (typeof c.askId !== 'string' || c.askId.length === 0) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  if (typeof c.jobId !== 'string' || c.jobId.length === 0) return fail(marketError('MARKET__INVALID_JOB_ID', { max: LIMITS.idLength }));
  const s = state.byId.get(c.askId);
  if (s === ABSENT) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  const o = state.orders;
  if (o.kind(s) !== ASK) return fail(marketError('MARKET__NOT_AN_ASK', { orderId: c.askId }));
  if (o.life(s) === CLOSED) return ok(NONE); // every slot of a closed ask was already released
  if (!o.holds(s, c.jobId)) return ok(NONE); // released before: a repeat
  const events: MarketEvent[] = [{ type: 'SlotReleased', askId: o.id(s), jobId: c.jobId }];
  if (o.status(s) === OPEN && o.suspended(s) === 0 && o.expiresAt(s) > now) {
    const supplier: Supplier = {
      id: o.id(s),
      owner: o.owner(s),
      price: o.price(s),
      attributes: o.attributes(s),
      placedSeq: o.placedSeq(s),
      free: o.freeSlots(s) + 1,
      slot: s,
      released: c.jobId,
    };
    matchSupplier(state, supplier, now, events);
  }
  return ok(events);
}

function cancelOrder(state: MarketState, c: CancelOrder, meta: CommandMeta): Result<MarketEvent[]> {
  const id = c.orderId;
  const s = typeof id === 'string' ? state.byId.get(id) : ABSENT;
  if (s === ABSENT) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: id }));
  const o = state.orders;
  const owner = o.owner(s);
  if (owner !== meta.actor) return fail(marketError('MARKET__NOT_ORDER_OWNER', { orderId: id, actor: meta.actor }));
  const status = o.status(s);
  if (o.life(s) === CLOSED || status !== OPEN) return fail(marketError('MARKET__ORDER_CLOSED', { orderId: id, status: STATUS_NAMES[status] }));
  if (o.kind(s) === ASK) return ok([{ type: 'AskCancelled', askId: id, owner, reason: 'owner' }]);
  return ok([{ type: 'BidCancelled', bidId: id, buyer: owner, reason: 'owner' }]);
}

/**
 * An ask's agent left (suspend: withdrawn agentGraceMs later by ExpireOrders) or came back (resume:
 * it matches resting bids at once).
 */
function agentPresence(state: MarketState, c: SuspendAsk | ResumeAsk, meta: CommandMeta): Result<MarketEvent[]> {
  if (!meta.actor.startsWith('system')) return fail(marketError('MARKET__NOT_SYSTEM', { action: 'change an ask\'s agent presence', actor: meta.actor }));
  const s = state.byId.get(c.askId);
  const o = state.orders;
  if (s !== ABSENT && o.life(s) === CLOSED && o.kind(s) === ASK) return ok(NONE); // closed meanwhile
  if (s === ABSENT || o.kind(s) !== ASK) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  if (o.status(s) !== OPEN) return ok(NONE);
  const suspended = o.suspended(s) === 1;
  if (c.type === 'SuspendAsk') return ok(suspended ? NONE : [{ type: 'AskSuspended', askId: o.id(s), owner: o.owner(s), withdrawAt: meta.now + state.params.agentGraceMs }]);
  if (!suspended) return ok(NONE);
  const events: MarketEvent[] = [{ type: 'AskResumed', askId: o.id(s), owner: o.owner(s) }];
  const free = o.freeSlots(s);
  if (free > 0 && o.expiresAt(s) > meta.now) {
    const supplier: Supplier = { id: o.id(s), owner: o.owner(s), price: o.price(s), attributes: o.attributes(s), placedSeq: o.placedSeq(s), free, slot: s, released: null };
    matchSupplier(state, supplier, meta.now, events);
  }
  return ok(events);
}

/**
 * A job that exists hands a matched replica to dispatch (system only). Only while the ask still holds
 * the job's slot: a slot released meanwhile (the job lapsed it or ended) is not dispatched. An ask
 * whose agent is gone (suspended) will not take it: the job re-matches it now.
 */
function dispatchReplica(state: MarketState, c: DispatchReplica, meta: CommandMeta): Result<MarketEvent[]> {
  if (!meta.actor.startsWith('system')) return fail(marketError('MARKET__NOT_SYSTEM', { action: 'dispatch a replica', actor: meta.actor }));
  const s = liveAsk(state, c.askId);
  const o = state.orders;
  if (s === ABSENT || o.owner(s) !== c.provider || !o.holds(s, c.jobId)) return ok(NONE);
  const replica = { jobId: c.jobId, replica: c.replica, askId: c.askId, provider: c.provider };
  return ok([o.suspended(s) === 1 ? { type: 'ReplicaAbandoned', ...replica } : { type: 'ReplicaDispatched', ...replica }]);
}

/** Sets the job parameters (system only, each within PARAM_BOUNDS); the same values again change nothing. */
function configure(state: MarketState, c: ConfigureMarket, meta: CommandMeta): Result<MarketEvent[]> {
  if (!meta.actor.startsWith('system')) return fail(marketError('MARKET__NOT_SYSTEM', { action: 'configure a market', actor: meta.actor }));
  const params = {} as MarketParams;
  for (const key of Object.keys(PARAM_BOUNDS) as (keyof MarketParams)[]) {
    const [min, max] = PARAM_BOUNDS[key];
    const value = c.params?.[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      return fail(marketError('MARKET__INVALID_PARAMS', { field: key, min, max, value: String(value) }));
    }
    params[key] = value;
  }
  const same = (Object.keys(params) as (keyof MarketParams)[]).every((k) => state.params[k] === params[k]);
  return ok(same ? [] : [{ type: 'MarketConfigured', params }]);
}
