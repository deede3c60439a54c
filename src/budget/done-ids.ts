/**
 * The in-process ledger's exactly-once set: which (tenant, ledger id) pairs were settled or released in the last
 * `retention` ms, forgotten oldest first.
 *
 * Ledger ids are the gateway's own UUIDs (ledger-id.ts). Those are kept as 160-bit keys (the tenant's number and the
 * UUID's 128 bits) in typed arrays, which the garbage collector never scans. A Set of strings put a string and a
 * hash-table cell per request on the heap for the whole retention (2 hours): 159 bytes of RSS per id, and marking
 * them cost ~12 µs of CPU a request at c=32 (bench/RESULTS.md, "The eighth VM"). Here an id takes 58–88 bytes of
 * arrays (90–130 of RSS measured) and no cell.
 *
 * No step may stop the event loop for long, whatever the set holds: the table is 256 shards that each grow or shrink
 * alone (a resize rehashes 1/256 of the ids: ~1 ms at 7 million), and the expiry order is a list of fixed-size
 * chunks (never copied). Any id that is not a UUID in lowercase text (a caller's own, tests) goes to a plain Set
 * with the same expiry; ids are compared as strings, so `ABC…` and `abc…` stay two ids.
 */

/** Positions of the 32 hex digits in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const HEX_AT = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]

/** The id's four 32-bit words into out[o..o+3], if it is a UUID in lowercase text; false otherwise. */
export function uuidWords(id: string, out: Uint32Array, o = 0): boolean {
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
      out[o + (k >> 3)] = w
      w = 0
    }
  }
  return true
}

/** Words per key: the tenant's number, then the UUID. */
const W = 5
const SHARD_BITS = 8
const SHARDS = 1 << SHARD_BITS
const MIN_SLOTS = 16
/** A shard grows past this share of its slots in use (linear probing stays short below it). */
const MAX_LOAD = 0.7
/** Marks per chunk of the expiry order. */
const CHUNK = 4096

/** One shard: open addressing with linear probing; slot i holds keys[W*i..W*i+4] when used[i] is 1. */
interface Shard { keys: Uint32Array; used: Uint8Array; mask: number; count: number }
interface Chunk { keys: Uint32Array; at: Float64Array }

/** A key's hash: its shard is the low 8 bits, its home slot in the shard the bits above (exported for tests). */
export function hashOf(k: Uint32Array, o: number): number {
  // UUIDv7's first words are a timestamp: mix every word so the random ones spread the keys.
  let h = Math.imul(k[o]! ^ Math.imul(k[o + 1]!, 0x9e3779b1) ^ Math.imul(k[o + 2]!, 0x85ebca77) ^ Math.imul(k[o + 3]!, 0xc2b2ae3d) ^ Math.imul(k[o + 4]!, 0x165667b1), 0x27d4eb2f)
  h ^= h >>> 15
  return h >>> 0
}

const newShard = (slots: number): Shard => ({ keys: new Uint32Array(W * slots), used: new Uint8Array(slots), mask: slots - 1, count: 0 })

export class DoneIds {
  private readonly shards: Shard[] = Array.from({ length: SHARDS }, () => newShard(MIN_SLOTS))
  private compact = 0
  private chunks: Chunk[] = []
  /** Next mark to expire in chunks[0], and the next free place in the last chunk. */
  private head = 0
  private tail = CHUNK
  private readonly tenantNumbers = new Map<string, number>()
  // Ids that are not lowercase UUIDs, as `<tenant length>:<tenant><id>` (unambiguous), with their own order.
  private readonly other = new Set<string>()
  private otherOrder: string[] = []
  private otherAt: number[] = []
  private otherHead = 0
  private readonly key = new Uint32Array(W)

  constructor(private readonly retentionMs: number) {}

  get size(): number {
    return this.compact + this.other.size
  }

  has(tenantId: string, id: string): boolean {
    if (!this.keyOf(tenantId, id, false)) return this.other.has(`${tenantId.length}:${tenantId}${id}`)
    const h = hashOf(this.key, 0)
    return this.slotOf(this.shards[h & (SHARDS - 1)]!, h, this.key, 0) >= 0
  }

