#!/usr/bin/env bun
/** Entry point: parse config once, then run the subcommand. Exit 2 on bad input or an unreachable store. */
import { runAdmin, UsageError } from './cli/admin.ts'
import { openAdminSession, StoreOpenError } from './cli/session.ts'
import { HELP_TEXT, startsServer } from './config/argv.ts'
import { loadConfig, type GatewayConfig } from './config/index.ts'
import { createLogger, type Logger } from './log.ts'
import { BootError, startGateway, type RunningGateway } from './runtime.ts'
import { serverStartupEnv } from './startup-env.ts'
import { generateApiKey } from './store/keys.ts'
import type { Store } from './store/types.ts'
import pkg from '../package.json' with { type: 'json' }

const bootStartedAt = performance.now()

function fail(message: string): never {
  process.stderr.write(`gateway: ${message}\n`)
  process.exit(2)
}

async function ensureDemoTenant(store: Store): Promise<string> {
  if (!(await store.loadTenant('demo'))) {
    await store.createTenant({ id: 'demo', budgetUsdMicros: 1_000_000, budgetPeriod: 'day', policy: 'strict', allowedModels: null, failOpen: false })
  }
  const k = generateApiKey()
  await store.createKey({ id: k.id, tenantId: 'demo', keyHash: k.hash, prefix: k.prefix, name: 'demo' })
  return k.key
}

/** SIGHUP: reload the config file (same flags and environment); an invalid one is logged and the old one kept. */
function reloadConfig(gw: RunningGateway, log: Logger): void {
  const result = loadConfig(process.argv.slice(2), process.env)
  if (!result.ok) {
    log({ level: 'error', msg: 'config reload failed; keeping the current config', errors: result.errors })
    return
  }
  log.setLevel(gw.reload(result.config).logLevel)
}

async function serve(config: GatewayConfig, log: Logger, demo: boolean) {
  let running: RunningGateway | null = null
  // Before boot, too: SIGHUP's default action ends the process (that is how it killed streams).
  process.on('SIGHUP', () => {
    log({ msg: 'signal', signal: 'SIGHUP' })
    if (running) reloadConfig(running, log)
    else log({ level: 'warn', msg: 'still booting; SIGHUP ignored' })
  })
  const gw = (running = await startGateway(config, { log, bootStartedAt }))
  if (demo) {
    const key = await ensureDemoTenant(gw.store)
    await gw.cache.reload('demo')
    log.flush()
    process.stdout.write(
      `\nDemo gateway on ${gw.url} (tenant "demo", $1.00/day, model mock-echo). Try:\n\n` +
      `curl -s ${gw.url}/v1/chat/completions -H 'Authorization: Bearer ${key}' -H 'content-type: application/json' ` +
      `-d '{"model":"mock-echo","messages":[{"role":"user","content":"hello gateway"}]}'\n\n`,
    )
  }
  // Drain up to drain_timeout_ms; a second SIGTERM/SIGINT ends the drain at once (stop() handles the repeat).
  const onSignal = (sig: string) => {
    log({ msg: 'signal', signal: sig })
    gw.stop().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
}

/**
 * stdout for admin output. process.exit() drops whatever a pipe has not taken yet (measured: 1,087 of 100,000
 * lines reached a slow reader), so main waits for the last write before exiting; a reader that went away
 * (`gateway tenant list | head -1`) is not an error.
 */
function stdoutWriter(): { out: (line: string) => void; flushed: () => Promise<void> } {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0)
    throw e
  })
  let last: Promise<void> = Promise.resolve()
  return {
    out: (line) => {
      last = new Promise((resolve) => process.stdout.write(line + '\n', () => resolve()))
    },
    flushed: () => last,
  }
}

async function admin(config: GatewayConfig) {
  const stdout = stdoutWriter()
  const note = (line: string) => void process.stderr.write(`gateway: ${line}\n`)
  const session = await openAdminSession(config, note)
  try {
    await runAdmin(config, session.store, { out: stdout.out, note, snapshot: session.snapshot })
  } finally {
    await session.close()
    await stdout.flushed()
  }
}

/**
 * A server re-executes itself once with the settings Bun reads only at process start (startup-env.ts).
 * execve keeps the pid, so supervisors and signals are unaffected.
 */
function ensureStartupEnv(): void {
  const env = serverStartupEnv(process.env)
  if (env === null || typeof process.execve !== 'function') return
  const compiled = (process.argv[1] ?? '').startsWith('/$bunfs/')
  const argv = compiled ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.argv.slice(1)]
  process.execve(process.execPath, argv, env)
}

async function main() {
  if (startsServer(process.argv.slice(2))) ensureStartupEnv()
  const result = loadConfig(process.argv.slice(2), process.env)
  if (!result.ok) fail(`invalid configuration:\n  - ${result.errors.join('\n  - ')}\nRun "gateway --help" for usage.`)
  const config = result.config
  if (config.command === 'help') return void process.stdout.write(HELP_TEXT)
  if (config.command === 'version') return void process.stdout.write(`gateway ${pkg.version} (bun ${Bun.version})\n`)
  const log = createLogger(undefined, config.logLevel)
  try {
    if (config.command === 'serve' || config.command === 'demo') {
      if (config.positionals.length) fail(`unexpected argument "${config.positionals[0]}"`)
      await serve(config, log, config.command === 'demo')
    } else {
      await admin(config)
      process.exit(0)
    }
  } catch (e) {
    if (e instanceof BootError || e instanceof UsageError || e instanceof StoreOpenError) fail((e as Error).message)
    throw e
  }
}

// No top-level await: `bun build --bytecode` rejects it in the entry module.
main().catch((e) => {
  process.stderr.write(`gateway: fatal: ${(e as Error)?.stack ?? String(e)}\n`)
  process.exit(1)
})
