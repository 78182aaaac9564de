import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import { MAX_AMOUNT } from '../money.ts';
import { jobParams, PROTOCOL } from '../params.ts';
import { specFor } from '../spec.ts';
import type { MarketCommand, Requirement } from './commands.ts';
import { MARKET_ERRORS } from './errors.ts';
import type { MarketEvent } from './events.ts';
import { bestAsk, bestBid, bookDepth, getOrder, marketDecider, nextExpiry, react } from './index.ts';
import { BID, CLOSED_MEMORY, ClosedMemory, EXPIRED, FILLED, Orders, type ClosedOrder, type MarketSnapshot } from './state.ts';
import { IdTable, idHash } from './id-table.ts';
import { LIMITS } from './validate.ts';
import { LATER, NOW, SPEC, ask, askPlaced, bid, bidPlaced, replicaBid, replicaBidPlaced } from '../../../test/support/market-builders.ts';

const given = specFor(marketDecider);
const meta = { commandId: 'c', actor: 'system', now: NOW };

describe('an ask on an empty book', () => {
  it('rests with all its slots free', () => {
    expect(given([]).when(ask({ capacity: 3 })).events()).toEqual([askPlaced({ capacity: 3 })]);
  });
});

describe('a bid arriving', () => {
  it('rests when nothing is offered', () => {
    expect(given([]).when(bid()).events()).toEqual([bidPlaced()]);
  });

  it('matches the cheapest ask at the ask price (the resting order)', () => {
    const events = given([askPlaced({ askId: 'a', price: 12n }), askPlaced({ askId: 'b', owner: 'prov-2', price: 9n })]).when(bid()).events();
    expect(events).toEqual([
      {
        type: 'BidMatched',
        bidId: 'bid-1',
        buyer: 'buyer-1',
        units: 100,
        maxPrice: 20n,
        replicas: 1,
        spec: SPEC,
        requirements: [],
        fills: [{ replica: 0, askId: 'b', provider: 'prov-2', price: 9n }],
      },
    ]);
  });

  it('takes the earlier of two asks at one price', () => {
    const events = given([askPlaced({ askId: 'first' }), askPlaced({ askId: 'second', owner: 'prov-2' })]).when(bid()).events();
    expect((events[0] as Extract<MarketEvent, { type: 'BidMatched' }>).fills[0]!.askId).toBe('first');
  });

  it('skips asks above its maxPrice', () => {
    expect(given([askPlaced({ price: 21n })]).when(bid()).events()).toEqual([bidPlaced()]);
  });

  it('takes one ask per provider for its replicas, in price-time order', () => {
    const events = given([
      askPlaced({ askId: 'p1-a', owner: 'p1', price: 5n }),
      askPlaced({ askId: 'p1-b', owner: 'p1', price: 6n }),
      askPlaced({ askId: 'p2-a', owner: 'p2', price: 7n }),
      askPlaced({ askId: 'p3-a', owner: 'p3', price: 8n }),
    ])
      .when(bid({ replicas: 2 }))
      .events();
    expect((events[0] as Extract<MarketEvent, { type: 'BidMatched' }>).fills).toEqual([
      { replica: 0, askId: 'p1-a', provider: 'p1', price: 5n },
      { replica: 1, askId: 'p2-a', provider: 'p2', price: 7n },
    ]);
  });

  it('rests when fewer distinct providers than replicas are free (all or none)', () => {
    const g = [askPlaced({ askId: 'a', owner: 'p1', capacity: 4 }), askPlaced({ askId: 'b', owner: 'p1' })];
    expect(given(g).when(bid({ replicas: 2 })).events()).toEqual([bidPlaced({ replicas: 2 })]);
  });

  it('never trades with its own asks', () => {
    expect(given([askPlaced({ owner: 'buyer-1' })]).when(bid()).events()).toEqual([bidPlaced()]);
  });

  it('is cancelled at once with reason ioc when IOC and unmatched, and never rests', () => {
    const { state, when } = given([]);
    const events = when(bid({ ioc: true })).events();
    expect(events).toEqual([{ type: 'BidCancelled', bidId: 'bid-1', buyer: 'buyer-1', reason: 'ioc' }]);
    marketDecider.evolve(state, events[0]!, meta);
    expect(bestBid(state)).toBeNull();
    expect(getOrder(state, 'bid-1')).toEqual({ side: 'bid', id: 'bid-1', owner: 'buyer-1', status: 'cancelled' });
  });

  it('ignores asks whose expiry has passed but were not yet expired', () => {
    expect(given([askPlaced({ expiresAt: NOW + 5 })]).when(bid(), { now: NOW + 5 }).events()).toEqual([bidPlaced()]);
  });
});

describe('requirements', () => {
  const attrs = { accelerator: 'cpu', memoryGb: 16, region: 'eu' };
  const cases: [string, Requirement, boolean][] = [
    ['eq matches', { key: 'accelerator', op: 'eq', value: 'cpu' }, true],
    ['eq refuses', { key: 'accelerator', op: 'eq', value: 'gpu' }, false],
    ['neq matches', { key: 'region', op: 'neq', value: 'us' }, true],
    ['neq refuses', { key: 'region', op: 'neq', value: 'eu' }, false],
    ['gte matches', { key: 'memoryGb', op: 'gte', value: 16 }, true],
    ['gte refuses', { key: 'memoryGb', op: 'gte', value: 17 }, false],
    ['lte matches', { key: 'memoryGb', op: 'lte', value: 16 }, true],
    ['lte refuses', { key: 'memoryGb', op: 'lte', value: 8 }, false],
    ['in matches', { key: 'region', op: 'in', value: ['us', 'eu'] }, true],
    ['in refuses', { key: 'region', op: 'in', value: ['us', 'ap'] }, false],
    ['a missing attribute fails even neq', { key: 'fingerprint', op: 'neq', value: 'x' }, false],
    ['gte on a string attribute fails', { key: 'region', op: 'gte', value: 1 }, false],
  ];
  for (const [name, req, matches] of cases) {
    it(name, () => {
      const events = given([askPlaced({ attributes: attrs })]).when(bid({ requirements: [req] })).events();
      expect(events[0]!.type).toBe(matches ? 'BidMatched' : 'BidPlaced');
    });
  }
});

