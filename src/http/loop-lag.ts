/**
 * Event-loop lag: how late a periodic timer fires. A blocked loop (a sync hot spot, GC pause, CPU starvation)
 * delays every request by as much, so it is sampled all the time (one timer; Bun has no monitorEventLoopDelay).
 */
export function startLoopLagMonitor(observe: (lagMs: number) => void, everyMs = 250): () => void {
  let expected = performance.now() + everyMs
  const timer = setInterval(() => {
    const now = performance.now()
    observe(Math.max(0, now - expected))
    expected = now + everyMs
  }, everyMs)
  timer.unref() // never what keeps the process alive
  return () => clearInterval(timer)
}
