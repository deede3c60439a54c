/**
 * Error paths as the official `openai` SDK sees them: gateway errors (401, 402, 404, 400), upstream statuses
 * mapped (429, 500), and failures after the stream started (one error event, no [DONE]).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI, { APIError } from 'openai'
import { anthropicErrorEvent, anthropicTextStream, type FakeReply, openaiTextStream, sseReply } from '../../helpers/fake-upstream.ts'
import { auditProblems, type Kind, MODELS, type ProxyEnv, startProxyEnv } from './harness.ts'

let env: ProxyEnv
let broke: string

beforeAll(async () => {
  env = await startProxyEnv()
  // A tenant whose budget cannot cover any strict reservation.
  broke = await env.gw.addTenant({ id: 'broke', budgetUsdMicros: 1 })
  await env.gw.warm()
})

afterAll(async () => {
  expect(auditProblems(env.http.audits)).toEqual([])
  await env.stop()
})

const messages = [{ role: 'user' as const, content: 'hi' }]
const sdk = (apiKey: string, maxRetries = 0) => new OpenAI({ baseURL: env.http.baseURL, apiKey, maxRetries })

/** Runs `fn`, returns what it threw (failing the test if nothing was thrown). */
async function thrown(fn: () => Promise<unknown>): Promise<APIError> {
  try {
    await fn()
  } catch (e) {
    expect(e).toBeInstanceOf(APIError)
    return e as APIError
  }
  throw new Error('expected the SDK call to throw')
}

const chatHits = () => env.http.hits.filter((h) => h.path === '/v1/chat/completions').length

describe('gateway errors through the SDK', () => {
  test.each([false, true])('401 unknown key → AuthenticationError (stream=%p)', async (stream) => {
    const before = chatHits()
    const err = await thrown(() => sdk('gw_not_a_real_key_at_all', 2).chat.completions.create({ model: 'mock-echo', messages, stream }))
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(err.status).toBe(401)
    expect(err.code).toBe('invalid_api_key')
    expect(chatHits() - before).toBe(1)
  })

  test.each([false, true])('402 budget: status 402, code budget_exceeded, and the SDK does not retry (stream=%p)', async (stream) => {
    const before = chatHits()
    // Default-style retries on: only the gateway's x-should-retry: false may stop them.
    const err = await thrown(() => sdk(broke, 3).chat.completions.create({ model: 'mock-echo', messages, stream }))
    expect(err.status).toBe(402)
    expect(err.code).toBe('budget_exceeded')
    expect(err.type).toBe('insufficient_quota')
    expect(err.headers?.get('x-should-retry')).toBe('false')
    // The SDK surfaces the gateway's x-request-id; the error body carries the same id.
    expect(err.requestID).toBeString()
    expect((err.error as { request_id?: string }).request_id).toBe(err.requestID!)
    expect(chatHits() - before).toBe(1)
  })

  test('404 unknown model → NotFoundError model_not_found', async () => {
    const err = await thrown(() => sdk(env.key).chat.completions.create({ model: 'no-such-model', messages }))
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.code).toBe('model_not_found')
    expect(err.param).toBe('model')
  })

  test.each([
    ['temperature out of range', { temperature: 5 }, 'temperature'],
    ['empty messages', { messages: [] }, 'messages'],
    ['bad role', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
  ])('400 invalid body (%s) → BadRequestError', async (_name, patch, param) => {
    const body = { model: 'mock-echo', messages, ...patch } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming
    const err = await thrown(() => sdk(env.key).chat.completions.create(body))
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect(err.code).toBe('invalid_request_error')
    expect(err.param).toBe(param)
  })
})

const upstreamError = (kind: Kind, status: number, message: string): FakeReply => ({
  kind: 'json',
  status,
  body: kind === 'anthropic'
    ? { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } }
    : { error: { message, type: status === 429 ? 'requests' : 'server_error', param: null, code: null } },
})

