import type { CommandMeta } from '../decider.ts';
import { fail, ok, type Result } from '../result.ts';
import type { CancelOrder, ConfigureMarket, DispatchReplica, MarketCommand, PlaceAsk, PlaceBid, PlaceReplicaBid, ReleaseSlot, ResumeAsk, SuspendAsk } from './commands.ts';
import { PARAM_BOUNDS, type MarketParams } from '../params.ts';
import type { Fill, MarketEvent } from './events.ts';
import { dueOrders, dueWithdrawals, replicaKey, type AskOrder, type MarketState, type RestingBid } from './state.ts';
import { marketError, satisfies, validateAsk, validateBid, validateReplicaBid } from './validate.ts';

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
      const events = dueOrders(state, meta.now).map((o): MarketEvent => {
        if (o.kind === 'ask') return { type: 'AskExpired', askId: o.id, owner: o.owner };
        if (o.kind === 'bid') return { type: 'BidExpired', bidId: o.id, buyer: o.owner };
        return { type: 'ReplicaBidExpired', jobId: o.jobId, replica: o.replica };
      });
      for (const a of dueWithdrawals(state, meta.now)) events.push({ type: 'AskCancelled', askId: a.id, owner: a.owner, reason: 'agent gone' });
      return ok(events);
    }
    default:
      return fail(marketError('MARKET__UNKNOWN_COMMAND', { type: (command as { type: unknown }).type }));
  }
}

const NONE: MarketEvent[] = [];

/** Open, holding slots, or closed and still remembered: all under one map. */
function exists(state: MarketState, id: string): boolean {
  return state.byId.has(id);
}

