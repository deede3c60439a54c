import { describe, expect, test } from 'bun:test'
import { parseArgv, startsServer } from '../../../src/config/argv.ts'
import { loadConfig, parseListenAddress } from '../../../src/config/index.ts'
import { planReload } from '../../../src/config/reload.ts'

const noFile = () => {
  throw new Error('ENOENT: no such file')
}

describe('parseArgv', () => {
  test.each([
    [[], 'serve', {}, []],
    [['serve', '--port', '9'], 'serve', { port: '9' }, []],
    [['--port=9', '--warm-limit', '5'], 'serve', { port: '9', 'warm-limit': '5' }, []],
    [['tenant', 'create', 'acme', '--budget-usd', '5'], 'tenant', { 'budget-usd': '5' }, ['create', 'acme']],
    [['key', 'create', 'acme', '--name', 'ci'], 'key', { name: 'ci' }, ['create', 'acme']],
    [['--help'], 'help', {}, []],
    [['tenant', '-h'], 'help', {}, []],
    [['--version'], 'version', {}, []],
  ] as const)('%j → %s', (argv, command, flags, positionals) => {
    const r = parseArgv([...argv])
    expect(r.errors).toEqual([])
    expect(r.command).toBe(command)
    expect(r.flags).toEqual({ ...flags })
    expect(r.positionals).toEqual([...positionals])
  })

  test.each([
    [['--bogus', '1'], 'unknown flag --bogus for "serve"'],
    [['launch'], 'unknown command "launch"'],
    [['--port'], 'flag --port needs a value'],
    [['-x'], 'unknown flag -x'],
    [['key', 'create', 't', '--budget-usd', '1'], 'unknown flag --budget-usd for "key"'],
  ])('%j is refused', (argv, message) => {
    expect(parseArgv(argv).errors.join('\n')).toContain(message)
  })
})

describe('startsServer: every spelling of serve gets the raised fetch cap, nothing else does', () => {
  test.each([
    [[], true],
    [['--warm-limit', '50'], true],
    [['--warm-limit=50'], true],
    [['--port', '1', 'serve'], true],
    [['--port=1', 'serve', '--host', '127.0.0.1'], true],
    [['serve', '--warm-limit', '50'], true],
    [['--config', 'g.toml', 'demo'], true],
    [['demo'], true],
    [['migrate'], false],
    [['--data-dir', 'd', 'migrate'], false],
    [['tenant', 'show', 'serve'], false],
    [['key', 'create', 'demo'], false],
    [['--help'], false],
    [['serve', '--version'], false],
  ] as const)('%j → %p', (argv, expected) => {
    expect(startsServer([...argv])).toBe(expected)
  })
})

