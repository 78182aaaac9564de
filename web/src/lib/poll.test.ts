import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { poll } from './poll.ts';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('poll', () => {
  it('ticks at once, then on every period, until stopped', async () => {
    let ticks = 0;
    const stop = poll(async () => void ticks++, 1000);
    expect(ticks).toBe(1);
    await vi.advanceTimersByTimeAsync(3000);
    expect(ticks).toBe(4);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(ticks).toBe(4);
  });

  it('never runs two ticks at once: a slow answer is not overtaken', async () => {
    let running = 0;
    let most = 0;
    let ticks = 0;
    poll(async () => {
      ticks++;
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 2500));
      running--;
    }, 1000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(most).toBe(1);
    expect(ticks).toBe(4);
  });

  it('tells a late answer that the page moved on, and stops when a tick says so', async () => {
    const seen: boolean[] = [];
    const stop = poll(async (live) => {
      await new Promise((r) => setTimeout(r, 500));
      seen.push(live());
    }, 1000);
    stop();
    await vi.advanceTimersByTimeAsync(600);
    expect(seen).toEqual([false]);

    let ticks = 0;
    const done = poll(async () => ++ticks < 2, 1000);
    expect(done.live()).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(ticks).toBe(2);
    expect(done.live()).toBe(false);
    expect(stop.live()).toBe(false);
  });

  it('keeps polling after a tick that throws', async () => {
    let ticks = 0;
    poll(async () => {
      ticks++;
      throw new Error('network');
    }, 1000);
    await vi.advanceTimersByTimeAsync(2000);
    expect(ticks).toBe(3);
  });
});
