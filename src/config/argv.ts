/** Command-line parsing: subcommand, positionals and `--flag value` / `--flag=value` pairs, validated per command. */

export type Command = 'serve' | 'migrate' | 'tenant' | 'key' | 'usage' | 'demo' | 'help' | 'version'

export interface ParsedArgs {
  command: Command
  positionals: string[]
  flags: Record<string, string>
  errors: string[]
}

const SERVER_FLAGS = ['port', 'host', 'warm-limit', 'config', 'data-dir', 'drain-timeout-ms', 'log-level', 'metrics-listen', 'budget-slice-usd']
const TENANT_FLAGS = ['budget-usd', 'period', 'models', 'policy', 'fail-open']
/** Flags of the admin commands; which subcommand takes which is checked by the CLI (src/cli/admin.ts). */
const FLAGS_BY_COMMAND: Record<Command, string[]> = {
  serve: SERVER_FLAGS,
  demo: SERVER_FLAGS,
  migrate: ['config', 'data-dir'],
  tenant: ['config', 'data-dir', 'json', 'force', ...TENANT_FLAGS],
  key: ['config', 'data-dir', 'json', 'name', 'expires-in', 'expires-at', 'grace'],
  usage: ['config', 'data-dir', 'json', 'since', 'until', 'by'],
  help: [],
  version: [],
}
const ALL_FLAGS = new Set(Object.values(FLAGS_BY_COMMAND).flat())
/** Switches: present or absent, never followed by a value (so `--json acme` leaves "acme" a positional). */
const BOOLEAN_FLAGS = new Set(['json', 'force'])
const COMMANDS = new Set<string>(['serve', 'migrate', 'tenant', 'key', 'usage', 'demo', 'help', 'version'])
const COMMAND_LIST = 'serve, migrate, tenant, key, usage, demo, help or version'

export function parseArgv(argv: string[]): ParsedArgs {
  const errors: string[] = []
  const positionals: string[] = []
  const flags: Record<string, string> = {}
  let command: Command | null = null
  let wantsHelp = false
  let wantsVersion = false

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') { wantsHelp = true; continue }
    if (arg === '--version' || arg === '-v') { wantsVersion = true; continue }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1)
      if (BOOLEAN_FLAGS.has(name)) {
        if (value !== undefined) errors.push(`flag --${name} takes no value`)
        flags[name] = 'true'
        continue
      }
      if (value === undefined) {
        const next = argv[i + 1]
        if (next === undefined || next.startsWith('--')) {
          errors.push(ALL_FLAGS.has(name) ? `flag --${name} needs a value` : `unknown flag --${name}`)
          continue
        }
        value = next
        i++
      }
      flags[name] = value
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) { errors.push(`unknown flag ${arg}`); continue }
    if (command === null && positionals.length === 0) {
      if (!COMMANDS.has(arg)) { errors.push(`unknown command "${arg}" (expected ${COMMAND_LIST})`); command = 'serve'; continue }
      command = arg as Command
      continue
    }
    positionals.push(arg)
  }
  if (wantsHelp || command === 'help') return { command: 'help', positionals, flags, errors: [] }
  if (wantsVersion || command === 'version') return { command: 'version', positionals, flags, errors: [] }
  const cmd: Command = command ?? 'serve'
  const allowed = new Set(FLAGS_BY_COMMAND[cmd])
  for (const name of Object.keys(flags)) {
    if (!allowed.has(name)) errors.push(`unknown flag --${name} for "${cmd}"`)
  }
  return { command: cmd, positionals, flags, errors }
}

/**
 * Whether these arguments start a server (serve or demo, in any spelling: flags only, flags before the
 * command, `--flag=value`). Decided by parseArgv itself so the re-exec in main.ts can never disagree with
 * the command that then runs.
 */
export function startsServer(argv: string[]): boolean {
  const { command } = parseArgv(argv)
  return command === 'serve' || command === 'demo'
}

