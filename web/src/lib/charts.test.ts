import { describe, expect, it } from 'vitest';
import {
  amountDomain,
  amountTicks,
  decimalsForStep,
  depthGeometry,
  depthSeries,
  depthSummary,
  focusDepth,
  niceAmountStep,
  niceCeiling,
  numberTicks,
  priceGeometry,
  priceSummary,
  scaleAmount,
  spreadOf,
  timeLabel,
  timeStep,
  timeTicks,
  type Box,
} from './charts.ts';

const BOX: Box = { width: 400, height: 200, top: 10, right: 10, bottom: 30, left: 40 };
const DOUG = 1_000_000_000n;

describe('depth series from book levels', () => {
  it('accumulates slots from the best price outward on each side', () => {
    const s = depthSeries({
      bids: [
        { price: '9000000', orders: 1, slots: 2 },
        { price: '10000000', orders: 1, slots: 1 },
        { price: '9500000', orders: 2, slots: 3 },
      ],
      asks: [
        { price: '15000000', orders: 1, freeSlots: 2 },
        { price: '12000000', orders: 1, freeSlots: 1 },
        { price: '13500000', orders: 2, freeSlots: 8 },
      ],
    });
    expect(s.bids.map((b) => [b.price, b.cumulative])).toEqual([
      [10_000_000n, 1],
      [9_500_000n, 4],
      [9_000_000n, 6],
    ]);
    expect(s.asks.map((a) => [a.price, a.slots, a.cumulative])).toEqual([
      [12_000_000n, 1, 1],
      [13_500_000n, 8, 9],
      [15_000_000n, 2, 11],
    ]);
  });

  it('merges levels at one price and drops malformed or empty ones', () => {
    const s = depthSeries({
      bids: [
        { price: '5', orders: 1, slots: 1 },
        { price: '5', orders: 2, slots: 2 },
        { price: '1.5', orders: 1, slots: 1 },
        { price: '4', orders: 1, slots: 0 },
      ],
    });
    expect(s.bids).toEqual([{ price: 5n, orders: 3, slots: 3, cumulative: 3 }]);
    expect(s.asks).toEqual([]);
  });

  it('reads prices beyond 2^53 exactly', () => {
    const s = depthSeries({ asks: [{ price: '18446744073709551615', freeSlots: 1 }] });
    expect(s.asks[0]!.price).toBe(18446744073709551615n);
  });

  it('handles a missing book', () => {
    expect(depthSeries(null)).toEqual({ bids: [], asks: [] });
  });
});

describe('spread and mid', () => {
  it('is the best ask minus the best bid', () => {
    const s = depthSeries({ bids: [{ price: '100', slots: 1 }], asks: [{ price: '105', freeSlots: 1 }] });
    expect(spreadOf(s)).toEqual({ bestBid: 100n, bestAsk: 105n, spread: 5n, mid: 102n });
  });
  it('is null when a side is empty', () => {
    expect(spreadOf(depthSeries({ asks: [{ price: '105', freeSlots: 1 }] })).spread).toBeNull();
  });
});

describe('price domain and scaling', () => {
  it('pads the range and never goes below zero', () => {
    expect(amountDomain([100n, 200n])).toEqual({ min: 95n, max: 205n });
    expect(amountDomain([0n, 100n])).toEqual({ min: 0n, max: 105n });
  });
  it('widens a single price so it can be drawn', () => {
    expect(amountDomain([1000n, 1000n])).toEqual({ min: 900n, max: 1100n });
    expect(amountDomain([0n])).toEqual({ min: 0n, max: 1n });
  });
  it('is null for no prices', () => {
    expect(amountDomain([])).toBeNull();
  });
  it('maps amounts linearly and a one-point domain to the middle', () => {
    expect(scaleAmount(150n, { min: 100n, max: 200n }, 0, 400)).toBe(200);
    expect(scaleAmount(5n, { min: 5n, max: 5n }, 0, 400)).toBe(200);
  });
});

