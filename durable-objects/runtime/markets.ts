import { MARKET_ID } from '../contracts/api.ts';
import { PROTOCOL, type MarketParams } from '../domain/params.ts';
import type { Env } from './env.ts';

/** One market this deployment serves, from the MARKET_LIST variable. */
export interface MarketConfig {
  id: string;
  description: string;
  /** Overrides of the protocol's parameters for this market (tests use short leases). */
  params?: Partial<MarketParams>;
}

let cached: { text: string; markets: MarketConfig[] } | null = null;

/** The markets this deployment serves. */
export function marketList(env: Env): MarketConfig[] {
  const text = env.MARKET_LIST ?? '[]';
  if (cached?.text === text) return cached.markets;
  const parsed = JSON.parse(text) as MarketConfig[];
  const markets = parsed.filter((m) => typeof m.id === 'string' && MARKET_ID.test(m.id));
  cached = { text, markets };
  return markets;
}

/** The parameters a market should run with: the protocol's, with its configured overrides. */
export function marketParams(env: Env, market: string): MarketParams {
  return { ...PROTOCOL, ...(marketList(env).find((m) => m.id === market)?.params ?? {}) };
}
