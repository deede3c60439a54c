/**
 * The compiled executable, alone in an empty directory (no node_modules), runs every subcommand and serves
 * the proxy against real Postgres, Redis and fake upstreams.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import OpenAI from 'openai'
import { tenantKeys } from '../../../src/budget/scripts.ts'
import { anthropicTextStream, openaiTextStream, sseReply, startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { describePostgresUrl } from '../../../src/store/index.ts'
import { postgresMigrations } from '../../../src/store/migrations/index.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
let dir: string
let binary: string
let pg: PgInstance
let redis: TestRedis
let upstream: FakeUpstream
let gw: GatewayProcess
let key: string

const env = () => ({ DATABASE_URL: pg.url, REDIS_URL: redis.url, UP_KEY: 'sk-up-secret', ANT_KEY: 'sk-ant-secret' })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-bin-'))
  binary = join(dir, 'gateway')
  const build = Bun.spawnSync(['bash', `${ROOT}build.sh`], { env: { ...process.env, OUT: binary }, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  ;[pg, redis, upstream] = await Promise.all([startPostgres(), startRedis(), startFakeUpstream()])
  writeFileSync(join(dir, 'gateway.toml'), `
[providers.up]
kind = "openai"
base_url = "${upstream.url}/v1"
api_key_env = "UP_KEY"
[providers.ant]
kind = "anthropic"
base_url = "${upstream.url}"
api_key_env = "ANT_KEY"
[providers.mock]
kind = "mock"
[models."up-model"]
provider = "up"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
max_output_tokens = 200
[models."ant-model"]
provider = "ant"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
max_output_tokens = 200
`)
  const opts = { binary, cwd: dir, env: env() }
  expect((await runGateway(['migrate'], opts)).code).toBe(0)
  expect((await runGateway(['tenant', 'create', 'acme', '--budget-usd', '10', '--period', 'day'], opts)).code).toBe(0)
  const k = await runGateway(['key', 'create', 'acme'], opts)
  key = /store it now\): (\S+)/.exec(k.stdout)![1]!
  // Flag-first, no `serve`: the spelling ops use (`./gateway --warm-limit 50`) must get the raised fetch cap too.
  gw = await spawnGateway(['--warm-limit', '4', '--config', join(dir, 'gateway.toml')], opts)
  await gw.waitReady()
}, 120_000)

afterAll(async () => {
  await gw?.stop()
  await Promise.all([pg?.stop(), redis?.stop(), upstream?.stop()])
  rmSync(dir, { recursive: true, force: true })
})

test('--version and --help from an empty directory', async () => {
  const v = await runGateway(['--version'], { binary, cwd: dir })
  expect(v.stdout).toMatch(/^gateway \d+\.\d+\.\d+/)
  expect((await runGateway(['--help'], { binary, cwd: dir })).stdout).toContain('gateway tenant create')
})

test('admin commands from the binary: words, the store line, embedded migrations, --json, Redis not needed', async () => {
  const opts = { binary, cwd: dir, env: env() }
  expect((await runGateway(['version'], opts)).stdout).toMatch(/^gateway \d+\.\d+\.\d+/)
  expect((await runGateway(['help'], opts)).stdout).toContain('gateway key rotate KEY_ID')
  const migrate = await runGateway(['migrate'], opts)
  expect(migrate.stdout).toBe(`schema is up to date at version ${postgresMigrations.at(-1)!.version}: no migrations pending\n`)
  expect(migrate.stderr).toBe(`gateway: store: postgres ${describePostgresUrl(pg.url)}\n`)
  const tenants = JSON.parse((await runGateway(['tenant', 'list', '--json'], opts)).stdout) as { id: string; active_keys: number }[]
  expect(tenants.find((t) => t.id === 'acme')).toMatchObject({ active_keys: 1 })
  const keys = JSON.parse((await runGateway(['key', 'list', 'acme', '--json'], opts)).stdout) as { status: string }[]
  expect(keys.map((k) => k.status)).toEqual(['active'])
  const noRedis = { ...opts, env: { ...env(), REDIS_URL: 'redis://127.0.0.1:1' } }
  const show = await runGateway(['tenant', 'show', 'acme'], noRedis)
  expect(show.code).toBe(0)
  expect(show.stdout).toContain('live spent/reserved figures are unavailable')
  const usage = JSON.parse((await runGateway(['usage', 'acme', '--json'], noRedis)).stdout)
  expect(usage.by).toBe('day')
})

test('started flag-first, the server re-executed itself (same pid) with Bun\'s outgoing fetch cap lifted and the allocator\'s hole purging off', async () => {
  const environ = (await Bun.file(`/proc/${gw.proc.pid}/environ`).text()).split('\0')
  expect(environ).toContain('BUN_CONFIG_MAX_HTTP_REQUESTS=65535')
  expect(environ).toContain('MIMALLOC_PURGE_HOLES=0')
  const ready = gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === 'ready')
  expect(ready).toMatchObject({ fetch_cap: 65535 })
})

test('boot logged ready with the warm-up and three [COLD-START] lines follow the first requests', async () => {
  const client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 })
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'mock-echo', messages: [{ role: 'user', content: 'x' }] })
  // Log lines are written after the reply, batched per event-loop turn.
  await gw.waitForOutput(/"msg":"\[COLD-START\]","n":3/)
  const lines = gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  expect(lines.find((l) => l.msg === 'ready')).toMatchObject({ store: 'postgres', ledger: 'redis', tenants: 1 })
  const cold = lines.filter((l) => l.msg === '[COLD-START]')
  expect(cold.map((l) => l.n)).toEqual([1, 2, 3])
})

describe('proxy through the binary with the openai SDK', () => {
  const client = () => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 })

  test('openai upstream, streamed with usage', async () => {
    upstream.program(sseReply(openaiTextStream({ parts: ['Hel', 'lo'], promptTokens: 5, completionTokens: 2 }), { chunkSize: 7 }))
    const stream = await client().chat.completions.create({ model: 'up-model', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
    let text = ''
    let usage = null
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? ''
      if (c.usage) usage = c.usage
    }
    expect(text).toBe('Hello')
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 2 })
  })

  test('anthropic upstream, streamed and translated', async () => {
    upstream.program(sseReply(anthropicTextStream({ parts: ['Bon', 'jour'] }), { chunkSize: 5 }))
    const stream = await client().chat.completions.create({ model: 'ant-model', messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
    expect(text).toBe('Bonjour')
  })

  test('a client that disconnects mid-stream: the upstream reply is read to its end, not abandoned', async () => {
    const events = openaiTextStream({ parts: ['a', 'b', 'c', 'd'], completionTokens: 300 }).split('\n\n').filter((e) => e).map((e) => `${e}\n\n`)
    upstream.program({ kind: 'sse', chunks: events, chunkDelayMs: 40 })
    const index = upstream.requests.length
    const ctl = new AbortController()
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', signal: ctl.signal, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'up-model', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    })
    const reader = res.body!.getReader()
    await reader.read()
    ctl.abort()
    // The gateway keeps reading for the usage report, so the upstream never sees the client leave.
    await expect(upstream.waitForAbort(index, events.length * 40 + 500)).rejects.toThrow()
  })

  test('an upstream error mid-stream reaches the SDK as an error after the partial text', async () => {
    upstream.program(sseReply(anthropicTextStream({ parts: ['par', 'tial'] }).split('event: message_delta')[0] +
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'))
    const stream = await client().chat.completions.create({ model: 'ant-model', messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
    })().then(() => null, (e: unknown) => e as Error)
    expect(text).toBe('partial')
    expect(String(err)).toContain('Overloaded')
  })

  test('bad key → 401 from the binary', async () => {
    const bad = new OpenAI({ apiKey: 'gw_wrongwrongwrongwrong', baseURL: `${gw.url}/v1`, maxRetries: 0 })
    const err = await bad.models.list().then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' })
  })

  test('tenant show through the binary reports the spend recorded in Redis', async () => {
    const show = await runGateway(['tenant', 'show', 'acme'], { binary, cwd: dir, env: env() })
    expect(show.code).toBe(0)
    const m = /spent \$(\d+\.\d{6}), reserved \$0\.000000/.exec(show.stdout)
    expect(m).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThan(0)
  })
})

test('--budget-slice-usd from the binary: requests are admitted from a slice, /metrics counts it, a stop gives it back', async () => {
  const sliced = await spawnGateway(['--budget-slice-usd', '0.5', '--config', join(dir, 'gateway.toml')], { binary, cwd: dir, env: env() })
  const admin = new Redis(redis.url)
  try {
    await sliced.waitReady()
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${sliced.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-echo', max_tokens: 5, messages: [{ role: 'user', content: `slice ${i}` }] }),
      })
      expect(r.status).toBe(200)
      await r.arrayBuffer()
    }
    const slicesIn = async () => (await admin.zrange(tenantKeys('acme').resv, 0, -1)).filter((id) => id.startsWith('slice:'))
    expect((await slicesIn()).length).toBe(1) // one lease served all three
    const gauge = async () => Number(/^gateway_budget_slices (\d+)$/m.exec(await (await fetch(`${sliced.url}/metrics`)).text())?.[1])
    for (const until = Date.now() + 5_000; (await gauge()) !== 1 && Date.now() < until;) await Bun.sleep(100)
    expect(await gauge()).toBe(1)
    expect(await sliced.stop()).toBe(0)
    expect(await slicesIn()).toEqual([])
  } finally {
    admin.disconnect()
    await sliced.stop()
  }
})

test('the embedded default works from the binary: demo prints a curl line that works', async () => {
  const demo = await spawnGateway(['demo'], { binary, cwd: dir, env: { GATEWAY_DATA_DIR: join(dir, 'data') } })
  try {
    const out = await demo.waitForOutput(/Bearer (gw_\S+)'/)
    await demo.waitReady()
    const demoKey = /Bearer (gw_[^']+)'/.exec(out)![1]!
    const r = await fetch(`${demo.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-echo', messages: [{ role: 'user', content: 'hello gateway' }] }),
    })
    expect(((await r.json()) as any).choices[0].message.content).toBe('Echo: hello gateway')
    expect(demo.output()).toContain('no REDIS_URL')
  } finally {
    expect(await demo.stop('SIGTERM')).toBe(0)
  }
  // The usage row was written by the usage writer thread, a second entrypoint of the executable (build.sh).
  const usage = await runGateway(['usage', 'demo', '--json'], { binary, cwd: dir, env: { GATEWAY_DATA_DIR: join(dir, 'data') } })
  expect(JSON.parse(usage.stdout).total).toMatchObject({ requests: 1, prompt_tokens: 3 })
})
