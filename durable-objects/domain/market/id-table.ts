/**
 * A hash index from order id to order slot, for the decider's hot path.
 *
 * Why not a Map: a market holds every ask whose slots are in use (until each job releases its slot)
 * besides its open and remembered closed orders, so this index grows to hundreds of thousands of
 * ids, far past the processor's caches. Each command asks it about an id, and most ask about a new
 * id (is it taken?). A Map answers a miss by comparing the id with the keys in its bucket chain,
 * which reads each of those key strings from memory; here each id's hash sits beside its slot in one
 * Int32Array, so a miss reads that array and no key string, and a hit reads one key string.
 *
 * The index stores no strings and no values of its own: a slot number is the value, and the id
 * under a slot is read from the `keys` array the owner keeps by slot (state.ts: the order's id).
 * Open addressing with linear probing over (hash, slot) pairs, so that a probe reads one cache
 * line; a deleted pair is a tombstone until the next rebuild, which allocates only the typed array.
 */

const EMPTY = 0;
const DELETED = 1;

/** What get answers for an id that is not in the index. */
export const ABSENT = -1;

let memoId: string | undefined;
let memoHash = 0;

/**
 * FNV-1a over the UTF-16 code units, then a final mix so that the low bits (the probe start) depend
 * on every character; never EMPTY or DELETED. Ids are at most 128 characters. The last id hashed is
 * remembered: evolve asks about the id that decide has just asked about.
 */
export function idHash(id: string): number {
  if (id === memoId) return memoHash;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  if (h === EMPTY || h === DELETED) h += 2;
  memoId = id;
  memoHash = h;
  return h;
}

const MIN_SLOTS = 1024;

export class IdTable {
  /** Pair i is pairs[2i] (EMPTY, DELETED or the id's hash) and pairs[2i + 1] (its slot). */
  private pairs: Int32Array = new Int32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  /** Live pairs plus tombstones: probing stops only at an EMPTY pair, so both count towards the load. */
  private used = 0;
  size = 0;

  /** `keyOf(slot)` is the id stored under slot (the owner keeps it there while the id is indexed). */
  constructor(private readonly keyOf: (slot: number) => string | undefined) {}

  /** The pair index holding `id`, or -1. */
  private find(id: string, h: number): number {
    const pairs = this.pairs;
    const mask = this.mask;
    const keyOf = this.keyOf;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = pairs[2 * i]!;
      if (s === EMPTY) return -1;
      if (s === h && keyOf(pairs[2 * i + 1]!) === id) return i;
    }
  }

  /** The slot stored under `id`, or ABSENT. */
  get(id: string): number {
    const i = this.find(id, idHash(id));
    return i < 0 ? ABSENT : this.pairs[2 * i + 1]!;
  }

  has(id: string): boolean {
    return this.find(id, idHash(id)) >= 0;
  }

  /** Stores `slot` under `id` (replacing what was there); keyOf(slot) must already be `id`. */
  set(id: string, slot: number): void {
    const h = idHash(id);
    const pairs = this.pairs;
    const mask = this.mask;
    const keyOf = this.keyOf;
    let tomb = -1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = pairs[2 * i]!;
      if (s === EMPTY) break;
      if (s === DELETED) {
        if (tomb < 0) tomb = i;
      } else if (s === h && keyOf(pairs[2 * i + 1]!) === id) {
        pairs[2 * i + 1] = slot;
        return;
      }
    }
    if (tomb >= 0) i = tomb;
    else this.used++;
    pairs[2 * i] = h;
    pairs[2 * i + 1] = slot;
    this.size++;
    if (this.used * 2 > mask) this.rebuild();
  }

  /** Deletes `id`; `h` is its idHash when the caller kept it. */
  delete(id: string, h = idHash(id)): boolean {
    const i = this.find(id, h);
    if (i < 0) return false;
    this.pairs[2 * i] = DELETED;
    this.size--;
    return true;
  }

  /**
   * Deletes the pair of `slot`, whose id hashed to `h`, without reading the id: forgetting a cold
   * order would otherwise read its id's characters only to confirm what the slot number says.
   */
  deleteSlot(slot: number, h: number): boolean {
    const pairs = this.pairs;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = pairs[2 * i]!;
      if (s === EMPTY) return false;
      if (s === h && pairs[2 * i + 1] === slot) {
        pairs[2 * i] = DELETED;
        this.size--;
        return true;
      }
    }
  }

  /**
   * Rebuilds the pairs at four to eight per live id (never below MIN_SLOTS), clearing the
   * tombstones. The closed memory deletes an id for each one it adds, so tombstones pile up at a
   * steady size; this much room leaves at least a quarter of the pairs between rebuilds.
   */
  private rebuild(): void {
    let capacity = MIN_SLOTS;
    while (capacity < this.size * 4) capacity *= 2;
    const old = this.pairs;
    const pairs = new Int32Array(2 * capacity);
    const mask = capacity - 1;
    for (let j = 0; j < old.length; j += 2) {
      const h = old[j]!;
      if (h === EMPTY || h === DELETED) continue;
      let i = h & mask;
      while (pairs[2 * i] !== EMPTY) i = (i + 1) & mask;
      pairs[2 * i] = h;
      pairs[2 * i + 1] = old[j + 1]!;
    }
    this.pairs = pairs;
    this.mask = mask;
    this.used = this.size;
  }

  /** The slots stored, in no particular order. */
  *slots(): IterableIterator<number> {
    const pairs = this.pairs;
    for (let j = 0; j < pairs.length; j += 2) if (pairs[j] !== EMPTY && pairs[j] !== DELETED) yield pairs[j + 1]!;
  }
}
