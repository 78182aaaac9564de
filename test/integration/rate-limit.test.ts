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
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 20; i += 20) statuses.push(...(await Promise.all(Array.from({ length: 20 }, async () => (await get(flood)).status))));
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(LIMIT);
    const refused = await get(flood);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe(String(RATE_PERIOD_S));
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('API__RATE_LIMITED');
    // Another account is not held back, and anonymous reads are not counted per address.
    expect((await get(other)).status).toBe(200);
    expect((await SELF.fetch(`${BASE}/v1/markets`)).status).toBe(200);
  });
});
