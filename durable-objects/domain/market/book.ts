/**
 * One side of the market's book: price levels kept sorted (best level last, so removing the best is
 * a pop), each level a FIFO of orders in a doubly linked list (O(1) append and unlink), and a Map
 * from price to level.
 *
 * Orders are integer slots (state.ts owns what a slot holds) and levels are integers too: the links
 * and the levels live in typed arrays, so that a book of hundreds of thousands of orders is a few
 * flat arrays the garbage collector does not walk, rather than an object per order and per level.
 * An order's three links sit side by side (one cache line holds four orders' links): walking or
 * unlinking an order of a large book reads one line, not one per link array. Prices are bigint base
 * units of any size: the Map gives each distinct price its level number.
 */

/** No order, no level. */
export const NIL = -1;

/** Per order slot: [prev, next, level, unused]. */
const LINK = 4;
const PREV = 0;
const NEXT = 1;
const LEVEL = 2;

function grown(a: Int32Array, size: number, fill: number): Int32Array {
  const b = new Int32Array(size);
  b.set(a);
  b.fill(fill, a.length);
  return b;
}

/**
 * The links of order slots, [prev, next, level, unused] per slot. The two sides of a book share one
 * (an order is on one side at most), so a large book keeps one array of links, not two.
 */
export class Links {
  link: Int32Array = new Int32Array(0);

  /** Makes room for order slots below `slots`. */
  reserve(slots: number): void {
    if (slots * LINK <= this.link.length) return;
    let n = Math.max(1024, this.link.length / LINK);
    while (n < slots) n *= 2;
    this.link = grown(this.link, n * LINK, NIL);
  }
}

export class Ladder {
  /** Per level number: its price, oldest and newest order, and how many orders it holds. */
  readonly price: bigint[] = [];
  head: Int32Array = new Int32Array(0);
  tail: Int32Array = new Int32Array(0);
  count: Int32Array = new Int32Array(0);
  /** Level numbers in use, worst first, best last. */
  readonly levels: number[] = [];
  /** Orders on this side. */
  size = 0;
  /**
   * Level number by price: of the levels in use, and of emptied levels kept idle (count 0, not in
   * `levels`) until their price comes back. At the best price a level empties and comes back over
   * and over (a crossing order takes the one order there, the next order at that price brings the
   * level back: a quarter of a million times in the bench's million commands), and deleting the
   * price from this Map and setting it again each time was most of what placing such an order cost.
   * Idle levels are forgotten in one sweep once they outnumber MAX_IDLE plus the levels in use.
   */
  private readonly byPrice = new Map<bigint, number>();
  private readonly freeLevels: number[] = [];
  private idle = 0;

  /**
   * `ascending`: lower prices are better (asks); otherwise higher prices are (bids). `links` may be
   * shared with the other side of the book.
   */
  constructor(
    readonly ascending: boolean,
    private readonly links: Links = new Links(),
  ) {
    this.side = ascending ? 0 : 1;
  }

  /** Links record an order's level as level * 2 + side, so that either side can tell its own orders. */
  private readonly side: number;

  /** Makes room for order slots below `slots`. */
  reserve(slots: number): void {
    this.links.reserve(slots);
  }

  /** The best level, or NIL when the side is empty. */
  best(): number {
    const levels = this.levels;
    return levels.length === 0 ? NIL : levels[levels.length - 1]!;
  }

  /** The level in use at exactly this price, or NIL. */
  level(price: bigint): number {
    const level = this.byPrice.get(price);
    return level === undefined || this.count[level] === 0 ? NIL : level;
  }

  /** The order after `node` in its level, or NIL. */
  next(node: number): number {
    return this.links.link[node * LINK + NEXT]!;
  }

  /** True while the order is on this side. */
  has(node: number): boolean {
    const link = this.links.link;
    if (node * LINK >= link.length) return false;
    const tag = link[node * LINK + LEVEL]!;
    return tag !== NIL && (tag & 1) === this.side;
  }

