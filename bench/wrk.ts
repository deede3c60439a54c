/**
 * wrk as the load generator of the CPU-bound scenario: one C thread per core it is given, so it spends far
 * less CPU per request than any of the servers it measures (checked in every run: direct ≥ 2× bare).
 * Install: `apt-get install -y wrk` (Debian/Ubuntu package `wrk`).
 *
 * One POST, repeated, with a Lua `done` hook that prints the summary as one JSON line; every run is bounded
 * by wrk's own `-d` and a kill timer here.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { TMP } from './lib/gateway.ts'

export interface WrkSpec {
  url: string
  headers: Record<string, string>
  body: string
  connections: number
  durationS: number
  threads?: number
  timeoutS?: number
}

export interface WrkResult {
  requests: number
  durationMs: number
  rps: number
  /** Request start → whole response read (for SSE: the last chunk), ms. */
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  meanMs: number
  /** Connect/read/write errors and timeouts. */
  socketErrors: number
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number
}

/** Path of the wrk executable, or null with the reason to print. */
export function findWrk(): { path: string } | { missing: string } {
  const path = Bun.which('wrk')
  return path ? { path } : { missing: 'wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu package "wrk"), then rerun' }
}

const lua = (s: string) => JSON.stringify(s) // a JSON string literal is a valid Lua string literal for this ASCII input

function script(spec: WrkSpec): string {
  mkdirSync(TMP, { recursive: true })
  const path = `${TMP}/wrk-${Bun.hash(JSON.stringify([spec.headers, spec.body])).toString(16)}.lua`
  const headers = Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`).join('\n')
  writeFileSync(path, `wrk.method = "POST"
wrk.body = ${lua(spec.body)}
${headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%f,"socket":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
`)
  return path
}

export async function runWrk(wrk: string, spec: WrkSpec): Promise<WrkResult> {
  const threads = Math.min(spec.threads ?? 1, spec.connections)
  const proc = Bun.spawn([wrk, '-t', String(threads), '-c', String(spec.connections), '-d', `${spec.durationS}s`,
    '--timeout', `${spec.timeoutS ?? 10}s`, '-s', script(spec), spec.url], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), (spec.durationS + (spec.timeoutS ?? 10) + 10) * 1000)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err.slice(-1000)} ${out.slice(-1000)}`)
  const j = JSON.parse(line.slice('WRKJSON '.length)) as Record<string, number>
  const ms = (us: number) => Math.round(us) / 1000
  return {
    requests: j.requests!, durationMs: Math.round(j.duration_us! / 1000), rps: Math.round((j.requests! / j.duration_us!) * 1e6),
    p50Ms: ms(j.p50!), p90Ms: ms(j.p90!), p99Ms: ms(j.p99!), maxMs: ms(j.max!), meanMs: ms(j.mean!),
    socketErrors: j.socket!, non2xx: j.non2xx!,
  }
}
