/**
 * The drain of a graceful stop: stop accepting, let in-flight requests finish until the deadline (or a second
 * signal), then abort the shutdown signal so routes end what is left themselves (a stream with one error
 * event, settled as `shutdown`), give them a moment, and only then force-close the remaining connections.
 */
import { GatewayError } from './errors.ts'
import type { LogFn } from './log.ts'

/** After the deadline, how long requests get to write their error event and settle before sockets are cut. */
export const SHUTDOWN_GRACE_MS = 2_000
const POLL_MS = 20

export interface Drainable {
  /** Bun's server.stop: false waits for in-flight requests, true closes every connection now. */
  stop(closeActiveConnections?: boolean): Promise<void>
}

export interface DrainOptions {
  server: Drainable
  deadlineMs: number
  /** Aborted (reason: GatewayError 'server_shutdown') when the deadline is reached; AppDeps.shutdown is its signal. */
  shutdown: AbortController
  /** Requests still in progress (streams until their end). */
  inFlight: () => number
  log: LogFn
  graceMs?: number
}

export interface Drain {
  /** Resolves when the server is closed; true when requests had to be ended. */
  done: Promise<boolean>
  /** Ends the drain now, as if the deadline were reached (a second SIGTERM/SIGINT). */
  cutNow: () => void
}

export function drainServer(o: DrainOptions): Drain {
  let cutNow!: () => void
  const cut = new Promise<'cut'>((r) => (cutNow = () => r('cut')))
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<'deadline'>((r) => (timer = setTimeout(() => r('deadline'), o.deadlineMs)))
  const done = (async () => {
    // Idle connections are not the end: a request whose client left is still read to its end (and settled).
    const drained = o.server.stop(false).then(async () => {
      while (o.inFlight() > 0) await Bun.sleep(POLL_MS)
      return 'drained' as const
    })
    const why = await Promise.race([drained, deadline, cut])
    clearTimeout(timer)
    if (why === 'drained') return false
    o.log({ level: 'warn', msg: why === 'cut' ? 'second signal; ending in-flight requests' : 'drain deadline reached; ending in-flight requests', in_flight: o.inFlight(), deadline_ms: o.deadlineMs })
    o.shutdown.abort(new GatewayError('server_shutdown', 'The gateway is shutting down and ended this request; retry it.'))
    const graceEnds = performance.now() + (o.graceMs ?? SHUTDOWN_GRACE_MS)
    while (o.inFlight() > 0 && performance.now() < graceEnds) await Bun.sleep(POLL_MS)
    if (o.inFlight() > 0) o.log({ level: 'warn', msg: 'closing remaining connections', in_flight: o.inFlight() })
    await o.server.stop(true)
    // Streams cut by the close settle in their cancel handlers; give them a moment to finish their Lua calls.
    await Bun.sleep(200)
    return true
  })()
  return { done, cutNow }
}
