import { cell, doug, intArg, keyValues, table, time } from '../format.ts';
import { type CommandDef, ORDER_FILTER_DETAILS, ORDER_FILTER_FLAGS, PAGE_FLAGS, marketArg, optional, orderFilters, pageArgs, pageText, str } from './context.ts';

/** Reading markets, offers, bids and jobs. */
export const marketsCommands: Record<string, CommandDef> = {
  markets: {
    usage: 'doug markets [--cursor C] [--limit N]',
    summary: 'list markets with best prices and 24h volume',
    flags: { ...PAGE_FLAGS },
    positionals: [0, 0],
    run: async (ctx) => {
      const page = await ctx.reader().markets(pageArgs(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['MARKET', 'BEST BID', 'BEST ASK', 'LAST', 'VOLUME 24H', 'TRADES 24H', 'ASKS', 'BIDS', 'PROVIDERS', 'DESCRIPTION'],
          (m) => [m.market, doug(m.bestBid), doug(m.bestAsk), doug(m.lastPrice), doug(m.volume24h), String(m.trades24h), String(m.openAsks), String(m.openBids), String(m.providers), m.description],
          [1, 2, 3, 4, 5, 6, 7, 8],
          'no markets',
        ),
      );
    },
  },
  market: {
    usage: 'doug market MARKET [--depth N]',
    summary: "show one market's summary and order book",
    flags: { depth: 'string' },
    positionals: [1, 1],
    details: ['--depth N   book levels per side'],
    run: async (ctx) => {
      const id = marketArg('MARKET', ctx.args.positionals[0]!);
      const depth = optional(ctx, 'depth', (v) => intArg('--depth', v, 1));
      const detail = await ctx.reader().market(id, { depth });
      ctx.out(detail, () => {
        const s = detail.summary;
        const levels = (side: { price: string; orders: number; slots: number }[]) =>
          side.length === 0 ? '(empty)\n' : table(['PRICE', 'ORDERS', 'SLOTS'], side.map((l) => [doug(l.price), String(l.orders), String(l.slots)]), { right: [0, 1, 2] });
        return (
          keyValues([
            ['market', s.market],
            ['description', s.description],
            ['best bid', doug(s.bestBid)],
            ['best ask', doug(s.bestAsk)],
            ['last price', doug(s.lastPrice)],
            ['volume 24h', doug(s.volume24h)],
            ['trades 24h', String(s.trades24h)],
            ['open asks', String(s.openAsks)],
            ['open bids', String(s.openBids)],
            ['providers', String(s.providers)],
          ]) +
          '\nbids\n' +
          levels(detail.book.bids) +
          '\nasks\n' +
          levels(detail.book.asks.map((l) => ({ ...l, slots: l.freeSlots })))
        );
      });
    },
  },
  trades: {
    usage: 'doug trades MARKET [--cursor C] [--limit N]',
    summary: "list a market's trades, newest first",
    flags: { ...PAGE_FLAGS },
    positionals: [1, 1],
    run: async (ctx) => {
      const market = marketArg('MARKET', ctx.args.positionals[0]!);
      const page = await ctx.reader().trades(market, pageArgs(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['AT', 'JOB', 'REPLICA', 'PRICE', 'UNITS', 'BUYER', 'PROVIDER'],
          (t) => [time(t.at), cell(t.jobId), cell(t.replica), doug(t.price), cell(t.units), cell(t.buyer), cell(t.provider)],
          [2, 3, 4],
          'no trades',
        ),
      );
    },
  },
  asks: {
    usage: 'doug asks [--market M] [--owner KEY] [--max-price DOUG] [--status S] [--accelerator A] [--region R] [--min-memory-gb N] [--sort S] [--cursor C] [--limit N]',
    summary: 'list asks (cheapest first)',
    flags: { ...ORDER_FILTER_FLAGS },
    positionals: [0, 0],
    details: ORDER_FILTER_DETAILS,
    run: async (ctx) => {
      const page = await ctx.reader().asks(orderFilters(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['ID', 'MARKET', 'OWNER', 'PRICE', 'CAPACITY', 'IN USE', 'STATUS', 'EXPIRES'],
          (o) => [o.id, o.market, o.owner, doug(o.price), cell(o.capacity), cell(o.slotsInUse), o.status, time(o.expiresAt)],
          [3, 4, 5],
          'no asks',
        ),
      );
    },
  },
  bids: {
    usage: 'doug bids [--market M] [--owner KEY] [--max-price DOUG] [--status S] [--sort S] [--cursor C] [--limit N]',
    summary: 'list bids (highest first)',
    flags: { ...ORDER_FILTER_FLAGS },
    positionals: [0, 0],
    details: ORDER_FILTER_DETAILS,
    run: async (ctx) => {
      const page = await ctx.reader().bids(orderFilters(ctx));
      ctx.out(page, () =>
        pageText(
          page,
          ['ID', 'MARKET', 'OWNER', 'MAX PRICE', 'UNITS', 'REPLICAS', 'STATUS', 'EXPIRES'],
          (o) => [o.id, o.market, o.owner, doug(o.maxPrice), cell(o.units), cell(o.replicas), o.status, time(o.expiresAt)],
          [3, 4, 5],
          'no bids',
        ),
      );
    },
  },
  jobs: {
    usage: 'doug jobs [--buyer KEY] [--provider KEY] [--cursor C] [--limit N]',
    summary: 'list jobs, newest first',
    flags: { buyer: 'string', provider: 'string', ...PAGE_FLAGS },
    positionals: [0, 0],
    run: async (ctx) => {
      const f = ctx.args.flags;
      const page = await ctx.reader().jobs({ buyer: str(f.buyer), provider: str(f.provider), ...pageArgs(ctx) });
      ctx.out(page, () =>
        pageText(
          page,
          ['JOB', 'STATUS', 'BUYER', 'UNITS', 'MAX PRICE', 'REPLICAS'],
          (j) => [cell(j.jobId), cell(j.status), cell(j.buyer), cell(j.units), doug(j.maxPrice), cell(j.replicaCount)],
          [3, 4, 5],
          'no jobs',
        ),
      );
    },
  },
};
