import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import type { CommandMeta } from '../decider.ts';
import type { MarketCommand, Requirement } from './commands.ts';
import type { MarketEvent } from './events.ts';
import { marketDecider } from './index.ts';
import { refDecide, refEvolve, refInitialState } from './reference.ts';
import type { MarketState, RestingBid } from './state.ts';
import { satisfies } from './validate.ts';
import { PROTOCOL } from '../params.ts';
import { SPEC } from '../../../test/support/market-builders.ts';

const d = marketDecider;
const OWNERS = ['p1', 'p2', 'p3', 'p4', 'b1', 'b2'];
const ASK_IDS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'];
const BID_IDS = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'];
const REQS: Requirement[] = [
  { key: 'acc', op: 'eq', value: 'cpu' },
  { key: 'acc', op: 'neq', value: 'gpu' },
  { key: 'mem', op: 'gte', value: 16 },
  { key: 'mem', op: 'lte', value: 16 },
  { key: 'region', op: 'in', value: ['eu', 'us'] },
];

const owner = fc.constantFrom(...OWNERS);
const price = fc.bigInt({ min: 1n, max: 6n });
const ttl = fc.integer({ min: 1, max: 200 });
const attributes = fc.record(
  { acc: fc.constantFrom('cpu', 'gpu'), mem: fc.constantFrom(8, 16, 32), region: fc.constantFrom('eu', 'us', 'ap') },
  { requiredKeys: [] },
);
const requirements = fc.subarray(REQS, { maxLength: 2 });

/** A command template; expiresAt is relative to the step's now, the actor is chosen per step. */
type Step = { dt: number; actor: string; command: MarketCommand; ttl: number; pick: number };

const command: fc.Arbitrary<MarketCommand> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('PlaceAsk' as const), askId: fc.constantFrom(...ASK_IDS), owner, price, capacity: fc.integer({ min: 1, max: 3 }), attributes, expiresAt: fc.constant(0) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('PlaceBid' as const),
      bidId: fc.constantFrom(...BID_IDS),
      owner,
      maxPrice: price,
      units: fc.integer({ min: 1, max: 5 }),
      replicas: fc.integer({ min: 1, max: 3 }),
      requirements,
      expiresAt: fc.constant(0),
      ioc: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      spec: fc.constant(SPEC),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('CancelOrder' as const), orderId: fc.constantFrom(...ASK_IDS, ...BID_IDS) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('ReleaseSlot' as const), askId: fc.constantFrom(...ASK_IDS, 'b0'), jobId: fc.constantFrom(...BID_IDS) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'ExpireOrders' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('PlaceReplicaBid' as const),
      jobId: fc.constantFrom(...BID_IDS),
      replica: fc.integer({ min: 0, max: 2 }),
      buyer: owner,
      maxPrice: price,
      units: fc.integer({ min: 1, max: 5 }),
      requirements,
      excludeProviders: fc.subarray(OWNERS, { maxLength: 2 }),
      expiresAt: fc.constant(0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('SuspendAsk' as const), askId: fc.constantFrom(...ASK_IDS) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ResumeAsk' as const), askId: fc.constantFrom(...ASK_IDS) }) },
);

/** Agents' grace period in these streams: short enough that suspended asks are withdrawn within a run. */
const GRACE_MS = 12;

const step: fc.Arbitrary<Step> = fc.record({ dt: fc.nat({ max: 8 }), actor: owner, command, ttl, pick: fc.nat() });
const steps = fc.array(step, { minLength: 1, maxLength: 80 });
/** Longer streams: asks live long enough for agents to leave, return or stay away past the grace period. */
const longSteps = fc.array(step, { minLength: 60, maxLength: 150 });

/** Ids of open orders (and closed asks holding slots), then closed ones oldest first. */
function knownIds(state: MarketState): string[] {
  const open = [...state.byId].flatMap(([id, o]) => (o.kind === 'closed' ? [] : [id]));
  return [...open, ...state.closed.keys()];
}