describe('nice ticks', () => {
  it('chooses 1, 2 or 5 × 10^k steps in base units', () => {
    expect(niceAmountStep(6_000_000n, 5)).toBe(2_000_000n);
    expect(niceAmountStep(10n, 5)).toBe(2n);
    expect(niceAmountStep(0n, 5)).toBe(1n);
    expect(niceAmountStep(DOUG, 4)).toBe(500_000_000n);
  });
  it('labels ticks in DOUG with the places the step needs', () => {
    expect(decimalsForStep(500_000n)).toBe(4);
    expect(decimalsForStep(1n)).toBe(9);
    expect(decimalsForStep(DOUG)).toBe(0);
    const ticks = amountTicks({ min: 9_000_000n, max: 15_000_000n }, 4, 0, 300);
    expect(ticks.map((t) => t.label)).toEqual(['0.01', '0.012', '0.014']);
    expect(ticks[0]!.value).toBe(10_000_000n);
  });
  it('gives whole-number ticks for counts', () => {
    expect(numberTicks(0, 8, 4, { integer: true })).toEqual([0, 2, 4, 6, 8]);
    expect(numberTicks(0, 1, 4, { integer: true })).toEqual([0, 1]);
    expect(numberTicks(0, 1, 4)).toEqual([0, 0.5, 1]);
    expect(numberTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(numberTicks(5, 1, 4)).toEqual([]);
  });
  it('rounds a count axis up to a tick', () => {
    expect(niceCeiling(7, 4)).toBe(8);
    expect(niceCeiling(3, 4)).toBe(3);
    expect(niceCeiling(0, 4)).toBe(1);
  });
  it('steps time in clock units and labels it to fit', () => {
    expect(timeStep(10 * 60_000, 5)).toBe(2 * 60_000);
    expect(timeStep(20_000, 5)).toBe(5_000);
    const at = new Date(2026, 10, 27, 14, 5, 30).getTime();
    expect(timeLabel(at, 5_000)).toBe('14:05:30');
    expect(timeLabel(at, 60_000)).toBe('14:05');
    const ticks = timeTicks(at, at + 10 * 60_000, 5, 0, 100);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const t of ticks) expect(t.value % (2 * 60_000)).toBe(0);
  });
});

describe('depth geometry', () => {
  const series = depthSeries({
    bids: [
      { price: '100', slots: 2 },
      { price: '90', slots: 2 },
    ],
    asks: [{ price: '110', freeSlots: 3 }],
  });
  const g = depthGeometry(series, BOX)!;

  it('draws bids as a step from the best bid out to the left edge', () => {
    // Prices 89..111 (5 % padding) over x 40..390; depth 0..4 over y 170..10.
    expect(g.bidLine).toBe('M215 170 V90 H55.9 V10 H40');
    expect(g.bidArea).toBe('M215 170 V90 H55.9 V10 H40 V170 Z');
  });
  it('draws asks from the best ask out to the right edge', () => {
    expect(g.askLine).toBe('M374.1 170 V50 H390');
  });
  it('marks the mid price between the sides', () => {
    expect(g.midX).toBeCloseTo(40 + (350 * 16) / 22, 6);
    expect(g.spread).toBe(10n);
  });
  it('labels the depth axis in whole slots up to a nice ceiling', () => {
    expect(g.maxDepth).toBe(4);
    expect(g.yTicks.map((t) => t.value)).toEqual([0, 1, 2, 3, 4]);
  });
  it('is null for an empty book', () => {
    expect(depthGeometry(depthSeries({ bids: [], asks: [] }), BOX)).toBeNull();
  });
  it('draws a one-level book in the middle, without a mid marker', () => {
    const one = depthGeometry(depthSeries({ asks: [{ price: '1000', freeSlots: 1 }] }), BOX)!;
    expect(one.askLine).toBe('M215 170 V10 H390');
    expect(one.bidLine).toBe('');
    expect(one.midX).toBeNull();
  });
  it('keeps every coordinate inside the box', () => {
    for (const path of [g.bidArea, g.askArea]) {
      for (const n of path.match(/-?[0-9.]+/g)!.map(Number)) {
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThanOrEqual(BOX.width);
      }
    }
  });
});

