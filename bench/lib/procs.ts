/**
 * Child processes of the benchmark: every server runs in its own process, started here and tracked so that
 * stopAll() (called in `finally` and on SIGINT/SIGTERM) ends each one by its pid — never by name.
 */
import type { Subprocess } from 'bun'

export const ROOT = new URL('../..', import.meta.url).pathname
export const BUN = process.execPath

export interface Child {
  name: string
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  output: () => string
  /** Resolves with the first line matching `re` (or rejects when the process exits or the time is up). */
  waitForLine: (re: RegExp, timeoutMs?: number) => Promise<string>
  stop: () => Promise<void>
}

const children = new Set<Child>()

export function spawnChild(name: string, cmd: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Child {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT, env: opts.env ?? (process.env as Record<string, string>),
    stdin: 'ignore', stdout: 'pipe', stderr: 'pipe',
  })
  let out = ''
  const MAX = 4_000_000 // keep the tail only: a chatty child must not eat the bench's memory
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder()
    for await (const c of s) {
      out += dec.decode(c, { stream: true })
      if (out.length > MAX) out = out.slice(-MAX / 2)
    }
  }
  void pump(proc.stdout).catch(() => {})
  void pump(proc.stderr).catch(() => {})
  const child: Child = {
    name,
    proc,
    output: () => out,
    async waitForLine(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const m = out.split('\n').find((l) => re.test(l))
        if (m !== undefined) return m
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}:\n${out.slice(-3000)}`)
        }
        await Bun.sleep(20)
      }
      throw new Error(`${name}: no line matching ${re} within ${timeoutMs} ms:\n${out.slice(-3000)}`)
    },
    async stop() {
      children.delete(child)
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
      await proc.exited
      clearTimeout(timer)
    },
  }
  children.add(child)
  return child
}

/** Stops every child still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const c of [...children].reverse()) await c.stop().catch(() => {})
}

/** CPU time (user + system, all threads) of a process so far in ms, from /proc/PID/stat (ticks of 10 ms); NaN once it is gone. */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8') as string
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10 // fields 14 and 15; Linux USER_HZ = 100
  } catch {
    return NaN
  }
}

/** Resident set size of a process in MiB (Linux /proc), or NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = require('node:fs').readFileSync(`/proc/${pid}/status`, 'utf8') as string
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

/** Polls `url` until it answers with `status` (default 200); returns the ms waited. */
export async function waitHttp(url: string, timeoutMs = 30_000, status = 200, init?: RequestInit): Promise<number> {
  const t0 = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(url, init)
      await r.arrayBuffer()
      if (status === 0 || r.status === status) return performance.now() - t0
    } catch {}
    await Bun.sleep(10)
  }
  throw new Error(`${url} did not answer ${status || 'at all'} within ${timeoutMs} ms`)
}