  /**
   * Appends an order at the back of its price level (creating the level when needed). Returns the
   * level's own bigint for this price, which the caller may keep instead of its equal one: orders
   * at one price then share one object rather than each keeping its command's.
   */
  append(node: number, price: bigint): bigint {
    this.reserve(node + 1);
    let level = this.byPrice.get(price);
    if (level === undefined) level = this.addLevel(price);
    else if (this.count[level] === 0) {
      this.idle--;
      this.wake(level);
    }
    const link = this.links.link;
    const tail = this.tail[level]!;
    const at = node * LINK;
    link[at + LEVEL] = (level << 1) | this.side;
    link[at + NEXT] = NIL;
    link[at + PREV] = tail;
    if (tail === NIL) this.head[level] = node;
    else link[tail * LINK + NEXT] = node;
    this.tail[level] = node;
    this.count[level] = this.count[level]! + 1;
    this.size++;
    return this.price[level]!;
  }

  /** Unlinks an order from its level in O(1) (nothing when it is not on this side); an emptied level is dropped. */
  unlink(node: number): void {
    const link = this.links.link;
    const at = node * LINK;
    if (at >= link.length) return;
    const tag = link[at + LEVEL]!;
    if (tag === NIL || (tag & 1) !== this.side) return;
    const level = tag >> 1;
    const prev = link[at + PREV]!;
    const next = link[at + NEXT]!;
    if (prev === NIL) this.head[level] = next;
    else link[prev * LINK + NEXT] = next;
    if (next === NIL) this.tail[level] = prev;
    else link[next * LINK + PREV] = prev;
    link[at + PREV] = NIL;
    link[at + NEXT] = NIL;
    link[at + LEVEL] = NIL;
    this.size--;
    const left = this.count[level]! - 1;
    this.count[level] = left;
    if (left === 0) this.dropLevel(level);
  }

  /** Calls fn for each order in priority order (best price first, oldest first); stops when fn returns false. */
  forEach(fn: (node: number) => boolean | void): void {
    const levels = this.levels;
    for (let i = levels.length - 1; i >= 0; i--) {
      for (let n = this.head[levels[i]!]!; n !== NIL; ) {
        const next = this.next(n);
        if (fn(n) === false) return;
        n = next;
      }
    }
  }

  /** True when price a is strictly better than price b on this side. */
  better(a: bigint, b: bigint): boolean {
    return this.ascending ? a < b : a > b;
  }

  /** Where a level of this price sits in `levels`: the first index whose price is better. */
  private rank(price: bigint): number {
    const levels = this.levels;
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.better(this.price[levels[mid]!]!, price)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private addLevel(price: bigint): number {
    let level = this.freeLevels.pop();
    if (level === undefined) {
      level = this.price.length;
      this.price.push(price);
      if (level >= this.head.length) {
        const n = Math.max(64, 2 * this.head.length);
        this.head = grown(this.head, n, NIL);
        this.tail = grown(this.tail, n, NIL);
        this.count = grown(this.count, n, 0);
      }
    } else {
      this.price[level] = price;
    }
    this.byPrice.set(price, level);
    this.wake(level);
    return level;
  }

  /** Puts a new or idle (empty) level in `levels`, in its place by price. */
  private wake(level: number): void {
    this.head[level] = NIL;
    this.tail[level] = NIL;
    const levels = this.levels;
    const at = this.rank(this.price[level]!);
    if (at === levels.length) levels.push(level);
    else levels.splice(at, 0, level);
  }

  /** Takes an emptied level out of `levels`; it stays idle under its price. */
  private dropLevel(level: number): void {
    const price = this.price[level]!;
    if (++this.idle > MAX_IDLE + this.levels.length) this.forgetIdle();
    const levels = this.levels;
    if (levels[levels.length - 1] === level) {
      levels.pop();
      return;
    }
    // rank() is just past the level (levels are unique by price).
    const at = this.rank(price) - 1;
    levels.splice(levels[at] === level ? at : levels.indexOf(level), 1);
  }

  /** Forgets every idle level (the one being dropped too: it has no orders left). */
  private forgetIdle(): void {
    for (const [price, level] of this.byPrice) {
      if (this.count[level] !== 0) continue;
      this.byPrice.delete(price);
      this.freeLevels.push(level);
    }
    this.idle = 0;
  }
}

/** Idle levels kept beyond the number in use (see Ladder.byPrice). */
const MAX_IDLE = 64;
