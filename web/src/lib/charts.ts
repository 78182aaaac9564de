import { DECIMALS, parseAmount, type Amount } from '$domain/money.ts';
import { doug } from './format.ts';

/**
 * Chart geometry for the portal's inline SVG charts: order-book depth and trade prices. Prices stay
 * bigint base units; they become `number` only as plotting coordinates, never for arithmetic on money.
 */

/** A book level as the API sends it: bids count `slots`, asks count `freeSlots`. */
export interface WireLevel {
  price: string;
  orders?: number;
  slots?: number;
  freeSlots?: number;
}

/** One price level of a side, with the slots offered from the best price out to it. */
export interface DepthStep {
  price: Amount;
  orders: number;
  slots: number;
  cumulative: number;
}

/** Both sides, each ordered from its best price outward (bids high to low, asks low to high). */
export interface DepthSeries {
  bids: DepthStep[];
  asks: DepthStep[];
}

/** The plotting area inside a viewBox: its size and the margins kept for axes. */
export interface Box {
  width: number;
  height: number;
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface AmountDomain {
  min: Amount;
  max: Amount;
}

export interface Tick<T> {
  /** Coordinate along the axis (x for a horizontal axis, y for a vertical one). */
  at: number;
  value: T;
  label: string;
}

/** The slots of a level, whichever name the side uses; 0 when missing or malformed. */
export function levelSlots(level: WireLevel): number {
  const n = level.slots ?? level.freeSlots ?? 0;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function side(levels: readonly WireLevel[] | undefined, order: 'desc' | 'asc'): DepthStep[] {
  const merged = new Map<Amount, { orders: number; slots: number }>();
  for (const level of levels ?? []) {
    const price = parseAmount(level.price);
    const slots = levelSlots(level);
    if (price === null || slots === 0) continue;
    const prev = merged.get(price) ?? { orders: 0, slots: 0 };
    merged.set(price, { orders: prev.orders + (level.orders ?? 0), slots: prev.slots + slots });
  }
  const prices = [...merged.keys()].sort((a, b) => (a === b ? 0 : (a < b) === (order === 'asc') ? -1 : 1));
  let cumulative = 0;
  return prices.map((price) => {
    const { orders, slots } = merged.get(price)!;
    cumulative += slots;
    return { price, orders, slots, cumulative };
  });
}

/**
 * Cumulative depth per side from the book's levels: levels at the same price are merged, malformed
 * or empty levels dropped, and each side sorted from its best price outward.
 */
export function depthSeries(book: { bids?: readonly WireLevel[]; asks?: readonly WireLevel[] } | null | undefined): DepthSeries {
  return { bids: side(book?.bids, 'desc'), asks: side(book?.asks, 'asc') };
}

/** Best bid and ask, and when both exist the spread (ask − bid) and the mid price (rounded down). */
export function spreadOf(series: DepthSeries): { bestBid: Amount | null; bestAsk: Amount | null; spread: Amount | null; mid: Amount | null } {
  const bestBid = series.bids[0]?.price ?? null;
  const bestAsk = series.asks[0]?.price ?? null;
  if (bestBid === null || bestAsk === null) return { bestBid, bestAsk, spread: null, mid: null };
  return { bestBid, bestAsk, spread: bestAsk - bestBid, mid: (bestBid + bestAsk) / 2n };
}

/**
 * The price range to plot: the data's range widened by `pad` (a fraction, in percent of the span)
 * on each side, or ±10 % (at least 1 unit) around a single price. Never below zero. Null when empty.
 */
export function amountDomain(prices: readonly Amount[], padPercent = 5n): AmountDomain | null {
  if (prices.length === 0) return null;
  let min = prices[0]!;
  let max = prices[0]!;
  for (const p of prices) {
    if (p < min) min = p;
    if (p > max) max = p;
  }
  const span = max - min;
  const pad = span === 0n ? (min / 10n > 0n ? min / 10n : 1n) : (span * padPercent) / 100n;
  const low = min - pad < 0n ? 0n : min - pad;
  return { min: low, max: max + pad };
}

/** Maps an amount onto [from, to]; the middle of the range when the domain is one point. */
export function scaleAmount(value: Amount, domain: AmountDomain, from: number, to: number): number {
  const span = domain.max - domain.min;
  if (span <= 0n) return (from + to) / 2;
  return from + ((to - from) * Number(value - domain.min)) / Number(span);
}

/** Maps a number onto [from, to]; the middle of the range when min = max. */
export function scaleNumber(value: number, min: number, max: number, from: number, to: number): number {
  if (!(max > min)) return (from + to) / 2;
  return from + ((to - from) * (value - min)) / (max - min);
}

/** The smallest 1, 2 or 5 × 10^k step (base units) that cuts the range into at most `count` parts. */
export function niceAmountStep(span: Amount, count: number): Amount {
  const parts = BigInt(Math.max(1, Math.floor(count)));
  const raw = span <= 0n ? 1n : (span + parts - 1n) / parts;
  let magnitude = 1n;
  while (magnitude * 10n <= raw) magnitude *= 10n;
  for (const m of [1n, 2n, 5n, 10n]) if (m * magnitude >= raw) return m * magnitude;
  return 10n * magnitude;
}

/** Decimal places that show every multiple of `step` (base units) exactly in DOUG. */
export function decimalsForStep(step: Amount): number {
  let places = DECIMALS;
  let s = step;
  while (places > 0 && s > 0n && s % 10n === 0n) {
    s /= 10n;
    places--;
  }
  return places;
}

/** Round price ticks inside the domain, labelled in DOUG with as many places as the step needs. */
export function amountTicks(domain: AmountDomain, count: number, from: number, to: number): Tick<Amount>[] {
  const step = niceAmountStep(domain.max - domain.min, count);
  const decimals = decimalsForStep(step);
  const ticks: Tick<Amount>[] = [];
  for (let v = ((domain.min + step - 1n) / step) * step; v <= domain.max; v += step) {
    ticks.push({ at: scaleAmount(v, domain, from, to), value: v, label: doug(v, { decimals }) });
  }
  return ticks;
}

/** A 1, 2 or 5 × 10^k step for numbers; `integer` keeps it at least 1. */
export function niceStep(span: number, count: number, integer = false): number {
  const raw = span > 0 ? span / Math.max(1, count) : 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = 10 * magnitude;
  for (const m of [1, 2, 5, 10]) {
    if (m * magnitude >= raw - 1e-12 * raw) {
      step = m * magnitude;
      break;
    }
  }
  return integer ? Math.max(1, Math.round(step)) : step;
}

/** Round ticks from min to max (inclusive when they fall on a step). */
export function numberTicks(min: number, max: number, count: number, o: { integer?: boolean } = {}): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  const step = niceStep(max - min, count, o.integer);
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** The top of a count axis: the data's maximum rounded up to a tick, at least 1. */
export function niceCeiling(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const step = niceStep(max, count, true);
  return Math.ceil(max / step) * step;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [1, 2, 5, 10, 15, 30].map((s) => s * SECOND).concat([1, 2, 5, 10, 15, 30].map((m) => m * MINUTE), [1, 2, 3, 6, 12].map((h) => h * HOUR), [1, 2, 7, 14, 30].map((d) => d * DAY));

/** A step from the usual clock steps (1 s … 30 d) that cuts the span into at most `count` parts. */
export function timeStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  return TIME_STEPS.find((s) => s >= raw) ?? TIME_STEPS[TIME_STEPS.length - 1]!;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** A time label fitting the step: "14:05:30" under a minute, "14:05" under a day, "Nov 27" above. */
export function timeLabel(at: number, step: number): string {
  const d = new Date(at);
  if (step >= DAY) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return step < MINUTE ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

/** Time ticks on step boundaries inside [min, max]. */
export function timeTicks(min: number, max: number, count: number, from: number, to: number): Tick<number>[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  const step = timeStep(max - min, count);
  const ticks: Tick<number>[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) ticks.push({ at: scaleNumber(v, min, max, from, to), value: v, label: timeLabel(v, step) });
  return ticks;
}

const r = (n: number): string => String(Math.round(n * 10) / 10);

/** The geometry of a depth chart: step lines and filled areas per side, the mid marker and axes. */
export interface DepthGeometry {
  bidLine: string;
  bidArea: string;
  askLine: string;
  askArea: string;
  /** x of the mid price, when both sides have orders. */
  midX: number | null;
  spread: Amount | null;
  xTicks: Tick<Amount>[];
  yTicks: Tick<number>[];
  maxDepth: number;
  /** Levels left out of the picture because they sit far from the touch (see `focusDepth`). */
  hidden: { bids: number; asks: number };
}

/**
 * The part of the book worth drawing: levels within half to twice the reference price (the mid, or
 * the one side's best price), and always the best bid and best ask. A stray ask at 100× the market
 * would otherwise squash every other level into a sliver. Cumulative depth is kept as it was.
 */
export function focusDepth(series: DepthSeries): { series: DepthSeries; hidden: { bids: number; asks: number } } {
  const { bestBid, bestAsk, mid } = spreadOf(series);
  const ref = mid ?? bestBid ?? bestAsk;
  if (ref === null) return { series, hidden: { bids: 0, asks: 0 } };
  const low = bestBid !== null && bestBid < ref / 2n ? bestBid : ref / 2n;
  const high = bestAsk !== null && bestAsk > ref * 2n ? bestAsk : ref * 2n;
  const bids = series.bids.filter((s) => s.price >= low);
  const asks = series.asks.filter((s) => s.price <= high);
  return { series: { bids, asks }, hidden: { bids: series.bids.length - bids.length, asks: series.asks.length - asks.length } };
}

/** A cumulative step path from a side's best price outward to the edge `edgeX`. */
function stepPath(steps: readonly DepthStep[], x: (p: Amount) => number, y: (n: number) => number, edgeX: number): { line: string; area: string } {
  if (steps.length === 0) return { line: '', area: '' };
  const base = y(0);
  let line = `M${r(x(steps[0]!.price))} ${r(base)}`;
  steps.forEach((s, i) => {
    line += ` V${r(y(s.cumulative))}`;
    const next = steps[i + 1];
    line += ` H${r(next ? x(next.price) : edgeX)}`;
  });
  return { line, area: `${line} V${r(base)} Z` };
}

/**
 * Depth chart geometry in `box`: price on x (bids on the left, asks on the right), cumulative slots
 * on y, over the focused part of the book. Null for an empty book. `ticks` is the most price ticks
 * wanted (fewer on narrow charts).
 */
export function depthGeometry(full: DepthSeries, box: Box, o: { ticks?: number } = {}): DepthGeometry | null {
  const { series, hidden } = focusDepth(full);
  const prices = [...series.bids, ...series.asks].map((s) => s.price);
  const domain = amountDomain(prices);
  if (!domain) return null;
  const x0 = box.left;
  const x1 = box.width - box.right;
  const y0 = box.height - box.bottom;
  const y1 = box.top;
  const deepest = Math.max(series.bids[series.bids.length - 1]?.cumulative ?? 0, series.asks[series.asks.length - 1]?.cumulative ?? 0);
  const maxDepth = niceCeiling(deepest, 4);
  const x = (p: Amount): number => scaleAmount(p, domain, x0, x1);
  const y = (n: number): number => scaleNumber(n, 0, maxDepth, y0, y1);
  const bids = stepPath(series.bids, x, y, x0);
  const asks = stepPath(series.asks, x, y, x1);
  const { mid, spread } = spreadOf(series);
  return {
    bidLine: bids.line,
    bidArea: bids.area,
    askLine: asks.line,
    askArea: asks.area,
    midX: mid === null ? null : x(mid),
    spread,
    xTicks: amountTicks(domain, o.ticks ?? 5, x0, x1),
    yTicks: numberTicks(0, maxDepth, 4, { integer: true }).map((v) => ({ at: y(v), value: v, label: String(v) })),
    maxDepth,
    hidden,
  };
}

/** A trade as the price chart needs it. */
export interface PricePoint {
  at: number;
  price: string;
}

/** The geometry of a price chart: the line through the trades in time order, its points and axes. */
export interface PriceGeometry {
  line: string;
  points: { x: number; y: number; at: number; price: Amount }[];
  xTicks: Tick<number>[];
  yTicks: Tick<Amount>[];
}

/**
 * Trade prices over time in `box`: time on x, price on y, points in time order joined by a line.
 * One trade (or trades at one instant) gets a minute either side. Null when there are no trades.
 */
export function priceGeometry(trades: readonly PricePoint[], box: Box, o: { xTicks?: number; yTicks?: number } = {}): PriceGeometry | null {
  const parsed = trades
    .map((t) => ({ at: t.at, price: parseAmount(t.price) }))
    .filter((t): t is { at: number; price: Amount } => t.price !== null && Number.isFinite(t.at))
    .sort((a, b) => a.at - b.at);
  const domain = amountDomain(parsed.map((t) => t.price), 10n);
  if (!domain) return null;
  let tMin = parsed[0]!.at;
  let tMax = parsed[parsed.length - 1]!.at;
  if (tMax === tMin) {
    tMin -= MINUTE;
    tMax += MINUTE;
  }
  const x0 = box.left;
  const x1 = box.width - box.right;
  const y0 = box.height - box.bottom;
  const y1 = box.top;
  const points = parsed.map((t) => ({ x: scaleNumber(t.at, tMin, tMax, x0, x1), y: scaleAmount(t.price, domain, y0, y1), at: t.at, price: t.price }));
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${r(p.x)} ${r(p.y)}`).join(' ');
  return {
    line,
    points,
    xTicks: timeTicks(tMin, tMax, o.xTicks ?? 5, x0, x1),
    yTicks: amountTicks(domain, o.yTicks ?? 4, y0, y1),
  };
}

/** "Depth: 3 bid levels, 2 ask levels, spread 0.0001 DOUG" (the chart's accessible summary). */
export function depthSummary(series: DepthSeries): string {
  const levels = (n: number, kind: string): string => `${n} ${kind} level${n === 1 ? '' : 's'}`;
  const { spread } = spreadOf(series);
  const parts = [levels(series.bids.length, 'bid'), levels(series.asks.length, 'ask')];
  if (spread !== null) parts.push(spread >= 0n ? `spread ${doug(spread)} DOUG` : `crossed by ${doug(-spread)} DOUG`);
  return `Depth: ${parts.join(', ')}`;
}

/** "Trade prices: 4 trades from 0.012 to 0.0135 DOUG, last 0.012 DOUG". */
export function priceSummary(trades: readonly PricePoint[]): string {
  const parsed = trades
    .map((t) => ({ at: t.at, price: parseAmount(t.price) }))
    .filter((t): t is { at: number; price: Amount } => t.price !== null)
    .sort((a, b) => a.at - b.at);
  if (parsed.length === 0) return 'Trade prices: no trades yet';
  let min = parsed[0]!.price;
  let max = min;
  for (const t of parsed) {
    if (t.price < min) min = t.price;
    if (t.price > max) max = t.price;
  }
  const n = `${parsed.length} trade${parsed.length === 1 ? '' : 's'}`;
  const range = min === max ? `at ${doug(min)} DOUG` : `from ${doug(min)} to ${doug(max)} DOUG`;
  return `Trade prices: ${n} ${range}, last ${doug(parsed[parsed.length - 1]!.price)} DOUG`;
}
