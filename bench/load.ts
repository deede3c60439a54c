/**
 * Load generator. Runs in its own process (`runLoad(spec)` spawns `bun bench/load.ts <spec-json>`), so it
 * competes for the cores like a real client would but never shares an event loop with a server.
 *
 * Closed loop: `concurrency` workers each send one request at a time until `requests` were sent or
 * `maxMs` has passed (then in-flight requests get `graceMs` more before being aborted). Every loop here is
 * bounded in count and in time. For SSE it counts `data:` events and times the first one (TTFT).
 */
import { BUN, ROOT } from './lib/procs.ts'
import { summarize, type Summary } from './lib/stats.ts'

export interface LoadSpec {
  url: string
  headers: Record<string, string>
  body: string
  stream: boolean
  concurrency: number
  requests: number
  /** Unrecorded requests first (16 at a time), to warm JITs and connection pools. */
  warmup?: number
  maxMs?: number
  graceMs?: number
  requestTimeoutMs?: number
}

export interface LoadResult {
  sent: number
  ok: number
  statuses: Record<string, number>
  /** Transport errors, timeouts, or `data: {"error":...}` events inside a 200 stream. */
  errors: number
  errorSamples: string[]
  durationMs: number
  rps: number
  /** Request start → body fully read. */
  total: Summary
  /** Request start → response headers (JSON) or first `data:` event (SSE). */
  ttfb: Summary
  chunks: number
  chunksPerSec: number
  /** Per-stage durations from the `Server-Timing` header of 2xx responses, when the server sends one. */
  serverTiming: Record<string, Summary>
  stoppedByTime: boolean
}

const enc = new TextEncoder()

interface One { ok: boolean; status: number; total: number; ttfb: number; chunks: number; timing: string | null; error?: string }

async function once(spec: LoadSpec, signal: AbortSignal): Promise<One> {
  const t0 = performance.now()
  let status = 0
  try {
    const res = await fetch(spec.url, { method: 'POST', headers: spec.headers, body: spec.body, signal })
    status = res.status
    const timing = res.headers.get('server-timing')
    let ttfb = performance.now() - t0
    if (!spec.stream || !res.body || !(res.headers.get('content-type') ?? '').includes('event-stream')) {
      const text = await res.text()
      return { ok: res.ok, status, total: performance.now() - t0, ttfb, chunks: 0, timing, error: res.ok ? undefined : text.slice(0, 200) }
    }
    // Count `data:` lines (not [DONE]) across arbitrary read boundaries.
    const dec = new TextDecoder()
    let tail = ''
    let chunks = 0
    let first = true
    let streamError: string | undefined
    for await (const bytes of res.body) {
      const text = tail + dec.decode(bytes, { stream: true })
      const lines = text.split('\n')
      tail = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.startsWith('data:')) continue
        if (line.startsWith('data: [DONE]')) continue
        if (first) {
          ttfb = performance.now() - t0
          first = false
        }
        if (line.startsWith('data: {"error"')) streamError ??= line.slice(0, 200)
        else chunks++
      }
    }
    return { ok: res.ok && !streamError, status, total: performance.now() - t0, ttfb, chunks, timing, error: streamError }
  } catch (e) {
    return { ok: false, status, total: performance.now() - t0, ttfb: NaN, chunks: 0, timing: null, error: String(e).slice(0, 200) }
  }
}

function parseServerTiming(h: string, into: Map<string, number[]>): void {
  for (const part of h.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*;.*?dur=([0-9.]+)/.exec(part)
    if (!m) continue
    const list = into.get(m[1]!) ?? []
    list.push(Number(m[2]))
    into.set(m[1]!, list)
  }
}

export async function generate(spec: LoadSpec): Promise<LoadResult> {
  const maxMs = spec.maxMs ?? 30_000
  const graceMs = spec.graceMs ?? 10_000
  const timeoutMs = spec.requestTimeoutMs ?? 30_000

  if (spec.warmup) {
    let left = spec.warmup
    const warmDeadline = performance.now() + 10_000
    await Promise.all(Array.from({ length: Math.min(spec.warmup, 16) }, async () => {
      while (left-- > 0 && performance.now() < warmDeadline) await once(spec, AbortSignal.timeout(timeoutMs))
    }))
  }

  const results: One[] = []
  const hardStop = new AbortController()
  let issued = 0
  let stoppedByTime = false
  const t0 = performance.now()
  const deadline = t0 + maxMs
  const killer = setTimeout(() => hardStop.abort(new Error('load: time limit')), maxMs + graceMs)
  await Promise.all(Array.from({ length: spec.concurrency }, async () => {
    while (issued < spec.requests) {
      if (performance.now() >= deadline) {
        stoppedByTime = true
        return
      }
      issued++
      results.push(await once(spec, AbortSignal.any([hardStop.signal, AbortSignal.timeout(timeoutMs)])))
    }
  }))
  clearTimeout(killer)
  const durationMs = performance.now() - t0

  const statuses: Record<string, number> = {}
  const timing = new Map<string, number[]>()
  const errorSamples: string[] = []
  let errors = 0
  let chunks = 0
  for (const r of results) {
    statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1
    chunks += r.chunks
    if (!r.ok) {
      errors += r.status === 0 || r.status === 200 ? 1 : 0
      if (r.error && errorSamples.length < 5 && !errorSamples.includes(r.error)) errorSamples.push(r.error)
    }
    if (r.ok && r.timing) parseServerTiming(r.timing, timing)
  }
  const ok = results.filter((r) => r.ok)
  return {
    sent: results.length, ok: ok.length, statuses, errors, errorSamples,
    durationMs: Math.round(durationMs), rps: Math.round((ok.length / durationMs) * 1000 * 10) / 10,
    total: summarize(ok.map((r) => r.total)), ttfb: summarize(ok.map((r) => r.ttfb)),
    chunks, chunksPerSec: Math.round((chunks / durationMs) * 1000),
    serverTiming: Object.fromEntries([...timing].map(([k, v]) => [k, summarize(v)])),
    stoppedByTime,
  }
}

/** Runs one load in a fresh child process and returns its result. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const proc = Bun.spawn([BUN, `${ROOT}bench/load.ts`], {
    cwd: ROOT, stdin: new Blob([enc.encode(JSON.stringify(spec))]), stdout: 'pipe', stderr: 'pipe',
    // Bun's fetch caps concurrent requests at 256 by default; the client must not be the bottleneck.
    env: { ...(process.env as Record<string, string>), BUN_CONFIG_MAX_HTTP_REQUESTS: '8192' },
  })
  const limit = (spec.maxMs ?? 30_000) + (spec.graceMs ?? 10_000) + 30_000
  const timer = setTimeout(() => proc.kill('SIGKILL'), limit)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  const line = out.split('\n').find((l) => l.startsWith('RESULT '))
  if (code !== 0 || !line) throw new Error(`load generator failed (exit ${code}):\n${err.slice(-2000)}\n${out.slice(-1000)}`)
  return JSON.parse(line.slice('RESULT '.length)) as LoadResult
}

if (import.meta.main) {
  const spec = JSON.parse(await Bun.stdin.text()) as LoadSpec
  const result = await generate(spec)
  console.log(`RESULT ${JSON.stringify(result)}`)
  process.exit(0)
}
