import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { signRequest } from '../../durable-objects/contracts/auth.ts';
import { RATE_LIMIT as LIMIT, RATE_PERIOD_S } from '../../workers/rate-limit.ts';
import { BASE, wallet } from './helpers.ts';

describe('each account’s request budget (the rate-limiting binding)', () => {
  it('answers 429 API__RATE_LIMITED with Retry-After past it, for that account only', async () => {
    const flood = await wallet();
    const other = await wallet();
    const get = async (w: Awaited<ReturnType<typeof wallet>>) => SELF.fetch(`${BASE}/v1/api-keys`, { headers: await signRequest(w.keypair, { method: 'GET', path: '/v1/api-keys', body: '' }) });
    // Sent 20 at a time until refused. The binding counts in fixed windows of RATE_PERIOD_S: a flood
    // that straddles a window's end may pass up to LIMIT in each of the two, never more.
    let accepted = 0;
    let refused: Response | undefined;
    while (!refused && accepted <= 3 * LIMIT) {
      for (const res of await Promise.all(Array.from({ length: 20 }, () => get(flood)))) {
        if (res.status === 200) accepted++;
        else if (res.status === 429) refused ??= res;
        else throw new Error(`unexpected ${res.status}`);
      }
    }
    expect(refused, `no refusal after ${accepted} requests`).toBeDefined();
    expect(accepted).toBeLessThanOrEqual(2 * LIMIT);
    expect(refused!.headers.get('retry-after')).toBe(String(RATE_PERIOD_S));
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe('API__RATE_LIMITED');
    // Another account is not held back, and anonymous reads are not counted per address.
    expect((await get(other)).status).toBe(200);
    expect((await SELF.fetch(`${BASE}/v1/markets`)).status).toBe(200);
  });
});
