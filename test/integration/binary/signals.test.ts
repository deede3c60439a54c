/**
 * Signals on the compiled executable (embedded store, in-process ledger, fake upstream):
 * SIGHUP reloads the config file without touching a stream in flight (and keeps the old config when the new
 * one is invalid); SIGTERM drains up to the configured deadline, then ends what is left and exits 0; a second
 * SIGTERM ends the drain at once.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'
import { runGateway, spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
const CHUNKS = 30
const INTERVAL_MS = 100 // a default-mode stream lasts about 3 s

let dir: string
let binary: string
let upstream: FakeUpstream
let key: string
const running: GatewayProcess[] = []

const toml = (models: string[], extra = '') => `
[providers.up]
kind = "openai"
base_url = "${upstream.url}/v1"
${models.map((m) => `[models."${m}"]\nprovider = "up"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_output_tokens = 200\n`).join('')}
${extra}`

const env = (dataDir: string, extra: Record<string, string> = {}) => ({ GATEWAY_DATA_DIR: dataDir, ...extra })

/** A data dir with tenant "sig" and a key (the same key works in every data dir made from this one). */
async function dataDir(name: string): Promise<string> {
  const d = join(dir, name)
  const opts = { binary, cwd: dir, env: env(d) }
  expect((await runGateway(['tenant', 'create', 'sig'], opts)).code).toBe(0)
  const k = await runGateway(['key', 'create', 'sig'], opts)
  return (key = /store it now\): (\S+)/.exec(k.stdout)![1]!, d)
}

async function start(data: string, configFile: string, extraEnv: Record<string, string> = {}): Promise<GatewayProcess> {
  const gw = await spawnGateway(['serve', '--config', configFile], { binary, cwd: dir, env: env(data, extraEnv) })
  running.push(gw)
  await gw.waitReady()
  return gw
}

const post = (gw: GatewayProcess, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  })

async function readAll(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }, first = ''): Promise<string> {
  const dec = new TextDecoder()
  let text = first
  for (;;) {
    const r = await reader.read().catch(() => ({ done: true, value: undefined }))
    if (r.done) return text
    text += dec.decode(r.value, { stream: true })
  }
}

/** Opens a stream and waits until its first bytes arrived: it is truly in flight. */
async function openStream(gw: GatewayProcess, model: string, headers: Record<string, string> = {}) {
  const res = await post(gw, { model, stream: true }, headers)
  expect(res.status).toBe(200)
  const reader = res.body!.getReader()
  const first = new TextDecoder().decode((await reader.read()).value!)
  return { reader, first }
}

async function waitForCount(gw: GatewayProcess, msg: string, n: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (jsonLines(gw).filter((l) => l.msg === msg).length >= n) return
    await Bun.sleep(20)
  }
  throw new Error(`fewer than ${n} "${msg}" lines:\n${gw.output()}`)
}

const jsonLines = (gw: GatewayProcess) => gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>)
const modelIds = async (gw: GatewayProcess) =>
  ((await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json()) as any).data.map((m: any) => m.id)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-signals-'))
  binary = join(dir, 'gateway')
  const build = Bun.spawnSync(['bash', `${ROOT}build.sh`], { env: { ...process.env, OUT: binary }, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  upstream = await startFakeUpstream({ defaults: { chunks: CHUNKS, intervalMs: INTERVAL_MS } })
}, 120_000)

