import type { Amount } from '../money.ts';
import type { AttributeValue, JobSpec, Requirement } from './commands.ts';
import { NIL } from './book.ts';
import { ABSENT } from './id-table.ts';
import { ASK, CLOSED, OPEN, STATUS_NAMES, bidFields, type ClosedOrder, type MarketState } from './state.ts';

/** What the shell and the read side see of one order. */
export type OrderView =
  | {
      side: 'ask';
      askId: string;
      owner: string;
      price: Amount;
      capacity: number;
      slotsInUse: number;
      freeSlots: number;
      attributes: Record<string, AttributeValue>;
      expiresAt: number;
      /** 'suspended': its agent is gone; it does not match until the agent returns. */
      status: 'open' | 'suspended' | 'cancelled' | 'expired';
    }
  | {
      side: 'bid';
      bidId: string;
      owner: string;
      maxPrice: Amount;
      units: number;
      replicas: number;
      requirements: Requirement[];
      expiresAt: number;
      spec: JobSpec;
      status: 'open';
    }
  | { side: ClosedOrder['side']; id: string; owner: string; status: ClosedOrder['status'] };

/** One order by id (open, closed with slots in use, or closed), or null when the market never saw it. */
export function getOrder(state: MarketState, id: string): OrderView | null {
  const s = state.byId.get(id);
  if (s === ABSENT) return null;
  const o = state.orders;
  const status = o.status(s);
  if (o.life(s) === CLOSED) return { side: o.kind(s) === ASK ? 'ask' : 'bid', id, owner: o.owner(s), status: STATUS_NAMES[status] as ClosedOrder['status'] };
  if (o.kind(s) === ASK) {
    const used = o.used(s);
    return {
      side: 'ask',
      askId: o.id(s),
      owner: o.owner(s),
      price: o.price(s),
      capacity: o.capacity(s),
      slotsInUse: used,
      freeSlots: o.freeSlots(s),
      attributes: o.shownAttributes(s),
      expiresAt: o.expiresAt(s),
      status: status === OPEN && o.suspended(s) === 1 ? 'suspended' : (STATUS_NAMES[status] as 'open' | 'cancelled' | 'expired'),
    };
  }
  return { side: 'bid', ...bidFields(o, s), status: 'open' };
}

export interface BookDepth {
  /** Highest first. `slots` is the number of replicas the level's bids are waiting for. */
  bids: { price: Amount; orders: number; slots: number }[];
  /** Cheapest first; only asks with a free slot are on the book. */
  asks: { price: Amount; orders: number; freeSlots: number }[];
}

/** The best `levels` price levels of each side, aggregated. */
export function bookDepth(state: MarketState, levels: number): BookDepth {
  const o = state.orders;
  const out: BookDepth = { bids: [], asks: [] };
  const bids = state.bids;
  for (let i = bids.levels.length - 1; i >= 0 && out.bids.length < levels; i--) {
    const level = bids.levels[i]!;
    let slots = 0;
    for (let b = bids.head[level]!; b !== NIL; b = bids.next(b)) slots += o.replicas(b);
    out.bids.push({ price: bids.price[level]!, orders: bids.count[level]!, slots });
  }
  const asks = state.asks;
  for (let i = asks.levels.length - 1; i >= 0 && out.asks.length < levels; i--) {
    const level = asks.levels[i]!;
    let free = 0;
    for (let a = asks.head[level]!; a !== NIL; a = asks.next(a)) free += o.freeSlots(a);
    out.asks.push({ price: asks.price[level]!, orders: asks.count[level]!, freeSlots: free });
  }
  return out;
}

/** Highest resting bid price (bids and replica bids), or null. */
export function bestBid(state: MarketState): Amount | null {
  const best = state.bids.best();
  return best === NIL ? null : state.bids.price[best]!;
}

/** Cheapest ask with a free slot, or null. */
export function bestAsk(state: MarketState): Amount | null {
  const best = state.asks.best();
  return best === NIL ? null : state.asks.price[best]!;
}
