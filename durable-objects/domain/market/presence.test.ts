import { describe, expect, it } from 'vitest';
import { canonicalJson, fromJson, toJson } from '../canonical.ts';
import { specFor } from '../spec.ts';
import type { MarketEvent } from './events.ts';
import { getOrder, marketDecider } from './index.ts';
import { NOW, askPlaced, bid, bidPlaced } from '../../../test/support/market-builders.ts';

const given = specFor(marketDecider);
const sys = { actor: 'system:dispatch' };
const suspended = (askId = 'ask-1'): MarketEvent => ({ type: 'AskSuspended', askId, owner: 'prov-1' });
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

  it('withdrawn after the grace period: cancelled with reason "agent gone"', () => {
    expect(given([askPlaced(), suspended()]).when({ type: 'WithdrawAsk', askId: 'ask-1' }, sys).events()).toEqual([{ type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'agent gone' }]);
    expect(given([askPlaced(), { type: 'AskCancelled', askId: 'ask-1', owner: 'prov-1', reason: 'owner' }]).when({ type: 'WithdrawAsk', askId: 'ask-1' }, sys).events()).toEqual([]);
  });

  it('suspension survives a snapshot', () => {
    const { state } = given([askPlaced(), suspended(), bidPlaced()]);
    const restored = marketDecider.restore(fromJson(toJson(marketDecider.snapshot(state)), marketDecider.bigintFields));
    expect(canonicalJson(marketDecider.snapshot(restored))).toBe(canonicalJson(marketDecider.snapshot(state)));
    expect(getOrder(restored, 'ask-1')).toMatchObject({ status: 'suspended' });
    const r = marketDecider.decide(restored, bid({ bidId: 'bid-2' }), { commandId: 'c', actor: 'buyer-1', now: NOW });
    expect(r.ok && r.value.map((e) => e.type)).toEqual(['BidPlaced']);
  });
});