describe('an ask arriving at resting bids', () => {
  it('fills the highest bid first at the bid price (the resting order)', () => {
    const events = given([bidPlaced({ bidId: 'low', maxPrice: 15n }), bidPlaced({ bidId: 'high', maxPrice: 18n })])
      .when(ask({ price: 10n }))
      .events();
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ type: 'BidMatched', bidId: 'high', fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 18n }] });
  });

  it('fills several bids with its slots, best first then earliest', () => {
    const events = given([bidPlaced({ bidId: 'x', maxPrice: 15n }), bidPlaced({ bidId: 'y', maxPrice: 15n }), bidPlaced({ bidId: 'z', maxPrice: 16n })])
      .when(ask({ capacity: 2 }))
      .events();
    expect(events.map((e) => (e.type === 'BidMatched' ? e.bidId : e.type))).toEqual(['AskPlaced', 'z', 'x']);
  });

  it('completes a multi-replica bid with resting asks, pricing each at the order placed first', () => {
    const events = given([
      askPlaced({ askId: 'early', owner: 'p1', price: 5n }),
      bidPlaced({ replicas: 3, maxPrice: 20n }),
      askPlaced({ askId: 'late', owner: 'p2', price: 6n }),
    ])
      .when(ask({ askId: 'new', owner: 'p3', price: 7n }))
      .events();
    expect(events[1]).toMatchObject({
      type: 'BidMatched',
      fills: [
        { replica: 0, askId: 'new', provider: 'p3', price: 20n },
        { replica: 1, askId: 'early', provider: 'p1', price: 5n },
        { replica: 2, askId: 'late', provider: 'p2', price: 20n },
      ],
    });
  });

  it('skips bids of its own owner and bids whose requirements it fails', () => {
    const events = given([
      bidPlaced({ bidId: 'own', owner: 'prov-1', maxPrice: 30n }),
      bidPlaced({ bidId: 'picky', maxPrice: 25n, requirements: [{ key: 'accelerator', op: 'eq', value: 'gpu' }] }),
      bidPlaced({ bidId: 'ok', maxPrice: 20n }),
    ])
      .when(ask({ attributes: { accelerator: 'cpu' } }))
      .events();
    expect(events.map((e) => (e.type === 'BidMatched' ? e.bidId : e.type))).toEqual(['AskPlaced', 'ok']);
  });

  it('does not fill bids priced below it', () => {
    expect(given([bidPlaced({ maxPrice: 9n })]).when(ask({ price: 10n })).events()).toEqual([askPlaced({ price: 10n })]);
  });
});

describe('slots', () => {
  const filled: MarketEvent[] = [
    askPlaced({ askId: 'a', capacity: 1 }),
    { type: 'BidMatched', bidId: 'job-1', buyer: 'buyer-1', units: 100, maxPrice: 20n, replicas: 1, spec: SPEC, requirements: [], fills: [{ replica: 0, askId: 'a', provider: 'prov-1', price: 10n }] },
  ];

  it('a full ask leaves the book', () => {
    const { state } = given(filled);
    expect(bestAsk(state)).toBeNull();
    expect(getOrder(state, 'a')).toMatchObject({ side: 'ask', slotsInUse: 1, freeSlots: 0, status: 'open' });
  });

  it('a slot taken on one ask is held by that ask alone', () => {
    const { state } = given([askPlaced({ askId: 'b', owner: 'prov-2', capacity: 2 }), ...filled, askPlaced({ askId: 'c', owner: 'prov-3' })]);
    expect([getOrder(state, 'a'), getOrder(state, 'b'), getOrder(state, 'c')]).toMatchObject([{ slotsInUse: 1 }, { slotsInUse: 0 }, { slotsInUse: 0 }]);
  });

  it('a release returns the slot and the ask re-enters behind orders waiting at its price', () => {
    const { state, when } = given([...filled, askPlaced({ askId: 'b', owner: 'prov-2' })]);
    const events = when({ type: 'ReleaseSlot', askId: 'a', jobId: 'job-1' }).events();
    expect(events).toEqual([{ type: 'SlotReleased', askId: 'a', jobId: 'job-1' }]);
    marketDecider.evolve(state, events[0]!, meta);
    const next = marketDecider.decide(state, bid({ bidId: 'bid-2' }), meta);
    expect(next.ok && next.value[0]).toMatchObject({ fills: [{ askId: 'b' }] });
  });

  it('a second release of the same slot is a no-op', () => {
    expect(given([...filled, { type: 'SlotReleased', askId: 'a', jobId: 'job-1' }]).when({ type: 'ReleaseSlot', askId: 'a', jobId: 'job-1' }).events()).toEqual([]);
  });

  it('a release lets a resting bid match at once', () => {
    const events = given([...filled, bidPlaced({ bidId: 'waiting', maxPrice: 15n })]).when({ type: 'ReleaseSlot', askId: 'a', jobId: 'job-1' }).events();
    expect(events).toEqual([
      { type: 'SlotReleased', askId: 'a', jobId: 'job-1' },
      expect.objectContaining({ type: 'BidMatched', bidId: 'waiting', fills: [{ replica: 0, askId: 'a', provider: 'prov-1', price: 10n }] }),
    ]);
  });

  it('releasing to a cancelled ask just drops the slot, and the ask is then closed', () => {
    const { state, when } = given([...filled, { type: 'AskCancelled', askId: 'a', owner: 'prov-1', reason: 'owner' }, bidPlaced({ bidId: 'waiting' })]);
    const events = when({ type: 'ReleaseSlot', askId: 'a', jobId: 'job-1' }).events();
    expect(events).toEqual([{ type: 'SlotReleased', askId: 'a', jobId: 'job-1' }]);
    marketDecider.evolve(state, events[0]!, meta);
    expect(getOrder(state, 'a')).toEqual({ side: 'ask', id: 'a', owner: 'prov-1', status: 'cancelled' });
    expect(marketDecider.decide(state, { type: 'ReleaseSlot', askId: 'a', jobId: 'job-1' }, meta)).toEqual({ ok: true, value: [] });
  });

  it('a cancelled ask with slots in use takes no new fills', () => {
    const g: MarketEvent[] = [askPlaced({ askId: 'a', capacity: 2 }), filled[1]!, { type: 'AskCancelled', askId: 'a', owner: 'prov-1', reason: 'owner' }];
    expect(given(g).when(bid({ bidId: 'bid-2' })).events()).toEqual([bidPlaced({ bidId: 'bid-2' })]);
  });
});