function placeBid(state: MarketState, c: PlaceBid, now: number): Result<MarketEvent[]> {
  const invalid = validateBid(c, now);
  if (invalid) return fail(invalid);
  if (exists(state, c.bidId)) return fail(marketError('MARKET__ORDER_EXISTS', { orderId: c.bidId }));
  const asks = pickAsks(state, c.owner, c.maxPrice, c.replicas, c.requirements, null, c.bidId, now);
  if (asks !== null) {
    const fills: Fill[] = new Array(asks.length);
    for (let i = 0; i < asks.length; i++) {
      const a = asks[i]!;
      fills[i] = { replica: i, askId: a.id, provider: a.owner, price: a.price };
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
  const asks = pickAsks(state, c.buyer, c.maxPrice, 1, c.requirements, c.excludeProviders, c.jobId, now);
  const ask = asks?.[0];
  if (ask !== undefined)
    return ok([{ type: 'ReplicaMatched', jobId: c.jobId, replica: c.replica, askId: ask.id, provider: ask.owner, price: ask.price }]);
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

/**
 * Best asks for an arriving bid: cheapest first, oldest first within a price, one per provider,
 * skipping the buyer's own, excluded providers, asks already serving this job and expired ones.
 * Null unless `count` distinct providers are found (all-or-none).
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
): AskOrder[] | null {
  const levels = state.asks.levels;
  let picked: AskOrder[] | null = null;
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (level.price > maxPrice) break;
    for (let a = level.head; a !== null; a = a.next) {
      if (a.expiresAt <= now || a.owner === buyer) continue;
      if (exclude !== null && exclude.includes(a.owner)) continue;
      if (a.inUse.includes(jobId)) continue;
      if (picked !== null && hasProvider(picked, a.owner)) continue;
      if (requirements.length > 0 && !satisfies(a.attributes, requirements)) continue;
      if (picked === null) picked = [a];
      else picked.push(a);
      if (picked.length === count) return picked;
    }
  }
  return null;
}

function hasProvider(asks: readonly AskOrder[], owner: string): boolean {
  for (let i = 0; i < asks.length; i++) if (asks[i]!.owner === owner) return true;
  return false;
}

/**
 * An ask that has just gained free slots (placed, or a slot released): works through resting bids
 * by priority, each taking one slot of this ask plus, when it needs more replicas, the best other
 * asks by price-time. Fills price at whichever order was placed first.
 */
interface Supplier {
  id: string;
  owner: string;
  price: bigint;
  attributes: Record<string, string | number>;
  placedSeq: number;
  free: number;
  /** Jobs holding a slot of this ask (after the release being decided). */
  holds: (jobId: string) => boolean;
}

function matchSupplier(state: MarketState, s: Supplier, now: number, events: MarketEvent[]): void {
  // Jobs given a slot in this decision: of the supplier, and of other asks (evolve has not run yet).
  const supplied: string[] = [];
  let used: Map<AskOrder, string[]> | null = null;
  const levels = state.bids.levels;
  outer: for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (level.price < s.price) break;
    for (let b: RestingBid | null = level.head; b !== null; b = b.next) {
      if (b.expiresAt <= now || b.owner === s.owner) continue;
      const jobId = b.kind === 'bid' ? b.id : b.jobId;
      if (b.excludeProviders.includes(s.owner) || s.holds(jobId) || supplied.includes(jobId)) continue;
      if (b.requirements.length > 0 && !satisfies(s.attributes, b.requirements)) continue;
      const first = s.placedSeq < b.placedSeq ? s.price : b.maxPrice;
      if (b.kind === 'replica') {
        events.push({ type: 'ReplicaMatched', jobId: b.jobId, replica: b.replica, askId: s.id, provider: s.owner, price: first });
      } else {
        const fills: Fill[] = [{ replica: 0, askId: s.id, provider: s.owner, price: first }];
        if (b.replicas > 1) {
          const others = pickOthers(state, b, s.owner, used, now);
          if (others === null) continue;
          used ??= new Map();
          for (const a of others) {
            const jobs = used.get(a);
            if (jobs === undefined) used.set(a, [jobId]);
            else jobs.push(jobId);
            fills.push({ replica: fills.length, askId: a.id, provider: a.owner, price: a.placedSeq < b.placedSeq ? a.price : b.maxPrice });
          }
        }
        events.push({
          type: 'BidMatched',
          bidId: b.id,
          buyer: b.owner,
          units: b.units,
          maxPrice: b.maxPrice,
          replicas: b.replicas,
          spec: b.spec,
          requirements: b.requirements,
          fills,
        });
      }
      supplied.push(jobId);
      if (--s.free === 0) break outer;
    }
  }
}

/** The other replicas of a resting bid, from resting asks other than the supplier's provider. */
function pickOthers(state: MarketState, b: RestingBid, supplier: string, used: Map<AskOrder, string[]> | null, now: number): AskOrder[] | null {
  const need = b.replicas - 1;
  const picked: AskOrder[] = [];
  const levels = state.asks.levels;
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    if (level.price > b.maxPrice) break;
    for (let a = level.head; a !== null; a = a.next) {
      if (a.expiresAt <= now || a.owner === b.owner || a.owner === supplier || hasProvider(picked, a.owner)) continue;
      if (a.inUse.includes(b.id)) continue;
      if (used !== null) {
        const jobs = used.get(a);
        if (jobs !== undefined && (a.capacity - a.inUse.length - jobs.length <= 0 || jobs.includes(b.id))) continue;
      }
      if (b.requirements.length > 0 && !satisfies(a.attributes, b.requirements)) continue;
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
  if (best !== undefined && best.price >= c.price) {
    matchSupplier(
      state,
      { id: c.askId, owner: c.owner, price: c.price, attributes: c.attributes, placedSeq: state.seq, free: c.capacity, holds: () => false },
      now,
      events,
    );
  }
  return ok(events);
}

function releaseSlot(state: MarketState, c: ReleaseSlot, now: number): Result<MarketEvent[]> {
  if (typeof c.askId !== 'string' || c.askId.length === 0) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  if (typeof c.jobId !== 'string' || c.jobId.length === 0) return fail(marketError('MARKET__INVALID_JOB_ID', { max: 128 }));
  const ask = state.byId.get(c.askId);
  if (ask === undefined) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  if (ask.kind === 'closed') {
    if (ask.side !== 'ask') return fail(marketError('MARKET__NOT_AN_ASK', { orderId: c.askId }));
    return ok(NONE); // every slot of a closed ask was already released
  }
  if (ask.kind !== 'ask') return fail(marketError('MARKET__NOT_AN_ASK', { orderId: c.askId }));
  if (!ask.inUse.includes(c.jobId)) return ok(NONE); // released before: a repeat
  const events: MarketEvent[] = [{ type: 'SlotReleased', askId: ask.id, jobId: c.jobId }];
  if (ask.status === 'open' && ask.withdrawAt === null && ask.expiresAt > now) {
    const released = c.jobId;
    matchSupplier(
      state,
      {
        id: ask.id,
        owner: ask.owner,
        price: ask.price,
        attributes: ask.attributes,
        placedSeq: ask.placedSeq,
        free: ask.capacity - ask.inUse.length + 1,
        holds: (jobId) => jobId !== released && ask.inUse.includes(jobId),
      },
      now,
      events,
    );
  }
  return ok(events);
}

function cancelOrder(state: MarketState, c: CancelOrder, meta: CommandMeta): Result<MarketEvent[]> {
  const id = c.orderId;
  const order = typeof id === 'string' ? state.byId.get(id) : undefined;
  if (order === undefined) return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: id }));
  if (order.kind === 'closed') {
    if (order.owner !== meta.actor) return fail(marketError('MARKET__NOT_ORDER_OWNER', { orderId: id, actor: meta.actor }));
    return fail(marketError('MARKET__ORDER_CLOSED', { orderId: id, status: order.status }));
  }
  if (order.owner !== meta.actor) return fail(marketError('MARKET__NOT_ORDER_OWNER', { orderId: id, actor: meta.actor }));
  if (order.status !== 'open') return fail(marketError('MARKET__ORDER_CLOSED', { orderId: id, status: order.status }));
  if (order.kind === 'ask') return ok([{ type: 'AskCancelled', askId: order.id, owner: order.owner, reason: 'owner' }]);
  return ok([{ type: 'BidCancelled', bidId: order.id, buyer: order.owner, reason: 'owner' }]);
}

