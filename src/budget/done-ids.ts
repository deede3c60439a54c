/**
 * One tenant's exactly-once set in the in-process ledger: the ids settled or released in the last `retention` ms,
 * forgotten oldest first.
 *
 * Ledger ids are the gateway's own UUIDs (ledger-id.ts). Those are kept as 128-bit keys in typed arrays, which the
 * garbage collector never scans. A Set of strings put a string and a hash-table cell per request on the heap for the
 * whole retention (2 hours): ~100–150 bytes a request, and marking them was ~12 µs of CPU a request at c=32
 * (bench/RESULTS.md, "The eighth VM"). Here a UUID costs 47–94 bytes (77 of RSS measured) and no cell. Any other id (a caller's own, tests)
 * goes to a plain Set with the same expiry. Ids are compared as strings: only lowercase UUID text takes the compact
 * path, so `ABC…` and `abc…` stay two ids, as they were.
 */

/** Positions of the 32 hex digits in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const HEX_AT = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]

/** The id's four 32-bit words into `out`, if it is a UUID in lowercase text; false otherwise. */
export function uuidWords(id: string, out: Uint32Array): boolean {
  if (id.length !== 36 || id.charCodeAt(8) !== 45 || id.charCodeAt(13) !== 45 || id.charCodeAt(18) !== 45 || id.charCodeAt(23) !== 45) return false
  let w = 0
  for (let k = 0; k < 32; k++) {
    const c = id.charCodeAt(HEX_AT[k]!)
    let d: number
    if (c >= 48 && c <= 57) d = c - 48
    else if (c >= 97 && c <= 102) d = c - 87
    else return false
    w = (w << 4) | d
    if ((k & 7) === 7) {
      out[k >> 3] = w
      w = 0
    }
  }
  return true
}

const MIN_SLOTS = 16
/** Grow past this share of slots in use (linear probing stays short below it). */
const MAX_LOAD = 0.7

export class DoneIds {
  // Open addressing with linear probing: slot i holds words keys[4i..4i+3] when used[i] is 1.
  private keys = new Uint32Array(4 * MIN_SLOTS)
  private used = new Uint8Array(MIN_SLOTS)
  private mask = MIN_SLOTS - 1
  private count = 0
  // Marks in the order made (a ring): the key's words and when.
  private ringKeys = new Uint32Array(4 * MIN_SLOTS)
  private ringAt = new Float64Array(MIN_SLOTS)
  private ringHead = 0
  private ringLen = 0
  // Ids that are not lowercase UUIDs, with their own order.
  private other = new Set<string>()
  private otherOrder: string[] = []
  private otherAt: number[] = []
  private otherHead = 0
  private readonly w = new Uint32Array(4)

  constructor(private readonly retentionMs: number) {}

  get size(): number {
    return this.count + this.other.size
  }

  has(id: string): boolean {
    if (!uuidWords(id, this.w)) return this.other.has(id)
    return this.find(this.w, 0) >= 0
  }

  /** Marks `id` done at `now` (a second mark of the same id keeps the first), then forgets what is past retention. */
  add(id: string, now: number): void {
    this.expire(now - this.retentionMs)
    if (!uuidWords(id, this.w)) {
      if (this.other.has(id)) return
      this.other.add(id)
      this.otherOrder.push(id)
      this.otherAt.push(now)
      return
    }
    if (this.find(this.w, 0) >= 0) return
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resize((this.mask + 1) * 2)
    this.insert(this.w, 0)
    this.push(this.w, now)
  }

