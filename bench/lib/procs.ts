/**
 * Child processes of the benchmark: every server runs in its own process, started here and tracked so that
 * stopAll() (called in `finally` and on SIGINT/SIGTERM) ends each one by its pid — never by name.
 */
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs'
import type { Subprocess } from 'bun'

export const ROOT = new URL('../..', import.meta.url).pathname
export const BUN = process.execPath

export interface Child {
  name: string
  /** Its stdout and stderr are a file (not streams): read them with output(). */
  proc: Subprocess<'ignore', number, number>
  /** What the child wrote (stdout and stderr, interleaved), its last OUTPUT_TAIL bytes. */
  output: () => string
  /** Resolves with the first line matching `re` (or rejects when the process exits or the time is up). */
  waitForLine: (re: RegExp, timeoutMs?: number) => Promise<string>
  stop: () => Promise<void>
}

const children = new Set<Child>()
/** The bench's scratch folder (gitignored): configs, wrk scripts, data dirs, children's logs. */
export const TMP = `${ROOT}bench/.tmp`
/** A chatty child's log is read back only this far (its start is what readiness checks look for, its end what errors show). */
const OUTPUT_TAIL = 4_000_000
/** Children's log folders not removed yet (a child's is removed when it stops; what is left, when the bench exits). */
const logDirs = new Set<string>()
process.on('exit', () => {
  for (const d of logDirs) rmSync(d, { recursive: true, force: true })
})

/**
 * Every child writes stdout and stderr into one file (appended, so the two interleave as written), read back on
 * demand. Not pipes: a pipe read by this process in JavaScript cost the bench ~11 µs of CPU per gateway request
 * (the access log, ~1.7 MB/s at c=32), taken from the same two cores the targets are measured on, and each of the
 * gateway's log writes woke this process. A file costs the writer one write(2) into the page cache, as a log file
 * or journald would in production, and nobody else anything.
 */
export function spawnChild(name: string, cmd: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Child {
  mkdirSync(TMP, { recursive: true })
  const dir = mkdtempSync(`${TMP}/child-`)
  logDirs.add(dir)
  const logPath = `${dir}/output.log`
  const fd = openSync(logPath, 'a')
  let proc: Subprocess<'ignore', number, number>
  try {
    proc = Bun.spawn(cmd, {
      cwd: opts.cwd ?? ROOT, env: opts.env ?? (process.env as Record<string, string>),
      stdin: 'ignore', stdout: fd, stderr: fd,
    })
  } finally {
    closeSync(fd) // the child has its own copy
  }
  /** Once the child has stopped: its output's tail, kept here, and the file removed (an access log grows ~2 MB/s). */
  let kept: string | null = null
  const output = (): string => {
    if (kept !== null) return kept
    try {
      const f = openSync(logPath, 'r')
      try {
        const size = fstatSync(f).size
        const len = Math.min(size, OUTPUT_TAIL)
        const buf = Buffer.alloc(len)
        readSync(f, buf, 0, len, size - len)
        return buf.toString('utf8')
      } finally {
        closeSync(f)
      }
    } catch {
      return ''
    }
  }
  const release = () => {
    if (kept !== null) return
    kept = output()
    rmSync(dir, { recursive: true, force: true })
    logDirs.delete(dir)
  }
  const child: Child = {
    name,
    proc,
    output,
    async waitForLine(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        // Complete lines only: a line being written may show up cut short.
        const text = output()
        const m = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').find((l) => re.test(l))
        if (m !== undefined) return m
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}:\n${output().slice(-3000)}`)
        }
        await Bun.sleep(20)
      }
      throw new Error(`${name}: no line matching ${re} within ${timeoutMs} ms:\n${output().slice(-3000)}`)
    },
    async stop() {
      children.delete(child)
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
        await proc.exited
        clearTimeout(timer)
      }
      release()
    },
  }
  children.add(child)
  return child
}

/** Stops every child still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const c of [...children].reverse()) await c.stop().catch(() => {})
}

/**
 * CPU time (user + system) so far in ms, from /proc (ticks of 10 ms); NaN once it is gone: of the whole process
 * (all threads), or with `tid` of that one thread (the main thread's tid is the pid).
 */
export function cpuTimeMs(pid: number, tid?: number): number {
  try {
    const stat = require('node:fs').readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8') as string
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
