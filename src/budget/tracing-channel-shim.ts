/**
 * Node's `TracingChannel.hasSubscribers` (Node 22.0): true when any of its five channels has a subscriber. Bun
 * 1.4.5's TracingChannel lacks it, and ioredis traces a command unless `hasSubscribers === false`, so under Bun
 * every Redis command paid for tracing nobody listened to: each argument copied and matched against a dozen
 * regexes, a context object and two more promises (~3% of the gateway's CPU with the Redis ledger). Defined here
 * with Node's meaning, so an APM that subscribes to `ioredis:command` still gets its spans. Imported before
 * ioredis, which looks the channels up when it loads.
 */
import diagnostics from 'node:diagnostics_channel'

const probe = diagnostics.tracingChannel('gateway:probe') as unknown as Record<string, unknown>
const proto = Object.getPrototypeOf(probe) as object
if (!('hasSubscribers' in probe)) {
  Object.defineProperty(proto, 'hasSubscribers', {
    configurable: true,
    get(this: Record<string, { hasSubscribers?: boolean } | undefined>): boolean {
      return ['start', 'end', 'asyncStart', 'asyncEnd', 'error'].some((k) => this[k]?.hasSubscribers === true)
    },
  })
}
