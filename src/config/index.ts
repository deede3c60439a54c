/**
 * The only code that reads process.env, flags and the config file. Everything is parsed once, every
 * problem is collected (not just the first), and the result is frozen and injected everywhere else.
 */
import { readFileSync } from 'node:fs'
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../log.ts'
import type { ModelConfig, ProviderConfig, ProviderKind } from './types.ts'
import { parseArgv, type Command } from './argv.ts'
import { descriptorFor, PROVIDERS } from '../providers/registry.ts'
import { builtinModels, kindModels } from './catalog.ts'
import { parseModelPricing } from './model-pricing.ts'
import { usdToMicros } from '../budget/money.ts'

export interface GatewayConfig {
  command: Command
  positionals: string[]
  flags: Readonly<Record<string, string>>
  port: number
  host: string
  warmLimit: number
  configPath: string | null
  dataDir: string
  /** Neither --data-dir nor GATEWAY_DATA_DIR was given (admin commands warn: a forgotten DATABASE_URL looks like this). */
  dataDirDefaulted: boolean
  databaseUrl: string | null
  redisUrl: string | null
  /** GATEWAY_ADMIN_KEY: enables the admin HTTP API (src/admin/api.ts); null = no admin routes at all. */
  adminKey: string | null
  /** GATEWAY_ADMIN_READONLY_KEY: a second admin credential limited to the API's GET routes. */
  adminReadonlyKey: string | null
  maxBodyBytes: number
  /** How long a SIGTERM/SIGINT waits for in-flight requests before ending them (`shutdown`). */
  drainTimeoutMs: number
  /** µUSD of a tenant's budget the Redis ledger leases at a time (budget slices, src/budget/slices.ts); 0 = off. */
  budgetSliceMicros: number
  logLevel: LogLevel
  /** A second listener for /metrics only (then the main port does not serve it); null: /metrics on the main port. */
  metricsListen: ListenAddress | null
  providers: Readonly<Record<string, ProviderConfig>>
  models: Readonly<Record<string, ModelConfig>>
}

export interface ListenAddress {
  host: string
  port: number
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: string[] }

type Env = Record<string, string | undefined>
type ReadFile = (path: string) => string

/** Until upstream response headers; a non-streamed reply's headers follow the whole generation (the SDKs wait 10 min). */
const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000
/** A drain never needs to outlast the longest request (MAX_REQUEST_MS, 100 minutes). */
const MAX_DRAIN_TIMEOUT_MS = 6_000_000

/** `host:port` or `[v6]:port`; null when malformed. */
export function parseListenAddress(s: string): ListenAddress | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):(\d{1,5})$/.exec(s.trim())
  if (!m) return null
  const port = Number(m[3])
  if (port > 65535) return null
  return { host: m[1] ?? m[2]!, port }
}

function intIn(errors: string[], what: string, raw: unknown, min: number, max: number): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined
  const n = typeof raw === 'number' ? raw : Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) {
    errors.push(`${what} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`)
    return undefined
  }
  return n
}

/** The first set source (flag, env, file) of a log level; each bad one is reported. */
function oneOf(errors: string[], sources: Array<[string, unknown]>): LogLevel | undefined {
  let found: LogLevel | undefined
  for (const [what, raw] of sources) {
    if (raw === undefined || raw === '') continue
    if (!isLogLevel(raw)) errors.push(`${what} must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw)})`)
    else found ??= raw
  }
  return found
}

function listenIn(errors: string[], sources: Array<[string, unknown]>): ListenAddress | undefined {
  let found: ListenAddress | undefined
  for (const [what, raw] of sources) {
    if (raw === undefined || raw === '') continue
    const a = typeof raw === 'string' ? parseListenAddress(raw) : null
    if (!a) errors.push(`${what} must be host:port, e.g. 127.0.0.1:9090 (got ${JSON.stringify(raw)})`)
    else found ??= a
  }
  return found
}

/** Most a budget slice may be: a slice is budget other gateways cannot use while this one holds it. */
const MAX_BUDGET_SLICE_USD = 10_000

