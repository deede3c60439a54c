/**
 * A fake OpenAI + Anthropic upstream that bills each request the way the real provider would bill the body it
 * actually received, and reports real-shaped usage. Written from the providers' published rules, independently
 * of src/budget (no shared code), so a gateway bug cannot hide in both:
 * - images: OpenAI 512-px tiles (downscale only, sides floored) or 32-px patches × multiplier
 *   (https://platform.openai.com/docs/guides/images-vision#calculating-costs); Claude width × height / 750 after
 *   scaling into 1568 px / ~1,600 tokens (https://docs.anthropic.com/en/docs/build-with-claude/vision).
 *   Sizes come from a PNG header in a data URL, or from "WxH" in an http URL's name.
 * - service_tier: priority / flex rates when the model has them, echoed as `service_tier` in the reply.
 * - OpenAI automatic prompt caching: a prompt of ≥ 1,024 tokens seen before is cached in 128-token steps.
 * - web search: *-search-preview models search once per request; Anthropic web_search tools search `max_uses`
 *   times, each adding `searchResultTokens` input tokens, reported as usage.server_tool_use.web_search_requests.
 * - output: the model always writes its whole cap (max_completion_tokens / max_tokens): the worst case.
 * Money is integer "milli-µUSD" (µUSD per token × 1000, so $0.075/Mtok is 75); a bill is ceil(Σ / 1000) µUSD.
 */
export interface Rates { in: number; out: number; cached?: number }
export interface ModelPrices extends Rates {
  image?: { tiles: [base: number, tile: number] } | { patches: number } | 'claude'
  tiers?: Record<string, Rates>
  /** Per web search, milli-µUSD. */
  search?: number
  /** OpenAI reasoning model: this share of the output is reasoning. */
  reasoning?: boolean
}

/** Published prices of the models the tests use (USD/Mtok × 1000 = milli-µUSD per token). */
export const PUBLISHED: Record<string, ModelPrices> = {
  'gpt-4o-mini': { in: 150, cached: 75, out: 600, image: { tiles: [2833, 5667] }, tiers: { priority: { in: 250, cached: 125, out: 1000 } } },
  'gpt-4o': { in: 2500, cached: 1250, out: 10_000, image: { tiles: [85, 170] }, tiers: { priority: { in: 4250, cached: 2125, out: 17_000 } } },
  'gpt-4.1-mini': { in: 400, cached: 100, out: 1600, image: { patches: 1.62 }, tiers: { priority: { in: 700, cached: 175, out: 2800 } } },
  'gpt-4.1': { in: 2000, cached: 500, out: 8000, image: { tiles: [85, 170] }, reasoning: true },
  'gpt-4o-mini-search-preview': { in: 150, out: 600, search: 25_000_000 },
  'claude-haiku-4-5': { in: 1000, out: 5000, image: 'claude', search: 10_000_000 },
}

export interface Bill { model: string; micros: number; prompt: number; completion: number; user: string | null }

export interface BillingUpstream {
  url: string
  bills: Bill[]
  billed(): number
  /** Anthropic replies split their input this way (as if the request had cache breakpoints). */
  anthropicCache: { write5m: number; write1h: number; read: number } | null
  searchResultTokens: number
  stop(): Promise<void>
}

export async function startBillingUpstream(): Promise<BillingUpstream> {
  const seen = new Set<string>()
  const up: BillingUpstream = {
    url: '', bills: [], anthropicCache: null, searchResultTokens: 2_000,
    billed: () => up.bills.reduce((n, b) => n + b.micros, 0),
    stop: async () => { server.stop(true) },
  }
  const server = Bun.serve({
    port: 0, hostname: '127.0.0.1',
    async fetch(req) {
      const body = (await req.json()) as Record<string, any>
      const prices = PUBLISHED[body.model]
      if (!prices) return Response.json({ error: { message: `unknown model ${body.model}` } }, { status: 404 })
      return new URL(req.url).pathname.endsWith('/messages') ? anthropic(up, body, prices) : openai(up, seen, body, prices)
    },
  })
  up.url = `http://127.0.0.1:${server.port}`
  return up
}

const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b)
const textTokens = (s: string) => ceilDiv(Buffer.byteLength(s), 4) // a realistic ~4 bytes per token

function imageSize(url: string): { w: number; h: number } | null {
  if (url.startsWith('data:')) {
    const bytes = Buffer.from(url.slice(url.indexOf(',') + 1, url.indexOf(',') + 1 + 48), 'base64')
    return bytes.toString('latin1', 1, 4) === 'PNG' ? { w: bytes.readUInt32BE(16), h: bytes.readUInt32BE(20) } : null
  }
  const m = /(\d+)x(\d+)\.\w+$/.exec(url)
  return m ? { w: Number(m[1]), h: Number(m[2]) } : null
}

function openaiImageTokens(p: ModelPrices, size: { w: number; h: number }, detail: string): number {
  const img = p.image
  if (!img || img === 'claude') throw new Error('no image formula')
  if ('patches' in img) {
    let patches = ceilDiv(size.w, 32) * ceilDiv(size.h, 32)
    if (patches > 1536) { // the docs' shrink: fit the budget, then make the width a whole number of patches
      const shrink = Math.sqrt((1536 * 32 * 32) / (size.w * size.h))
      const adj = shrink * (Math.floor((size.w * shrink) / 32) / ((size.w * shrink) / 32))
      patches = Math.min(1536, Math.ceil((size.w * adj) / 32) * Math.ceil((size.h * adj) / 32))
    }
    return Math.ceil(patches * img.patches)
  }
  const [base, tile] = img.tiles
  if (detail === 'low') return base
  let { w, h } = size
  if (Math.max(w, h) > 2048) { const s = 2048 / Math.max(w, h); w = Math.floor(w * s); h = Math.floor(h * s) }
  if (Math.min(w, h) > 768) { const s = 768 / Math.min(w, h); w = Math.floor(w * s); h = Math.floor(h * s) }
  return base + tile * ceilDiv(w, 512) * ceilDiv(h, 512)
}