describe('cancelling', () => {
  it('the owner cancels an ask', () => {
    expect(given([askPlaced()]).when({ type: 'CancelOrder', orderId: 'ask-1' }, { actor: 'prov-1' }).events()).toEqual([
      { type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'owner' },
    ]);
  });

  it('the owner cancels a bid, and the hold is released', () => {
    const events = given([bidPlaced()]).when({ type: 'CancelOrder', orderId: 'bid-1' }, { actor: 'buyer-1' }).events();
    expect(events).toEqual([{ type: 'BidCancelled', bidId: 'bid-1', buyer: 'buyer-1', reason: 'owner' }]);
    expect(react(marketDecider.initialState(), events[0]!, meta)).toEqual([{ to: { kind: 'account', id: 'buyer-1' }, command: { type: 'ReleaseHold', holdId: 'bid-1' } }]);
  });
});

describe('ids and owners of any length and characters', () => {
  const names = (base: string) => [base.repeat(62).slice(0, 62), base.repeat(63).slice(0, 63), base.repeat(64).slice(0, 64), base.repeat(100).slice(0, 100)];
  const wide = ['prov-\u00ff', 'prov-\u0100', 'prov-\u{1F600}', 'ß'.repeat(63), '€'.repeat(10)];
  const near = (v: string) => [v.slice(0, -1), `${v}x`, v.slice(0, -1) + String.fromCharCode(v.charCodeAt(v.length - 1) ^ 1), `x${v.slice(1)}`];

  it('are found and matched exactly, near misses are not: lookups, cancels by the owner, self-trade', () => {
    for (const name of [...names('a1'), ...names('ü'), ...wide]) {
      const placed = askPlaced({ askId: name, owner: name });
      for (const other of near(name)) {
        expect(given([placed]).when({ type: 'CancelOrder', orderId: name }, { actor: other }).rejection().code).toBe('MARKET__NOT_ORDER_OWNER');
        expect(given([placed]).when({ type: 'CancelOrder', orderId: other }, { actor: name }).rejection().code).toBe('MARKET__ORDER_NOT_FOUND');
        expect(getOrder(given([placed]).state, other)).toBeNull();
        // A bid of a near-miss owner trades with the ask; one of the ask's own owner does not.
        expect(given([placed]).when(bid({ owner: other })).events()[0]!.type).toBe('BidMatched');
      }
      expect(given([placed]).when(bid({ owner: name })).events()[0]!.type).toBe('BidPlaced');
      expect(given([placed]).when({ type: 'CancelOrder', orderId: name }, { actor: name }).events()).toEqual([{ type: 'AskCancelled', askId: name, owner: name, reason: 'owner' }]);
      expect(given([placed]).when(ask({ askId: name, owner: 'p' })).rejection().code).toBe('MARKET__ORDER_EXISTS');
      expect(getOrder(given([placed]).state, name)).toMatchObject({ askId: name, owner: name });
    }
  });
});

describe('expiry', () => {
  it('expires every order due, earliest first, and nothing else', () => {
    const { state, when } = given([
      askPlaced({ askId: 'a', expiresAt: NOW + 30 }),
      bidPlaced({ bidId: 'b', maxPrice: 5n, expiresAt: NOW + 10 }),
      replicaBidPlaced({ maxPrice: 5n, expiresAt: NOW + 20 }),
      askPlaced({ askId: 'later', expiresAt: NOW + 100 }),
    ]);
    expect(nextExpiry(state)).toBe(NOW + 10);
    const events = when({ type: 'ExpireOrders' }, { now: NOW + 30 }).events();
    expect(events).toEqual([
      { type: 'BidExpired', bidId: 'b', buyer: 'buyer-1' },
      { type: 'ReplicaBidExpired', jobId: 'job-1', replica: 0 },
      { type: 'AskExpired', askId: 'a', owner: 'prov-1' },
    ]);
    for (const e of events) marketDecider.evolve(state, e, meta);
    expect(nextExpiry(state)).toBe(NOW + 100);
    expect(marketDecider.decide(state, { type: 'ExpireOrders' }, { ...meta, now: NOW + 30 })).toEqual({ ok: true, value: [] });
  });

  it('nextExpiry is null on an empty book', () => {
    expect(nextExpiry(marketDecider.initialState())).toBeNull();
  });

  it('forgets cancelled orders from the expiry heap, and still expires the open ones earliest first', () => {
    const { state } = given([]);
    const placed = Array.from({ length: 3000 }, (_, i) => askPlaced({ askId: `a${i}`, owner: `p${i}`, expiresAt: NOW + 10 + ((i * 7919) % 3000) }));
    for (const e of placed) marketDecider.evolve(state, e, meta);
    const kept = new Set(['a5', 'a1234', 'a2999', 'a17']);
    for (const e of placed) if (!kept.has(e.askId)) marketDecider.evolve(state, { type: 'AskCancelled', askId: e.askId, owner: e.owner, reason: 'owner' }, meta);
    expect(state.expiries.length).toBeLessThan(1100);
    const due = placed.filter((e) => kept.has(e.askId)).sort((a, b) => a.expiresAt - b.expiresAt);
    expect(nextExpiry(state)).toBe(due[0]!.expiresAt);
    const expired = marketDecider.decide(state, { type: 'ExpireOrders' }, { ...meta, now: NOW + 5000 });
    expect(expired).toEqual({ ok: true, value: due.map((e) => ({ type: 'AskExpired', askId: e.askId, owner: e.owner })) });
  });
});