describe('loadConfig', () => {
  test('precedence: flag > environment > config file > default', () => {
    const file = () => '[server]\nport = 7000\nwarm_limit = 7\nhost = "10.0.0.1"\n'
    const env = { GATEWAY_CONFIG: 'g.toml', GATEWAY_PORT: '7100', GATEWAY_WARM_LIMIT: '9' }
    const a = loadConfig(['--port', '7200'], env, file)
    expect(a.ok && [a.config.port, a.config.warmLimit, a.config.host]).toEqual([7200, 9, '10.0.0.1'])
    const b = loadConfig([], { GATEWAY_CONFIG: 'g.toml' }, file)
    expect(b.ok && [b.config.port, b.config.warmLimit]).toEqual([7000, 7])
    const c = loadConfig([], {}, noFile)
    expect(c.ok && [c.config.port, c.config.warmLimit, c.config.host, c.config.databaseUrl, c.config.redisUrl]).toEqual([8080, 50, '0.0.0.0', null, null])
  })

  test('every problem is reported at once, naming the field', () => {
    const toml = '[providers.x]\nkind = "grpc"\n[models.m]\nprovider = "nope"\ninput_usd_per_mtok = -1\noutput_usd_per_mtok = 1\n'
    const r = loadConfig(['--port', 'abc', '--warm-limit', '0', '--config', 'g.toml'], { DATABASE_URL: 'not a url' }, () => toml)
    expect(r.ok).toBe(false)
    const errors = r.ok ? [] : r.errors
    for (const part of ['--port', '--warm-limit', 'providers.x.kind', 'models."m".input_usd_per_mtok', 'models."m".provider "nope"', 'DATABASE_URL']) {
      expect(errors.some((e) => e.includes(part))).toBe(true)
    }
  })

  test('bad TOML and unreadable file are clear errors', () => {
    const bad = loadConfig(['--config', 'g.toml'], {}, () => 'port = = 1')
    expect(bad.ok ? '' : bad.errors[0]).toContain('config file g.toml: invalid TOML')
    const missing = loadConfig(['--config', '/nope.toml'], {}, noFile)
    expect(missing.ok ? '' : missing.errors[0]).toContain('config file /nope.toml: cannot read')
  })

  test('config file overrides the catalog and adds models; provider keys come from the named env var', () => {
    const toml = `
[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "LOCAL_KEY"
[models."gpt-4o-mini"]
provider = "openai"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[models."llama"]
provider = "local"
upstream_model = "meta/llama"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 0.2
max_output_tokens = 100
`
    const r = loadConfig(['--config', 'g.toml'], { LOCAL_KEY: 'sk-local', OPENAI_API_KEY: 'sk-oa' }, () => toml)
    if (!r.ok) throw new Error(r.errors.join())
    expect(r.config.models['gpt-4o-mini']!.inputUsdPerMtok).toBe(1)
    expect(r.config.models.llama).toEqual({ name: 'llama', provider: 'local', upstreamModel: 'meta/llama', inputUsdPerMtok: 0.1, outputUsdPerMtok: 0.2, maxOutputTokens: 100 })
    expect(r.config.providers.local!.apiKey).toBe('sk-local')
    expect(r.config.providers.openai!.apiKey).toBe('sk-oa')
    expect(Object.isFrozen(r.config)).toBe(true)
  })

  test('mock-echo exists in demo, and only when a mock provider is configured otherwise', () => {
    const demo = loadConfig(['demo'], {}, noFile)
    expect(demo.ok && demo.config.models['mock-echo']?.provider).toBe('mock')
    const serve = loadConfig([], {}, noFile)
    expect(serve.ok && serve.config.models['mock-echo']).toBeUndefined()
    const withMock = loadConfig(['--config', 'g'], {}, () => '[providers.mock]\nkind = "mock"\n')
    expect(withMock.ok && withMock.config.models['mock-echo']?.provider).toBe('mock')
  })
})

test('OPENAI_BASE_URL / ANTHROPIC_BASE_URL beat the config file (environment > file)', () => {
  const toml = '[providers.openai]\nkind = "openai"\nbase_url = "https://api.openai.com/v1"\n[providers.anthropic]\nbase_url = "https://api.anthropic.com"\n'
  const r = loadConfig(['--config', 'g'], { OPENAI_BASE_URL: 'http://egress.internal/v1', ANTHROPIC_BASE_URL: 'http://egress.internal/anthropic' }, () => toml)
  if (!r.ok) throw new Error(r.errors.join())
  expect(r.config.providers.openai!.baseUrl).toBe('http://egress.internal/v1')
  expect(r.config.providers.anthropic!.baseUrl).toBe('http://egress.internal/anthropic')
  const fileOnly = loadConfig(['--config', 'g'], {}, () => toml)
  expect(fileOnly.ok && fileOnly.config.providers.openai!.baseUrl).toBe('https://api.openai.com/v1')
})

