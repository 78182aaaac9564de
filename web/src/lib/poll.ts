/** Stops the polling when called; `live()` is false from then on. */
export type Polling = (() => void) & { live: () => boolean };

/**
 * Live data on a page: runs `tick` at once and then every `everyMs`, never two at a time (a slow
 * answer is not overtaken by the next request). `tick` gets `live()`, false once polling stopped,
 * so an answer that arrives after the page moved on is dropped; it returns false to stop polling
 * (a final state, an error that will not change). Ticks catch their own errors: one that throws
 * anyway is ignored and the next tick runs as usual.
 *
 * Returns the stop function, which is what a Svelte `$effect` returns for cleanup:
 * `$effect(() => poll(async (live) => { const d = await api.x(); if (live()) data = d; }, 3000));`
 * Its `live` is the ticks' own, for work beside them that ends with the polling (a "load more").
 */
export function poll(tick: (live: () => boolean) => Promise<boolean | void>, everyMs: number): Polling {
  let stopped = false;
  let busy = false;
  const live = (): boolean => !stopped;
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  const run = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      if ((await tick(live)) === false) stop();
    } catch {
      // The tick shows its own errors; polling goes on.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(run, everyMs);
  void run();
  return Object.assign(stop, { live });
}
