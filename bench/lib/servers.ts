/** The comparison servers, each in its own process: fake upstream, bare Bun proxy, Portkey gateway. */
import { existsSync, readFileSync } from 'node:fs'
import { freePort } from '../../test/helpers/ports.ts'
import { BUN, ROOT, spawnChild, waitHttp, type Child } from './procs.ts'

export interface Server { url: string; child: Child; pid: number }

export async function startUpstream(o: { latencyMs: number; chunks: number; intervalMs: number; fast?: boolean }): Promise<Server> {
  const child = spawnChild(`upstream(${o.latencyMs}ms,${o.chunks}x${o.intervalMs}ms)`, [BUN, `${ROOT}bench/upstream.ts`,
    '--latency-ms', String(o.latencyMs), '--chunks', String(o.chunks), '--interval-ms', String(o.intervalMs), ...(o.fast ? ['--fast'] : [])])
  const line = await child.waitForLine(/^LISTENING /, 15_000)
  return { url: line.slice('LISTENING '.length).trim(), child, pid: child.proc.pid }
}

export async function startBareProxy(upstreamUrl: string, env: Record<string, string> = {}, opts: { jsPipe?: boolean } = {}): Promise<Server> {
  const child = spawnChild('bare-proxy', [BUN, `${ROOT}bench/bare-proxy.ts`, '--upstream', upstreamUrl, ...(opts.jsPipe ? ['--js-pipe'] : [])],
    { env: { ...(process.env as Record<string, string>), ...env } })
  const line = await child.waitForLine(/^LISTENING /, 15_000)
  return { url: line.slice('LISTENING '.length).trim(), child, pid: child.proc.pid }
}

/** The metering floor (floor-proxy.ts): what any body-inspecting gateway does, in Bun.serve or Elysia, with or without Redis. */
export async function startFloorProxy(upstreamUrl: string,
  opts: { elysia?: boolean; redisUrl?: string; budgetScripts?: boolean; slice?: boolean; env?: Record<string, string> } = {}): Promise<Server> {
  const args = ['--upstream', upstreamUrl, ...(opts.elysia ? ['--elysia'] : []), ...(opts.redisUrl ? ['--redis', opts.redisUrl] : []),
    ...(opts.budgetScripts ? ['--budget-scripts'] : []), ...(opts.slice ? ['--slice'] : [])]
  const child = spawnChild(`floor-proxy${opts.elysia ? ' (elysia)' : ''}${opts.redisUrl ? ' (redis)' : ''}${opts.budgetScripts ? ' (budget)' : ''}${opts.slice ? ' (slice)' : ''}`, [BUN, `${ROOT}bench/floor-proxy.ts`, ...args],
    { env: { ...(process.env as Record<string, string>), ...opts.env } })
  const line = await child.waitForLine(/^LISTENING /, 15_000)
  return { url: line.slice('LISTENING '.length).trim(), child, pid: child.proc.pid }
}

const PEER_DIR = `${ROOT}bench/.peer`
const PORTKEY_PKG = `${PEER_DIR}/node_modules/@portkey-ai/gateway`

export type Peer = (Server & { version: string }) | { unavailable: string }

/** Installs @portkey-ai/gateway into bench/.peer (outside the repo's package.json) once, then runs it under Bun. */
export async function startPortkey(): Promise<Peer> {
  try {
    if (!existsSync(`${PORTKEY_PKG}/package.json`)) {
      Bun.spawnSync(['mkdir', '-p', PEER_DIR])
      if (!existsSync(`${PEER_DIR}/package.json`)) await Bun.write(`${PEER_DIR}/package.json`, '{"name":"bench-peer","private":true}\n')
      const r = Bun.spawnSync(['npm', 'install', '--prefix', PEER_DIR, '--no-audit', '--no-fund', '--ignore-scripts', '@portkey-ai/gateway'],
        { stdout: 'pipe', stderr: 'pipe', timeout: 240_000 })
      if (r.exitCode !== 0) return { unavailable: `npm install @portkey-ai/gateway failed: ${r.stderr.toString().trim().split('\n').slice(-3).join(' ')}` }
    }
    const pkg = JSON.parse(readFileSync(`${PORTKEY_PKG}/package.json`, 'utf8')) as { version: string; bin: string | Record<string, string> }
    const bin = typeof pkg.bin === 'string' ? pkg.bin : Object.values(pkg.bin)[0]!
    const port = await freePort()
    // Its start script is a Hono app on @hono/node-server; `--headless` + NODE_ENV=production skip the UI.
    const child = spawnChild('portkey', [BUN, '--preload', `${ROOT}bench/peer-loopback.ts`, `${PORTKEY_PKG}/${bin}`, `--port=${port}`, '--headless'],
      { cwd: PORTKEY_PKG, env: { ...(process.env as Record<string, string>), NODE_ENV: 'production' } })
    const url = `http://127.0.0.1:${port}`
    await waitHttp(`${url}/`, 30_000, 0)
    return { url, child, pid: child.proc.pid, version: pkg.version }
  } catch (e) {
    return { unavailable: `Portkey gateway did not start under Bun: ${String(e).slice(0, 300)}` }
  }
}

/** The headers that make Portkey forward to an OpenAI-compatible custom host. */
export function portkeyHeaders(upstreamUrl: string): Record<string, string> {
  return { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstreamUrl}/v1` }
}