describe('price geometry', () => {
  it('joins trades in time order', () => {
    const g = priceGeometry(
      [
        { at: 3000, price: '300' },
        { at: 1000, price: '100' },
        { at: 2000, price: '200' },
      ],
      BOX,
    )!;
    expect(g.points.map((p) => p.at)).toEqual([1000, 2000, 3000]);
    expect(g.points[0]!.x).toBe(40);
    expect(g.points[2]!.x).toBe(390);
    // Higher prices sit higher (smaller y).
    expect(g.points[2]!.y).toBeLessThan(g.points[0]!.y);
    expect(g.line.startsWith('M40 ')).toBe(true);
    expect(g.line.split('L')).toHaveLength(3);
  });
  it('centres a single trade and gives it a time range', () => {
    const g = priceGeometry([{ at: 60_000_000, price: '5000000' }], BOX)!;
    expect(g.points[0]!.x).toBe(215);
    expect(g.points[0]!.y).toBe(90);
    expect(g.xTicks.length).toBeGreaterThan(0);
  });
  it('skips malformed prices and is null without trades', () => {
    expect(priceGeometry([{ at: 1, price: 'x' }], BOX)).toBeNull();
    expect(priceGeometry([], BOX)).toBeNull();
  });
});

describe('accessible summaries', () => {
  it('sums up the book', () => {
    const s = depthSeries({
      bids: [
        { price: '100000000', slots: 1 },
        { price: '90000000', slots: 1 },
        { price: '80000000', slots: 1 },
      ],
      asks: [
        { price: '100100000', freeSlots: 1 },
        { price: '110000000', freeSlots: 1 },
      ],
    });
    expect(depthSummary(s)).toBe('Depth: 3 bid levels, 2 ask levels, spread 0.0001 DOUG');
    expect(depthSummary(depthSeries({ asks: [{ price: '1', freeSlots: 1 }] }))).toBe('Depth: 0 bid levels, 1 ask level');
  });
  it('sums up the trades', () => {
    expect(
      priceSummary([
        { at: 2, price: '12000000' },
        { at: 1, price: '13500000' },
      ]),
    ).toBe('Trade prices: 2 trades from 0.012 to 0.0135 DOUG, last 0.012 DOUG');
    expect(priceSummary([{ at: 1, price: '12000000' }])).toBe('Trade prices: 1 trade at 0.012 DOUG, last 0.012 DOUG');
    expect(priceSummary([])).toBe('Trade prices: no trades yet');
  });
});

describe('focusing the depth chart', () => {
  const series = depthSeries({
    bids: [
      { price: '10000000', slots: 1 },
      { price: '9000000', slots: 2 },
      { price: '1000', slots: 5 },
    ],
    asks: [
      { price: '12000000', freeSlots: 4 },
      { price: '15000000', freeSlots: 2 },
      { price: '7500000000', freeSlots: 1 },
    ],
  });
  it('leaves out levels beyond half and twice the mid', () => {
    const { series: focused, hidden } = focusDepth(series);
    expect(focused.bids.map((b) => b.price)).toEqual([10_000_000n, 9_000_000n]);
    expect(focused.asks.map((a) => [a.price, a.cumulative])).toEqual([
      [12_000_000n, 4],
      [15_000_000n, 6],
    ]);
    expect(hidden).toEqual({ bids: 1, asks: 1 });
  });
  it('scales the chart to what it draws', () => {
    const g = depthGeometry(series, BOX)!;
    expect(g.hidden).toEqual({ bids: 1, asks: 1 });
    expect(g.maxDepth).toBe(6);
    expect(g.xTicks.every((t) => t.value <= 16_000_000n)).toBe(true);
  });
  it('always keeps the best bid and best ask, however wide the spread', () => {
    const wide = depthSeries({ bids: [{ price: '1', slots: 1 }], asks: [{ price: '1000000000', freeSlots: 1 }] });
    expect(focusDepth(wide).hidden).toEqual({ bids: 0, asks: 0 });
  });
});
