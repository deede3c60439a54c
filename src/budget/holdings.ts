/**
 * What one gateway has put into Redis that Redis can lose (FLUSHALL, a restart without persistence, a failover to
 * an empty replica): its live reservations, and the usage records it settled that the durable store has not
 * confirmed yet (the outbox). Each is tagged with the tenant's epoch it was written in (scripts/prelude.lua): when
 * Redis no longer has that epoch, these are exactly what this gateway must put back (redis-recovery.ts). Other
 * gateways hold, and put back, their own.
 *
 * Pure bookkeeping, no I/O. The outbox is bounded: past `maxOutbox` records the oldest is forgotten (and counted
 * in `dropped`), which only matters if Redis then loses it before it is shipped.
 */
import type { UsageRecord } from './types.ts'

export interface LiveReservation { requestId: string; periodKey: string; amount: number; expiry: number; epoch: string }
export interface OutboxEntry { periodKey: string; record: UsageRecord; epoch: string; at: number }

/** Never a real epoch: a tenant whose holdings span two epochs must recover before its next script call. */
export const MIXED_EPOCHS = '\u0000mixed'

interface TenantHoldings {
  live: Map<string, LiveReservation>
  outbox: Map<string, OutboxEntry>
  /** The epoch every holding carries, or MIXED_EPOCHS. */
  epoch: string
}

export class Holdings {
  private readonly tenants = new Map<string, TenantHoldings>()
  /**
   * Outbox entries oldest first, across tenants (the eviction order), each with its tenant. Keyed by the entry
   * itself: a key string built per record (tenant + id) cost ~3% of the gateway's CPU with the Redis ledger.
   */
  private readonly order = new Map<OutboxEntry, string>()
  /**
   * Where eviction reads `order`, kept while settles keep evicting. A fresh iterator per eviction steps over every
   * entry deleted since JavaScriptCore last compacted the Map, so with a full outbox each settle cost more the longer
   * it stayed full (1 → 60 µs per settle over 150,000 settles; ~1 µs with this cursor, bench/ledger-bookkeeping.ts).
   * Every entry before the cursor has been deleted: it returned them in insertion order and each was evicted, or
   * they were stored first; a Map iterator still sees entries added after it was made. It is dropped as soon as a
   * settle evicts nothing or records are stored: a waiting iterator can keep the Map's outgrown tables alive, and
   * with them every record deleted since (a leak without bound once the outbox is no longer full).
   */
  private evictCursor: MapIterator<[OutboxEntry, string]> | null = null
  /** Outbox records forgotten because the outbox was full. */
  dropped = 0

  constructor(private readonly maxOutbox: number) {}

  /** The epoch to pass to a script for this tenant: '' when this gateway holds nothing there. */
  epochOf(tenantId: string): string {
    return this.tenants.get(tenantId)?.epoch ?? ''
  }

  /** Tenants with holdings, and the epoch they carry. */
  held(): [tenantId: string, epoch: string][] {
    return [...this.tenants].map(([t, h]) => [t, h.epoch])
  }

  reserved(tenantId: string, r: LiveReservation): void {
    this.tenant(tenantId, r.epoch).live.set(r.requestId, r)
  }

  /** A live reservation now holds `amount` (a budget slice shrank): what a recovery registers again. */
  resized(tenantId: string, requestId: string, amount: number): void {
    const r = this.tenants.get(tenantId)?.live.get(requestId)
    if (r) r.amount = amount
  }

  /** Settled or released: no longer held as a reservation. */
  ended(tenantId: string, requestId: string): void {
    const h = this.tenants.get(tenantId)
    if (!h) return
    h.live.delete(requestId)
    this.dropIfEmpty(tenantId, h)
  }

  /** The epoch a live reservation is registered in (a recovery may have registered it again), if live. */
  liveEpoch(tenantId: string, requestId: string): string | undefined {
    return this.tenants.get(tenantId)?.live.get(requestId)?.epoch
  }