  /** Marks the id done at `now` (a second mark keeps the first), after forgetting what is past retention. */
  add(tenantId: string, id: string, now: number): void {
    this.expire(now - this.retentionMs)
    if (!this.keyOf(tenantId, id, true)) {
      const s = `${tenantId.length}:${tenantId}${id}`
      if (this.other.has(s)) return
      this.other.add(s)
      this.otherOrder.push(s)
      this.otherAt.push(now)
      return
    }
    const h = hashOf(this.key, 0)
    let shard = this.shards[h & (SHARDS - 1)]!
    if (this.slotOf(shard, h, this.key, 0) >= 0) return
    if (shard.count + 1 > (shard.mask + 1) * MAX_LOAD) shard = this.resize(h & (SHARDS - 1), (shard.mask + 1) * 2)
    this.insert(shard, this.key, 0, h)
    this.compact++
    this.push(now)
  }

  /** The key of (tenant, id) into this.key; false if the id is not a lowercase UUID. */
  private keyOf(tenantId: string, id: string, create: boolean): boolean {
    if (!uuidWords(id, this.key, 1)) return false
    let n = this.tenantNumbers.get(tenantId)
    if (n === undefined) {
      // A tenant never seen has no marks: any number that is no tenant's will find nothing.
      if (!create) n = 0xffffffff
      else {
        n = this.tenantNumbers.size
        this.tenantNumbers.set(tenantId, n)
      }
    }
    this.key[0] = n
    return true
  }

  private expire(cutoff: number): void {
    while (this.chunks.length > 0) {
      const c = this.chunks[0]!
      const end = this.chunks.length === 1 ? this.tail : CHUNK
      if (this.head === end) {
        if (this.chunks.length === 1) break
        this.chunks.shift()
        this.head = 0
        continue
      }
      if (c.at[this.head]! >= cutoff) break
      this.remove(c.keys, W * this.head)
      this.head++
    }
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

  private push(now: number): void {
    if (this.tail === CHUNK) {
      this.chunks.push({ keys: new Uint32Array(W * CHUNK), at: new Float64Array(CHUNK) })
      this.tail = 0
      if (this.chunks.length === 1) this.head = 0
    }
    const c = this.chunks[this.chunks.length - 1]!
    c.keys.set(this.key, W * this.tail)
    c.at[this.tail] = now
    this.tail++
  }

  private sameKey(s: Shard, i: number, k: Uint32Array, o: number): boolean {
    const b = W * i
    const keys = s.keys
    return keys[b + 1] === k[o + 1] && keys[b + 2] === k[o + 2] && keys[b + 3] === k[o + 3] && keys[b + 4] === k[o + 4] && keys[b] === k[o]
  }

  /** The slot of shard `s` holding key k[o..o+4] (whose hash is `h`), or -1. */
  private slotOf(s: Shard, h: number, k: Uint32Array, o: number): number {
    for (let i = (h >>> SHARD_BITS) & s.mask; s.used[i] === 1; i = (i + 1) & s.mask) if (this.sameKey(s, i, k, o)) return i
    return -1
  }

  private insert(s: Shard, k: Uint32Array, o: number, h: number): void {
    let i = (h >>> SHARD_BITS) & s.mask
    while (s.used[i] === 1) i = (i + 1) & s.mask
    const b = W * i
    for (let w = 0; w < W; w++) s.keys[b + w] = k[o + w]!
    s.used[i] = 1
    s.count++
  }

  /** Deletes key k[o..o+4], shifting back the entries after it (no tombstones to pile up). */
  private remove(k: Uint32Array, o: number): void {
    const h = hashOf(k, o)
    const n = h & (SHARDS - 1)
    const s = this.shards[n]!
    let hole = this.slotOf(s, h, k, o)
    if (hole < 0) return
    const mask = s.mask
    for (let j = (hole + 1) & mask; s.used[j] === 1; j = (j + 1) & mask) {
      // The entry at j may fill the hole only if the hole lies on its probe path, from its home slot to j.
      const home = (hashOf(s.keys, W * j) >>> SHARD_BITS) & mask
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        s.keys.copyWithin(W * hole, W * j, W * j + W)
        hole = j
      }
    }
    s.used[hole] = 0
    s.count--
    this.compact--
    // A shard mostly emptied (traffic fell) gives its memory back.
    if (s.mask + 1 > MIN_SLOTS && s.count * 8 < s.mask + 1) this.resize(n, (s.mask + 1) / 2)
  }

  private resize(n: number, slots: number): Shard {
    const old = this.shards[n]!
    const s = newShard(slots)
    for (let i = 0; i <= old.mask; i++) if (old.used[i] === 1) this.insert(s, old.keys, W * i, hashOf(old.keys, W * i))
    this.shards[n] = s
    return s
  }
}
