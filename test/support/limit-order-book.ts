// A plain price-time priority limit-order book: test-only (no market uses it). book.test.ts checks
// it against a naive book, and the order book benchmark times it against the package
// nodejs-order-book. It keeps its own ladder of linked order objects (the market's ladder in
// durable-objects/domain/market/book.ts indexes integer order slots instead).

/** A price that orders totally. */
export type Price = number | bigint;

/** An order that can sit in a level: the engine owns these link fields. */
export interface Linked<P extends Price, N extends Linked<P, N>> {
  prev: N | null;
  next: N | null;
  level: Level<P, N> | null;
}

/** One price level: a FIFO of orders (head = oldest). */
export class Level<P extends Price, N extends Linked<P, N>> {
  head: N | null = null;
  tail: N | null = null;
  count = 0;
  /** The level's resting quantity. */
  quantity = 0;
  constructor(readonly price: P) {}
}

/**
 * One side of a book: levels sorted so that the best price is last. `ascending` means lower prices
 * are better (asks); otherwise higher prices are better (bids).
 */
export class Ladder<P extends Price, N extends Linked<P, N>> {
  /** Levels, worst first, best last. */
  readonly levels: Level<P, N>[] = [];
  private readonly byPrice = new Map<P, Level<P, N>>();
  size = 0;

  constructor(readonly ascending: boolean) {}

  /** The best level, or undefined when the side is empty. */
  best(): Level<P, N> | undefined {
    return this.levels[this.levels.length - 1];
  }

  /** The level at exactly this price, if any. */
  level(price: P): Level<P, N> | undefined {
    return this.byPrice.get(price);
  }

  /** Appends an order at the back of its price level (creating the level when needed). */
  append(node: N, price: P): void {
    let level = this.byPrice.get(price);
    if (level === undefined) level = this.addLevel(price);
    node.level = level;
    node.next = null;
    node.prev = level.tail;
    if (level.tail === null) level.head = node;
    else level.tail.next = node;
    level.tail = node;
    level.count++;
    this.size++;
  }

  /** Unlinks an order from its level in O(1); an emptied level is dropped. */
  unlink(node: N): void {
    const level = node.level;
    if (level === null) return;
    const { prev, next } = node;
    if (prev === null) level.head = next;
    else prev.next = next;
    if (next === null) level.tail = prev;
    else next.prev = prev;
    node.prev = null;
    node.next = null;
    node.level = null;
    level.count--;
    this.size--;
    if (level.count === 0) this.dropLevel(level);
  }

  /** Calls fn for each order in priority order (best price first, oldest first); stops when fn returns false. */
  forEach(fn: (node: N) => boolean | void): void {
    const levels = this.levels;
    for (let i = levels.length - 1; i >= 0; i--) {
      for (let n = levels[i]!.head; n !== null; ) {
        const next = n.next;
        if (fn(n) === false) return;
        n = next;
      }
    }
  }

  /** True when price a is strictly better than price b on this side. */
  better(a: P, b: P): boolean {
    return this.ascending ? a < b : a > b;
  }

  private addLevel(price: P): Level<P, N> {
    const level = new Level<P, N>(price);
    const levels = this.levels;
    // Levels run worst..best; find the first index whose price is better than the new one.
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.better(levels[mid]!.price, price)) hi = mid;
      else lo = mid + 1;
    }
    if (lo === levels.length) levels.push(level);
    else levels.splice(lo, 0, level);
    this.byPrice.set(price, level);
    return level;
  }

  private dropLevel(level: Level<P, N>): void {
    this.byPrice.delete(level.price);
    const levels = this.levels;
    const last = levels.length - 1;
    if (levels[last] === level) {
      levels.pop();
      return;
    }
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.better(levels[mid]!.price, level.price)) hi = mid;
      else lo = mid + 1;
    }
    // lo is just past the level (levels are unique by price).
    const at = levels[lo - 1] === level ? lo - 1 : levels.indexOf(level);
    levels.splice(at, 1);
  }
}

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
