/**
 * The Redis ledger's background pass (every sweepMs, 1 s by default), which makes what a gateway holds (holdings.ts)
 * converge without waiting for the tenant's next request:
 * - retry the settles and releases that failed (Redis down or timing out): a served request's cost is owed
 *   whatever Redis said then, and a reservation never released would hold the tenant's budget until it expires;
 * - recover the tenants whose epoch in Redis is gone or not the one this gateway's holdings carry (Redis was
 *   emptied and no request of this gateway has noticed yet);
 * - ask the store about held records older than confirmAfterMs (another gateway's shipper may have shipped them).
 */
import type { LogFn } from '../log.ts'
import type { Holdings } from './holdings.ts'
import type { SettleInput, UsageRecord } from './types.ts'

export type PendingOp =
  | { kind: 'settle'; input: SettleInput; since: number }
  | { kind: 'release'; tenantId: string; periodKey: string; requestId: string; since: number }

/** Failed settles/releases by request, oldest first, until they go through or are older than giveUpMs. */
export class RetryQueue {
  private readonly ops = new Map<string, PendingOp>()
  constructor(
    private readonly max: number,
    private readonly giveUpMs: number,
    private readonly log: LogFn,
    /** Told of each operation dropped unapplied: the queue was full, or it was given up. */
    private readonly onDrop: (op: PendingOp) => void = () => {},
  ) {}

  static key(tenantId: string, requestId: string): string {
    return `${tenantId}\0${requestId}`
  }

  has(key: string): boolean {
    return this.ops.has(key)
  }

  get size(): number {
    return this.ops.size
  }

  keep(key: string, op: PendingOp): void {
    if (this.ops.size >= this.max) {
      this.log({ level: 'error', msg: `ledger retry queue full: a failed ${op.kind} is not retried`, request: key.split('\0')[1] })
      this.onDrop(op)
      return
    }
    this.ops.set(key, op)
  }

  /** Oldest first; stops at the first failure (Redis is likely still down: no point in timing out on every one). */
  async retry(now: number, run: (op: PendingOp) => Promise<unknown>): Promise<void> {
    for (const [key, op] of this.ops) {
      try {
        await run(op)
        this.ops.delete(key)
      } catch (e) {
        if (now - op.since < this.giveUpMs) return
        this.ops.delete(key)
        this.log({ level: 'error', msg: `ledger gave up retrying a ${op.kind}`, request: key.split('\0')[1], error: String(e) })
        this.onDrop(op)
      }
    }
  }
}

export interface SweepDeps {
  holdings: Holdings
  retries: RetryQueue
  now: () => number
  run: (op: PendingOp) => Promise<unknown>
  /** The tenant's epoch in Redis (null: none). */
  epochOf: (tenantId: string) => Promise<string | null>
  recover: (tenantId: string) => Promise<void>
  storedUsageIds?: (requestIds: readonly string[]) => Promise<string[]>
  confirmAfterMs: number
  everyMs: number
  /** One more step of every pass (the ledger's budget slices). */
  alsoEachPass?: () => Promise<void>
}

export function startSweep(d: SweepDeps): { sweep(): Promise<void>; stop(): Promise<void> } {
  async function checkEpochs(): Promise<void> {
    await Promise.all(d.holdings.held().map(async ([tenantId, epoch]) => {
      if ((await d.epochOf(tenantId)) !== epoch) await d.recover(tenantId)
    }))
  }

  /** Records another gateway's shipper shipped never reach this gateway's confirmStored: ask the store. */
  async function confirmOld(): Promise<void> {
    if (!d.storedUsageIds) return
    for (let i = 0; i < 10; i++) {
      const old: UsageRecord[] = d.holdings.unconfirmed(d.now() - d.confirmAfterMs, 1_000)
      if (old.length === 0) return
      const there = new Set(await d.storedUsageIds(old.map(r => r.requestId)))
      d.holdings.stored(old.filter(r => there.has(r.requestId)))
      if (there.size < old.length) return // the rest are not shipped yet
    }
  }

  let running: Promise<void> | null = null
  function sweep(): Promise<void> {
    running ??= (async () => {
      d.holdings.expire(d.now())
      // Each step on its own: Redis down must not keep the store from confirming records, nor the reverse.
      for (const step of [() => d.retries.retry(d.now(), d.run), checkEpochs, confirmOld, d.alsoEachPass ?? (async () => {})]) await step().catch(() => {})
    })().finally(() => { running = null })
    return running
  }
  let timer: ReturnType<typeof setInterval> | null = setInterval(() => { void sweep() }, d.everyMs)
  timer.unref?.()
  return {
    sweep,
    async stop() {
      if (timer) { clearInterval(timer); timer = null }
      await running?.catch(() => {})
    },
  }
}
