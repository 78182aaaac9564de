import type { Env } from '../durable-objects/runtime/env.ts';

export { marketList, type MarketConfig } from '../durable-objects/runtime/markets.ts';

export function isLocalMode(env: Env): boolean {
  return env.LOCAL_MODE === 'true';
}