/** The first set source (flag, env, file) of an amount in USD, as µUSD; each bad one is reported. */
function usdIn(errors: string[], sources: Array<[string, unknown]>, max: number): number | undefined {
  let found: number | undefined
  for (const [what, raw] of sources) {
    if (raw === undefined || raw === null || raw === '') continue
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*[0-9.eE+-]+\s*$/.test(raw) ? Number(raw) : NaN
    if (!Number.isFinite(n) || n < 0 || n > max) errors.push(`${what} must be an amount in USD from 0 to ${max} (got ${JSON.stringify(raw)})`)
    else found ??= usdToMicros(n)
  }
  return found
}

/** Shortest admin key accepted: a guessable admin key would hand out every tenant's budget and keys. */
export const MIN_ADMIN_KEY_LENGTH = 32

/**
 * The admin secrets come from the environment only (never a flag, which `ps` shows, nor the config file).
 * Messages name the variable, never the value.
 */
function adminKeysIn(errors: string[], env: Env): { adminKey: string | null; adminReadonlyKey: string | null } {
  const check = (name: string): string | null => {
    const v = env[name]
    if (v === undefined || v === '') return null
    // Visible ASCII only: the key travels in an `Authorization: Bearer` header, which cannot carry spaces or controls.
    if (!/^[\x21-\x7e]+$/.test(v)) errors.push(`${name} may only contain visible ASCII characters (no spaces)`)
    else if (v.length < MIN_ADMIN_KEY_LENGTH) errors.push(`${name} must be at least ${MIN_ADMIN_KEY_LENGTH} characters (got ${v.length}); generate one with: openssl rand -hex 32`)
    else return v
    return null
  }
  const adminKey = check('GATEWAY_ADMIN_KEY')
  const adminReadonlyKey = check('GATEWAY_ADMIN_READONLY_KEY')
  if (adminReadonlyKey !== null && !env.GATEWAY_ADMIN_KEY) errors.push('GATEWAY_ADMIN_READONLY_KEY is set without GATEWAY_ADMIN_KEY, which enables the admin API')
  if (adminReadonlyKey !== null && adminReadonlyKey === adminKey) errors.push('GATEWAY_ADMIN_READONLY_KEY must differ from GATEWAY_ADMIN_KEY')
  return { adminKey, adminReadonlyKey }
}

function readToml(errors: string[], path: string, readFile: ReadFile): Record<string, any> {
  let text: string
  try {
    text = readFile(path)
  } catch (e) {
    errors.push(`config file ${path}: cannot read (${(e as Error).message})`)
    return {}
  }
  try {
    return Bun.TOML.parse(text) as Record<string, any>
  } catch (e) {
    errors.push(`config file ${path}: invalid TOML (${(e as Error).message})`)
    return {}
  }
}

/** The providers that exist with no config file: each hosted API's, or in `demo` the in-process one too. */
function builtinProviders(env: Env, demo: boolean): Record<string, ProviderConfig> {
  const out: Record<string, ProviderConfig> = {}
  for (const d of PROVIDERS) {
    const b = d.builtin
    if (!b || (b.when === 'demo' && !demo)) continue
    out[b.name] = {
      name: b.name, kind: d.kind, timeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS, keyRequired: b.apiKeyEnv !== undefined,
      baseUrl: (b.baseUrlEnv && env[b.baseUrlEnv]) || b.baseUrl, apiKey: (b.apiKeyEnv && env[b.apiKeyEnv]) || null,
    }
  }
  return out
}

const KINDS = new Set<ProviderKind>(PROVIDERS.map((d) => d.kind))
const KIND_LIST = PROVIDERS.map((d) => d.kind).join(', ')