describe('replica bids', () => {
  it('match the cheapest ask outside the buyer and the excluded providers', () => {
    const events = given([
      askPlaced({ askId: 'own', owner: 'buyer-1', price: 1n }),
      askPlaced({ askId: 'bad', owner: 'p-bad', price: 2n }),
      askPlaced({ askId: 'good', owner: 'p-good', price: 3n }),
    ])
      .when(replicaBid({ excludeProviders: ['p-bad'] }))
      .events();
    expect(events).toEqual([{ type: 'ReplicaMatched', jobId: 'job-1', replica: 0, askId: 'good', provider: 'p-good', price: 3n }]);
  });

  it('rest when nothing fits, and a later ask fills them at the bid price', () => {
    expect(given([]).when(replicaBid()).events()).toEqual([replicaBidPlaced()]);
    const events = given([replicaBidPlaced()]).when(ask()).events();
    expect(events[1]).toEqual({ type: 'ReplicaMatched', jobId: 'job-1', replica: 0, askId: 'ask-1', provider: 'prov-1', price: 20n });
  });

  it('a second identical replica bid is a no-op while the first rests', () => {
    expect(given([replicaBidPlaced()]).when(replicaBid()).events()).toEqual([]);
  });

  it('never take a second slot of an ask already serving the job', () => {
    const g: MarketEvent[] = [
      askPlaced({ askId: 'a', capacity: 2 }),
      { type: 'BidMatched', bidId: 'job-1', buyer: 'buyer-1', units: 100, maxPrice: 20n, replicas: 1, spec: SPEC, requirements: [], fills: [{ replica: 0, askId: 'a', provider: 'prov-1', price: 10n }] },
    ];
    expect(given(g).when(replicaBid({ replica: 1 })).events()).toEqual([replicaBidPlaced({ replica: 1 })]);
  });
});

// ---------------------------------------------------------------------------------------------
// Every rejection code, one specification each.

const seen = new Set<string>();
const rejects = (name: string, code: keyof typeof MARKET_ERRORS, givenEvents: MarketEvent[], command: MarketCommand, actor = 'system') =>
  it(`${name} -> ${code}`, () => {
    const error = given(givenEvents).when(command, { actor }).rejection();
    expect(error.code).toBe(code);
    expect(error.message).not.toMatch(/\{\w+\}/);
    seen.add(code);
  });

describe('the open bids of one key', () => {
  const LIMIT = LIMITS.openBidsPerOwner;
  const full = (owner = 'buyer-1') => Array.from({ length: LIMIT }, (_, i) => bidPlaced({ bidId: `b${i}`, owner }));

  it('are bounded: one more is refused; another key, a cancelled, expired or matched bid, and the jobs’ replica bids make room or do not count', () => {
    expect(given(full()).when(bid({ bidId: 'one-more' })).rejection().code).toBe('MARKET__TOO_MANY_OPEN_BIDS');
    expect(given(full()).when(bid({ bidId: 'theirs', owner: 'buyer-2' })).events()).toEqual([bidPlaced({ bidId: 'theirs', owner: 'buyer-2' })]);
    for (const closed of [{ type: 'BidCancelled', bidId: 'b7', buyer: 'buyer-1', reason: 'owner' }, { type: 'BidExpired', bidId: 'b7', buyer: 'buyer-1' }] as MarketEvent[]) {
      expect(given([...full(), closed]).when(bid({ bidId: 'one-more' })).events(), closed.type).toEqual([bidPlaced({ bidId: 'one-more' })]);
    }
    // One of them matched by a new ask: it leaves the book, and there is room again.
    const matched = given(full()).when(ask({ askId: 'cheap', owner: 'prov-1', price: 1n })).events();
    expect(matched.map((e) => e.type)).toContain('BidMatched');
    expect(given([...full(), ...matched]).when(bid({ bidId: 'one-more' })).events()).toEqual([bidPlaced({ bidId: 'one-more' })]);
    // Replica bids a job places for this buyer are not its own bids.
    expect(given([...full().slice(1), replicaBidPlaced({ buyer: 'buyer-1' })]).when(bid({ bidId: 'last' })).events()).toEqual([bidPlaced({ bidId: 'last' })]);
  });

  it('are counted the same after a snapshot is restored', () => {
    const { state } = given([...full().slice(0, LIMIT - 1), { type: 'BidCancelled', bidId: 'b3', buyer: 'buyer-1', reason: 'owner' }, bidPlaced({ bidId: 'x', owner: 'buyer-1' })]);
    const restored = marketDecider.restore(fromJson(toJson(marketDecider.snapshot(state)), marketDecider.bigintFields));
    expect(restored.openBids).toEqual(state.openBids);
    expect(restored.openBids.get('buyer-1')).toBe(LIMIT - 1);
  });
});

