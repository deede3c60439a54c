/** drainServer: the order of a graceful stop, against a fake server (the real one: test/integration/binary/signals). */
import { expect, test } from 'bun:test'
import { drainServer, type Drainable } from '../../src/drain.ts'
import { GatewayError } from '../../src/errors.ts'

function fakeServer() {
  const events: string[] = []
  let finishDrain!: () => void
  const drained = new Promise<void>((r) => (finishDrain = r))
  const server: Drainable = {
    stop(force) {
      events.push(force ? 'force-close' : 'stop-accepting')
      return force ? Promise.resolve() : drained
    },
  }
  return { server, events, finishDrain }
}

const logger = (events: string[]) => (f: Record<string, unknown>) => events.push(`log:${f.msg}`)

test('in-flight requests that finish before the deadline: no shutdown abort, no force close', async () => {
  const { server, events, finishDrain } = fakeServer()
  const shutdown = new AbortController()
  const d = drainServer({ server, deadlineMs: 10_000, shutdown, inFlight: () => 0, log: logger(events) })
  finishDrain()
  expect(await d.done).toBe(false)
  expect(shutdown.signal.aborted).toBe(false)
  expect(events).toEqual(['stop-accepting'])
})

test('at the deadline: shutdown is aborted first (reason server_shutdown), requests get to end, then connections close', async () => {
  const { server, events } = fakeServer()
  const shutdown = new AbortController()
  let inFlight = 2
  shutdown.signal.addEventListener('abort', () => {
    events.push('shutdown-aborted')
    setTimeout(() => { inFlight = 0 }, 30) // the routes end their streams and settle
  })
  const d = drainServer({ server, deadlineMs: 20, shutdown, inFlight: () => inFlight, log: logger(events), graceMs: 5_000 })
  expect(await d.done).toBe(true)
  expect(events).toEqual(['stop-accepting', 'log:drain deadline reached; ending in-flight requests', 'shutdown-aborted', 'force-close'])
  expect(shutdown.signal.reason).toBeInstanceOf(GatewayError)
  expect((shutdown.signal.reason as GatewayError).code).toBe('server_shutdown')
})

test('requests that do not end within the grace are cut by the force close (and it is logged)', async () => {
  const { server, events } = fakeServer()
  const d = drainServer({ server, deadlineMs: 0, shutdown: new AbortController(), inFlight: () => 1, log: logger(events), graceMs: 30 })
  expect(await d.done).toBe(true)
  expect(events).toEqual(['stop-accepting', 'log:drain deadline reached; ending in-flight requests', 'log:closing remaining connections', 'force-close'])
})

test('cutNow (a second signal) ends the drain without waiting for the deadline', async () => {
  const { server, events } = fakeServer()
  const shutdown = new AbortController()
  const d = drainServer({ server, deadlineMs: 60_000, shutdown, inFlight: () => 0, log: logger(events) })
  d.cutNow()
  expect(await d.done).toBe(true)
  expect(shutdown.signal.aborted).toBe(true)
  expect(events).toEqual(['stop-accepting', 'log:second signal; ending in-flight requests', 'force-close'])
})
