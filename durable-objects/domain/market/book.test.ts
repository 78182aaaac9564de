import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LimitOrderBook, type Side } from '../../../test/support/limit-order-book.ts';
import { Ladder, NIL } from './book.ts';

type Trade = [maker: number, taker: number, price: number, quantity: number];

function bookWithTrades() {
  const book = new LimitOrderBook<number>();
  const trades: Trade[] = [];
  book.onTrade = (m, t, p, q) => trades.push([m, t, p, q]);
  return { book, trades };
}

describe('a plain limit order book', () => {
  it('rests non-crossing orders on their side, best first', () => {
    const { book } = bookWithTrades();
    book.limit(1, 'buy', 99, 5);
    book.limit(2, 'buy', 100, 3);
    book.limit(3, 'sell', 101, 4);
    expect(book.bestBid()).toBe(100);
    expect(book.bestAsk()).toBe(101);
    expect(book.depth()).toEqual({ bids: [[100, 3, 1], [99, 5, 1]], asks: [[101, 4, 1]] });
  });

  it('fills a crossing order across levels at the resting prices, partially filling the last maker', () => {
    const { book, trades } = bookWithTrades();
    book.limit(1, 'sell', 101, 2);
    book.limit(2, 'sell', 102, 5);
    expect(book.limit(3, 'buy', 105, 4)).toBe(4);
    expect(trades).toEqual([
      [1, 3, 101, 2],
      [2, 3, 102, 2],
    ]);
    expect(book.ordersOf('sell')).toEqual([{ id: 2, price: 102, quantity: 3 }]);
    expect(book.tradedQuantity).toBe(4);
  });

  it('rests the unfilled remainder of a crossing order', () => {
    const { book } = bookWithTrades();
    book.limit(1, 'sell', 101, 2);
    expect(book.limit(2, 'buy', 101, 5)).toBe(2);
    expect(book.ordersOf('buy')).toEqual([{ id: 2, price: 101, quantity: 3 }]);
    expect(book.bestAsk()).toBeNull();
  });

  it('fills earlier orders first at one price', () => {
    const { book, trades } = bookWithTrades();
    book.limit(1, 'buy', 100, 1);
    book.limit(2, 'buy', 100, 1);
    book.limit(3, 'sell', 100, 1);
    expect(trades).toEqual([[1, 3, 100, 1]]);
  });

  it('cancels in the middle of a level and keeps the rest in order', () => {
    const { book, trades } = bookWithTrades();
    for (const id of [1, 2, 3]) book.limit(id, 'sell', 101, 1);
    expect(book.cancel(2)).toBe(true);
    expect(book.cancel(2)).toBe(false);
    book.limit(4, 'buy', 101, 2);
    expect(trades.map((t) => t[0])).toEqual([1, 3]);
    expect(book.size).toBe(0);
  });

  it('refuses a duplicate id and a non-positive quantity', () => {
    const { book } = bookWithTrades();
    book.limit(1, 'buy', 100, 1);
    expect(book.limit(1, 'buy', 100, 1)).toBe(-1);
    expect(book.limit(2, 'buy', 100, 0)).toBe(-1);
    expect(book.size).toBe(1);
  });
});