describe('rejections', () => {
  rejects('a duplicate ask id', 'MARKET__ORDER_EXISTS', [askPlaced()], ask());
  rejects('a bid past the open bids one key may have', 'MARKET__TOO_MANY_OPEN_BIDS', Array.from({ length: LIMITS.openBidsPerOwner }, (_, i) => bidPlaced({ bidId: `o${i}` })), bid({ bidId: 'over' }));
  rejects('a bid id already used by an ask', 'MARKET__ORDER_EXISTS', [askPlaced({ askId: 'x' })], bid({ bidId: 'x' }));
  rejects('a bid id of a filled bid', 'MARKET__ORDER_EXISTS', [{ type: 'BidCancelled', bidId: 'bid-1', buyer: 'buyer-1', reason: 'ioc' }], bid());
  rejects('cancelling an unknown order', 'MARKET__ORDER_NOT_FOUND', [], { type: 'CancelOrder', orderId: 'nope' });
  rejects('releasing to an unknown ask', 'MARKET__ORDER_NOT_FOUND', [], { type: 'ReleaseSlot', askId: 'nope', jobId: 'j' });
  rejects('cancelling another owner’s ask', 'MARKET__NOT_ORDER_OWNER', [askPlaced()], { type: 'CancelOrder', orderId: 'ask-1' }, 'mallory');
  rejects('cancelling a cancelled ask', 'MARKET__ORDER_CLOSED', [askPlaced(), { type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'owner' }], { type: 'CancelOrder', orderId: 'ask-1' }, 'prov-1');
  rejects('cancelling an expired bid', 'MARKET__ORDER_CLOSED', [bidPlaced(), { type: 'BidExpired', bidId: 'bid-1', buyer: 'buyer-1' }], { type: 'CancelOrder', orderId: 'bid-1' }, 'buyer-1');
  rejects(
    'cancelling a filled bid',
    'MARKET__ORDER_CLOSED',
    [askPlaced({ capacity: 2 }), { type: 'BidMatched', bidId: 'bid-1', buyer: 'buyer-1', units: 1, maxPrice: 20n, replicas: 1, spec: SPEC, requirements: [], fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 10n }] }],
    { type: 'CancelOrder', orderId: 'bid-1' },
    'buyer-1',
  );
  rejects('releasing a slot of a bid', 'MARKET__NOT_AN_ASK', [bidPlaced()], { type: 'ReleaseSlot', askId: 'bid-1', jobId: 'j' });
  rejects('an empty ask id', 'MARKET__INVALID_ORDER_ID', [], ask({ askId: '' }));
  rejects('a bid id too long', 'MARKET__INVALID_ORDER_ID', [], bid({ bidId: 'x'.repeat(129) }));
  rejects('an empty owner', 'MARKET__INVALID_OWNER', [], ask({ owner: '' }));
  rejects('a zero price', 'MARKET__PRICE_NOT_POSITIVE', [], ask({ price: 0n }));
  rejects('a negative maxPrice', 'MARKET__PRICE_NOT_POSITIVE', [], bid({ maxPrice: -1n }));
  rejects('a number instead of a bigint price', 'MARKET__PRICE_NOT_POSITIVE', [], ask({ price: 10 as unknown as bigint }));
  rejects('a price over the u64 range', 'MARKET__PRICE_TOO_LARGE', [], ask({ price: MAX_AMOUNT + 1n }));
  rejects('capacity 0', 'MARKET__CAPACITY_OUT_OF_RANGE', [], ask({ capacity: 0 }));
  rejects('capacity 1025', 'MARKET__CAPACITY_OUT_OF_RANGE', [], ask({ capacity: 1025 }));
  rejects('17 attributes', 'MARKET__TOO_MANY_ATTRIBUTES', [], ask({ attributes: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) }));
  rejects('an object attribute value', 'MARKET__INVALID_ATTRIBUTE', [], ask({ attributes: { gpu: {} as unknown as string } }));
  rejects('a reserved attribute name', 'MARKET__INVALID_ATTRIBUTE', [], ask({ attributes: { price: '1' } }));
  rejects('an ask expiring now', 'MARKET__EXPIRY_NOT_IN_FUTURE', [], ask({ expiresAt: NOW }));
  rejects('a bid expiring in the past', 'MARKET__EXPIRY_NOT_IN_FUTURE', [], bid({ expiresAt: NOW - 1 }));
  rejects('zero units', 'MARKET__UNITS_OUT_OF_RANGE', [], bid({ units: 0 }));
  rejects('too many units', 'MARKET__UNITS_OUT_OF_RANGE', [], bid({ units: 1_000_001 }));
  rejects('zero replicas', 'MARKET__REPLICAS_OUT_OF_RANGE', [], bid({ replicas: 0 }));
  rejects('six replicas', 'MARKET__REPLICAS_OUT_OF_RANGE', [], bid({ replicas: 6 }));
  rejects('17 requirements', 'MARKET__TOO_MANY_REQUIREMENTS', [], bid({ requirements: Array.from({ length: 17 }, () => ({ key: 'k', op: 'eq' as const, value: 1 })) }));
  rejects('an unknown operator', 'MARKET__INVALID_REQUIREMENT', [], bid({ requirements: [{ key: 'k', op: 'like' as 'eq', value: 1 }] }));
  rejects('gte with a string', 'MARKET__INVALID_REQUIREMENT', [], bid({ requirements: [{ key: 'k', op: 'gte', value: 'big' }] }));
  rejects('in without a list', 'MARKET__INVALID_REQUIREMENT', [], bid({ requirements: [{ key: 'k', op: 'in', value: 'x' }] }));
  rejects('escrow above u64', 'MARKET__ESCROW_OVERFLOW', [], bid({ maxPrice: MAX_AMOUNT / 2n, units: 3 }));
  rejects('a bad model digest', 'MARKET__INVALID_SPEC', [], bid({ spec: { ...SPEC, modelSha256: 'xyz' } }));
  rejects('a negative tolerance', 'MARKET__INVALID_SPEC', [], bid({ spec: { ...SPEC, tolerance: -1 } }));
  rejects('ioc not a boolean', 'MARKET__INVALID_IOC', [], bid({ ioc: 'yes' as unknown as boolean }));
  rejects('replica index 16', 'MARKET__INVALID_REPLICA_INDEX', [], replicaBid({ replica: 16 }));
  rejects('exclusions not a list', 'MARKET__INVALID_EXCLUSIONS', [], replicaBid({ excludeProviders: 'p1' as unknown as string[] }));
  rejects('an empty job id', 'MARKET__INVALID_JOB_ID', [], replicaBid({ jobId: '' }));
  rejects('a replica bid whose price times units overflows', 'MARKET__ESCROW_OVERFLOW', [], replicaBid({ maxPrice: MAX_AMOUNT, units: 2 }));
  rejects('a provider configuring the market', 'MARKET__NOT_SYSTEM', [], { type: 'ConfigureMarket', params: { ...PROTOCOL } }, 'prov-1');
  rejects('a lease shorter than half a second', 'MARKET__INVALID_PARAMS', [], { type: 'ConfigureMarket', params: { ...PROTOCOL, leaseMs: 10 } });
  rejects('a command the market does not know', 'MARKET__UNKNOWN_COMMAND', [], { type: 'Frobnicate' } as unknown as MarketCommand);

  afterAll(() => {
    // Every code in the table has a specification above.
    expect([...seen].sort()).toEqual(Object.keys(MARKET_ERRORS).sort());
  });
});