function claudeImageTokens(size: { w: number; h: number }): number {
  const s = Math.min(1, 1568 / Math.max(size.w, size.h), Math.sqrt((1600 * 750) / (size.w * size.h)))
  return Math.ceil((Math.floor(size.w * s) * Math.floor(size.h * s)) / 750)
}

/** Input tokens of the messages: text by bytes/4, images by the family formula, 3 per message. */
function promptOf(messages: any[], image: (part: any) => number): number {
  let n = 3
  for (const m of messages) {
    n += 3
    if (typeof m.content === 'string') n += textTokens(m.content)
    else for (const part of m.content ?? []) n += part.type === 'text' ? textTokens(part.text) : image(part)
  }
  return n
}

function openai(up: BillingUpstream, seen: Set<string>, body: Record<string, any>, p: ModelPrices): Response {
  const prompt = promptOf(body.messages, (part) => {
    const size = imageSize(part.image_url.url)
    if (!size) throw new Error('test images need a PNG data URL or a WxH name')
    return openaiImageTokens(p, size, part.image_url.detail ?? 'auto')
  })
  const key = JSON.stringify(body.messages)
  const cached = prompt >= 1024 && seen.has(key) ? 1024 + Math.floor((prompt - 1024) / 128) * 128 : 0
  seen.add(key)
  const tierName = typeof body.service_tier === 'string' && p.tiers?.[body.service_tier] ? body.service_tier : 'default'
  const r: Rates = tierName === 'default' ? p : p.tiers![tierName]
  const completion = body.max_completion_tokens ?? body.max_tokens ?? 16
  const reasoning = p.reasoning ? Math.floor(completion / 2) : 0
  const searches = String(body.model).endsWith('-search-preview') ? 1 : 0
  const milli = (prompt - cached) * r.in + cached * (r.cached ?? r.in) + completion * r.out + searches * (p.search ?? 0)
  up.bills.push({ model: body.model, micros: ceilDiv(milli, 1000), prompt, completion, user: body.user ?? null })
  const usage = {
    prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  }
  const base = { id: 'chatcmpl-bill', created: 1_700_000_000, model: body.model, service_tier: tierName, system_fingerprint: 'fp_bill' }
  if (!body.stream) {
    return Response.json({
      ...base, object: 'chat.completion', usage,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'length' }],
    })
  }
  const chunk = (extra: object) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...extra })}\n\n`
  return sse([
    chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'ok' }, finish_reason: null }], usage: null }),
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'length' }], usage: null }),
    chunk({ choices: [], usage }),
    'data: [DONE]\n\n',
  ])
}

function anthropic(up: BillingUpstream, body: Record<string, any>, p: ModelPrices): Response {
  let input = (body.system ? textTokens(body.system) : 0) + promptOf(body.messages, (part) => {
    const size = part.source.type === 'base64' ? imageSize(`data:;base64,${part.source.data}`) : imageSize(part.source.url)
    if (!size) throw new Error('test images need a PNG or a WxH name')
    return claudeImageTokens(size)
  })
  let searches = 0
  for (const t of body.tools ?? []) if (String(t.type).startsWith('web_search_')) searches += t.max_uses ?? 1
  input += searches * up.searchResultTokens
  const c = up.anthropicCache
  const write5m = c ? Math.floor(input * c.write5m) : 0
  const write1h = c ? Math.floor(input * c.write1h) : 0
  const read = c ? Math.floor(input * c.read) : 0
  const uncached = input - write5m - write1h - read
  const output = body.max_tokens
  // In 1/40 milli-µUSD so the 1.25× and 0.1× cache rates stay integers.
  const units = 40 * uncached * p.in + 50 * write5m * p.in + 80 * write1h * p.in + 4 * read * p.in + 40 * output * p.out + 40 * searches * (p.search ?? 0)
  up.bills.push({ model: body.model, micros: ceilDiv(units, 40_000), prompt: input, completion: output, user: body.metadata?.user_id ?? null })
  const usage = {
    input_tokens: uncached, cache_creation_input_tokens: write5m + write1h, cache_read_input_tokens: read,
    cache_creation: { ephemeral_5m_input_tokens: write5m, ephemeral_1h_input_tokens: write1h },
    output_tokens: output, service_tier: 'standard',
    ...(searches > 0 ? { server_tool_use: { web_search_requests: searches } } : {}),
  }
  const message = { id: 'msg_bill', type: 'message', role: 'assistant', model: body.model, stop_reason: 'max_tokens', stop_sequence: null }
  if (!body.stream) return Response.json({ ...message, content: [{ type: 'text', text: 'ok' }], usage })
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
  const { output_tokens: _o, server_tool_use: _s, ...startUsage } = usage as Record<string, unknown>
  return sse([
    ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...startUsage, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'ok' } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: output, ...(searches > 0 ? { server_tool_use: usage.server_tool_use } : {}) } }),
    ev('message_stop', {}),
  ])
}

function sse(events: string[]): Response {
  return new Response(events.join(''), { headers: { 'content-type': 'text/event-stream' } })
}
