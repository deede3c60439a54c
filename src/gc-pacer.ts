/**
 * Asks the collector to run when the process has grown since it last did. JavaScriptCore collects on its own
 * schedule, which under 1,000 concurrent streams let garbage (each chunk's promises, parsed objects and buffers)
 * reach 2–3× the live heap: RSS peaked at 210–265 MiB where a collection brought it back to ~120 MiB. A check
 * every 100 ms (one RSS read) and a non-blocking collection request when RSS grew by 8 MiB since the last one
 * (or since it last shrank) held the peak at 185–205 MiB; an idle or steady process never collects because of this.
 */
export interface GcPacer {
  stop(): void
  /** Collections requested so far. */
  readonly requested: number
}

export function startGcPacer(o: {
  everyMs?: number
  growthMiB?: number
  rss?: () => number
  collect?: () => void
} = {}): GcPacer {
  const rss = o.rss ?? (() => process.memoryUsage.rss())
  const collect = o.collect ?? (() => Bun.gc(false))
  const growth = (o.growthMiB ?? 8) * 2 ** 20
  let base = rss()
  let requested = 0
  const timer = setInterval(() => {
    const now = rss()
    if (now < base) base = now // shrank (the collector ran on its own): measure growth from here
    else if (now - base >= growth) {
      collect()
      requested++
      base = rss()
    }
  }, o.everyMs ?? 100)
  timer.unref()
  return {
    stop: () => clearInterval(timer),
    get requested() {
      return requested
    },
  }
}