describe('reactions', () => {
  const matched: MarketEvent = {
    type: 'BidMatched',
    bidId: 'bid-1',
    buyer: 'buyer-1',
    units: 100,
    maxPrice: 20n,
    replicas: 2,
    spec: SPEC,
    requirements: [],
    fills: [
      { replica: 0, askId: 'a', provider: 'p1', price: 10n },
      { replica: 1, askId: 'b', provider: 'p2', price: 15n },
    ],
  };

  it('a match creates the job with the protocol job parameters and releases the unused escrow', () => {
    expect(react(marketDecider.initialState(), matched, meta)).toEqual([
      {
        to: { kind: 'job', id: 'bid-1' },
        command: {
          type: 'CreateJob',
          jobId: 'bid-1',
          buyer: 'buyer-1',
          units: 100,
          maxPrice: 20n,
          replicas: 2,
          requirements: [],
          spec: SPEC,
          fills: (matched as Extract<MarketEvent, { type: 'BidMatched' }>).fills,
          holdId: 'bid-1',
          params: jobParams(PROTOCOL),
        },
      },
      // 20*100*2 - (10*100 + 15*100)
      { to: { kind: 'account', id: 'buyer-1' }, command: { type: 'ReleaseHold', holdId: 'bid-1', amount: 1500n } },
    ]);
  });

  it('a match at the full maxPrice releases nothing', () => {
    const full = { ...matched, fills: [{ replica: 0, askId: 'a', provider: 'p1', price: 20n }, { replica: 1, askId: 'b', provider: 'p2', price: 20n }] } as MarketEvent;
    expect(react(marketDecider.initialState(), full, meta)).toHaveLength(1);
  });

  it('an expired bid releases its whole hold', () => {
    expect(react(marketDecider.initialState(), { type: 'BidExpired', bidId: 'b', buyer: 'u' }, meta)).toEqual([{ to: { kind: 'account', id: 'u' }, command: { type: 'ReleaseHold', holdId: 'b' } }]);
  });

  it('replica outcomes go to the job', () => {
    const s = marketDecider.initialState();
    expect(react(s, { type: 'ReplicaMatched', jobId: 'j', replica: 1, askId: 'a', provider: 'p', price: 5n }, meta)).toEqual([
      { to: { kind: 'job', id: 'j' }, command: { type: 'ReplicaMatched', jobId: 'j', replica: 1, askId: 'a', provider: 'p', price: 5n } },
    ]);
    expect(react(s, { type: 'ReplicaBidExpired', jobId: 'j', replica: 1 }, meta)).toEqual([{ to: { kind: 'job', id: 'j' }, command: { type: 'ReplicaUnfilled', jobId: 'j', replica: 1 } }]);
  });

  it('placements, releases and ask closings send nothing', () => {
    const s = marketDecider.initialState();
    for (const e of [askPlaced(), bidPlaced(), replicaBidPlaced(), { type: 'SlotReleased', askId: 'a', jobId: 'j' }, { type: 'AskExpired', askId: 'a', owner: 'p' }] as MarketEvent[])
      expect(react(s, e, meta)).toEqual([]);
  });
});

