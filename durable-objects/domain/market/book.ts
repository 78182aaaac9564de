/**
 * The matching engine's data structures: price levels kept sorted (best level last, so removing the
 * best is a pop), each level a FIFO of orders in an intrusive doubly linked list (O(1) append and
 * unlink, no per-level arrays), and a Map from price to level for O(1) lookup.
 *
 * The market decider (state.ts) keeps asks and bids in `Ladder`s and adds slot, replica and
 * attribute constraints on top; test/support/limit-order-book.ts drives them as a plain limit-order
 * book (the ladder's own test subject, and the benchmark's).
 */

/** A price that orders totally: plain mode uses integers, the market uses bigint base units. */
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
  /** A plain limit-order book keeps the level's resting quantity here; the market leaves it at 0. */
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
