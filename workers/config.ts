import { MARKET_ID } from '../durable-objects/contracts/api.ts';
import type { Env } from '../durable-objects/runtime/env.ts';

export interface MarketConfig {
  id: string;
  description: string;
}

let cached: { text: string; markets: MarketConfig[] } | null = null;

/** The markets this deployment serves, from the MARKET_LIST variable. */
export function marketList(env: Env): MarketConfig[] {
  const text = env.MARKET_LIST ?? '[]';
  if (cached?.text === text) return cached.markets;
  const parsed = JSON.parse(text) as MarketConfig[];
  const markets = parsed.filter((m) => typeof m.id === 'string' && MARKET_ID.test(m.id));
  cached = { text, markets };
  return markets;
}

export function isLocalMode(env: Env): boolean {
  return env.LOCAL_MODE === 'true';
}