describe('drain timeout, log level and metrics listener', () => {
  const file = () => '[server]\ndrain_timeout_ms = 5000\nlog_level = "warn"\nmetrics_listen = "127.0.0.1:9090"\n'
  test('precedence: flag > environment > config file > default', () => {
    const d = loadConfig([], {}, noFile)
    expect(d.ok && [d.config.drainTimeoutMs, d.config.logLevel, d.config.metricsListen]).toEqual([30_000, 'info', null])
    const f = loadConfig(['--config', 'g.toml'], {}, file)
    expect(f.ok && [f.config.drainTimeoutMs, f.config.logLevel, f.config.metricsListen]).toEqual([5000, 'warn', { host: '127.0.0.1', port: 9090 }])
    const env = { GATEWAY_DRAIN_TIMEOUT_MS: '0', GATEWAY_LOG_LEVEL: 'error', GATEWAY_METRICS_LISTEN: '[::1]:9191' }
    const e = loadConfig(['--config', 'g.toml'], env, file)
    expect(e.ok && [e.config.drainTimeoutMs, e.config.logLevel, e.config.metricsListen]).toEqual([0, 'error', { host: '::1', port: 9191 }])
    const a = loadConfig(['--config', 'g.toml', '--drain-timeout-ms', '250', '--log-level', 'debug', '--metrics-listen', '0.0.0.0:9300'], env, file)
    expect(a.ok && [a.config.drainTimeoutMs, a.config.logLevel, a.config.metricsListen]).toEqual([250, 'debug', { host: '0.0.0.0', port: 9300 }])
  })

  test('bad values are all reported, naming their source', () => {
    const r = loadConfig(['--log-level', 'loud', '--metrics-listen', '9090'], { GATEWAY_DRAIN_TIMEOUT_MS: '-1' },
      () => '[server]\nmetrics_listen = "host:99999"\n')
    expect(r.ok).toBe(false)
    const errors = r.ok ? '' : r.errors.join('\n')
    expect(errors).toContain('--log-level must be one of debug, info, warn, error (got "loud")')
    expect(errors).toContain('--metrics-listen must be host:port')
    expect(errors).toContain('GATEWAY_DRAIN_TIMEOUT_MS must be an integer from 0 to 6000000')
    expect(errors).not.toContain('server.metrics_listen') // no config file was named: the file is never read
  })

  test('only serve and demo take them', () => {
    expect(parseArgv(['migrate', '--log-level', 'info']).errors.join()).toContain('unknown flag --log-level for "migrate"')
    expect(parseArgv(['demo', '--drain-timeout-ms', '1']).errors).toEqual([])
  })
})

describe('budget slice size', () => {
  const file = () => '[server]\nbudget_slice_usd = 2.5\n'
  test('precedence: flag > environment > config file > default (0: off); USD to µUSD exactly', () => {
    const slice = (argv: string[], env: Record<string, string>) => {
      const r = loadConfig(argv, env, file)
      return r.ok ? r.config.budgetSliceMicros : r.errors
    }
    expect(slice([], {})).toBe(0)
    expect(slice(['--config', 'g.toml'], {})).toBe(2_500_000)
    expect(slice(['--config', 'g.toml'], { GATEWAY_BUDGET_SLICE_USD: '0.1' })).toBe(100_000)
    expect(slice(['--config', 'g.toml', '--budget-slice-usd', '0.000001'], { GATEWAY_BUDGET_SLICE_USD: '0.1' })).toBe(1)
    expect(slice(['--budget-slice-usd=10000'], {})).toBe(10_000_000_000)
  })

  test.each([['-1'], ['10000.01'], ['1e9'], ['one'], ['0x10'], ['Infinity']])('--budget-slice-usd %s is refused, naming the range', (v) => {
    const r = loadConfig(['--budget-slice-usd', v], {}, noFile)
    expect(r.ok ? [] : r.errors).toEqual([`--budget-slice-usd must be an amount in USD from 0 to 10000 (got ${JSON.stringify(v)})`])
  })

  test('a bad file value is reported too, and it needs a restart to change', () => {
    const r = loadConfig(['--config', 'g.toml'], {}, () => '[server]\nbudget_slice_usd = "lots"\n')
    expect(r.ok ? [] : r.errors).toEqual(['server.budget_slice_usd must be an amount in USD from 0 to 10000 (got "lots")'])
    const load = (toml: string) => { const c = loadConfig(['--config', 'g.toml'], {}, () => toml); if (!c.ok) throw new Error(c.errors.join()); return c.config }
    expect(planReload(load(''), load('[server]\nbudget_slice_usd = 1\n')).needsRestart).toEqual(['budgetSliceMicros'])
  })
})

