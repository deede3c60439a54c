/**
 * Shared plumbing for the reliability and security suites: a gateway process wired to a fake upstream,
 * tenants and keys made through the real CLI, and read-backs of what the budget store and the ledger hold.
 * Every wait here is bounded; every server listens on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { startFakeUpstream, type DefaultMode, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'
import { startPostgres, type PgInstance } from '../../helpers/postgres.ts'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

/** The provider secret handed to every gateway process here (env UP_KEY); it must never come back out. */
export const PROVIDER_KEY = 'sk-up-provider-secret-7f3a9c2e41d8b6'

export interface TomlOptions {
  upstreamUrl: string
  timeoutMs?: number
  maxBodyBytes?: number
  /** Extra `[models."name"]` routed to other providers: name → base URL of an OpenAI-compatible server. */
  extraUpstreams?: Record<string, string>
}

/** The model every suite uses: 1 $/Mtok in, 2 $/Mtok out, at most 100 output tokens (so reservations are small). */
export const MODEL = 'm'

export function gatewayToml(o: TomlOptions): string {
  let t = ''
  if (o.maxBodyBytes) t += `[server]\nmax_body_bytes = ${o.maxBodyBytes}\n\n`
  t += `[providers.up]\nkind = "openai"\nbase_url = "${o.upstreamUrl}/v1"\napi_key_env = "UP_KEY"\ntimeout_ms = ${o.timeoutMs ?? 1000}\n\n`
  t += `[models."${MODEL}"]\nprovider = "up"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 100\n\n`
  let i = 0
  for (const [name, url] of Object.entries(o.extraUpstreams ?? {})) {
    t += `[providers.x${i}]\nkind = "openai"\nbase_url = "${url}/v1"\napi_key_env = "UP_KEY"\ntimeout_ms = ${o.timeoutMs ?? 1000}\n\n`
    t += `[models."${name}"]\nprovider = "x${i}"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 100\n\n`
    i++
  }
  t += '[providers.mock]\nkind = "mock"\n'
  return t
}

const dirs: string[] = []
/** Writes the TOML into a fresh temp dir; removed by cleanupTempDirs(). */
export function writeToml(text: string): string {
  const d = mkdtempSync(join(tmpdir(), 'gw-rel-'))
  dirs.push(d)
  const p = join(d, 'gateway.toml')
  writeFileSync(p, text)
  return p
}
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gw-rel-'))
  dirs.push(d)
  return d
}
export function cleanupTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
}

export type Env = Record<string, string | undefined>

