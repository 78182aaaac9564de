import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RATE_LIMIT, RATE_PERIOD_S } from './rate-limit.ts';

describe('the request budget', () => {
  it('is the limit and period wrangler.toml gives the binding', () => {
    const toml = readFileSync('wrangler.toml', 'utf8');
    const block = /\[\[ratelimits\]\]\s*\nname = "API_RATE"\s*\nnamespace_id = "\d+"\s*\nsimple = \{ limit = (\d+), period = (\d+) \}/.exec(toml);
    expect(block, 'wrangler.toml declares API_RATE').not.toBeNull();
    expect(Number(block![1])).toBe(RATE_LIMIT);
    expect(Number(block![2])).toBe(RATE_PERIOD_S);
    // Cloudflare takes 10 or 60 seconds.
    expect([10, 60]).toContain(RATE_PERIOD_S);
  });
});
