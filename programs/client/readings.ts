/**
 * Readings of the chain kept per key for at most `maxAgeMs`: concurrent callers for one key share
 * one read, and a failed read is not kept (the next caller reads again). For figures the
 * marketplace may act on a little late (a provider's stake, a buyer's withdrawal request).
 */
export class Readings<V> {
  private readonly seen = new Map<string, { at: number; value: Promise<V> }>();

  constructor(
    private readonly read: (key: string) => Promise<V>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): Promise<V> {
    const hit = this.seen.get(key);
    if (hit && this.now() - hit.at < this.maxAgeMs) return hit.value;
    return this.refresh(key);
  }

  /** Reads anew whatever is kept (for a decision a kept reading refused: it may be older than what it refuses). */
  refresh(key: string): Promise<V> {
    const value = this.read(key);
    this.seen.set(key, { at: this.now(), value });
    value.catch(() => this.seen.get(key)?.value === value && this.seen.delete(key));
    return value;
  }
}
