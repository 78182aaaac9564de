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
 * Open addressing with linear probing. A delete moves the entries after it in its run back into
 * the gap (backward-shift deletion) instead of leaving a tombstone: the closed memory deletes an
 * id for each one it adds, and tombstones had filled the table towards a rebuild every ~150k
 * commands (a pass over all entries), and lengthened every probe for a new id meanwhile. The table
 * is rebuilt only to grow, which allocates only typed arrays.
 *
 * The hashes and the slots are two arrays, not one of (hash, slot) pairs: a probe for a new id reads
 * only hashes, and at four bytes an entry the hashes of a market holding a few hundred thousand ids
 * take about 2 MB, which stays in the processor's last-level cache, where pairs at four to eight per
 * id took 8 MB and each probe was a trip to memory (about five times slower on the bench machine).
 */

const EMPTY = 0;

/** What get answers for an id that is not in the index. */
export const ABSENT = -1;

let memoId: string | undefined;
let memoHash = 0;

/**
 * FNV-1a over the UTF-16 code units, then a final mix so that the low bits (the probe start) depend
 * on every character; never EMPTY. Ids are at most 128 characters. The last id hashed is
 * remembered: evolve asks about the id that decide has just asked about.
 */
export function idHash(id: string): number {
  if (id === memoId) return memoHash;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  if (h === EMPTY) h = 1;
  memoId = id;
  memoHash = h;
  return h;
}

const MIN_SLOTS = 1024;

export class IdTable {
  /** Entry i: hashes[i] is EMPTY or the id's hash; slots[i] its slot. */
  private hashes: Int32Array = new Int32Array(MIN_SLOTS);
  private slotOf: Int32Array = new Int32Array(MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  /** `size` past which the table is rebuilt twice as large (half the entries). */
  private limit = MIN_SLOTS >> 1;
  size = 0;

  /** `keyOf(slot)` is the id stored under slot (the owner keeps it there while the id is indexed). */
  constructor(private readonly keyOf: (slot: number) => string | undefined) {}

  /** The entry holding `id`, or -1. */
  private find(id: string, h: number): number {
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) return -1;
      if (s === h && this.keyOf(this.slotOf[i]!) === id) return i;
    }
  }

  /** The slot stored under `id`, or ABSENT. */
  get(id: string): number {
    const i = this.find(id, idHash(id));
    return i < 0 ? ABSENT : this.slotOf[i]!;
  }

  has(id: string): boolean {
    return this.find(id, idHash(id)) >= 0;
  }

  /** Stores `slot` under `id` (replacing what was there); keyOf(slot) must already be `id`. */
  set(id: string, slot: number): void {
    const h = idHash(id);
    const hashes = this.hashes;
    const mask = this.mask;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) break;
      if (s === h && this.keyOf(this.slotOf[i]!) === id) {
        this.slotOf[i] = slot;
        return;
      }
    }
    hashes[i] = h;
    this.slotOf[i] = slot;
    if (++this.size > this.limit) this.rebuild();
  }

  /** Deletes `id`; `h` is its idHash when the caller kept it. */
  delete(id: string, h = idHash(id)): boolean {
    const i = this.find(id, h);
    if (i < 0) return false;
    this.remove(i);
    return true;
  }

  /**
   * Deletes the entry of `slot`, whose id hashed to `h`, without reading the id: forgetting a cold
   * order would otherwise read its id's characters only to confirm what the slot number says.
   */
  deleteSlot(slot: number, h: number): boolean {
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) return false;
      if (s === h && this.slotOf[i] === slot) {
        this.remove(i);
        return true;
      }
    }
  }

  /**
   * Empties entry i, moving back each later entry of its run that may sit there: one whose probe
   * starts at or before i (cyclically), so that every entry stays reachable from its start
   * without passing an EMPTY one.
   */
  private remove(i: number): void {
    const hashes = this.hashes;
    const slots = this.slotOf;
    const mask = this.mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const h = hashes[j]!;
      if (h === EMPTY) break;
      // Distance from the entry's start to j, and from the gap to j: it moves when the gap is no
      // further from j than its start is.
      if (((j - (h & mask)) & mask) >= ((j - i) & mask)) {
        hashes[i] = h;
        slots[i] = slots[j]!;
        i = j;
      }
    }
    hashes[i] = EMPTY;
    this.size--;
  }

  /** Rebuilds the entries at two to four per live id (never below MIN_SLOTS). */
  private rebuild(): void {
    let capacity = MIN_SLOTS;
    while (capacity < this.size * 2) capacity *= 2;
    const oldHashes = this.hashes;
    const oldSlots = this.slotOf;
    const hashes = new Int32Array(capacity);
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let j = 0; j < oldHashes.length; j++) {
      const h = oldHashes[j]!;
      if (h === EMPTY) continue;
      let i = h & mask;
      while (hashes[i] !== EMPTY) i = (i + 1) & mask;
      hashes[i] = h;
      slots[i] = oldSlots[j]!;
    }
    this.hashes = hashes;
    this.slotOf = slots;
    this.mask = mask;
    this.limit = capacity >> 1;
  }

  /** The slots stored, in no particular order. */
  *slots(): IterableIterator<number> {
    const hashes = this.hashes;
    for (let j = 0; j < hashes.length; j++) if (hashes[j] !== EMPTY) yield this.slotOf[j]!;
  }
}
