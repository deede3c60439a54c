/**
 * ioredis traces each command unless TracingChannel.hasSubscribers is false, which Bun does not define: the shim
 * defines it with Node's meaning. Nobody listening: false (ioredis skips its tracing); an APM subscribed to
 * `ioredis:command`: true, and it still sees the gateway's commands.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import diagnostics from 'node:diagnostics_channel'
import { connectRedis } from '../../../src/budget/redis-connect.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

const hasSubscribers = (c: unknown) => (c as { hasSubscribers?: boolean }).hasSubscribers

test('a tracing channel says whether anyone listens to any of its events', () => {
  const channel = diagnostics.tracingChannel('gateway:test:shim')
  expect(hasSubscribers(channel)).toBe(false)
  const handlers = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
  const onlyError = { error: () => {} }
  channel.subscribe(onlyError as never)
  expect(hasSubscribers(channel)).toBe(true)
  channel.unsubscribe(onlyError as never)
  expect(hasSubscribers(channel)).toBe(false)
  channel.subscribe(handlers)
  expect(hasSubscribers(channel)).toBe(true)
  channel.unsubscribe(handlers)
  expect(hasSubscribers(channel)).toBe(false)
})

test('commands are not traced with nobody listening, and are traced for a subscriber', async () => {
  const client = connectRedis({ url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 2000 }) as import('ioredis').Redis
  await client.connect()
  try {
    const channel = diagnostics.tracingChannel('ioredis:command')
    expect(hasSubscribers(channel)).toBe(false)
    const seen: string[] = []
    const handlers = { start: (ctx: { command?: string }) => void seen.push(String(ctx.command)), end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
    channel.subscribe(handlers as never)
    try {
      expect(await client.ping()).toBe('PONG')
    } finally {
      channel.unsubscribe(handlers as never)
    }
    expect(seen.map((c) => c.toLowerCase())).toContain('ping')
    seen.length = 0
    expect(await client.ping()).toBe('PONG')
    expect(seen).toEqual([])
  } finally {
    client.disconnect()
  }
})
