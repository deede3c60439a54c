/**
 * Throwaway PostgreSQL for integration tests.
 *
 * With DATABASE_URL set: a fresh, uniquely named database on that server, dropped at stop().
 * Otherwise: a private server copied from a cached initdb template (initdb takes seconds, `cp -a` well
 * under one), started on a free port with durability off. PostgreSQL refuses to run as root, so the
 * binaries run through `setpriv` as the `postgres` user; `--pdeathsig` makes the server die with this
 * process even on SIGKILL, and an 'exit' hook removes what is left.
 */
import { mkdtempSync, rmSync, renameSync, existsSync, chownSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort } from './ports.ts'

export interface PgInstance {
  url: string
  /** Graceful shutdown; removes the data directory (or drops the database). Idempotent. */
  stop(): Promise<void>
  /** SIGKILL the server (a crash); the data directory stays so restart() can recover it. */
  kill(): Promise<void>
  /** Start the server again on the same port and data (after kill() or while running). */
  restart(): Promise<void>
}

/** The newest installed PostgreSQL (Debian layout /usr/lib/postgresql/<major>/bin), unless PG_BIN says otherwise. */
const PG_BIN = process.env.PG_BIN ?? (() => {
  const majors = readdirSync('/usr/lib/postgresql').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a))
  if (!majors.length) throw new Error('no PostgreSQL under /usr/lib/postgresql; install postgresql or set PG_BIN')
  return `/usr/lib/postgresql/${majors[0]}/bin`
})()
const READY_TIMEOUT_MS = 20_000

interface Live { proc: Bun.Subprocess | null; dir: string }
const live = new Set<Live>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' handlers must be synchronous. SIGQUIT is postgres' immediate shutdown; wait for it to remove
  // its lock file, else it may still be writing while the directory is deleted.
  process.on('exit', () => {
    for (const l of live) {
      try { l.proc?.kill('SIGQUIT') } catch {}
      const deadline = Date.now() + 3000
      while (existsSync(join(l.dir, 'data', 'postmaster.pid')) && Date.now() < deadline) Bun.sleepSync(20)
      try { rmSync(l.dir, { recursive: true, force: true }) } catch {}
    }
  })
}

/** Removes instance dirs left by test processes that died by a signal (no 'exit' hook ran then). */
function sweepStale(): void {
  for (const name of readdirSync('/tmp')) {
    if (!/^gateway-pg-[A-Za-z0-9]{6}$/.test(name)) continue
    const dir = join('/tmp', name)
    try {
      const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'))
      if (owner === process.pid || isAlive(owner)) continue
      rmSync(dir, { recursive: true, force: true })
    } catch {}
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function asPostgres(cmd: string[]): string[] {
  return ['setpriv', '--pdeathsig', 'SIGQUIT', '--reuid=postgres', '--regid=postgres', '--clear-groups', '--', ...cmd]
}

function pgUid(): { uid: number; gid: number } {
  const out = Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString().trim()
  const gid = Bun.spawnSync(['id', '-g', 'postgres']).stdout.toString().trim()
  return { uid: Number(out), gid: Number(gid) }
}

function mkdirForPostgres(prefix: string): string {
  const dir = mkdtempSync(prefix)
  const { uid, gid } = pgUid()
  chownSync(dir, uid, gid)
  return dir
}

let templatePromise: Promise<string> | null = null

/** Data directory of an initialised cluster, created once per PostgreSQL version and reused by every run. */
function templateDataDir(): Promise<string> {
  templatePromise ??= (async () => {
    const version = Bun.spawnSync([join(PG_BIN, 'postgres'), '--version']).stdout.toString().match(/\d+(\.\d+)?/)?.[0]
    if (!version) throw new Error(`cannot run ${PG_BIN}/postgres --version`)
    const final = `/tmp/gateway-pg-template-${version}`
    if (existsSync(join(final, 'data', 'PG_VERSION'))) return join(final, 'data')
    // Build under a private name, then rename: rename is atomic, so a concurrent builder (another test
    // process) either wins or loses cleanly and nobody ever copies a half-written template.
    const tmp = mkdirForPostgres(`${final}.building-`)
    const init = Bun.spawnSync(asPostgres([join(PG_BIN, 'initdb'), '-D', join(tmp, 'data'), '-A', 'trust', '-U', 'postgres',
      '-E', 'UTF8', '--locale=C', '--no-sync']), { stdout: 'pipe', stderr: 'pipe' })
    if (init.exitCode !== 0) {
      rmSync(tmp, { recursive: true, force: true })
      throw new Error(`initdb failed: ${init.stderr.toString()}`)
    }
    try {
      renameSync(tmp, final)
    } catch {
      rmSync(tmp, { recursive: true, force: true }) // someone else won the race; theirs is complete
    }
    return join(final, 'data')
  })()
  templatePromise.catch(() => { templatePromise = null })
  return templatePromise
}

/** Polls until the server answers a query (it refuses with 57P03 while starting or recovering). */
async function waitReady(url: string, proc: Bun.Subprocess, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {}, fetch_types: false })
  try {
    for (;;) {
      try {
        await sql`select 1`
        return
      } catch (err) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          const log = existsSync(logFile) ? await Bun.file(logFile).text() : ''
          throw new Error(`postgres exited during start (code ${proc.exitCode}):\n${log.slice(-2000)}`)
        }
        if (Date.now() > deadline) throw new Error(`postgres not ready after ${READY_TIMEOUT_MS} ms: ${String(err)}`)
        await Bun.sleep(50)
      }
    }
  } finally {
    await sql.end({ timeout: 0 })
  }
}