describe('parseListenAddress', () => {
  test.each([
    ['127.0.0.1:9090', { host: '127.0.0.1', port: 9090 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:9090', { host: '::1', port: 9090 }],
    ['9090', null],
    [':9090', null],
    ['::1:9090', null],
    ['host:65536', null],
    ['host:', null],
  ] as const)('%s', (s, expected) => {
    expect(parseListenAddress(s)).toEqual(expected as never)
  })
})

describe('planReload (SIGHUP)', () => {
  const base = '[providers.mock]\nkind = "mock"\n[models."m1"]\nprovider = "mock"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n'
  const load = (toml: string, argv: string[] = []) => {
    const r = loadConfig(['--config', 'g.toml', ...argv], {}, () => toml)
    if (!r.ok) throw new Error(r.errors.join())
    return r.config
  }

  test('providers, models, prices, max_body_bytes and log_level are applied; changed names are listed', () => {
    const next = load(`${base.replace('output_usd_per_mtok = 1', 'output_usd_per_mtok = 2')}[models."m2"]\nprovider = "mock"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 1\n[server]\nmax_body_bytes = 2048\nlog_level = "debug"\n`)
    const plan = planReload(load(base), next)
    expect(plan.apply.models).toBe(next.models)
    expect(plan.apply.providers).toBe(next.providers)
    expect(plan.apply.maxBodyBytes).toBe(2048)
    expect(plan.logLevel).toBe('debug')
    expect(plan.changed).toEqual({ providers: [], models: ['m1', 'm2'] })
    expect(plan.needsRestart).toEqual([])
  })

  test('settings fixed at boot are reported as needing a restart, not applied', () => {
    const plan = planReload(load(base), load(`${base}[server]\nport = 9999\nwarm_limit = 3\ndrain_timeout_ms = 1\nmetrics_listen = "127.0.0.1:1"\n`))
    expect(plan.needsRestart).toEqual(['port', 'warmLimit', 'drainTimeoutMs', 'metricsListen'])
    expect(planReload(load(base), load(base)).needsRestart).toEqual([])
  })
})

describe('admin keys (GATEWAY_ADMIN_KEY, GATEWAY_ADMIN_READONLY_KEY)', () => {
  const W = 'a'.repeat(31) + 'W'
  const R = 'b'.repeat(40)
  const load = (env: Record<string, string>) => loadConfig([], env, noFile)

  test('unset (or empty): the admin API is off', () => {
    for (const env of [{}, { GATEWAY_ADMIN_KEY: '' }] as Record<string, string>[]) {
      const r = load(env)
      expect(r.ok && [r.config.adminKey, r.config.adminReadonlyKey]).toEqual([null, null])
    }
  })

  test('32 characters or more are accepted, with an optional distinct read-only key', () => {
    const r = load({ GATEWAY_ADMIN_KEY: W, GATEWAY_ADMIN_READONLY_KEY: R })
    expect(r.ok && [r.config.adminKey, r.config.adminReadonlyKey]).toEqual([W, R])
  })

  test.each([
    [{ GATEWAY_ADMIN_KEY: W.slice(1) }, 'GATEWAY_ADMIN_KEY must be at least 32 characters (got 31)'],
    [{ GATEWAY_ADMIN_KEY: `${W} x` }, 'GATEWAY_ADMIN_KEY may only contain visible ASCII characters (no spaces)'],
    [{ GATEWAY_ADMIN_KEY: `${W}é` }, 'GATEWAY_ADMIN_KEY may only contain visible ASCII'],
    [{ GATEWAY_ADMIN_KEY: W, GATEWAY_ADMIN_READONLY_KEY: 'short' }, 'GATEWAY_ADMIN_READONLY_KEY must be at least 32 characters'],
    [{ GATEWAY_ADMIN_READONLY_KEY: R }, 'GATEWAY_ADMIN_READONLY_KEY is set without GATEWAY_ADMIN_KEY'],
    [{ GATEWAY_ADMIN_KEY: W, GATEWAY_ADMIN_READONLY_KEY: W }, 'GATEWAY_ADMIN_READONLY_KEY must differ from GATEWAY_ADMIN_KEY'],
  ])('%j is a config error: %s (the value is never printed)', (env, message) => {
    const r = load(env)
    expect(r.ok).toBe(false)
    const errors = r.ok ? '' : r.errors.join('\n')
    expect(errors).toContain(message)
    for (const v of Object.values(env)) expect(errors).not.toContain(v)
  })

  test('a change needs a restart (SIGHUP re-reads the same environment anyway)', () => {
    const a = load({ GATEWAY_ADMIN_KEY: W })
    const b = load({ GATEWAY_ADMIN_KEY: R })
    if (!a.ok || !b.ok) throw new Error('config')
    expect(planReload(a.config, b.config).needsRestart).toEqual(['adminKey'])
  })
})
