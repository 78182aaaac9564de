import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import { specFor } from '../spec.ts';
import type { MarketEvent } from './events.ts';
import { getOrder, marketDecider, nextExpiry } from './index.ts';
import { PROTOCOL } from '../params.ts';
import { LATER, NOW, askPlaced, bid, bidPlaced } from '../../../test/support/market-builders.ts';

const given = specFor(marketDecider);
const sys = { actor: 'system:dispatch' };
const suspended = (askId = 'ask-1', withdrawAt = NOW + PROTOCOL.agentGraceMs): MarketEvent => ({ type: 'AskSuspended', askId, owner: 'prov-1', withdrawAt });
/** A market whose grace period is one second (shorter than the asks' lifetime). */
const GRACE = 1_000;
const shortGrace: MarketEvent = { type: 'MarketConfigured', params: { ...PROTOCOL, agentGraceMs: GRACE } };
const matchedAsks = (events: MarketEvent[]) => events.flatMap((e) => (e.type === 'BidMatched' ? e.fills.map((f) => f.askId) : []));

describe('an ask whose agent is gone', () => {
  it('is suspended by the system only, once', () => {
    expect(given([askPlaced()]).when({ type: 'SuspendAsk', askId: 'ask-1' }, sys).events()).toEqual([suspended()]);
    expect(given([askPlaced(), suspended()]).when({ type: 'SuspendAsk', askId: 'ask-1' }, sys).events()).toEqual([]);
    expect(given([askPlaced()]).when({ type: 'SuspendAsk', askId: 'ask-1' }, { actor: 'prov-1' }).rejection().code).toBe('MARKET__NOT_SYSTEM');
  });

  it('does not match while suspended: a new bid goes to another ask, even a dearer one', () => {
    const events = given([askPlaced({ askId: 'cheap', price: 5n }), askPlaced({ askId: 'dear', owner: 'prov-2', price: 9n }), suspended('cheap')]).when(bid()).events();
    expect(matchedAsks(events)).toEqual(['dear']);
    expect(given([askPlaced({ askId: 'cheap', price: 5n }), suspended('cheap')]).when(bid()).events().map((e) => e.type)).toEqual(['BidPlaced']);
  });

  it('shows as suspended and keeps its status open underneath (its agent may return)', () => {
    const { state } = given([askPlaced(), suspended()]);
    expect(getOrder(state, 'ask-1')).toMatchObject({ side: 'ask', status: 'suspended' });
  });

  it('a slot released while suspended does not match resting bids nor put the ask back', () => {
    const matched: MarketEvent = { type: 'BidMatched', bidId: 'b0', buyer: 'buyer-0', units: 1, maxPrice: 20n, replicas: 1, spec: bidPlaced().spec, requirements: [], fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 10n }] };
    const base = [askPlaced({ capacity: 1 }), matched, suspended(), bidPlaced()];
    const events = given(base).when({ type: 'ReleaseSlot', askId: 'ask-1', jobId: 'b0' }, sys).events();
    expect(events).toEqual([{ type: 'SlotReleased', askId: 'ask-1', jobId: 'b0' }]);
    expect(given([...base, ...events]).when(bid({ bidId: 'bid-2' })).events().map((e) => e.type)).toEqual(['BidPlaced']);
  });

  it('filled while suspended (a log evolve may be given, though decide never picks a suspended ask), still withdraws on time', () => {
    const matched: MarketEvent = { type: 'BidMatched', bidId: 'b0', buyer: 'buyer-0', units: 1, maxPrice: 20n, replicas: 1, spec: bidPlaced().spec, requirements: [], fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 10n }] };
    const base = [askPlaced({ capacity: 1 }), askPlaced({ askId: 'other', owner: 'prov-2', expiresAt: LATER + 1 }), suspended('ask-1', NOW + 5), matched];
    const { state } = given(base);
    expect(nextExpiry(state)).toBe(NOW + 5);
    expect(getOrder(state, 'ask-1')).toMatchObject({ status: 'suspended', slotsInUse: 1 });
    expect(given(base).when({ type: 'ExpireOrders' }, { ...sys, now: NOW + 5 }).events()).toEqual([{ type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'agent gone' }]);
  });

  it('resuming puts it back and matches bids that rested meanwhile', () => {
    const events = given([askPlaced(), suspended(), bidPlaced()]).when({ type: 'ResumeAsk', askId: 'ask-1' }, sys).events();
    expect(events[0]).toEqual({ type: 'AskResumed', askId: 'ask-1', owner: 'prov-1' });
    expect(matchedAsks(events)).toEqual(['ask-1']);
    expect(given([askPlaced()]).when({ type: 'ResumeAsk', askId: 'ask-1' }, sys).events()).toEqual([]);
  });

  it('a resumed ask matches a new bid again', () => {
    const events = given([askPlaced(), suspended(), { type: 'AskResumed', askId: 'ask-1', owner: 'prov-1' }]).when(bid()).events();
    expect(matchedAsks(events)).toEqual(['ask-1']);
  });

  it('is withdrawn the market agentGraceMs after its suspension (5 minutes by default)', () => {
    expect(given([askPlaced()]).when({ type: 'SuspendAsk', askId: 'ask-1' }, { ...sys, now: NOW + 7 }).events()).toEqual([suspended('ask-1', NOW + 7 + 5 * 60_000)]);
    expect(given([shortGrace, askPlaced()]).when({ type: 'SuspendAsk', askId: 'ask-1' }, sys).events()).toEqual([suspended('ask-1', NOW + GRACE)]);
  });

  it('is withdrawn by the market timer once the grace period has passed, not before: cancelled with reason "agent gone"', () => {
    const gone = [shortGrace, askPlaced(), suspended('ask-1', NOW + GRACE)];
    expect(nextExpiry(given(gone).state)).toBe(NOW + GRACE);
    expect(given(gone).when({ type: 'ExpireOrders' }, { now: NOW + GRACE - 1 }).events()).toEqual([]);
    const withdrawn = given(gone).when({ type: 'ExpireOrders' }, { now: NOW + GRACE }).events();
    expect(withdrawn).toEqual([{ type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'agent gone' }]);
    const after = given([...gone, ...withdrawn]).state;
    expect(getOrder(after, 'ask-1')).toMatchObject({ status: 'cancelled' });
    expect(nextExpiry(after)).toBeNull();
  });

  it('an agent back within the grace period keeps its ask: nothing is withdrawn', () => {
    const back = [shortGrace, askPlaced(), suspended('ask-1', NOW + GRACE), { type: 'AskResumed', askId: 'ask-1', owner: 'prov-1' } as MarketEvent];
    expect(given(back).when({ type: 'ExpireOrders' }, { now: NOW + GRACE }).events()).toEqual([]);
    expect(nextExpiry(given(back).state)).toBe(LATER);
    expect(getOrder(given(back).state, 'ask-1')).toMatchObject({ status: 'open' });
  });

  it('withdraws asks in the order their grace ran out, and an ask expiring anyway only expires', () => {
    const gone = [shortGrace, askPlaced({ askId: 'a' }), askPlaced({ askId: 'b', owner: 'prov-2' }), askPlaced({ askId: 'c', owner: 'prov-3', expiresAt: NOW + 10 }), suspended('a', NOW + 6), suspended('c', NOW + 5), suspended('b', NOW + 5)];
    expect(nextExpiry(given(gone).state)).toBe(NOW + 5);
    expect(given(gone).when({ type: 'ExpireOrders' }, { now: NOW + 10 }).events()).toEqual([
      { type: 'AskExpired', askId: 'c', owner: 'prov-3' },
      { type: 'AskCancelled', askId: 'b', owner: 'prov-2', reason: 'agent gone' },
      { type: 'AskCancelled', askId: 'a', owner: 'prov-1', reason: 'agent gone' },
    ]);
  });

  it('a withdrawn ask keeps the slots its jobs hold until they are released', () => {
    const matched: MarketEvent = { type: 'BidMatched', bidId: 'b0', buyer: 'buyer-0', units: 1, maxPrice: 20n, replicas: 1, spec: bidPlaced().spec, requirements: [], fills: [{ replica: 0, askId: 'ask-1', provider: 'prov-1', price: 10n }] };
    const withdrawn: MarketEvent = { type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'agent gone' };
    const { state } = given([shortGrace, askPlaced({ capacity: 2 }), matched, suspended('ask-1', NOW + GRACE), withdrawn]);
    expect(getOrder(state, 'ask-1')).toMatchObject({ status: 'cancelled', slotsInUse: 1 });
    expect(given([shortGrace, askPlaced({ capacity: 2 }), matched, suspended('ask-1', NOW + GRACE), withdrawn]).when({ type: 'ReleaseSlot', askId: 'ask-1', jobId: 'b0' }, sys).events()).toEqual([{ type: 'SlotReleased', askId: 'ask-1', jobId: 'b0' }]);
  });

  it('suspension survives a snapshot', () => {
    const { state } = given([askPlaced(), suspended(), bidPlaced()]);
    const restored = marketDecider.restore(fromJson(toJson(marketDecider.snapshot(state)), marketDecider.bigintFields));
    expect(canonicalJson(marketDecider.snapshot(restored))).toBe(canonicalJson(marketDecider.snapshot(state)));
    expect(getOrder(restored, 'ask-1')).toMatchObject({ status: 'suspended' });
    expect(nextExpiry(restored)).toBe(nextExpiry(state));
    const r = marketDecider.decide(restored, bid({ bidId: 'bid-2' }), { commandId: 'c', actor: 'buyer-1', now: NOW });
    expect(r.ok && r.value.map((e) => e.type)).toEqual(['BidPlaced']);
  });
});