/**
 * Makes a template concrete against the current book: fresh ids (now and then a used one, to hit
 * MARKET__ORDER_EXISTS), cancels of orders that exist, releases of slots that are held (now and then
 * a repeat or a random pair), expiries relative to now.
 */
function concretise(s: Step, i: number, state: MarketState, now: number): MarketCommand {
  const c = s.command;
  const known = knownIds(state);
  const pickFrom = <T,>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[s.pick % xs.length]);
  const reuse = s.pick % 12 === 0 ? pickFrom(known) : undefined;
  switch (c.type) {
    case 'PlaceAsk':
      return { ...c, askId: reuse ?? `a${i}`, expiresAt: now + s.ttl };
    case 'PlaceBid':
      return { ...c, bidId: reuse ?? `b${i}`, expiresAt: now + s.ttl };
    case 'PlaceReplicaBid': {
      const jobs = [...state.closed.entries()].filter(([, o]) => o.side === 'bid' && o.status === 'filled').map(([id]) => id);
      return { ...c, jobId: pickFrom(jobs) ?? c.jobId, expiresAt: now + s.ttl };
    }
    case 'CancelOrder':
      return s.pick % 7 === 0 ? c : { ...c, orderId: pickFrom(known) ?? c.orderId };
    case 'SuspendAsk':
    case 'ResumeAsk': {
      const asks = [...state.byId.values()].flatMap((o) => (o.kind === 'ask' ? [o.id] : []));
      return s.pick % 9 === 0 ? c : { ...c, askId: pickFrom(asks) ?? c.askId };
    }
    case 'ReleaseSlot': {
      const held: [string, string][] = [];
      for (const o of state.byId.values()) if (o.kind === 'ask') for (const j of o.inUse) held.push([o.id, j]);
      const pair = s.pick % 9 === 0 ? undefined : pickFrom(held);
      return pair ? { ...c, askId: pair[0], jobId: pair[1] } : c;
    }
    default:
      return c;
  }
}

/** The owner of the order when cancelling it, most of the time, so that cancels succeed; dispatch for agent presence, most of the time. */
function actorFor(s: Step, state: MarketState): string {
  if (s.command.type === 'SuspendAsk' || s.command.type === 'ResumeAsk') return s.dt % 4 !== 0 ? 'system:dispatch' : s.actor;
  if (s.command.type !== 'CancelOrder') return s.actor;
  const known = knownIds(state);
  const id = s.pick % 7 === 0 ? s.command.orderId : (known[s.pick % Math.max(1, known.length)] ?? s.command.orderId);
  const o = state.byId.get(id);
  return o !== undefined && s.dt % 4 !== 0 ? o.owner : s.actor;
}

/** No resting bid that live asks could fill right now; no ask over capacity; both sides in priority order. */
function checkInvariants(state: MarketState, now: number): void {
  const liveAsks: { id: string; owner: string; price: bigint; attributes: Record<string, string | number>; inUse: readonly string[] }[] = [];
  for (const o of state.byId.values()) {
    if (o.kind !== 'ask') continue;
    expect(o.inUse.length).toBeLessThanOrEqual(o.capacity);
    expect(new Set(o.inUse).size).toBe(o.inUse.length);
    const onBook = o.status === 'open' && o.withdrawAt === null && o.inUse.length < o.capacity;
    expect(o.level !== null).toBe(onBook);
    if (onBook && o.expiresAt > now) liveAsks.push(o);
  }
  // Priority order of each side.
  let prevAsk: { price: bigint; seq: number } | null = null;
  state.asks.forEach((a) => {
    if (prevAsk) expect(prevAsk.price < a.price || (prevAsk.price === a.price && prevAsk.seq < a.seq)).toBe(true);
    prevAsk = a;
  });
  let prevBid: RestingBid | null = null;
  state.bids.forEach((b) => {
    if (prevBid) expect(prevBid.maxPrice > b.maxPrice || (prevBid.maxPrice === b.maxPrice && prevBid.placedSeq < b.placedSeq)).toBe(true);
    prevBid = b;
  });
  // Nothing fillable rests.
  state.bids.forEach((b) => {
    if (b.expiresAt <= now) return;
    const jobId = b.kind === 'bid' ? b.id : b.jobId;
    const providers = new Set(
      liveAsks
        .filter((a) => a.price <= b.maxPrice && a.owner !== b.owner && !b.excludeProviders.includes(a.owner) && !a.inUse.includes(jobId) && satisfies(a.attributes, b.requirements))
        .map((a) => a.owner),
    );
    expect(providers.size, `bid ${b.id} could be filled`).toBeLessThan(b.replicas);
  });
}

