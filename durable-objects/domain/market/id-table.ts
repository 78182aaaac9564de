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
 * Open addressing with linear probing; a deleted entry is a tombstone until the next rebuild,
 * which allocates only typed arrays.
 *
 * The hashes and the slots are two arrays, not one of (hash, slot) pairs: a probe for a new id reads
 * only hashes, and at four bytes an entry the hashes of a market holding a few hundred thousand ids
 * take about 2 MB, which stays in the processor's last-level cache, where pairs at four to eight per
 * id took 8 MB and each probe was a trip to memory (about five times slower on the bench machine).
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
  /** Entry i: hashes[i] is EMPTY, DELETED or the id's hash; slots[i] its slot. */
  private hashes: Int32Array = new Int32Array(MIN_SLOTS);
  private slotOf: Int32Array = new Int32Array(MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  /** Live entries plus tombstones: probing stops only at an EMPTY entry, so both count towards the load. */
  private used = 0;
  /** `used` past which the table is rebuilt (three quarters of the entries). */
  private limit = (MIN_SLOTS * 3) >> 2;
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
    let tomb = -1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = hashes[i]!;
      if (s === EMPTY) break;
      if (s === DELETED) {
        if (tomb < 0) tomb = i;
      } else if (s === h && this.keyOf(this.slotOf[i]!) === id) {
        this.slotOf[i] = slot;
        return;
      }
    }
    if (tomb >= 0) i = tomb;
    else this.used++;
    hashes[i] = h;
    this.slotOf[i] = slot;
    this.size++;
    if (this.used > this.limit) this.rebuild();
  }

  /** Deletes `id`; `h` is its idHash when the caller kept it. */
  delete(id: string, h = idHash(id)): boolean {
    const i = this.find(id, h);
    if (i < 0) return false;
    this.hashes[i] = DELETED;
    this.size--;
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
        hashes[i] = DELETED;
        this.size--;
        return true;
      }
    }
  }

  /**
   * Rebuilds the entries at two to four per live id (never below MIN_SLOTS), clearing the
   * tombstones. The closed memory deletes an id for each one it adds, so tombstones pile up at a
   * steady size; rebuilding at three quarters full leaves at least a quarter of the entries
   * between rebuilds, and keeps a probe for a new id within a cache line or two.
   */
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
      if (h === EMPTY || h === DELETED) continue;
      let i = h & mask;
      while (hashes[i] !== EMPTY) i = (i + 1) & mask;
      hashes[i] = h;
      slots[i] = oldSlots[j]!;
    }
    this.hashes = hashes;
    this.slotOf = slots;
    this.mask = mask;
    this.used = this.size;
    this.limit = (capacity * 3) >> 2;
  }

  /** The slots stored, in no particular order. */
  *slots(): IterableIterator<number> {
    const hashes = this.hashes;
    for (let j = 0; j < hashes.length; j++) if (hashes[j] !== EMPTY && hashes[j] !== DELETED) yield this.slotOf[j]!;
  }
}
