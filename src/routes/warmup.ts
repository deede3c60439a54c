/**
 * Runs the request path once at boot (body reading, validation, auth, error and SSE shaping, the budget
 * scripts) so its first real request does not pay for first-call costs. Calls the handlers directly:
 * nothing is recorded in metrics or the [COLD-START] lines, and the made-up key is refused before any
 * budget or upstream work; the budget scripts run on a reserved-then-released zero amount.
 */
import { errorBody } from '../http/errors.ts'
import { GatewayError } from '../errors.ts'
import { sseDataFrame } from '../http/sse.ts'
import { RequestTiming } from '../http/timing.ts'
import { chatCompletions } from './chat-completions.ts'
import type { AppDeps } from './context.ts'
import { listModels } from './models.ts'

const WARMUP_KEY = 'gw_boot_warmup_is_not_a_key_0000000000'

export async function warmRequestPath(deps: AppDeps): Promise<void> {
  const body = JSON.stringify({ model: 'warmup', messages: [{ role: 'user', content: 'warm up' }], stream: true, max_tokens: 1 })
  const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), authorization: `Bearer ${WARMUP_KEY}` }
  const chat = new Request('http://gateway.invalid/v1/chat/completions', { method: 'POST', body, headers })
  await chatCompletions({ request: chat, requestId: 'warmup', timing: new RequestTiming(), access: { requestId: 'warmup' } }, deps).catch(() => {})
  const models = new Request('http://gateway.invalid/v1/models', { headers })
  await listModels({ request: models, requestId: 'warmup', timing: new RequestTiming(), access: { requestId: 'warmup' } }, deps).catch(() => {})
  sseDataFrame(errorBody(new GatewayError('upstream_error', 'warm up'), 'warmup'))
  await deps.budget.warmup().catch(() => {}) // best effort: a budget store problem shows in /readyz instead
}
