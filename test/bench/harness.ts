// What the benchmarks share: where a stack's state lives, a bounded wait, a median, a percentile
// and the printout of a bench run on its own.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';

/**
 * Where a benchmark keeps the objects' SQLite files and the rest of its throw-away state: /dev/shm
 * (tmpfs) where it exists, so that what is measured is the marketplace's work and not this
 * machine's disk flushes (every object commit is a flush; on this machine's disk they capped the
 * jobs bench at ~20 jobs/s with workerd partly idle, against ~37 on tmpfs in the same minutes).
 * BENCH_TMPDIR, or the bench's own option, picks another folder (e.g. /tmp for the disk).
 */
export function benchStateRoot(chosen?: string): string {
  return chosen ?? process.env.BENCH_TMPDIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
}

/** `p`, or a rejection naming `what` once `ms` milliseconds have passed. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

/** The middle value (the upper one of an even count); 0 for none. */
export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** The nearest-rank `p`th percentile of ascending `sorted` samples. */
export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

/** A bench run on its own: one aligned line per result, then the results as one JSON line. */
export function printResult(result: Record<string, number>): void {
  const width = Math.max(...Object.keys(result).map((k) => k.length));
  for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(width)}  ${v.toLocaleString('en-US')}`);
  console.log(JSON.stringify(result));
}