/** Runs an admin subcommand; throws with its output unless it exits 0. */
export async function cli(args: string[], env: Env): Promise<string> {
  const r = await runGateway(args, { env })
  if (r.code !== 0) throw new Error(`gateway ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

export async function createTenant(env: Env, id: string, flags: string[] = []): Promise<void> {
  await cli(['tenant', 'create', id, ...flags], env)
}

export async function createKey(env: Env, tenant: string): Promise<{ key: string; keyId: string }> {
  const out = await cli(['key', 'create', tenant], env)
  const key = /shown once, store it now\): (\S+)/.exec(out)?.[1]
  const keyId = /key id: (\S+)/.exec(out)?.[1]
  if (!key || !keyId) throw new Error(`unexpected key create output:\n${out}`)
  return { key, keyId }
}

/** `tenant show` parsed: spend and reservations of the current period in µUSD, as the CLI reports them. */
export async function tenantShow(env: Env, id: string): Promise<{ spentMicros: number; reservedMicros: number; out: string }> {
  const out = await cli(['tenant', 'show', id], env)
  const m = /spent \$(\d+\.\d{6}), reserved \$(\d+\.\d{6})/.exec(out)
  if (!m) throw new Error(`unexpected tenant show output:\n${out}`)
  const micros = (s: string) => Math.round(Number(s) * 1e6)
  return { spentMicros: micros(m[1]!), reservedMicros: micros(m[2]!), out }
}

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex')

/**
 * A tenant's reservations read straight from Redis (cheaper than a CLI run): the sum of its `reserved:<period>`
 * counters and the number of reservation entries still open in `resv:amt`.
 */
export async function reservedInRedis(redisUrl: string, tenant: string): Promise<{ micros: number; open: number }> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await r.connect()
    const keys = await r.keys(`gw:{t:${tenant}}:reserved:*`)
    let micros = 0
    for (const k of keys) micros += Number((await r.get(k)) ?? 0)
    const open = await r.hlen(`gw:{t:${tenant}}:resv:amt`)
    return { micros, open }
  } finally {
    r.disconnect()
  }
}

export interface UsageRow { request_id: string; tenant_id: string; status: string; cost_usd_micros: number; completion_tokens: number }

export async function usageRows(pgUrl: string, tenant: string): Promise<UsageRow[]> {
  const sql = postgres(pgUrl, { max: 1, connect_timeout: 3, onnotice: () => {}, fetch_types: false })
  try {
    const rows = await sql<UsageRow[]>`select request_id, tenant_id, status, cost_usd_micros, completion_tokens from usage_records where tenant_id = ${tenant}`
    return rows.map((r) => ({ ...r, cost_usd_micros: Number(r.cost_usd_micros) }))
  } finally {
    await sql.end({ timeout: 1 })
  }
}

export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown = null
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await Bun.sleep(everyMs)
  }
}

export function chatBody(extra: Record<string, unknown> = {}, model = MODEL): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: 'hello reliability' }], ...extra }
}

export async function postChat(url: string, key: string, body: unknown, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: init.signal,
  })
}

/** The `data:` payloads of an SSE body, in order (the gateway writes one line per data field). */
export function sseData(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart())
}

/** Resident set size of a process in kB, from /proc/<pid>/status (null once it is gone). */
export function rssKb(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(s)
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

/** Is anything accepting TCP connections on 127.0.0.1:port? (A raw connect: no HTTP keep-alive pool in the way.) */
export async function acceptsConnections(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        open(s) { clearTimeout(timer); s.end(); resolve(true) },
        data() {},
        error() { clearTimeout(timer); resolve(false) },
        connectError() { clearTimeout(timer); resolve(false) },
      },
    }).catch(() => { clearTimeout(timer); resolve(false) })
  })
}

export interface StackOptions {
  /** Tenants created through the CLI, each with one key: id → extra `tenant create` flags. */
  tenants: Record<string, string[]>
  toml?: Omit<TomlOptions, 'upstreamUrl'>
  fake?: Partial<DefaultMode>
  /** A private Redis even when REDIS_URL is set (the suite kills or restarts it). */
  ownRedis?: boolean
}

export interface Stack {
  pg: PgInstance
  redis: TestRedis
  fake: FakeUpstream
  env: Env
  /** tenant id → its API key */
  keys: Record<string, string>
  gw: GatewayProcess
  stop(): Promise<void>
}

/** Postgres + Redis + a fake upstream + tenants and keys via the CLI + a ready gateway process. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const [pg, redis, fake] = await Promise.all([
    startPostgres(), startRedis({ own: o.ownRedis }), startFakeUpstream(o.fake ? { defaults: o.fake } : {}),
  ])
  const env: Env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, UP_KEY: PROVIDER_KEY }
  const keys: Record<string, string> = {}
  for (const [id, flags] of Object.entries(o.tenants)) {
    await createTenant(env, id, flags)
    keys[id] = (await createKey(env, id)).key
  }
  const gw = await spawnGateway(['serve', '--config', writeToml(gatewayToml({ upstreamUrl: fake.url, ...o.toml }))], { env })
  await gw.waitReady()
  const stop = async () => {
    await gw.stop('SIGKILL')
    await Promise.all([fake.stop(), redis.stop(), pg.stop()])
    cleanupTempDirs()
  }
  return { pg, redis, fake, env, keys, gw, stop }
}
