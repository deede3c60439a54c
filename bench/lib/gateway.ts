/**
 * Our gateway as the compiled binary (`dist/gateway`), its config file, and tenants/keys seeded straight
 * into Postgres with SQL (fast enough for 10,000 tenants; `gateway tenant create` would spawn per tenant).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Redis } from 'ioredis'
import postgres from 'postgres'
import { tenantKeys } from '../../src/budget/scripts.ts'
import { freePort } from '../../test/helpers/ports.ts'
import { SERVER_STARTUP_ENV } from '../../src/startup-env.ts'
import { ROOT, spawnChild, TMP, waitHttp, type Child } from './procs.ts'

export const BINARY = `${ROOT}dist/gateway`
let binary = BINARY
/** The executable the scenarios run: dist/gateway, unless the runner had to build a fallback elsewhere. */
export const gatewayBinary = () => binary
export const useGatewayBinary = (path: string) => { binary = path }
export { TMP }
export const UPSTREAM_KEY = 'sk-bench-upstream'

/** Prices in USD per million tokens: bench-model is cheap; bench-race costs ~2,000 µUSD per reply. */
export function writeConfig(name: string, upstreamUrl: string): string {
  mkdirSync(TMP, { recursive: true })
  const path = `${TMP}/${name}.toml`
  writeFileSync(path, `[providers.up]
kind = "openai"
base_url = "${upstreamUrl}/v1"
api_key_env = "UP_KEY"

[models."bench-model"]
provider = "up"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
max_output_tokens = 1000

[models."bench-race"]
provider = "up"
input_usd_per_mtok = 1
output_usd_per_mtok = 100
max_output_tokens = 1000
`)
  return path
}

export function sha256Hex(s: string): string {
  return new Bun.CryptoHasher('sha256').update(s).digest('hex')
}

export function dbMigrate(databaseUrl: string, redisUrl: string): void {
  const r = Bun.spawnSync([binary, 'migrate'], { cwd: ROOT, env: { ...gatewayEnv(databaseUrl, redisUrl) }, stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`gateway migrate failed (${r.exitCode}): ${r.stderr.toString()}${r.stdout.toString()}`)
}

/** `K=V,K2=V2` → the environment those name (the benches' `--env` options). */
export const envOf = (spec: string): Record<string, string> =>
  Object.fromEntries(spec.split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))

/** `null` store URLs leave the variable unset: the embedded store (bun:sqlite) / the in-process ledger. */
export function gatewayEnv(databaseUrl: string | null, redisUrl: string | null, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|GATEWAY_|OPENAI_|ANTHROPIC_|BUN_CONFIG_|MIMALLOC_)/.test(k)) env[k] = v
  }
  if (databaseUrl) env.DATABASE_URL = databaseUrl
  if (redisUrl) env.REDIS_URL = redisUrl
  return { ...env, UP_KEY: UPSTREAM_KEY, ...extra }
}

/**
 * One tenant (strict, $1e9 budget) and one key in an embedded store under `dataDir`, through the binary's
 * own admin commands; returns the key.
 */
