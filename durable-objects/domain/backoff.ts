/** How long to wait after the n-th failure in a row (n ≥ 1): `minMs` doubling each time, capped at `maxMs`. */
export function backoffMs(failures: number, o: { minMs: number; maxMs: number }): number {
  return Math.min(o.maxMs, o.minMs * 2 ** Math.max(0, failures - 1));
}