describe('a ladder', () => {
  it('keeps levels sorted and drops empty ones wherever they are', () => {
    const ladder = new Ladder(true);
    [5n, 3n, 9n, 7n].forEach((p, node) => ladder.append(node, p));
    expect(ladder.levels.map((l) => ladder.price[l])).toEqual([9n, 7n, 5n, 3n]);
    ladder.unlink(3); // 7n, in the middle
    expect(ladder.levels.map((l) => ladder.price[l])).toEqual([9n, 5n, 3n]);
    expect(ladder.price[ladder.best()]).toBe(3n);
    expect(ladder.level(7n)).toBe(NIL);
    expect(ladder.has(3)).toBe(false);
  });

  it('keeps an emptied level idle under its price, and forgets idle levels once they outnumber those in use by 64', () => {
    const ladder = new Ladder(false);
    ladder.append(0, 50n); // in use throughout
    for (let i = 1; i <= 1_000; i++) {
      ladder.append(i, BigInt(100 + i));
      ladder.unlink(i);
      expect(ladder.level(BigInt(100 + i))).toBe(NIL);
      expect(ladder.levels.length).toBe(1);
    }
    // Level numbers ever made: the one in use, the one being filled and emptied, and the idle ones, at
    // most 64 more than the levels in use when a level empties (sweeps free the rest for reuse).
    expect(ladder.price.length).toBeLessThanOrEqual(2 + 64 + 2);
    // An idle level (the last price) and new ones come back in their place by price, orders in arrival order.
    for (const [node, price] of [[2_001, 1_100n], [2_002, 60n], [2_003, 40n], [2_004, 1_100n]] as const) ladder.append(node, price);
    expect(ladder.levels.map((l) => ladder.price[l])).toEqual([40n, 50n, 60n, 1_100n]);
    const seen: number[] = [];
    ladder.forEach((n) => {
      seen.push(n);
    });
    expect(seen).toEqual([2_001, 2_004, 2_002, 0, 2_003]);
    expect(ladder.level(1_100n)).not.toBe(NIL);
  });

  it('orders like a sorted list by (price, arrival) through appends and unlinks, for prices of any size, reusing levels', () => {
    // Prices beyond 2^64 too: the ladder must not assume they fit a machine word.
    const price = fc.oneof(fc.bigInt({ min: 1n, max: 6n }), fc.constantFrom(2n ** 64n, 2n ** 64n + 1n, 10n ** 30n));
    const op = fc.oneof(fc.record({ add: fc.constant(true as const), price }), fc.record({ add: fc.constant(false as const), pick: fc.nat() }));
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 300 }), (ascending, ops) => {
        const ladder = new Ladder(ascending);
        let naive: { node: number; price: bigint; t: number }[] = [];
        let t = 0;
        let free: number[] = [];
        let nextNode = 0;
        for (const o of ops) {
          if (o.add) {
            const node = free.pop() ?? nextNode++;
            ladder.append(node, o.price);
            naive.push({ node, price: o.price, t: t++ });
          } else if (naive.length > 0) {
            const gone = naive[o.pick % naive.length]!;
            ladder.unlink(gone.node);
            naive = naive.filter((n) => n !== gone);
            free = [...free, gone.node];
          }
          const expected = [...naive]
            .sort((a, b) => (a.price === b.price ? a.t - b.t : (a.price < b.price) === ascending ? -1 : 1))
            .map((n) => n.node);
          const seen: number[] = [];
          ladder.forEach((n) => {
            seen.push(n);
          });
          expect(seen).toEqual(expected);
          expect(ladder.size).toBe(naive.length);
          expect(ladder.levels.length).toBe(new Set(naive.map((n) => n.price)).size);
          for (const p of [1n, 2n, 3n, 4n, 5n, 6n, 2n ** 64n]) expect(ladder.level(p) !== NIL).toBe(naive.some((n) => n.price === p));
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The obviously correct book: one array per side, sorted on every read. */
class NaiveBook {
  orders: { id: number; side: Side; price: number; quantity: number; t: number }[] = [];
  t = 0;
  limit(id: number, side: Side, price: number, quantity: number, trades: Trade[]): void {
    let left = quantity;
    for (;;) {
      const makers = this.orders
        .filter((o) => o.side !== side && (side === 'buy' ? o.price <= price : o.price >= price))
        .sort((a, b) => (side === 'buy' ? a.price - b.price : b.price - a.price) || a.t - b.t);
      const m = makers[0];
      if (!m || left === 0) break;
      const q = Math.min(left, m.quantity);
      trades.push([m.id, id, m.price, q]);
      m.quantity -= q;
      left -= q;
      if (m.quantity === 0) this.orders = this.orders.filter((o) => o !== m);
    }
    if (left > 0) this.orders.push({ id, side, price, quantity: left, t: this.t++ });
  }
  cancel(id: number): void {
    this.orders = this.orders.filter((o) => o.id !== id);
  }
  side(side: Side) {
    return this.orders
      .filter((o) => o.side === side)
      .sort((a, b) => (side === 'buy' ? b.price - a.price : a.price - b.price) || a.t - b.t)
      .map(({ id, price, quantity }) => ({ id, price, quantity }));
  }
}

describe('the plain book against the naive book', () => {
  it('trades and rests identically for random adds and cancels', () => {
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('limit' as const), side: fc.constantFrom<Side>('buy', 'sell'), price: fc.integer({ min: 95, max: 105 }), quantity: fc.integer({ min: 1, max: 6 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), target: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const { book, trades } = bookWithTrades();
        const naive = new NaiveBook();
        const naiveTrades: Trade[] = [];
        ops.forEach((o, id) => {
          if (o.kind === 'limit') {
            book.limit(id, o.side, o.price, o.quantity);
            naive.limit(id, o.side, o.price, o.quantity, naiveTrades);
          } else {
            const target = id === 0 ? 0 : o.target % id;
            book.cancel(target);
            naive.cancel(target);
          }
        });
        expect(trades).toEqual(naiveTrades);
        expect(book.ordersOf('buy')).toEqual(naive.side('buy'));
        expect(book.ordersOf('sell')).toEqual(naive.side('sell'));
        expect(book.size).toBe(naive.orders.length);
        const bid = book.bestBid();
        const ask = book.bestAsk();
        if (bid !== null && ask !== null) expect(bid).toBeLessThan(ask);
      }),
      { numRuns: 500 },
    );
  });
});
