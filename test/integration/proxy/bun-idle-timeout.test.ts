/**
 * Regression: with the default timeout_ms (600 s) an upstream that sent no headers failed at ~350 s with a 502
 * "connection failed": Bun's fetch has its own socket idle timer (BUN_CONFIG_HTTP_IDLE_TIMEOUT, default 300 s,
 * checked with a few seconds' granularity). The variable shortens it to 1 s here, so the case takes seconds:
 * a bare fetch is cut by Bun's timer (proving the shortened timer bites), upstreamFetch waits for the headers.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { childEnv } from '../../helpers/gateway-process.ts'
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.ts'

const CHILD = new URL('./bun-idle-timeout.child.ts', import.meta.url).pathname
// Bun checks socket timeouts every few seconds: with a 1 s timer a bare fetch failed after ~8 s.
const HEADERS_AFTER_MS = 11_000

let fake: FakeUpstream
beforeAll(async () => {
  fake = await startFakeUpstream()
})
afterAll(() => fake?.stop())

async function child(mode: 'upstream' | 'plain'): Promise<string> {
  const proc = Bun.spawn([process.execPath, CHILD, fake.url, mode], {
    env: childEnv({ BUN_CONFIG_HTTP_IDLE_TIMEOUT: '1' }), stdout: 'pipe', stderr: 'pipe',
  })
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return (out + err).trim()
}

test('an upstream that holds its headers longer than Bun\'s idle timeout is still awaited (only the gateway\'s own timers decide)', async () => {
  fake.program(
    { kind: 'json', body: { late: true }, delayMs: HEADERS_AFTER_MS },
    { kind: 'json', body: { late: true }, delayMs: HEADERS_AFTER_MS },
  )
  const [viaGateway, bare] = await Promise.all([child('upstream'), child('plain')])
  expect(bare).toStartWith('error TimeoutError')
  expect(viaGateway).toBe('ok {"late":true}')
}, 30_000)