afterAll(async () => {
  for (const gw of running) await gw.stop('SIGKILL')
  await upstream?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('SIGHUP reloads models without dropping a stream; an invalid file is logged and the old config kept', async () => {
  const data = await dataDir('hup')
  const file = join(dir, 'hup.toml')
  writeFileSync(file, toml(['m1']))
  const gw = await start(data, file)
  const s = await openStream(gw, 'm1')

  writeFileSync(file, toml(['m1', 'm2']))
  gw.proc.kill('SIGHUP')
  await gw.waitForOutput('"msg":"config reloaded"', 5000)
  expect(await modelIds(gw)).toEqual(expect.arrayContaining(['m1', 'm2']))
  expect((await post(gw, { model: 'm2' })).status).toBe(200)

  writeFileSync(file, '[providers.up\nkind = ')
  gw.proc.kill('SIGHUP')
  await gw.waitForOutput('config reload failed', 5000)
  const failed = jsonLines(gw).find((l) => l.msg === 'config reload failed; keeping the current config')!
  expect(failed.level).toBe('error')
  expect(failed.errors.join()).toContain('invalid TOML')
  expect((await post(gw, { model: 'm2' })).status).toBe(200) // still the last good config

  // The stream that was in flight through both reloads ran to its end.
  const text = await readAll(s.reader, s.first)
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  expect(text.match(/"content":"tok\d+ "/g)).toHaveLength(CHUNKS)
  expect(gw.proc.exitCode).toBeNull()

  // log_level is reloaded too: at "warn" the access lines (info) stop.
  writeFileSync(file, toml(['m1', 'm2'], '[server]\nlog_level = "warn"\n'))
  gw.proc.kill('SIGHUP')
  await waitForCount(gw, 'config reloaded', 2)
  const accessBefore = jsonLines(gw).filter((l) => l.msg === 'access').length
  expect((await post(gw, { model: 'm1' })).status).toBe(200)
  await Bun.sleep(100)
  expect(jsonLines(gw).filter((l) => l.msg === 'access').length).toBe(accessBefore)
  expect(await gw.stop('SIGTERM')).toBe(0)
}, 60_000)

test('SIGTERM with the drain deadline from GATEWAY_DRAIN_TIMEOUT_MS: the stream is ended, settled, and the process exits 0', async () => {
  const data = await dataDir('drain')
  const file = join(dir, 'drain.toml')
  writeFileSync(file, toml(['m1']))
  const gw = await start(data, file, { GATEWAY_DRAIN_TIMEOUT_MS: '400' })
  const s = await openStream(gw, 'm1', { 'x-request-id': 'req_drain_1' })
  gw.proc.kill('SIGTERM')
  const text = await readAll(s.reader, s.first)
  expect(await gw.proc.exited).toBe(0)
  expect(text).not.toContain('[DONE]') // cut before its end (the upstream had ~3 s to go)
  // Ended by the gateway with one error event, not dropped.
  expect(text).toContain('"code":"server_shutdown"')
  const lines = jsonLines(gw)
  expect(lines.some((l) => l.msg === 'closing remaining connections')).toBe(false)
  expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ deadline_ms: 400, in_flight: 1 })
  expect(lines.find((l) => l.msg === 'drain deadline reached; ending in-flight requests')).toMatchObject({ level: 'warn', deadline_ms: 400 })
  expect(lines.at(-1)).toMatchObject({ msg: 'stopped' })
  // Settled (not left reserved for 2 h) and flushed to the store before exit.
  const db = new Database(join(data, 'gateway.sqlite'), { readonly: true })
  try {
    const rows = db.query("select status, cost_usd_micros, client_request_id from usage_records where tenant_id = 'sig'").all() as Array<{ status: string; cost_usd_micros: number; client_request_id: string }>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 'shutdown', client_request_id: 'req_drain_1' })
    expect(rows[0]!.cost_usd_micros).toBeGreaterThan(0) // no usage report: the worst case, never released
  } finally {
    db.close()
  }
}, 60_000)

test('a second SIGTERM ends a long drain at once', async () => {
  const data = await dataDir('twice')
  const file = join(dir, 'twice.toml')
  writeFileSync(file, toml(['m1']))
  const gw = await start(data, file) // default drain deadline: 30 s, longer than the stream
  const s = await openStream(gw, 'm1')
  gw.proc.kill('SIGTERM')
  await gw.waitForOutput('"msg":"shutting down"', 5000)
  gw.proc.kill('SIGTERM')
  const text = await readAll(s.reader, s.first)
  expect(await gw.proc.exited).toBe(0)
  expect(text).not.toContain('[DONE]')
  expect(jsonLines(gw).find((l) => l.msg === 'shutting down')).toMatchObject({ deadline_ms: 30_000 })
  expect(gw.output()).toContain('"msg":"second signal; ending in-flight requests"')
}, 60_000)
