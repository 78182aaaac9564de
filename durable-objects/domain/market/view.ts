import type { Amount } from '../money.ts';
import type { AttributeValue, JobSpec, Requirement } from './commands.ts';
import { freeSlots, type ClosedOrder, type MarketState } from './state.ts';

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
  const o = state.byId.get(id);
  if (o === undefined) return null;
  if (o.kind === 'closed') return { side: o.side, id, owner: o.owner, status: o.status };
  if (o.kind === 'ask')
    return {
      side: 'ask',
      askId: o.id,
      owner: o.owner,
      price: o.price,
      capacity: o.capacity,
      slotsInUse: o.inUse.length,
      freeSlots: freeSlots(o),
      attributes: o.attributes,
      expiresAt: o.expiresAt,
      status: o.status === 'open' && o.withdrawAt !== null ? 'suspended' : o.status,
    };
  return {
    side: 'bid',
    bidId: o.id,
    owner: o.owner,
    maxPrice: o.maxPrice,
    units: o.units,
    replicas: o.replicas,
    requirements: o.requirements,
    expiresAt: o.expiresAt,
    spec: o.spec,
    status: 'open',
  };
}

export interface BookDepth {
  /** Highest first. `slots` is the number of replicas the level's bids are waiting for. */
  bids: { price: Amount; orders: number; slots: number }[];
  /** Cheapest first; only asks with a free slot are on the book. */
  asks: { price: Amount; orders: number; freeSlots: number }[];
}

/** The best `levels` price levels of each side, aggregated. */
export function bookDepth(state: MarketState, levels: number): BookDepth {
  const out: BookDepth = { bids: [], asks: [] };
  const bl = state.bids.levels;
  for (let i = bl.length - 1; i >= 0 && out.bids.length < levels; i--) {
    const level = bl[i]!;
    let slots = 0;
    for (let b = level.head; b !== null; b = b.next) slots += b.replicas;
    out.bids.push({ price: level.price, orders: level.count, slots });
  }
  const al = state.asks.levels;
  for (let i = al.length - 1; i >= 0 && out.asks.length < levels; i--) {
    const level = al[i]!;
    let free = 0;
    for (let a = level.head; a !== null; a = a.next) free += freeSlots(a);
    out.asks.push({ price: level.price, orders: level.count, freeSlots: free });
  }
  return out;
}

/** Highest resting bid price (bids and replica bids), or null. */
export function bestBid(state: MarketState): Amount | null {
  return state.bids.best()?.price ?? null;
}

/** Cheapest ask with a free slot, or null. */
export function bestAsk(state: MarketState): Amount | null {
  return state.asks.best()?.price ?? null;
}