  /** Forgets every id marked before `cutoff`. */
  private expire(cutoff: number): void {
    while (this.ringLen > 0 && this.ringAt[this.ringHead]! < cutoff) {
      this.remove(this.ringKeys, 4 * this.ringHead)
      this.ringHead = (this.ringHead + 1) % this.ringAt.length
      this.ringLen--
    }
    // A quiet tenant gives its memory back: the table and the ring shrink once mostly empty.
    const slots = this.mask + 1
    if (slots > MIN_SLOTS && this.count * 8 < slots) this.resize(slots / 2)
    if (this.ringAt.length > MIN_SLOTS && this.ringLen * 4 < this.ringAt.length) this.resizeRing(this.ringAt.length / 2)

    while (this.otherHead < this.otherOrder.length && this.otherAt[this.otherHead]! < cutoff) {
      this.other.delete(this.otherOrder[this.otherHead]!)
      this.otherHead++
    }
    if (this.otherHead >= 1024 && this.otherHead * 4 >= this.otherOrder.length) {
      this.otherOrder = this.otherOrder.slice(this.otherHead)
      this.otherAt = this.otherAt.slice(this.otherHead)
      this.otherHead = 0
    }
  }

  private home(k: Uint32Array, o: number): number {
    // UUIDv7's first words are a timestamp: mix all four so the random words spread the slots.
    let h = Math.imul(k[o]! ^ Math.imul(k[o + 1]!, 0x9e3779b1) ^ Math.imul(k[o + 2]!, 0x85ebca77) ^ Math.imul(k[o + 3]!, 0xc2b2ae3d), 0x27d4eb2f)
    h ^= h >>> 15
    return h & this.mask
  }

  private sameKey(i: number, k: Uint32Array, o: number): boolean {
    const s = 4 * i
    const keys = this.keys
    return keys[s] === k[o] && keys[s + 1] === k[o + 1] && keys[s + 2] === k[o + 2] && keys[s + 3] === k[o + 3]
  }

  /** The slot holding key k[o..o+3], or -1. */
  private find(k: Uint32Array, o: number): number {
    for (let i = this.home(k, o); this.used[i] === 1; i = (i + 1) & this.mask) if (this.sameKey(i, k, o)) return i
    return -1
  }

  private insert(k: Uint32Array, o: number): void {
    let i = this.home(k, o)
    while (this.used[i] === 1) i = (i + 1) & this.mask
    const s = 4 * i
    this.keys[s] = k[o]!
    this.keys[s + 1] = k[o + 1]!
    this.keys[s + 2] = k[o + 2]!
    this.keys[s + 3] = k[o + 3]!
    this.used[i] = 1
    this.count++
  }

  /** Deletes key k[o..o+3] if present, shifting back the entries after it (no tombstones to pile up). */
  private remove(k: Uint32Array, o: number): void {
    let hole = this.find(k, o)
    if (hole < 0) return
    const mask = this.mask
    for (let j = (hole + 1) & mask; this.used[j] === 1; j = (j + 1) & mask) {
      // The entry at j may fill the hole only if the hole lies on its probe path, from its home slot to j.
      const h = this.home(this.keys, 4 * j)
      if (((j - h) & mask) >= ((j - hole) & mask)) {
        this.keys.copyWithin(4 * hole, 4 * j, 4 * j + 4)
        hole = j
      }
    }
    this.used[hole] = 0
    this.count--
  }

  private resize(slots: number): void {
    const oldKeys = this.keys
    const oldUsed = this.used
    this.keys = new Uint32Array(4 * slots)
    this.used = new Uint8Array(slots)
    this.mask = slots - 1
    this.count = 0
    for (let i = 0; i < oldUsed.length; i++) if (oldUsed[i] === 1) this.insert(oldKeys, 4 * i)
  }

  private push(k: Uint32Array, at: number): void {
    if (this.ringLen === this.ringAt.length) this.resizeRing(this.ringAt.length * 2)
    const slot = (this.ringHead + this.ringLen) % this.ringAt.length
    this.ringKeys.set(k, 4 * slot)
    this.ringAt[slot] = at
    this.ringLen++
  }

  /** The ring into arrays of `slots` entries, oldest first. */
  private resizeRing(slots: number): void {
    const keys = new Uint32Array(4 * slots)
    const at = new Float64Array(slots)
    const n = this.ringAt.length
    for (let i = 0; i < this.ringLen; i++) {
      const from = (this.ringHead + i) % n
      keys.set(this.ringKeys.subarray(4 * from, 4 * from + 4), 4 * i)
      at[i] = this.ringAt[from]!
    }
    this.ringKeys = keys
    this.ringAt = at
    this.ringHead = 0
  }
}