async function startLocal(): Promise<PgInstance> {
  installExitHook()
  sweepStale()
  const template = await templateDataDir()
  const dir = mkdirForPostgres('/tmp/gateway-pg-')
  writeFileSync(join(dir, 'owner.pid'), String(process.pid))
  const entry: Live = { proc: null, dir }
  live.add(entry)
  const data = join(dir, 'data')
  const logFile = join(dir, 'postgres.log')
  const cp = Bun.spawnSync(['cp', '-a', template, data], { stderr: 'pipe' })
  if (cp.exitCode !== 0) {
    live.delete(entry)
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`copying the template cluster failed: ${cp.stderr.toString()}`)
  }
  let port = 0

  const spawn = async (): Promise<void> => {
    const proc = Bun.spawn(asPostgres([join(PG_BIN, 'postgres'), '-D', data, '-p', String(port), '-k', dir,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off',
      '-c', 'synchronous_commit=off', '-c', 'shared_buffers=16MB']), {
      stdout: 'ignore', stderr: Bun.file(logFile),
    })
    proc.unref() // a running server must not keep the test process alive
    entry.proc = proc
    await waitReady(`postgres://postgres@127.0.0.1:${port}/postgres`, proc, logFile)
  }

  // Another instance may grab the port between probing and binding: retry with a fresh one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await spawn()
      break
    } catch (err) {
      await stopProc(entry.proc)
      if (attempt >= 3) {
        live.delete(entry)
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    async stop() {
      await stopProc(entry.proc)
      entry.proc = null
      live.delete(entry)
      // After kill(), orphaned backends may still be exiting and touching files; retry once.
      try { rmSync(dir, { recursive: true, force: true }) } catch {
        await Bun.sleep(200)
        rmSync(dir, { recursive: true, force: true })
      }
    },
    async kill() {
      const p = entry.proc
      if (!p) return
      // The server runs with synchronous_commit=off, so a real crash would lose the last ~200 ms of
      // commits; tests crash the server to test outages, not to lose data they saw committed.
      await checkpoint(url).catch(() => {})
      p.kill('SIGKILL')
      await p.exited
    },
    async restart() {
      await stopProc(entry.proc)
      // After a SIGKILL, orphaned backends can hold the shared memory for a short while; retry briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          await spawn()
          return
        } catch (err) {
          await stopProc(entry.proc)
          if (attempt >= 20) throw err
          await Bun.sleep(100)
        }
      }
    },
  }
}

async function checkpoint(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {}, fetch_types: false })
  try {
    await sql`checkpoint`
  } finally {
    await sql.end({ timeout: 0 })
  }
}

/** SIGINT is postgres' "fast" shutdown: roll back sessions, checkpoint, exit. */
async function stopProc(proc: Bun.Subprocess | null): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  proc.kill('SIGINT')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  await proc.exited
  clearTimeout(timer)
}

async function startOnExistingServer(baseUrl: string): Promise<PgInstance> {
  const name = `gateway_test_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(baseUrl, { max: 1, connect_timeout: 5, onnotice: () => {} })
  try {
    await admin.unsafe(`create database "${name}"`)
  } finally {
    await admin.end({ timeout: 1 })
  }
  const u = new URL(baseUrl)
  u.pathname = `/${name}`
  let stopped = false
  const unsupported = async (): Promise<void> => {
    throw new Error('kill()/restart() need a throwaway server; unset DATABASE_URL to get one')
  }
  return {
    url: u.toString(),
    async stop() {
      if (stopped) return
      stopped = true
      const a = postgres(baseUrl, { max: 1, connect_timeout: 5, onnotice: () => {} })
      try {
        // WITH (FORCE) (PG 13+) ends sessions a test forgot to close.
        await a.unsafe(`drop database if exists "${name}" with (force)`)
      } finally {
        await a.end({ timeout: 1 })
      }
    },
    kill: unsupported,
    restart: unsupported,
  }
}

/** `own: true` always starts a private server (needed for kill/restart), even when DATABASE_URL is set. */
export async function startPostgres(opts: { own?: boolean } = {}): Promise<PgInstance> {
  const external = opts.own ? undefined : process.env.DATABASE_URL
  return external ? startOnExistingServer(external) : startLocal()
}