describe('upstream statuses mapped', () => {
  const table: Array<[Kind, boolean, number, number, abstract new (...args: never[]) => APIError]> = []
  for (const kind of ['openai', 'anthropic'] as const) {
    for (const stream of [false, true]) {
      table.push([kind, stream, 429, 429, OpenAI.RateLimitError], [kind, stream, 500, 502, OpenAI.InternalServerError])
    }
  }
  test.each(table)('%s upstream (stream=%p) HTTP %d → client %d', async (kind, stream, upStatus, status, cls) => {
    env.up.program(upstreamError(kind, upStatus, `upstream says ${upStatus}`))
    const err = await thrown(() => sdk(env.key).chat.completions.create({ model: MODELS[kind].client, messages, stream }))
    expect(err).toBeInstanceOf(cls)
    expect(err.status).toBe(status)
    expect(err.message).toContain(`upstream says ${upStatus}`)
    if (status === 502) expect(err.code).toBe('upstream_error')
  })

  test('reservation is released after an upstream error before any token', async () => {
    const before = await env.gw.ledger.snapshot('t1', 'total')
    env.up.program(upstreamError('openai', 500, 'boom'))
    await thrown(() => sdk(env.key).chat.completions.create({ model: MODELS.openai.client, messages, stream: true }))
    const after = await env.gw.ledger.snapshot('t1', 'total')
    expect(after).toEqual({ ...before, reservedMicros: 0 })
  })
})

describe('failures after the stream started', () => {
  const partialAnthropic = () => {
    const full = anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['Partial', ' answer'] })
    // Keep message_start and the text block's events; drop message_delta/message_stop; append the error.
    const kept = full.split('\n\n').filter((e) => e !== '' && !/message_delta|message_stop|content_block_stop/.test(e)).join('\n\n')
    return `${kept}\n\n${anthropicErrorEvent('overloaded_error', 'Overloaded')}`
  }
  const truncatedAnthropic = () => anthropicTextStream({ model: MODELS.anthropic.upstream, parts: ['Partial', ' answer'] }).split('event: content_block_stop')[0]!
  const partialOpenAI = () => {
    const events = openaiTextStream({ model: MODELS.openai.upstream, parts: ['Partial', ' answer'], done: false }).split('\n\n').slice(0, 3)
    return `${events.join('\n\n')}\n\ndata: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error' } })}\n\n`
  }

  test.each([
    ['anthropic overloaded_error event', 'anthropic' as const, () => sseReply(partialAnthropic(), { chunkSize: 41 }), /overloaded/i],
    ['openai error data event', 'openai' as const, () => sseReply(partialOpenAI(), { chunkSize: 41 }), /server had an error/],
    ['anthropic connection reset mid-stream', 'anthropic' as const, () => sseReply(truncatedAnthropic(), { after: 'reset' }), /interrupted/],
    ['anthropic clean end before message_stop', 'anthropic' as const, () => sseReply(truncatedAnthropic()), /before message_stop/],
    ['openai connection reset mid-stream', 'openai' as const, () => sseReply(partialOpenAI().split('data: {"error"')[0]!, { after: 'reset' }), /interrupted/],
  ])('%s → SDK iteration throws after the partial text; wire ends with one error event, no [DONE]', async (_n, kind, reply, pattern) => {
    env.up.program(reply())
    const stream = await sdk(env.key).chat.completions.create({ model: MODELS[kind].client, messages, stream: true })
    let text = ''
    const err = await thrown(async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? ''
    })
    expect(text).toBe('Partial answer')
    expect(err.message).toMatch(pattern)
    // Let the tap flush, then check the raw stream.
    await Bun.sleep(10)
    const audit = env.http.audits[env.http.audits.length - 1]!
    expect(audit.outcome).toBe('error')
    expect(audit.events.filter((e) => e.data === '[DONE]')).toEqual([])
    expect(audit.events.filter((e) => e.data.includes('"error"'))).toHaveLength(1)
    expect(audit.error).toMatchObject({ code: 'upstream_error', type: 'api_error', param: null })
  })
})
