/**
 * Child of bun-idle-timeout.test.ts: calls URL (argv[2]) once, through upstreamFetch or (argv[3] = "plain")
 * a bare fetch, and prints `ok <body>` or `error <code> <message>`. Run with BUN_CONFIG_HTTP_IDLE_TIMEOUT set.
 */
import { GatewayError } from '../../../src/errors.ts'
import { upstreamFetch } from '../../../src/providers/upstream.ts'

const [url, mode] = [process.argv[2]!, process.argv[3]]
try {
  const res = mode === 'plain'
    ? await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{}' })
    : await upstreamFetch({ name: 'slow', kind: 'openai', baseUrl: `${url}/v1`, apiKey: null, timeoutMs: 60_000 }, '/chat/completions', {
        body: {}, headers: {}, signal: new AbortController().signal,
      })
  console.log(`ok ${await res.text()}`)
} catch (e) {
  console.log(`error ${e instanceof GatewayError ? e.code : (e as Error).name} ${(e as Error).message}`)
}