/**
 * An ask's agent left (suspend: withdrawn agentGraceMs later by ExpireOrders) or came back (resume:
 * it matches resting bids at once).
 */
function agentPresence(state: MarketState, c: SuspendAsk | ResumeAsk, meta: CommandMeta): Result<MarketEvent[]> {
  if (!meta.actor.startsWith('system')) return fail(marketError('MARKET__NOT_SYSTEM', { action: 'change an ask\'s agent presence', actor: meta.actor }));
  const ask = state.byId.get(c.askId);
  if (ask !== undefined && ask.kind === 'closed' && ask.side === 'ask') return ok(NONE); // closed meanwhile
  if (ask === undefined || ask.kind !== 'ask') return fail(marketError('MARKET__ORDER_NOT_FOUND', { orderId: c.askId }));
  if (ask.status !== 'open') return ok(NONE);
  if (c.type === 'SuspendAsk') return ok(ask.withdrawAt !== null ? NONE : [{ type: 'AskSuspended', askId: ask.id, owner: ask.owner, withdrawAt: meta.now + state.params.agentGraceMs }]);
  if (ask.withdrawAt === null) return ok(NONE);
  const events: MarketEvent[] = [{ type: 'AskResumed', askId: ask.id, owner: ask.owner }];
  const free = ask.capacity - ask.inUse.length;
  if (free > 0 && ask.expiresAt > meta.now) {
    matchSupplier(
      state,
      { id: ask.id, owner: ask.owner, price: ask.price, attributes: ask.attributes, placedSeq: ask.placedSeq, free, holds: (jobId) => ask.inUse.includes(jobId) },
      meta.now,
      events,
    );
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
  const ask = state.byId.get(c.askId);
  if (ask === undefined || ask.kind !== 'ask' || ask.owner !== c.provider || !ask.inUse.includes(c.jobId)) return ok(NONE);
  const replica = { jobId: c.jobId, replica: c.replica, askId: c.askId, provider: c.provider };
  return ok([ask.withdrawAt !== null ? { type: 'ReplicaAbandoned', ...replica } : { type: 'ReplicaDispatched', ...replica }]);
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