describe('reading the book', () => {
  const events: MarketEvent[] = [
    askPlaced({ askId: 'a1', price: 10n, capacity: 3 }),
    askPlaced({ askId: 'a2', owner: 'prov-2', price: 10n, capacity: 2 }),
    askPlaced({ askId: 'a3', owner: 'prov-3', price: 12n }),
    bidPlaced({ bidId: 'b1', maxPrice: 5n, replicas: 2 }),
    bidPlaced({ bidId: 'b2', maxPrice: 5n }),
    bidPlaced({ bidId: 'b3', maxPrice: 4n }),
  ];

  it('depth aggregates per price level, best first', () => {
    const { state } = given(events);
    expect(bookDepth(state, 10)).toEqual({
      bids: [
        { price: 5n, orders: 2, slots: 3 },
        { price: 4n, orders: 1, slots: 1 },
      ],
      asks: [
        { price: 10n, orders: 2, freeSlots: 5 },
        { price: 12n, orders: 1, freeSlots: 1 },
      ],
    });
    expect(bookDepth(state, 1).asks).toHaveLength(1);
    expect(bestBid(state)).toBe(5n);
    expect(bestAsk(state)).toBe(10n);
  });

  it('orders can be read by id; unknown ids give null', () => {
    const { state } = given(events);
    expect(getOrder(state, 'b1')).toMatchObject({ side: 'bid', bidId: 'b1', replicas: 2, status: 'open' });
    expect(getOrder(state, 'nope')).toBeNull();
  });

  it('hands out an order\'s empty attributes and requirements as objects of its own (the book shares one empty object among orders)', () => {
    const { state } = given([askPlaced({ askId: 'e1' }), askPlaced({ askId: 'e2', owner: 'prov-2' }), bidPlaced({ bidId: 'eb1', maxPrice: 5n }), bidPlaced({ bidId: 'eb2', maxPrice: 5n })]);
    const shown = [getOrder(state, 'e1'), getOrder(state, 'e2'), getOrder(state, 'eb1'), getOrder(state, 'eb2')].map((v) => {
      const o = v as { attributes?: object; requirements?: object };
      return o.attributes ?? o.requirements!;
    });
    const snap = marketDecider.snapshot(state) as MarketSnapshot;
    shown.push(...snap.asks.map((a) => a.attributes), ...snap.bids.map((b) => b.requirements));
    // An ask arriving at the resting bids: its BidMatched names the resting bid's requirements.
    const matched = given([bidPlaced({ bidId: 'eb3', maxPrice: 50n })]).when(ask({ askId: 'e3' })).events();
    shown.push((matched[1] as Extract<MarketEvent, { type: 'BidMatched' }>).requirements);
    expect(new Set(shown).size).toBe(shown.length);
    for (const v of shown) {
      expect(Object.isFrozen(v)).toBe(false);
      expect(Object.keys(v)).toEqual([]);
    }
  });

  it('events and snapshots survive JSON with their bigints', () => {
    const { state } = given(events);
    const snap = marketDecider.snapshot(state);
    const back = fromJson<unknown>(toJson(snap), marketDecider.bigintFields);
    expect(canonicalJson(marketDecider.snapshot(marketDecider.restore(back)))).toBe(canonicalJson(snap));
    for (const e of events) expect(fromJson(toJson(e), marketDecider.bigintFields)).toEqual(e);
  });

  it('every event type is at version 1 and upcast leaves current data alone', () => {
    expect(Object.values(marketDecider.eventVersions).every((v) => v === 1)).toBe(true);
    expect(marketDecider.upcast('AskPlaced', 1, { a: 1 })).toEqual({ a: 1 });
  });
});

describe('the memory of closed orders', () => {
  it('is bounded: the oldest closed order is forgotten first, and snapshots keep that order', () => {
    const events: MarketEvent[] = [];
    for (let i = 0; i <= CLOSED_MEMORY; i++) {
      events.push(askPlaced({ askId: `ask-${i}`, owner: 'prov-1' }));
      events.push({ type: 'AskCancelled', askId: `ask-${i}`, owner: 'prov-1', reason: 'owner' });
    }
    const { state } = given(events);
    expect(state.closed.size).toBe(CLOSED_MEMORY);
    expect(getOrder(state, 'ask-0')).toBeNull();
    expect(getOrder(state, 'ask-1')?.status).toBe('cancelled');
    const restored = marketDecider.restore(fromJson(toJson(marketDecider.snapshot(state)), marketDecider.bigintFields));
    expect([...restored.closed.keys()]).toEqual([...state.closed.keys()]);
  });
});

describe('order slots reused after the closed memory forgets', () => {
  it('expire every open order once, earliest first, though the expiry heap still holds what their slots held before', () => {
    // Enough open asks that the heap is not rebuilt meanwhile, more closed orders than the memory
    // keeps (forgotten orders' slots are freed), then new asks in those slots.
    const { state } = given([]);
    const open = new Map<string, { owner: string; expiresAt: number }>();
    const place = (askId: string, owner: string, expiresAt: number) => {
      marketDecider.evolve(state, askPlaced({ askId, owner, expiresAt }), meta);
      open.set(askId, { owner, expiresAt });
    };
    const cancel = (askId: string) => {
      marketDecider.evolve(state, { type: 'AskCancelled', askId, owner: open.get(askId)!.owner, reason: 'owner' }, meta);
      open.delete(askId);
    };
    for (let i = 0; i < 30_000; i++) place(`long${i}`, `p${i % 7}`, NOW + 100_000 - i);
    for (let j = 0; j < CLOSED_MEMORY + 500; j++) {
      place(`churn${j}`, 'p0', NOW + 300_000 + j);
      cancel(`churn${j}`);
    }
    for (let i = 0; i < 2_000; i++) cancel(`long${6 * i}`);
    for (let k = 0; k < 2_000; k++) place(`late${k}`, 'p1', NOW + 50_000 + k);
    expect(getOrder(state, 'churn0')).toBeNull();
    const due = [...open].sort(([, a], [, b]) => a.expiresAt - b.expiresAt);
    expect(nextExpiry(state)).toBe(due[0]![1].expiresAt);
    const expired = marketDecider.decide(state, { type: 'ExpireOrders' }, { ...meta, now: NOW + 400_000 });
    expect(expired).toEqual({ ok: true, value: due.map(([askId, { owner }]) => ({ type: 'AskExpired', askId, owner })) });
  });
});

describe('the closed memory', () => {
  it('keeps the newest closed ids in closing order once the ring wraps, forgets the rest from the one id index, and reuses their slots', () => {
    const orders = new Orders();
    const byId = new IdTable((slot) => orders.id(slot));
    const memory = new ClosedMemory(orders, byId, 3);
    const closed = (i: number, status: ClosedOrder['status'] = 'filled'): [string, ClosedOrder] => [`k${i}`, { kind: 'closed', side: 'bid', owner: `o${i}`, status }];
    for (let i = 0; i < 20; i++) {
      const s = orders.alloc(BID);
      orders.setId(s, `k${i}`);
      orders.setHash(s, idHash(`k${i}`));
      orders.setOwner(s, `o${i}`);
      orders.setStatus(s, FILLED);
      byId.set(`k${i}`, s);
      memory.remember(s);
    }
    expect([...memory.entries()]).toEqual([closed(17), closed(18), closed(19)]);
    expect(memory.size).toBe(3);
    expect(byId.size).toBe(3);
    expect(byId.has('k16')).toBe(false);
    expect(orders.extent).toBe(4);
    // Closed again: the new record, in its old place.
    const s18 = byId.get('k18');
    orders.setStatus(s18, EXPIRED);
    memory.remember(s18);
    expect([...memory.entries()]).toEqual([closed(17), closed(18, 'expired'), closed(19)]);
  });
});