function fileProviders(errors: string[], file: Record<string, any>, env: Env, out: Record<string, ProviderConfig>) {
  const section = file.providers ?? {}
  for (const [name, p] of Object.entries<any>(section)) {
    const where = `providers.${name}`
    if (typeof p !== 'object' || p === null) { errors.push(`${where} must be a table`); continue }
    const kind = p.kind ?? (KINDS.has(name as ProviderKind) ? name : undefined)
    if (!KINDS.has(kind)) { errors.push(`${where}.kind must be one of ${KIND_LIST} (got ${JSON.stringify(p.kind)})`); continue }
    const d = descriptorFor(kind)
    if (p.base_url !== undefined && (typeof p.base_url !== 'string' || !URL.canParse(p.base_url))) {
      errors.push(`${where}.base_url must be a URL (got ${JSON.stringify(p.base_url)})`)
    }
    if (p.api_key_env !== undefined && typeof p.api_key_env !== 'string') errors.push(`${where}.api_key_env must be a string`)
    const timeoutMs = intIn(errors, `${where}.timeout_ms`, p.timeout_ms, 100, 3_600_000)
    const idleTimeoutMs = intIn(errors, `${where}.idle_timeout_ms`, p.idle_timeout_ms, 100, 3_600_000)
    const base = out[name]
    // flag > environment > file: a built-in provider's base URL variable (OPENAI_BASE_URL, ...) beats the file.
    const builtin = PROVIDERS.find((x) => x.builtin?.name === name)?.builtin
    const envBase = builtin?.baseUrlEnv ? env[builtin.baseUrlEnv] : undefined
    out[name] = {
      name,
      kind,
      baseUrl: envBase || (typeof p.base_url === 'string' ? p.base_url : base?.baseUrl ?? d.defaultBaseUrl ?? ''),
      apiKey: typeof p.api_key_env === 'string' ? env[p.api_key_env] || null : base?.apiKey ?? null,
      timeoutMs: timeoutMs ?? base?.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      // Naming a key variable means a key is needed; a built-in provider keeps needing one.
      keyRequired: typeof p.api_key_env === 'string' || base?.keyRequired === true,
      ...(idleTimeoutMs ?? base?.idleTimeoutMs ? { idleTimeoutMs: idleTimeoutMs ?? base?.idleTimeoutMs } : {}),
    }
    if (!out[name].baseUrl) errors.push(`${where}.base_url is required`)
  }
}

function fileModels(errors: string[], file: Record<string, any>, out: Record<string, ModelConfig>) {
  for (const [name, m] of Object.entries<any>(file.models ?? {})) {
    const where = `models."${name}"`
    if (typeof m !== 'object' || m === null) { errors.push(`${where} must be a table`); continue }
    const base = out[name]
    const num = (field: string, fallback: number | undefined) => {
      const v = m[field] ?? fallback
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) { errors.push(`${where}.${field} must be a non-negative number`); return 0 }
      return v
    }
    const provider = m.provider ?? base?.provider
    if (typeof provider !== 'string') { errors.push(`${where}.provider is required`); continue }
    out[name] = {
      name,
      provider,
      upstreamModel: typeof m.upstream_model === 'string' ? m.upstream_model : base?.upstreamModel ?? name,
      inputUsdPerMtok: num('input_usd_per_mtok', base?.inputUsdPerMtok),
      outputUsdPerMtok: num('output_usd_per_mtok', base?.outputUsdPerMtok),
      maxOutputTokens: intIn(errors, `${where}.max_output_tokens`, m.max_output_tokens, 1, 10_000_000) ?? base?.maxOutputTokens ?? 4096,
      ...parseModelPricing(errors, where, m, base),
    }
  }
}

