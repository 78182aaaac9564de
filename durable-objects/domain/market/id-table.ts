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
 * Open addressing with linear probing over one Int32Array of (hash, entry number) pairs, so that a
 * probe reads one cache line; a deleted slot is a tombstone until the next rebuild. The ids and
 * values live in dense entry arrays (a deleted entry's number is reused), so a rebuild allocates
 * only the typed array: rebuilding arrays of ids and values as large as the slot table cost more
 * than all the lookups. Iteration follows entry order, not insertion order (callers that need an
 * order sort).
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

const MIN_SLOTS = 1024;

export class IdTable<V> {
  /** Slot i is slots[2i] (EMPTY, DELETED or the id's hash) and slots[2i + 1] (its entry number). */
  private slots = new Int32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  /** Live slots plus tombstones: probing stops only at an EMPTY slot, so both count towards the load. */
  private used = 0;
  /** Entries by number; a deleted entry holds undefined and its number waits in `free`. */
  private ids: (string | undefined)[] = [];
  private vals: (V | undefined)[] = [];
  private hashes = new Int32Array(MIN_SLOTS);
  private readonly free: number[] = [];
  size = 0;

  /** The slot holding `id`, or -1. */
  private find(id: string, h: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i]!;
      if (s === EMPTY) return -1;
      if (s === h && this.ids[slots[2 * i + 1]!] === id) return i;
    }
  }

  get(id: string): V | undefined {
    const i = this.find(id, idHash(id));
    return i < 0 ? undefined : this.vals[this.slots[2 * i + 1]!];
  }

  has(id: string): boolean {
    return this.find(id, idHash(id)) >= 0;
  }

  /** Stores or replaces the value under `id`. */
  set(id: string, value: V): void {
    const h = idHash(id);
    const slots = this.slots;
    const mask = this.mask;
    let tomb = -1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = slots[2 * i]!;
      if (s === EMPTY) break;
      if (s === DELETED) {
        if (tomb < 0) tomb = i;
      } else if (s === h && this.ids[slots[2 * i + 1]!] === id) {
        this.vals[slots[2 * i + 1]!] = value;
        return;
      }
    }
    if (tomb >= 0) i = tomb;
    else this.used++;
    let e = this.free.pop();
    if (e === undefined) {
      e = this.ids.length;
      this.ids.push(id);
      this.vals.push(value);
      if (e === this.hashes.length) {
        const grown = new Int32Array(2 * e);
        grown.set(this.hashes);
        this.hashes = grown;
      }
    } else {
      this.ids[e] = id;
      this.vals[e] = value;
    }
    this.hashes[e] = h;
    slots[2 * i] = h;
    slots[2 * i + 1] = e;
    this.size++;
    if (this.used * 2 > mask) this.rebuild();
  }

  /** Deletes `id`; `h` is its idHash when the caller kept it. */
  delete(id: string, h = idHash(id)): boolean {
    const i = this.find(id, h);
    if (i < 0) return false;
    const e = this.slots[2 * i + 1]!;
    this.slots[2 * i] = DELETED;
    this.ids[e] = undefined;
    this.vals[e] = undefined;
    this.free.push(e);
    this.size--;
    return true;
  }

  /**
   * Rebuilds the slots at four to eight per live id (never below MIN_SLOTS), clearing the
   * tombstones. The closed memory deletes an id for each one it adds, so tombstones pile up at a
   * steady size; this much room leaves at least a quarter of the slots between rebuilds.
   */
  private rebuild(): void {
    let capacity = MIN_SLOTS;
    while (capacity < this.size * 4) capacity *= 2;
    const slots = new Int32Array(2 * capacity);
    const mask = capacity - 1;
    const { ids, hashes } = this;
    for (let e = 0; e < ids.length; e++) {
      if (ids[e] === undefined) continue;
      const h = hashes[e]!;
      let i = h & mask;
      while (slots[2 * i] !== EMPTY) i = (i + 1) & mask;
      slots[2 * i] = h;
      slots[2 * i + 1] = e;
    }
    this.slots = slots;
    this.mask = mask;
    this.used = this.size;
  }

  *entries(): IterableIterator<[string, V]> {
    for (let e = 0; e < this.ids.length; e++) {
      const id = this.ids[e];
      if (id !== undefined) yield [id, this.vals[e]!];
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
