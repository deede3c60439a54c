/**
 * wrk as the load generator of the CPU-bound scenario: one C thread per core it is given, so it spends far
 * less CPU per request than any of the servers it measures (checked in every run: direct ≥ 2× bare).
 * Install: `apt-get install -y wrk` (Debian/Ubuntu package `wrk`).
 *
 * One POST, repeated, with a Lua `done` hook that prints the summary as one JSON line; every run is bounded
 * by wrk's own `-d` and a kill timer here.
 *
 * wrk's latency percentiles are corrected for coordinated omission: after the run, each sample longer than twice
 * the mean time between a connection's requests adds made-up samples below it, one per mean interval (wrk's
 * `stats_correct`). At one connection a single 5 ms pause among 0.3 ms requests counts as ~15 slow requests:
 * behind a server that answers 99 requests in 50 µs and the 100th in 10 ms, wrk reports p90 7.9 ms where every
 * request but one took under 60 µs. So with one connection per thread (where a request and its response pair up
 * in order) each request is also timed in the script itself, from the moment wrk asks for it to its whole response
 * (LuaJIT's FFI, CLOCK_MONOTONIC): `raw` is the distribution the requests saw.
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
  /** Each request as timed by the script, without wrk's correction; only with one connection per thread. over1Ms: how many took over 1 ms. */
  raw: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; n: number; over1Ms: number } | null
}

/** Path of the wrk executable, or null with the reason to print. */
export function findWrk(): { path: string } | { missing: string } {
  const path = Bun.which('wrk')
  return path ? { path } : { missing: 'wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu package "wrk"), then rerun' }
}

const lua = (s: string) => JSON.stringify(s) // a JSON string literal is a valid Lua string literal for this ASCII input

/** Times each request in the script (one connection per thread only): request() stamps, response() records. */
const PER_REQUEST = `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clk_id, wrk_timespec *tp);
]]
local clock = ffi.new("wrk_timespec")
local function now_us() ffi.C.clock_gettime(1, clock); return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000 end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) lat = {}; n = 0; started = 0; prepared = wrk.format() end
request = function() started = now_us(); return prepared end
response = function(status, headers, body) n = n + 1; lat[n] = now_us() - started end
local function raw()
  local a = {}
  for _, th in ipairs(threads) do
    local l, k = th:get("lat"), th:get("n")
    for i = 1, k do a[#a + 1] = l[i] end
  end
  table.sort(a)
  if #a == 0 then return "null" end
  local function p(q) return a[math.max(1, math.ceil(#a * q))] end
  local over = 0
  for i = #a, 1, -1 do if a[i] > 1000 then over = over + 1 else break end end
  return string.format('{"n":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"over1ms":%d}', #a, p(0.5), p(0.9), p(0.99), a[#a], over)
end
`

function script(spec: WrkSpec, perRequest: boolean): string {
  mkdirSync(TMP, { recursive: true })
  const path = `${TMP}/wrk-${Bun.hash(JSON.stringify([spec.headers, spec.body, perRequest])).toString(16)}.lua`
  const headers = Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`).join('\n')
  writeFileSync(path, `wrk.method = "POST"
wrk.body = ${lua(spec.body)}
${headers}
${perRequest ? PER_REQUEST : 'local function raw() return "null" end'}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%f,"socket":%d,"non2xx":%d,"raw":%s}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status, raw()))
end
`)
  return path
}

export async function runWrk(wrk: string, spec: WrkSpec): Promise<WrkResult> {
  const threads = Math.min(spec.threads ?? 1, spec.connections)
  const proc = Bun.spawn([wrk, '-t', String(threads), '-c', String(spec.connections), '-d', `${spec.durationS}s`,
    '--timeout', `${spec.timeoutS ?? 10}s`, '-s', script(spec, threads === spec.connections), spec.url], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), (spec.durationS + (spec.timeoutS ?? 10) + 10) * 1000)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err.slice(-1000)} ${out.slice(-1000)}`)
  const j = JSON.parse(line.slice('WRKJSON '.length)) as Record<string, number> & { raw: Record<string, number> | null }
  const ms = (us: number) => Math.round(us) / 1000
  const raw = j.raw
  return {
    requests: j.requests!, durationMs: Math.round(j.duration_us! / 1000), rps: Math.round((j.requests! / j.duration_us!) * 1e6),
    p50Ms: ms(j.p50!), p90Ms: ms(j.p90!), p99Ms: ms(j.p99!), maxMs: ms(j.max!), meanMs: ms(j.mean!),
    socketErrors: j.socket!, non2xx: j.non2xx!,
    raw: raw ? { n: raw.n!, p50Ms: ms(raw.p50!), p90Ms: ms(raw.p90!), p99Ms: ms(raw.p99!), maxMs: ms(raw.max!), over1Ms: raw.over1ms! } : null,
  }
}
