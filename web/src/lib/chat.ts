/**
 * The Chat page's rules: where its API key is kept, the conversation a request sends, and how a
 * route reads. The price and the split are the marketplace's (domain/chat/pricing.ts); the page only
 * shows what the completion reports.
 */
import type { RouteStage } from '$contracts/chat.ts';
import { UNITS_PER_DOUG } from '$domain/money.ts';

/** The browser keeps the page's API key for the tab only (sessionStorage), per wallet. */
export const chatKeyStorage = (account: string): string => `doug.chat-key.${account}`;

/** What a key the page creates may spend, and for how long. */
export const PAGE_KEY_LIMIT = UNITS_PER_DOUG;
export const PAGE_KEY_TTL_MS = 8 * 3600_000;

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** The conversation so far as the API's messages (empty turns left out). */
export function messagesOf(turns: readonly Turn[]): Turn[] {
  return turns.filter((t) => t.content.trim() !== '');
}

export interface RouteRow {
  stage: number;
  layers: string;
  provider: string;
  agentKey: string;
  replaced: boolean;
}

/** One row per stage: its layers, the provider that held it at the end, and whether it took over from one that dropped. */
export function routeRows(route: readonly RouteStage[], replaced: readonly { stage: number }[] = []): RouteRow[] {
  const took = new Set(replaced.map((r) => r.stage));
  return route.map((r) => ({ stage: r.stage, layers: r.from === r.to ? `${r.from}` : `${r.from}–${r.to}`, provider: r.provider, agentKey: r.agentKey, replaced: took.has(r.stage) }));
}
