import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import type { CommandMeta } from '../decider.ts';
import type { MarketCommand, Requirement } from './commands.ts';
import type { MarketEvent } from './events.ts';
import { bookDepth, getOrder, marketDecider } from './index.ts';
import { refDecide, refEvolve, refInitialState } from './reference.ts';
import type { AskSnapshot, MarketSnapshot, MarketState } from './state.ts';
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

/** The book as the decider persists it: these specs read the state only through its public snapshot. */
type Book = MarketSnapshot;

/** Ids of open orders (and closed asks holding slots), then closed ones oldest first. */
function knownIds(book: Book): string[] {
  const open = [...book.asks, ...book.heldAsks].map((a) => a.askId);
  for (const b of book.bids) if (b.kind === 'bid') open.push(b.bidId);
  return [...open, ...book.closed.map(([id]) => id)];
}

/**
 * Makes a template concrete against the current book: fresh ids (now and then a used one, to hit
 * MARKET__ORDER_EXISTS), cancels of orders that exist, releases of slots that are held (now and then
 * a repeat or a random pair), expiries relative to now.
 */
function concretise(s: Step, i: number, book: Book, now: number): MarketCommand {
  const c = s.command;
  const known = knownIds(book);
  const pickFrom = <T,>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[s.pick % xs.length]);
  const reuse = s.pick % 12 === 0 ? pickFrom(known) : undefined;
  switch (c.type) {
    case 'PlaceAsk':
      return { ...c, askId: reuse ?? `a${i}`, expiresAt: now + s.ttl };
    case 'PlaceBid':
      return { ...c, bidId: reuse ?? `b${i}`, expiresAt: now + s.ttl };
    case 'PlaceReplicaBid': {
      const jobs = book.closed.filter(([, side, , status]) => side === 'bid' && status === 'filled').map(([id]) => id);
      return { ...c, jobId: pickFrom(jobs) ?? c.jobId, expiresAt: now + s.ttl };
    }
    case 'CancelOrder':
      return s.pick % 7 === 0 ? c : { ...c, orderId: pickFrom(known) ?? c.orderId };
    case 'SuspendAsk':
    case 'ResumeAsk': {
      const asks = [...book.asks, ...book.heldAsks].map((a) => a.askId);
      return s.pick % 9 === 0 ? c : { ...c, askId: pickFrom(asks) ?? c.askId };
    }
    case 'ReleaseSlot': {
      const held: [string, string][] = [];
      for (const a of [...book.asks, ...book.heldAsks]) for (const j of a.inUse) held.push([a.askId, j]);
      const pair = s.pick % 9 === 0 ? undefined : pickFrom(held);
      return pair ? { ...c, askId: pair[0], jobId: pair[1] } : c;
    }
    default:
      return c;
  }
}

/** The owner of the order when cancelling it, most of the time, so that cancels succeed; dispatch for agent presence, most of the time. */
function actorFor(s: Step, state: MarketState, book: Book): string {
  if (s.command.type === 'SuspendAsk' || s.command.type === 'ResumeAsk') return s.dt % 4 !== 0 ? 'system:dispatch' : s.actor;
  if (s.command.type !== 'CancelOrder') return s.actor;
  const known = knownIds(book);
  const id = s.pick % 7 === 0 ? s.command.orderId : (known[s.pick % Math.max(1, known.length)] ?? s.command.orderId);
  const o = getOrder(state, id);
  return o !== null && s.dt % 4 !== 0 ? o.owner : s.actor;
}

/**
 * No resting bid that live asks could fill right now; no ask over capacity; exactly the open asks
 * with a free slot and a present agent on the book; both sides in priority order; the read side
 * (getOrder, bookDepth) agrees with the book.
 */
function checkInvariants(state: MarketState, now: number): void {
  const book = d.snapshot(state) as Book;
  const liveAsks: AskSnapshot[] = [];
  for (const [list, listed] of [[book.asks, true], [book.heldAsks, false]] as const) {
    for (const a of list) {
      expect(a.inUse.length).toBeLessThanOrEqual(a.capacity);
      expect(new Set(a.inUse).size).toBe(a.inUse.length);
      const onBook = a.status === 'open' && a.withdrawAt === undefined && a.inUse.length < a.capacity;
      expect(listed, `ask ${a.askId} on the book`).toBe(onBook);
      const view = getOrder(state, a.askId);
      expect(view).toMatchObject({ side: 'ask', owner: a.owner, slotsInUse: a.inUse.length, freeSlots: a.capacity - a.inUse.length });
      if (onBook && a.expiresAt > now) liveAsks.push(a);
    }
  }
  // Priority order of each side.
  for (let i = 1; i < book.asks.length; i++) {
    const [p, a] = [book.asks[i - 1]!, book.asks[i]!];
    expect(p.price < a.price || (p.price === a.price && p.seq < a.seq)).toBe(true);
  }
  for (let i = 1; i < book.bids.length; i++) {
    const [p, b] = [book.bids[i - 1]!, book.bids[i]!];
    expect(p.maxPrice > b.maxPrice || (p.maxPrice === b.maxPrice && p.placedSeq < b.placedSeq)).toBe(true);
  }
  const depth = bookDepth(state, Infinity);
  expect(depth.asks.reduce((n, l) => n + l.orders, 0)).toBe(book.asks.length);
  expect(depth.bids.reduce((n, l) => n + l.orders, 0)).toBe(book.bids.length);
  // Nothing fillable rests.
  for (const b of book.bids) {
    if (b.expiresAt <= now) continue;
    const [jobId, buyer, replicas, exclude] = b.kind === 'bid' ? [b.bidId, b.owner, b.replicas, []] : [b.jobId, b.buyer, 1, b.excludeProviders];
    const providers = new Set(
      liveAsks
        .filter((a) => a.price <= b.maxPrice && a.owner !== buyer && !exclude.includes(a.owner) && !a.inUse.includes(jobId) && satisfies(a.attributes, b.requirements))
        .map((a) => a.owner),
    );
    expect(providers.size, `bid ${jobId} could be filled`).toBeLessThan(replicas);
  }
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
    const book = d.snapshot(state) as Book;
    const meta: CommandMeta = { commandId: `c${i}`, actor: actorFor(s, state, book), now };
    const c = concretise(s, i, book, now);
    const before = canonicalJson(book);
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