export function loadConfig(argv: string[], env: Env, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): ConfigResult {
  const args = parseArgv(argv)
  const errors = [...args.errors]
  const configPath = args.flags.config ?? env.GATEWAY_CONFIG ?? null
  const file = configPath ? readToml(errors, configPath, readFile) : {}
  const server = (file.server ?? {}) as Record<string, unknown>

  const port = intIn(errors, '--port', args.flags.port, 0, 65535)
    ?? intIn(errors, 'GATEWAY_PORT', env.GATEWAY_PORT, 0, 65535)
    ?? intIn(errors, 'server.port', server.port, 0, 65535) ?? 8080
  const warmLimit = intIn(errors, '--warm-limit', args.flags['warm-limit'], 1, 10_000)
    ?? intIn(errors, 'GATEWAY_WARM_LIMIT', env.GATEWAY_WARM_LIMIT, 1, 10_000)
    ?? intIn(errors, 'server.warm_limit', server.warm_limit, 1, 10_000) ?? 50
  const maxBodyBytes = intIn(errors, 'server.max_body_bytes', server.max_body_bytes, 1024, 256 * 1024 * 1024) ?? 4 * 1024 * 1024
  const drainTimeoutMs = intIn(errors, '--drain-timeout-ms', args.flags['drain-timeout-ms'], 0, MAX_DRAIN_TIMEOUT_MS)
    ?? intIn(errors, 'GATEWAY_DRAIN_TIMEOUT_MS', env.GATEWAY_DRAIN_TIMEOUT_MS, 0, MAX_DRAIN_TIMEOUT_MS)
    ?? intIn(errors, 'server.drain_timeout_ms', server.drain_timeout_ms, 0, MAX_DRAIN_TIMEOUT_MS) ?? DEFAULT_DRAIN_TIMEOUT_MS
  const logLevel = oneOf(errors, [['--log-level', args.flags['log-level']], ['GATEWAY_LOG_LEVEL', env.GATEWAY_LOG_LEVEL], ['server.log_level', server.log_level]]) ?? 'info'
  const metricsListen = listenIn(errors, [['--metrics-listen', args.flags['metrics-listen']], ['GATEWAY_METRICS_LISTEN', env.GATEWAY_METRICS_LISTEN], ['server.metrics_listen', server.metrics_listen]])
  const budgetSliceMicros = usdIn(errors, [['--budget-slice-usd', args.flags['budget-slice-usd']],
    ['GATEWAY_BUDGET_SLICE_USD', env.GATEWAY_BUDGET_SLICE_USD], ['server.budget_slice_usd', server.budget_slice_usd]], MAX_BUDGET_SLICE_USD) ?? 0
  const host = args.flags.host ?? env.GATEWAY_HOST ?? (typeof server.host === 'string' ? server.host : undefined) ?? '0.0.0.0'

  const admin = adminKeysIn(errors, env)

  for (const [name, url] of [['DATABASE_URL', env.DATABASE_URL], ['REDIS_URL', env.REDIS_URL]] as const) {
    if (url && !URL.canParse(url)) errors.push(`${name} is not a URL`)
  }

  const providers = builtinProviders(env, args.command === 'demo')
  fileProviders(errors, file, env, providers)
  const models = builtinModels()
  fileModels(errors, file, models)
  Object.assign(models, kindModels(providers, models))
  for (const m of Object.values(models)) {
    if (!providers[m.provider]) errors.push(`models."${m.name}".provider "${m.provider}" is not a configured provider`)
  }

  if (errors.length > 0) return { ok: false, errors }
  const config: GatewayConfig = {
    command: args.command,
    positionals: args.positionals,
    flags: Object.freeze({ ...args.flags }),
    port,
    host,
    warmLimit,
    configPath,
    dataDir: args.flags['data-dir'] ?? env.GATEWAY_DATA_DIR ?? './gateway-data',
    dataDirDefaulted: args.flags['data-dir'] === undefined && env.GATEWAY_DATA_DIR === undefined,
    databaseUrl: env.DATABASE_URL || null,
    redisUrl: env.REDIS_URL || null,
    adminKey: admin.adminKey,
    adminReadonlyKey: admin.adminReadonlyKey,
    maxBodyBytes,
    drainTimeoutMs,
    budgetSliceMicros,
    logLevel,
    metricsListen: metricsListen ? Object.freeze(metricsListen) : null,
    providers: Object.freeze(providers),
    models: Object.freeze(models),
  }
  return { ok: true, config: Object.freeze(config) }
}
