/**
 * Budget slices: one gateway holds a block of a tenant's budget as one reservation in Redis (leased by reserve.lua,
 * at most half of what the tenant has left) and admits requests against it in its own process, so most requests
 * reserve with no Redis round trip. Each request's settle shrinks the slice by what the request drew, in the same
 * script that adds its cost (settle.lua), so spent + reserved in Redis never counts a draw twice and never less
 * than the draws in flight: the limit holds across any number of gateways, as with per-request reservations.
 *
 * This is the bookkeeping only (no I/O): which slice each request drew from, what each slice still holds in Redis
 * and what of that requests in flight have drawn. redis-ledger.ts runs the scripts.
 */

export interface Slice {
  /** The ledger id of its reservation in Redis. */
  readonly id: string
  readonly tenantId: string
  readonly periodKey: string
  /**
   * The tenant's limit when it was leased: a request that carries a lower one (the budget was lowered) does not draw
   * from it, since the lease was admitted against the old limit.
   */
  readonly limitMicros: number
  /** µUSD its reservation holds in Redis: the grant, less the draws settled and what was given back. */
  held: number
  /** µUSD drawn by requests whose settle or release Redis has not applied yet. */
  inflight: number
  /** Requests drawn and not yet ended. */
  draws: number
  lastDrawAt: number
  /**
   * When Redis last showed that it still holds the slice (the lease, or a settle that shrank it). A slice not
   * confirmed for CONFIRM_MS is confirmed again before the next draw: if Redis lost the tenant's state meanwhile,
   * draws from the slice would be admitted against budget nobody holds.
   */
  confirmedAt: number
  /** No draw after this: the reservation must outlive every request drawn from it (see SliceBook.drawWindowMs). */
  readonly drawUntil: number
  /** No longer drawn from: given back once its draws end. */
  retired: boolean
}

/** How long a slice's last confirmation is trusted (see Slice.confirmedAt). */
export const CONFIRM_MS = 250

/** What a gateway's slices hold: how many, the requests drawn from them, the µUSD they hold in Redis. */
export interface SliceTotals {
  slices: number
  draws: number
  heldMicros: number
}

export interface Draw {
  readonly slice: Slice
  readonly amount: number
}

export class SliceBook {
  /** tenant → period → the slice draws come from (never a retired one). */
  private readonly drawnFrom = new Map<string, Map<string, Slice>>()
  private readonly drawsById = new Map<string, Draw>()
  /** Every slice not yet given back: the current ones, and retired ones whose draws are still in flight. */
  private readonly slices = new Set<Slice>()

  constructor(
    /** µUSD asked for each lease. */
    readonly sliceMicros: number,
  ) {}

  /**
   * Requests up to a quarter of a slice draw from slices; a larger one reserves on its own (a slice then still
   * admits four requests of that size before the next lease, and one large request never empties a slice that
   * many small ones were using).
   */
  fits(amount: number): boolean {
    return amount <= this.sliceMicros / 4
  }

  /**
   * Draws `amount` for the request from the tenant's current slice: 'drawn'; 'confirm' if the slice could serve it
   * but Redis must first show it still holds the slice (Slice.confirmedAt); 'none' if there is no slice that can.
   */
  draw(tenantId: string, periodKey: string, requestId: string, amount: number, limitMicros: number, now: number): 'drawn' | 'confirm' | 'none' {
    const s = this.drawnFrom.get(tenantId)?.get(periodKey)
    if (!s || now >= s.drawUntil || limitMicros < s.limitMicros || s.held - s.inflight < amount) return 'none'
    if (now - s.confirmedAt >= CONFIRM_MS) return 'confirm'
    s.inflight += amount
    s.draws++
    s.lastDrawAt = now
    this.drawsById.set(requestId, { slice: s, amount })
    return 'drawn'
  }

  /** The draw the request made, if it drew from a slice of this tenant and has not ended. */
  drawOf(tenantId: string, requestId: string): Draw | undefined {
    const d = this.drawsById.get(requestId)
    return d && d.slice.tenantId === tenantId ? d : undefined
  }

  /** The request settled in Redis: the slice no longer holds its draw there (settle.lua shrank it). */
  settled(requestId: string): void {
    const d = this.end(requestId)
    if (d) d.slice.held = Math.max(0, d.slice.held - d.amount)
  }

  /** The request ended and Redis still holds its draw in the slice (released, or settled by an earlier call): free again. */
  undrawn(requestId: string): void {
    this.end(requestId)
  }

  /** A new slice for its tenant's period: drawn from from now on. The one it replaces must have been retired. */
  add(slice: Slice): void {
    let byPeriod = this.drawnFrom.get(slice.tenantId)
    if (!byPeriod) this.drawnFrom.set(slice.tenantId, byPeriod = new Map())
    byPeriod.set(slice.periodKey, slice)
    this.slices.add(slice)
  }

  /** The slice draws come from for this tenant's period, if any. */
  current(tenantId: string, periodKey: string): Slice | null {
    return this.drawnFrom.get(tenantId)?.get(periodKey) ?? null
  }

  /**
   * Stops drawing from the slice; returns what it holds beyond its draws in flight, which the caller gives back
   * (trim.lua) and then reports with `gaveBack`.
   */
  retire(slice: Slice): number {
    if (slice.retired) return 0
    slice.retired = true
    const byPeriod = this.drawnFrom.get(slice.tenantId)
    if (byPeriod?.get(slice.periodKey) === slice) {
      byPeriod.delete(slice.periodKey)
      if (byPeriod.size === 0) this.drawnFrom.delete(slice.tenantId)
    }
    return Math.max(0, slice.held - slice.inflight)
  }

  /**
   * Redis lost the tenant's state (a recovery is about to put back what this gateway holds): its slices serve no
   * more draws, and each is to be put back only for the draws in flight, which were admitted against it.
   */
  lostWith(tenantId: string): Slice[] {
    const out: Slice[] = []
    for (const s of this.slices) {
      if (s.tenantId !== tenantId) continue
      this.retire(s)
      s.held = s.inflight
      out.push(s)
    }
    return out
  }

  /** Redis gave back `amount` of the slice's reservation. */
  gaveBack(slice: Slice, amount: number): void {
    slice.held = Math.max(0, slice.held - amount)
  }

  /** Current slices nobody drew from for `idleMs`, or past their draw window: to retire. */
  idle(now: number, idleMs: number): Slice[] {
    const out: Slice[] = []
    for (const s of this.slices) if (!s.retired && (now - s.lastDrawAt >= idleMs || now >= s.drawUntil)) out.push(s)
    return out
  }

  /** Retired slices with no draw left: their reservations can go (release.lua); they are forgotten here. */
  takeFinished(): Slice[] {
    const out: Slice[] = []
    for (const s of this.slices) if (s.retired && s.draws === 0) out.push(s)
    for (const s of out) this.forget(s)
    return out
  }

  /** A retired slice with no draw left, given back: forgotten. */
  forget(slice: Slice): void {
    this.slices.delete(slice)
  }

  /** Every slice not yet given back (shutdown retires them all). */
  all(): Slice[] {
    return [...this.slices]
  }

  size(): SliceTotals {
    let heldMicros = 0
    for (const s of this.slices) heldMicros += s.held
    return { slices: this.slices.size, draws: this.drawsById.size, heldMicros }
  }

  private end(requestId: string): Draw | undefined {
    const d = this.drawsById.get(requestId)
    if (!d) return undefined
    this.drawsById.delete(requestId)
    d.slice.inflight -= d.amount
    d.slice.draws--
    return d
  }
}
