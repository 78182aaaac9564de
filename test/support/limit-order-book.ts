// A plain price-time priority limit-order book on the market's Ladder: test-only (no market uses it).
// book.test.ts checks the ladder through it, and the order book benchmark times it against the
// package nodejs-order-book.
import { Ladder, type Level, type Linked } from '../../durable-objects/domain/market/book.ts';

export type Side = 'buy' | 'sell';

/** A resting plain limit order. */
export class PlainOrder<K> implements Linked<number, PlainOrder<K>> {
  prev: PlainOrder<K> | null = null;
  next: PlainOrder<K> | null = null;
  level: Level<number, PlainOrder<K>> | null = null;
  constructor(
    public id: K,
    public side: Side,
    public price: number,
    public quantity: number,
  ) {}
}

/** Called for each trade in plain mode: maker is the resting order, taker the incoming one. */
export type TradeListener<K> = (makerId: K, takerId: K, price: number, quantity: number) => void;

/**
 * A plain price-time priority limit order book: integer prices and quantities, partial fills, the
 * unfilled remainder rests, trades at the resting order's price. Nothing is allocated per trade;
 * `onTrade` is optional.
 */
export class LimitOrderBook<K = string> {
  readonly bids = new Ladder<number, PlainOrder<K>>(false);
  readonly asks = new Ladder<number, PlainOrder<K>>(true);
  private readonly orders = new Map<K, PlainOrder<K>>();
  /** Total quantity traded since creation. */
  tradedQuantity = 0;
  /** Number of maker fills since creation. */
  tradeCount = 0;
  onTrade: TradeListener<K> | null = null;

  /** Number of resting orders. */
  get size(): number {
    return this.orders.size;
  }

  /**
   * Places a limit order: trades against the opposite side while prices cross, then rests the
   * remainder. Returns the quantity traded, or -1 when the id is already resting or the input is bad.
   */
  limit(id: K, side: Side, price: number, quantity: number): number {
    if (!(quantity > 0) || this.orders.has(id)) return -1;
    const buy = side === 'buy';
    const opposite = buy ? this.asks : this.bids;
    let left = quantity;
    const listener = this.onTrade;
    const levels = opposite.levels;
    while (left > 0) {
      const level = levels[levels.length - 1];
      if (level === undefined) break;
      if (buy ? level.price > price : level.price < price) break;
      let maker = level.head;
      while (maker !== null && left > 0) {
        const next = maker.next;
        const q = maker.quantity <= left ? maker.quantity : left;
        left -= q;
        maker.quantity -= q;
        level.quantity -= q;
        this.tradeCount++;
        if (listener !== null) listener(maker.id, id, level.price, q);
        if (maker.quantity === 0) {
          this.orders.delete(maker.id);
          opposite.unlink(maker); // may drop the level when it empties
        }
        maker = next;
      }
    }
    const traded = quantity - left;
    this.tradedQuantity += traded;
    if (left > 0) {
      const order = new PlainOrder<K>(id, side, price, left);
      const own = buy ? this.bids : this.asks;
      own.append(order, price);
      order.level!.quantity += left;
      this.orders.set(id, order);
    }
    return traded;
  }

  /** Cancels a resting order; false when there is none with this id. */
  cancel(id: K): boolean {
    const order = this.orders.get(id);
    if (order === undefined) return false;
    this.orders.delete(id);
    order.level!.quantity -= order.quantity;
    (order.side === 'buy' ? this.bids : this.asks).unlink(order);
    return true;
  }

  /** The resting order with this id, if any (live object: do not modify). */
  get(id: K): PlainOrder<K> | undefined {
    return this.orders.get(id);
  }

  /** Best bid price, or null. */
  bestBid(): number | null {
    return this.bids.best()?.price ?? null;
  }

  /** Best ask price, or null. */
  bestAsk(): number | null {
    return this.asks.best()?.price ?? null;
  }

  /** Aggregated levels, best first: [price, quantity, orders]. */
  depth(levels = Infinity): { bids: [number, number, number][]; asks: [number, number, number][] } {
    const side = (ladder: Ladder<number, PlainOrder<K>>) => {
      const out: [number, number, number][] = [];
      for (let i = ladder.levels.length - 1; i >= 0 && out.length < levels; i--) {
        const l = ladder.levels[i]!;
        out.push([l.price, l.quantity, l.count]);
      }
      return out;
    };
    return { bids: side(this.bids), asks: side(this.asks) };
  }

  /** Resting orders of one side in priority order (for tests and snapshots). */
  ordersOf(side: Side): { id: K; price: number; quantity: number }[] {
    const out: { id: K; price: number; quantity: number }[] = [];
    (side === 'buy' ? this.bids : this.asks).forEach((o) => {
      out.push({ id: o.id, price: o.price, quantity: o.quantity });
    });
    return out;
  }
}