export const HELP_TEXT = `gateway — LLM API gateway with atomic per-tenant budgets

Usage:
  gateway [serve] [--port 8080] [--host 0.0.0.0] [--warm-limit 50] [--config gateway.toml]
                 [--drain-timeout-ms 30000] [--log-level info] [--metrics-listen 127.0.0.1:9090]
                 [--budget-slice-usd 0]
  gateway demo [--port 8080]             embedded store + mock provider + demo tenant and key
  gateway migrate                        apply pending schema migrations; lists them, or names the current version
  gateway tenant create ID [--budget-usd N|none] [--period total|day|month] [--models a,b|all]
                           [--policy strict|fixed] [--fail-open true|false]
  gateway tenant set ID [same flags]     change a tenant; running gateways pick it up
  gateway tenant show ID [--json]        config, current period spend/reserved in USD, keys
  gateway tenant list [--json]           every tenant with its active/total key counts
  gateway tenant disable ID              its keys are refused with 403 tenant_disabled; config and keys stay
  gateway tenant enable ID
  gateway tenant delete ID [--force]     refused while the tenant has active keys; --force revokes them.
                                         Deletes the tenant and its keys; usage records are kept
  gateway key create TENANT [--name N] [--expires-in 30d | --expires-at 2026-12-31T00:00:00Z] [--json]
                                         prints the new key once; only sha256(key) is stored
  gateway key list TENANT [--json]       id, prefix, name, created, expires, revoked, status (never the hash)
  gateway key revoke KEY_ID
  gateway key rotate KEY_ID [--grace 24h] [--name N] [--expires-in D | --expires-at T] [--json]
                                         new key printed once; the old one stops working after the grace
  gateway usage [TENANT] [--since 7d|DATE] [--until DATE] [--by day|model|key] [--json]
                                         recorded usage (requests, tokens, USD) per tenant and UTC day/model/key
  gateway help | version                 also --help, -h, --version, -v

Options:
  --port N          listen port (env GATEWAY_PORT, default 8080)
  --host H          listen address (env GATEWAY_HOST, default 0.0.0.0)
  --warm-limit N    tenants primed at once during warm-up (env GATEWAY_WARM_LIMIT, default 50)
  --config PATH     TOML config file (env GATEWAY_CONFIG); its models are the ones --models accepts
  --data-dir PATH   embedded store directory (env GATEWAY_DATA_DIR, default ./gateway-data)
  --json            read commands and key create/rotate: print JSON on stdout (money in integer micro-USD)
  --drain-timeout-ms N  on SIGTERM/SIGINT, wait this long for in-flight requests, then end them
                    (env GATEWAY_DRAIN_TIMEOUT_MS, default 30000)
  --log-level L     debug, info, warn or error (env GATEWAY_LOG_LEVEL, default info)
  --metrics-listen H:P  serve /metrics (and the admin API, if enabled) on this address only, not on the
                    main port (env GATEWAY_METRICS_LISTEN)
  --budget-slice-usd N  with REDIS_URL: lease up to N USD of a tenant's budget at a time and admit its
                    requests from it without a Redis round trip (env GATEWAY_BUDGET_SLICE_USD, default 0: off)
  Durations: 90s, 15m, 24h, 30d, 2w. Dates: YYYY-MM-DD (UTC) or ISO 8601 with Z or an offset.

Admin commands print the store they use on stderr ("gateway: store: postgres host:5432/db" or the sqlite
file, with a warning when DATABASE_URL is unset and the default ./gateway-data is used); stdout carries only
the result. They need no Redis: only "tenant show" reads live spent/reserved figures from REDIS_URL, and
when Redis is unreachable it still prints the config and recorded spend, says the live figures are
unavailable, and exits 0.

Signals (serve, demo):
  SIGTERM, SIGINT   stop accepting, drain in-flight requests up to the drain timeout, flush, exit 0;
                    a second one ends the drain at once
  SIGHUP            reload the config file (providers, models, prices, max_body_bytes, log_level);
                    in-flight requests keep their route; an invalid file is logged and the old config kept

Environment:
  DATABASE_URL      Postgres for tenants, keys and usage; unset: embedded bun:sqlite under the data dir
  REDIS_URL         Redis for budgets; unset: in-process ledger (single instance only)
  GATEWAY_ADMIN_KEY enables the admin HTTP API under /admin/v1 (tenants, keys, usage; OpenAPI at
                    /admin/v1/openapi.json), authenticated with "Authorization: Bearer <key>"; at least
                    32 characters. Unset: no admin routes (404). Served on --metrics-listen when set
  GATEWAY_ADMIN_READONLY_KEY  optional second admin key for the GET routes only
  OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL

Precedence: flag > environment > config file > default. Bad input, a refused operation or an unreachable
store exits with code 2; a closed stdout (gateway tenant list | head -1) ends the command quietly with 0.
`