export function seedEmbedded(dataDir: string, tenant: string): string {
  const run = (args: string[]) => {
    const r = Bun.spawnSync([binary, ...args, '--data-dir', dataDir], { cwd: ROOT, env: gatewayEnv(null, null), stdout: 'pipe', stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Error(`gateway ${args.join(' ')} failed (${r.exitCode}): ${r.stderr.toString()}`)
    return r.stdout.toString()
  }
  run(['tenant', 'create', tenant, '--budget-usd', '1000000000', '--period', 'total', '--policy', 'strict'])
  const m = /(gw_\S+)/.exec(run(['key', 'create', tenant]))
  if (!m) throw new Error('gateway key create printed no key')
  return m[1]!
}

export interface SeedOptions {
  prefix: string
  tenants: number
  keysPerTenant: number
  budgetUsdMicros: number | null
  period?: 'total' | 'day' | 'month'
  policy?: 'strict' | 'fixed'
}

/**
 * Inserts `tenants` tenants (`<prefix>-<i>`) with `keysPerTenant` keys each, generated server-side with
 * generate_series; key j of tenant i is `gwb_<prefix>_<i>_<j>` and its hash is sha256 hex, as the gateway stores it.
 */
export async function seedTenants(databaseUrl: string, o: SeedOptions): Promise<{ keyFor: (i: number, j?: number) => string; ms: number }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const t0 = performance.now()
  try {
    const cols = await sql<{ column_name: string }[]>`select column_name from information_schema.columns where table_name = 'tenants'`
    const hasFailOpen = cols.some((c) => c.column_name === 'fail_open')
    await sql.begin(async (tx) => {
      await tx.unsafe(`insert into tenants (id, budget_usd_micros, budget_period, policy${hasFailOpen ? ', fail_open' : ''})
        select $1 || '-' || i, $2::bigint, $3, $4${hasFailOpen ? ', false' : ''} from generate_series(1, $5::int) i`,
      [o.prefix, o.budgetUsdMicros, o.period ?? 'total', o.policy ?? 'strict', o.tenants])
      await tx.unsafe(`insert into api_keys (id, tenant_id, key_hash, prefix, name)
        select 'kb_' || $1 || '_' || i || '_' || j, $1 || '-' || i,
               encode(sha256(convert_to('gwb_' || $1 || '_' || i || '_' || j, 'UTF8')), 'hex'),
               left('gwb_' || $1, 12), 'bench'
        from generate_series(1, $2::int) i, generate_series(1, $3::int) j`,
      [o.prefix, o.tenants, o.keysPerTenant])
    })
  } finally {
    await sql.end({ timeout: 1 })
  }
  return { keyFor: (i, j = 1) => `gwb_${o.prefix}_${i}_${j}`, ms: performance.now() - t0 }
}

export interface GatewayHandle {
  child: Child
  url: string
  pid: number
  /** Spawn → first `/readyz` 200, measured by polling every 5 ms. */
  readyMs: number
  stop: () => Promise<void>
}

export async function startOurGateway(o: {
  name: string; databaseUrl: string | null; redisUrl: string | null; config: string; warmLimit?: number; env?: Record<string, string>
  /** Embedded store directory (with `databaseUrl: null`). */
  dataDir?: string
  /**
   * Run from source under `bun --cpu-prof-md`, writing the profile into this directory at exit. The startup
   * settings (src/startup-env.ts) are set from outside so main.ts does not re-execute (the re-exec would drop
   * bun's own flags).
   */
  profileDir?: string
  /** More `bun` flags with profileDir, e.g. `--cpu-prof-interval=100`, `--heap-prof-md`. */
  profileFlags?: string[]
}): Promise<GatewayHandle> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  const exe = o.profileDir
    ? [process.execPath, '--cpu-prof-md', `--cpu-prof-dir=${o.profileDir}`, ...(o.profileFlags ?? []), `${ROOT}src/main.ts`]
    : [binary]
  const env = { ...(o.profileDir ? SERVER_STARTUP_ENV : {}), ...o.env }
  const child = spawnChild(o.name, [...exe, 'serve', '--port', String(port), '--host', '127.0.0.1',
    '--warm-limit', String(o.warmLimit ?? 50), '--config', o.config, ...(o.dataDir ? ['--data-dir', o.dataDir] : [])],
  { env: gatewayEnv(o.databaseUrl, o.redisUrl, env) })
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${o.name} exited ${child.proc.exitCode}:\n${child.output().slice(-3000)}`)
    if (performance.now() - t0 > 60_000) throw new Error(`${o.name} not ready within 60 s:\n${child.output().slice(-3000)}`)
    try {
      const r = await fetch(`${url}/readyz`)
      await r.arrayBuffer()
      if (r.status === 200) break
    } catch {}
    await Bun.sleep(5)
  }
  const readyMs = performance.now() - t0
  return { child, url, pid: child.proc.pid, readyMs, stop: () => child.stop() }
}

/** The gateway's JSON log lines whose `msg` matches. */
export function logLines(child: Child, msg: string): Record<string, any>[] {
  const out: Record<string, any>[] = []
  for (const l of child.output().split('\n')) {
    if (!l.startsWith('{')) continue
    try {
      const j = JSON.parse(l)
      if (j.msg === msg) out.push(j)
    } catch {}
  }
  return out
}

export { waitHttp }

/**
 * Waits (at most 20 s) until the usage records the tenants' Redis gateways settled are shipped out of Redis, so one
 * target's shipping does not run during the next one's cell; says so through `warn` if they are not.
 */
export async function usageShipped(admin: Redis, tenants: readonly string[], warn: (msg: string) => void): Promise<void> {
  const streams = tenants.map((t) => tenantKeys(t).ledger)
  for (const until = performance.now() + 20_000; performance.now() < until; await Bun.sleep(100)) {
    const left = (await Promise.all(streams.map((k) => admin.xlen(k)))).reduce((a, b) => a + b, 0)
    if (left === 0) return
  }
  warn('warning: usage records still wait in Redis after 20 s; the next cell runs beside their shipping')
}
