/**
 * Throwaway Redis servers for tests: no persistence, temp dir, killed by the test file's afterAll.
 * `REDIS_URL` set ⇒ startRedis() returns that server instead (tests must then use unique tenant ids);
 * stop/kill/restart are impossible on a server we do not own, so tests that need them pass { own: true }.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freePort } from './ports.ts'

export { freePort }

export interface TestRedis {
  url: string
  port: number
  stop(): Promise<void>
  /** SIGKILL, like a crash; the port stays ours for restart(). */
  kill(): Promise<void>
  /** Start again on the same port (empty: no persistence). */
  restart(): Promise<void>
}

export interface TestRedisCluster {
  urls: string[]
  nodes: { host: string; port: number }[]
  stop(): Promise<void>
}

function portIsFree(port: number): boolean {
  try {
    const s = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } })
    s.stop(true)
    return true
  } catch {
    return false
  }
}

function spawnRedis(port: number, dir: string, extra: string[] = []): Subprocess {
  return Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--protected-mode', 'no', '--loglevel', 'warning', ...extra], { stdout: 'ignore', stderr: 'pipe' })
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const p = Bun.spawn(['redis-cli', '-h', '127.0.0.1', '-p', String(port), ...args], { stdout: 'pipe', stderr: 'pipe' })
  const out = await new Response(p.stdout).text()
  await p.exited
  return out.trim()
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return
    await Bun.sleep(25)
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function killProc(p: Subprocess | null, signal: NodeJS.Signals): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return
  p.kill(signal)
  await p.exited
}

export async function startRedis(opts: { own?: boolean } = {}): Promise<TestRedis> {
  const external = process.env.REDIS_URL
  if (external && !opts.own) {
    const notOurs = async () => { throw new Error('REDIS_URL server is not owned by the test') }
    return { url: external, port: Number(new URL(external).port || 6379), stop: async () => {}, kill: notOurs, restart: notOurs }
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'))
  let proc: Subprocess | null = null
  let port = 0
  const start = async (): Promise<void> => {
    proc = spawnRedis(port, dir)
    await waitFor(`redis on ${port}`, async () => {
      if (proc?.exitCode !== null) throw new Error('redis-server exited')
      return (await cli(port, 'ping')) === 'PONG'
    })
  }
  // Another process may grab the port between freePort() and redis binding it: retry with a new one.
  for (let attempt = 0; ; attempt++) {
    port = freePort()
    try { await start(); break } catch (e) {
      await killProc(proc, 'SIGKILL')
      if (attempt >= 3) { rmSync(dir, { recursive: true, force: true }); throw e }
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: () => killProc(proc, 'SIGKILL'),
    restart: async () => { await killProc(proc, 'SIGKILL'); await start() },
    stop: async () => {
      await killProc(proc, 'SIGKILL') // no persistence: nothing to lose, and SIGKILL cannot hang
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Cluster ports need port+10000 free too (the cluster bus), and ≤ 55535: pick from 20000–45000. */
function freeClusterPort(taken: Set<number>): number {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 25_000)
    if (!taken.has(p) && !taken.has(p + 10_000) && portIsFree(p) && portIsFree(p + 10_000)) return p
  }
}

export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-cluster-'))
  const taken = new Set<number>()
  const ports: number[] = []
  const procs: Subprocess[] = []
  const stop = async () => {
    await Promise.all(procs.map(p => killProc(p, 'SIGKILL')))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters; i++) {
      const port = freeClusterPort(taken)
      taken.add(port); taken.add(port + 10_000)
      ports.push(port)
      procs.push(spawnRedis(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000', '--dbfilename', `dump-${port}.rdb`]))
    }
    for (const port of ports) await waitFor(`cluster node ${port}`, async () => (await cli(port, 'ping')) === 'PONG')
    const create = Bun.spawn(['redis-cli', '--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`),
      '--cluster-replicas', '0', '--cluster-yes'], { stdout: 'pipe', stderr: 'pipe' })
    const out = await new Response(create.stdout).text()
    if ((await create.exited) !== 0) throw new Error(`redis-cli --cluster create failed:\n${out}`)
    for (const port of ports) {
      await waitFor(`cluster_state:ok on ${port}`, async () => (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'))
    }
  } catch (e) {
    await stop()
    throw e
  }
  return { urls: ports.map(p => `redis://127.0.0.1:${p}`), nodes: ports.map(port => ({ host: '127.0.0.1', port })), stop }
}
