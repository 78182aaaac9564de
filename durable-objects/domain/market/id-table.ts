/**
 * A hash table from order id to what the market knows of it, for the decider's hot path.
 *
 * Why not a Map: a market holds every ask whose slots are in use (until each job releases its slot)
 * besides its open and remembered closed orders, so this table grows to hundreds of thousands of
 * ids, far past the processor's caches. Each command asks it about an id, and most ask about a new
 * id (is it taken?). A Map answers a miss by comparing the id with the keys in its bucket chain,
 * which reads each of those key strings from memory; here the table keeps each id's hash beside it
 * in one typed array, so a miss reads that array and no key string, and a hit reads one key string.
 * Forgetting an id (the closed memory drops its oldest) passes the hash it got when the id was
 * stored, so the cold id's characters are not read again either.
 *
 * Open addressing with linear probing; a deleted slot is a tombstone until the next rehash.
 * Iteration follows slot order, not insertion order (callers that need an order sort).
 */

const EMPTY = 0;
const DELETED = 1;

/**
 * FNV-1a over the UTF-16 code units, then a final mix so that the low bits (the slot) depend on
 * every character; never EMPTY or DELETED. Ids are at most 128 characters.
 */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  return h === EMPTY || h === DELETED ? h + 2 : h;
}

export class IdTable<V> {
  private hashes = new Int32Array(1024);
  private ids: (string | undefined)[] = new Array<string | undefined>(1024).fill(undefined);
  private vals: (V | undefined)[] = new Array<V | undefined>(1024).fill(undefined);
  private mask = 1023;
  /** Live entries plus tombstones: probing stops only at an EMPTY slot, so both count towards the load. */
  private used = 0;
  size = 0;

  /** The slot holding `id`, or -1. */
  private find(id: string, h: number): number {
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) return -1;
      if (s === h && this.ids[i] === id) return i;
    }
  }

  get(id: string): V | undefined {
    const i = this.find(id, idHash(id));
    return i < 0 ? undefined : this.vals[i];
  }

  has(id: string): boolean {
    return this.find(id, idHash(id)) >= 0;
  }

  /** Stores or replaces the value under `id`. */
  set(id: string, value: V): void {
    const h = idHash(id);
    const hashes = this.hashes;
    const mask = this.mask;
    let tomb = -1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) break;
      if (s === DELETED) {
        if (tomb < 0) tomb = i;
      } else if (s === h && this.ids[i] === id) {
        this.vals[i] = value;
        return;
      }
    }
    if (tomb >= 0) i = tomb;
    else this.used++;
    hashes[i] = h;
    this.ids[i] = id;
    this.vals[i] = value;
    this.size++;
    if (this.used * 2 > this.mask) this.rehash();
  }

  delete(id: string, h = idHash(id)): boolean {
    const i = this.find(id, h);
    if (i < 0) return false;
    this.hashes[i] = DELETED;
    this.ids[i] = undefined;
    this.vals[i] = undefined;
    this.size--;
    return true;
  }

  /**
   * Rebuilds at four to eight slots per live id (never below 1024), clearing the tombstones. The
   * closed memory deletes an id for each one it adds, so tombstones pile up at a steady size; this
   * much room leaves at least a quarter of the table's slots between rebuilds, so each insert pays
   * for a few slot moves at most.
   */
  private rehash(): void {
    const { hashes, ids, vals } = this;
    let capacity = 1024;
    while (capacity < this.size * 4) capacity *= 2;
    this.hashes = new Int32Array(capacity);
    this.ids = new Array<string | undefined>(capacity).fill(undefined);
    this.vals = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.used = this.size;
    for (let j = 0; j < hashes.length; j++) {
      const h = hashes[j]!;
      if (h === EMPTY || h === DELETED) continue;
      let i = h & this.mask;
      while (this.hashes[i] !== EMPTY) i = (i + 1) & this.mask;
      this.hashes[i] = h;
      this.ids[i] = ids[j];
      this.vals[i] = vals[j];
    }
  }

  *entries(): IterableIterator<[string, V]> {
    for (let i = 0; i < this.hashes.length; i++) {
      const h = this.hashes[i]!;
      if (h !== EMPTY && h !== DELETED) yield [this.ids[i]!, this.vals[i]!];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