describe('market parameters', () => {
  it('are set by the system and travel with every job created afterwards (the job part of them)', () => {
    const params = { ...PROTOCOL, leaseMs: 2_000, feeBps: 100, agentGraceMs: 9_000 };
    const configured = given([]).when({ type: 'ConfigureMarket', params }).events();
    expect(configured).toEqual([{ type: 'MarketConfigured', params }]);
    const { state } = given([...configured, askPlaced({ askId: 'a', owner: 'p' })]);
    const events = marketDecider.decide(state, bid({ bidId: 'b', replicas: 1 }), meta);
    expect(events.ok).toBe(true);
    const matched = events.ok ? events.value.find((e) => e.type === 'BidMatched') : undefined;
    const create = react(state, matched!, meta).find((m) => m.command.type === 'CreateJob');
    const job = jobParams(params);
    expect(create?.command.type === 'CreateJob' && create.command.params).toEqual(job);
    expect(given(configured).when({ type: 'ConfigureMarket', params }).events()).toEqual([]);
    const restored = marketDecider.restore(fromJson(toJson(marketDecider.snapshot(state)), marketDecider.bigintFields));
    expect(restored.params).toEqual(params);
  });

  it('logged and snapshotted before agentGraceMs existed, take the protocol default for it', () => {
    const { agentGraceMs: _new, ...older } = { ...PROTOCOL, leaseMs: 2_000 };
    const configured = { type: 'MarketConfigured', params: older } as unknown as MarketEvent;
    expect(given([configured]).state.params).toEqual({ ...PROTOCOL, leaseMs: 2_000 });
    const snap = { ...(marketDecider.snapshot(given([]).state) as object), params: older };
    expect(marketDecider.restore(snap).params.agentGraceMs).toBe(PROTOCOL.agentGraceMs);
  });

  it('bound the agent grace period like the others', () => {
    expect(given([]).when({ type: 'ConfigureMarket', params: { ...PROTOCOL, agentGraceMs: -1 } }).rejection().code).toBe('MARKET__INVALID_PARAMS');
    expect(given([]).when({ type: 'ConfigureMarket', params: { ...PROTOCOL, agentGraceMs: 0 } }).events()).toHaveLength(1);
  });
});

describe('a job handing a matched replica to dispatch', () => {
  const matched: MarketEvent = {
    type: 'BidMatched',
    bidId: 'bid-1',
    buyer: 'buyer-1',
    units: 100,
    maxPrice: 20n,
    replicas: 1,
    spec: SPEC,
    requirements: [],
    fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 10n }],
  };
  const dispatch: MarketCommand = { type: 'DispatchReplica', jobId: 'bid-1', replica: 0, askId: 'ask-1', provider: 'prov-1' };
  const job = { actor: 'system:job:bid-1' };

  it('goes to dispatch while the ask holds the job slot, also once the ask closed with the slot in use', () => {
    const dispatched = [{ type: 'ReplicaDispatched', jobId: 'bid-1', replica: 0, askId: 'ask-1', provider: 'prov-1' }];
    expect(given([askPlaced(), matched]).when(dispatch, job).events()).toEqual(dispatched);
    expect(given([askPlaced(), matched, { type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'owner' }]).when(dispatch, job).events()).toEqual(dispatched);
  });

  it('changes nothing in the book', () => {
    const { state } = given([askPlaced({ capacity: 2 }), matched]);
    const before = canonicalJson(marketDecider.snapshot(state));
    marketDecider.evolve(state, { type: 'ReplicaDispatched', jobId: 'bid-1', replica: 0, askId: 'ask-1', provider: 'prov-1' }, meta);
    expect(canonicalJson(marketDecider.snapshot(state))).toBe(before);
  });

  it('is not dispatched once the slot went back, nor for an ask the job does not hold or another provider', () => {
    expect(given([askPlaced(), matched, { type: 'SlotReleased', askId: 'ask-1', jobId: 'bid-1' }]).when(dispatch, job).events()).toEqual([]);
    expect(given([askPlaced()]).when(dispatch, job).events()).toEqual([]);
    expect(given([askPlaced(), matched]).when({ ...dispatch, provider: 'prov-2' }, job).events()).toEqual([]);
    expect(given([]).when(dispatch, job).events()).toEqual([]);
  });

  it('comes from the system only', () => {
    expect(given([askPlaced(), matched]).when(dispatch, { actor: 'prov-1' }).rejection().code).toBe('MARKET__NOT_SYSTEM');
  });

  it('is abandoned when the ask agent is gone (suspended): the job re-matches it at once', () => {
    const suspended: MarketEvent = { type: 'AskSuspended', askId: 'ask-1', owner: 'prov-1', withdrawAt: LATER };
    const events = given([askPlaced(), matched, suspended]).when(dispatch, job).events();
    expect(events).toEqual([{ type: 'ReplicaAbandoned', jobId: 'bid-1', replica: 0, askId: 'ask-1', provider: 'prov-1' }]);
    expect(react(given([]).state, events[0]!, meta)).toEqual([{ to: { kind: 'job', id: 'bid-1' }, command: { type: 'AbandonAssignment', replica: 0, askId: 'ask-1' } }]);
    const resumed: MarketEvent = { type: 'AskResumed', askId: 'ask-1', owner: 'prov-1' };
    expect(given([askPlaced(), matched, suspended, resumed]).when(dispatch, job).events().map((e) => e.type)).toEqual(['ReplicaDispatched']);
  });
});