  /** The reservation ends and its record waits in the outbox. Returns how many old records were forgotten for room. */
  settled(tenantId: string, periodKey: string, record: UsageRecord, epoch: string, at: number): number {
    let evicted = 0
    while (this.order.size >= this.maxOutbox && this.order.size > 0) {
      const [oldest, t] = this.oldest()
      this.forget(t, oldest.record.requestId)
      evicted++
    }
    this.dropped += evicted
    if (evicted === 0) this.evictCursor = null
    const h = this.tenant(tenantId, epoch)
    h.live.delete(record.requestId)
    if (this.maxOutbox > 0) {
      const entry = { periodKey, record, epoch, at }
      const replaced = h.outbox.get(record.requestId)
      if (replaced) this.order.delete(replaced)
      h.outbox.set(record.requestId, entry)
      this.order.set(entry, tenantId)
    }
    this.dropIfEmpty(tenantId, h)
    return evicted
  }

  inOutbox(tenantId: string, requestId: string): boolean {
    return this.tenants.get(tenantId)?.outbox.has(requestId) ?? false
  }

  /** These records are in the durable store: stop holding them. Unknown ones are ignored. */
  stored(records: readonly Pick<UsageRecord, 'tenantId' | 'requestId'>[]): void {
    this.evictCursor = null
    for (const r of records) this.forget(r.tenantId, r.requestId)
  }

  /** Outbox records older than `before` (ms), oldest first, at most `limit`: ask the store whether they arrived. */
  unconfirmed(before: number, limit: number): UsageRecord[] {
    const out: UsageRecord[] = []
    for (const e of this.order.keys()) {
      if (e.at >= before || out.length >= limit) break
      out.push(e.record)
    }
    return out
  }

  /** Reservations past their expiry: Redis reclaims them (reserve.lua), so there is nothing left to put back. */
  expire(now: number): void {
    for (const [t, h] of this.tenants) {
      for (const [id, r] of h.live) if (r.expiry <= now) h.live.delete(id)
      this.dropIfEmpty(t, h)
    }
  }

  /** What Redis lost if its epoch for the tenant is now `epoch` (null: none): everything tagged otherwise. */
  lost(tenantId: string, epoch: string | null): { records: OutboxEntry[]; reservations: LiveReservation[] } {
    const h = this.tenants.get(tenantId)
    if (!h) return { records: [], reservations: [] }
    return {
      records: [...h.outbox.values()].filter(e => e.epoch !== epoch),
      reservations: [...h.live.values()].filter(r => r.epoch !== epoch),
    }
  }

  /**
   * A recovery put these back in `epoch`: the records are in the store now, the reservations registered again.
   * Holdings that arrived meanwhile keep their own tag (a late reply from the old epoch is recovered next time).
   */
  recovered(tenantId: string, records: readonly OutboxEntry[], reservations: readonly LiveReservation[], epoch: string): void {
    const h = this.tenants.get(tenantId)
    if (!h) return
    this.evictCursor = null
    for (const e of records) if (h.outbox.get(e.record.requestId) === e) this.forget(tenantId, e.record.requestId)
    for (const r of reservations) if (h.live.get(r.requestId) === r) r.epoch = epoch
    if (!this.tenants.has(tenantId)) return
    const tags = new Set([...h.live.values(), ...h.outbox.values()].map(x => x.epoch))
    h.epoch = tags.size === 1 ? [...tags][0]! : MIXED_EPOCHS
  }

  size(): { live: number; outbox: number } {
    let live = 0
    for (const h of this.tenants.values()) live += h.live.size
    return { live, outbox: this.order.size }
  }

  /** The oldest outbox entry; `order` must not be empty. */
  private oldest(): [OutboxEntry, string] {
    for (;;) {
      const next = (this.evictCursor ??= this.order.entries()).next()
      if (!next.done) return next.value
      // An iterator that reached the end stays there, even for entries added later: start a new one.
      this.evictCursor = null
    }
  }

  private tenant(tenantId: string, epoch: string): TenantHoldings {
    let h = this.tenants.get(tenantId)
    if (!h) {
      h = { live: new Map(), outbox: new Map(), epoch }
      this.tenants.set(tenantId, h)
    } else if (h.epoch !== epoch) {
      h.epoch = MIXED_EPOCHS
    }
    return h
  }

  private forget(tenantId: string, requestId: string): void {
    const h = this.tenants.get(tenantId)
    const e = h?.outbox.get(requestId)
    if (!h || !e) return
    this.order.delete(e)
    h.outbox.delete(requestId)
    this.dropIfEmpty(tenantId, h)
  }

  private dropIfEmpty(tenantId: string, h: TenantHoldings): void {
    if (h.live.size === 0 && h.outbox.size === 0) this.tenants.delete(tenantId)
  }
}