function run(program: Step[]) {
  let state = d.initialState();
  const ref = refInitialState();
  const log: { event: MarketEvent; meta: CommandMeta }[] = [];
  let now = 1_000_000;
  const configured: MarketEvent = { type: 'MarketConfigured', params: { ...PROTOCOL, agentGraceMs: GRACE_MS } };
  state = d.evolve(state, configured, { commandId: 'configure', actor: 'system:config', now });
  ref.graceMs = GRACE_MS;
  log.push({ event: configured, meta: { commandId: 'configure', actor: 'system:config', now } });
  program.forEach((s, i) => {
    now += s.dt;
    const meta: CommandMeta = { commandId: `c${i}`, actor: actorFor(s, state), now };
    const c = concretise(s, i, state, now);
    const before = canonicalJson(d.snapshot(state));
    const fast = d.decide(state, c, meta);
    expect(canonicalJson(d.snapshot(state)), 'decide must not change the book').toBe(before);
    const slow = refDecide(ref, c, meta);
    if (fast.ok && slow.ok) expect(canonicalJson(fast.value), `step ${i} ${c.type}`).toBe(canonicalJson(slow.value));
    else expect({ fast: fast.ok ? 'ok' : fast.error.code }).toEqual({ fast: slow.ok ? 'ok' : slow.error.code });
    if (!fast.ok) return;
    for (const e of fast.value) {
      state = d.evolve(state, e, meta);
      refEvolve(ref, e);
      log.push({ event: e, meta });
    }
    checkInvariants(state, now);
  });
  return { state, log };
}

describe('the fast market against the reference matcher', () => {
  it('decides the same events for random command sequences, keeping the book uncrossed', () => {
    fc.assert(
      fc.property(steps, (program) => {
        run(program);
      }),
      { numRuns: 1000 },
    );
  });

  it('decides the same events over longer streams, where agents leave, return and stay away past the grace period', () => {
    fc.assert(
      fc.property(longSteps, (program) => {
        run(program);
      }),
      { numRuns: 300 },
    );
  });

  it('replay from zero equals snapshot + restore + tail, through JSON', () => {
    fc.assert(
      fc.property(steps, fc.nat(), (program, cut) => {
        const { state, log } = run(program);
        const at = log.length === 0 ? 0 : cut % (log.length + 1);
        let replayed = d.initialState();
        let head = d.initialState();
        for (const [i, { event, meta }] of log.entries()) {
          replayed = d.evolve(replayed, fromJson<MarketEvent>(toJson(event), d.bigintFields), meta);
          if (i < at) head = d.evolve(head, event, meta);
        }
        let resumed = d.restore(fromJson<unknown>(toJson(d.snapshot(head)), d.bigintFields));
        for (const { event, meta } of log.slice(at)) resumed = d.evolve(resumed, event, meta);
        const expected = canonicalJson(d.snapshot(state));
        expect(canonicalJson(d.snapshot(replayed))).toBe(expected);
        expect(canonicalJson(d.snapshot(resumed))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});
