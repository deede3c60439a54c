/**
 * Pricing rules: what a request may cost at most (the strict reservation) and what it costs from the usage a
 * provider reports, for tiers, prompt caching and per-call web search fees. Prices are the built-in catalog's
 * (https://openai.com/api/pricing/, https://openai.com/api-priority-processing/,
 * https://docs.anthropic.com/en/docs/about-claude/pricing); expected figures are worked by hand in µUSD
 * (a $/Mtok price is µUSD per token).
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { boundMicros, planRequest, type PricePlan, reserveMicros, usageCostMicros } from '../../../src/budget/pricing/index.ts'
import { cacheWriteOf } from '../../../src/budget/pricing/request.ts'
import { builtinModels } from '../../../src/config/catalog.ts'
import { type ModelConfig } from '../../../src/config/types.ts'
import { BILLING, type ChatRequest, type Usage, type UsageBilling } from '../../../src/wire/openai.ts'

const M = builtinModels()
const NO_EXTRAS: ModelConfig = { name: 'plain', provider: 'p', upstreamModel: 'plain', inputUsdPerMtok: 1, outputUsdPerMtok: 2, maxOutputTokens: 100 }
const req = (extra: Record<string, unknown> = {}): ChatRequest =>
  ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 1000, ...extra }) as ChatRequest
const PROMPT = 3 + 4 + 4 + 2 // the bound of `req()`'s one message

function plan(model: ModelConfig, r: ChatRequest, policy: 'strict' | 'fixed' = 'strict'): PricePlan {
  const p = planRequest(model, r, policy)
  if (!p.ok) throw new Error(p.message)
  return p.plan
}

describe('planRequest refuses what a budget cannot charge', () => {
  const webSearch = { type: 'web_search_20250305', name: 'web_search' }
  test.each([
    // [case, model, request extra, policy, param of the 400 (null: admitted)]
    ['image on a model with no image formula, strict', NO_EXTRAS, { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }, 'strict', 'messages'],
    ['… the same under fixed: usage reports image tokens, so settlement is right', NO_EXTRAS, { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }, 'fixed', null],
    ['file part, strict', M['gpt-4o'], { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] }, 'strict', 'messages'],
    ['service_tier with no price (flex on gpt-4o), strict', M['gpt-4o'], { service_tier: 'flex' }, 'strict', 'service_tier'],
    ['… and fixed', M['gpt-4o'], { service_tier: 'flex' }, 'fixed', 'service_tier'],
    ['priced tier', M['gpt-4o'], { service_tier: 'priority' }, 'strict', null],
    ['"auto" and "default" are the list price', M['gpt-4o'], { service_tier: 'auto' }, 'strict', null],
    ['a tier that is not a string', M['gpt-4o'], { service_tier: 1 }, 'fixed', 'service_tier'],
    ['web_search_options on a model with no search fee, fixed', M['gpt-4o'], { web_search_options: {} }, 'fixed', 'web_search_options'],
    ['search-preview model: one priced search', M['gpt-4o-search-preview'], {}, 'strict', null],
    ['Anthropic web search without max_uses, strict', { ...M['claude-haiku-4-5'], webSearchInputTokensPerCall: 10_000 }, { tools: [webSearch] }, 'strict', 'tools'],
    ['… without max_uses under fixed', M['claude-haiku-4-5'], { tools: [webSearch] }, 'fixed', null],
    ['Anthropic web search, no bound on the result tokens it adds, strict', M['claude-haiku-4-5'], { tools: [{ ...webSearch, max_uses: 3 }] }, 'strict', 'tools'],
    ['… with a configured result-token bound', { ...M['claude-haiku-4-5'], webSearchInputTokensPerCall: 10_000 }, { tools: [{ ...webSearch, max_uses: 3 }] }, 'strict', null],
    // https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview#pricing: server tools other than web search.
    ['Anthropic code execution (billed by container time), strict', M['claude-haiku-4-5'], { tools: [{ type: 'code_execution_20250825', name: 'code_execution' }] }, 'strict', 'tools'],
    ['… under fixed', M['claude-haiku-4-5'], { tools: [{ type: 'code_execution_20250825', name: 'code_execution' }] }, 'fixed', null],
    ['Anthropic web fetch (fetched pages are input nothing bounds), strict', M['claude-haiku-4-5'], { tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }] }, 'strict', 'tools'],
    ['an unknown future provider tool, strict', M['claude-haiku-4-5'], { tools: [{ type: 'teleport_20300101', name: 't' }] }, 'strict', 'tools'],
    ['MCP servers (remote tool results), strict', M['claude-haiku-4-5'], { mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }, 'strict', 'mcp_servers'],
    ['client-run provider tools (bash, text editor, computer): tokens only', M['claude-haiku-4-5'], { tools: [{ type: 'bash_20250124', name: 'bash' }, { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }] }, 'strict', null],
  ] as const)('%s', (_name, model, extra, policy, param) => {
    const r = planRequest(model, req(extra as Record<string, unknown>), policy)
    if (param === null) expect(r.ok).toBe(true)
    else expect(r).toMatchObject({ ok: false, param })
  })

  test('each provider-defined tool adds its hidden prompt to the bound', () => {
    const tools = [{ type: 'bash_20250124', name: 'bash' }, { type: 'computer_20250124', name: 'computer', display_width_px: 1024, display_height_px: 768 }]
    const withTools = plan(M['claude-haiku-4-5'], req({ tools }))
    const plainTool = plan(M['claude-haiku-4-5'], req({ tools: [{ name: 'f', input_schema: {} }] }))
    // Over a plain tool: both tools' JSON bytes, and 1,500 hidden tokens each (computer use: 735 + 499 documented).
    expect(withTools.promptTokens - plainTool.promptTokens).toBeGreaterThanOrEqual(2 * 1_500)
  })

  test('a refused tier is named, with the config key to set', () => {
    const r = planRequest(M['gpt-4o'], req({ service_tier: 'flex' }), 'strict')
    expect(r.ok ? '' : r.message).toContain('service_tier "flex"')
    expect(r.ok ? '' : r.message).toContain('models."gpt-4o".tiers.flex')
  })
})

describe('strict reservation: the dearest thing the request can trigger', () => {
  test.each([
    // [case, model, request extra, µUSD]
    ['list price', M['gpt-4o'], {}, PROMPT * 2.5 + 1000 * 10],
    ['regression (issue 9): priority tier at its own rates (gpt-4o priority $4.25 / $17)', M['gpt-4o'], { service_tier: 'priority' }, Math.ceil(PROMPT * 4.25) + 1000 * 17],
    ['search-preview: + one $0.025 search', M['gpt-4o-search-preview'], {}, PROMPT * 2.5 + 1000 * 10 + 25_000],
    ['Claude, no cache_control: list input', M['claude-haiku-4-5'], {}, PROMPT * 1 + 1000 * 5],
    ['Claude, cache_control: every input token at the 5-minute write rate (1.25×)', M['claude-haiku-4-5'],
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }] }, null],
    ['Claude, 3 web searches with a 10k-token result bound: fees + result tokens', { ...M['claude-haiku-4-5'], webSearchInputTokensPerCall: 10_000 },
      { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] }, null],
  ] as const)('%s', (_name, model, extra, want) => {
    const r = req(extra as Record<string, unknown>)
    const p = plan(model, r)
    const got = reserveMicros(model, p, 'strict')
    if (want !== null) expect(got).toBe(Math.ceil(want))
    // Whatever the case, the bound is the largest of its parts priced separately.
    expect(got).toBe(boundMicros(model, p, p.promptTokens, p.maxOutputTokens))
  })

  test('cache_control raises the input rate: none < 5 minutes (1.25×) < 1 hour (2×)', () => {
    const m = M['claude-sonnet-4-5']
    const text = (cc?: unknown) => req({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(10_000), ...(cc ? { cache_control: cc } : {}) }] }], max_completion_tokens: 1 })
    const none = plan(m, text())
    const five = plan(m, text({ type: 'ephemeral' }))
    const hour = plan(m, text({ type: 'ephemeral', ttl: '1h' }))
    expect([none.cacheWrite, five.cacheWrite, hour.cacheWrite]).toEqual(['none', '5m', '1h'])
    const p = none.promptTokens
    expect(reserveMicros(m, none, 'strict')).toBe(p * 3 + 15)
    expect(reserveMicros(m, five, 'strict')).toBe(Math.ceil(p * 3.75) + 15)
    expect(reserveMicros(m, hour, 'strict')).toBe(p * 6 + 15)
  })

  test('cache_control is found anywhere (tools, deep content), without recursion', () => {
    expect(cacheWriteOf(req({ tools: [{ type: 'function', function: { name: 'f' }, cache_control: { type: 'ephemeral' } }] }))).toBe('5m')
    let deep: unknown = { cache_control: { type: 'ephemeral', ttl: '1h' } }
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(cacheWriteOf(req({ messages: [{ role: 'user', content: deep }] }))).toBe('1h')
  })

  test('cache_control counts where the request has it, not where an object inherits it', () => {
    const inherits = Object.create({ cache_control: { type: 'ephemeral', ttl: '1h' } }) as Record<string, unknown>
    inherits.role = 'user'
    inherits.content = 'hi'
    expect(cacheWriteOf(req({ messages: [inherits] }))).toBe('none')
    expect(cacheWriteOf(req({ messages: [{ ...inherits, cache_control: { type: 'ephemeral' } }] }))).toBe('5m')
  })

  test('fixed reserves the flat $0.001 whatever the request', () => {
    expect(reserveMicros(M['gpt-4o'], plan(M['gpt-4o'], req({ service_tier: 'priority' }), 'fixed'), 'fixed')).toBe(1000)
  })
})

const usage = (prompt: number, completion: number, o: { cached?: number; reasoning?: number; billing?: UsageBilling } = {}): Usage => ({
  prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
  ...(o.cached !== undefined ? { prompt_tokens_details: { cached_tokens: o.cached } } : {}),
  ...(o.reasoning !== undefined ? { completion_tokens_details: { reasoning_tokens: o.reasoning } } : {}),
  ...(o.billing ? { [BILLING]: o.billing } : {}),
})

describe('settlement prices the usage as the provider bills it', () => {
  test.each([
    // [case, model, request extra, usage, µUSD]
    ['list price', M['gpt-4o-mini'], {}, usage(1000, 100), 150 + 60],
    ['regression (issue 9): OpenAI cached input at the cached rate (gpt-4o-mini $0.075), not list', M['gpt-4o-mini'], {}, usage(1000, 100, { cached: 768 }), Math.ceil(232 * 0.15 + 768 * 0.075 + 60)],
    ['cached input on a model with no cached price: list (no discount assumed)', NO_EXTRAS, {}, usage(1000, 0, { cached: 1000 }), 1000],
    ['reasoning tokens are part of completion_tokens', M['gpt-4.1'], {}, usage(10, 500, { reasoning: 400 }), 20 + 4000],
    ['a server reporting reasoning above completion is billed the reasoning', M['gpt-4.1'], {}, usage(10, 100, { reasoning: 400 }), 20 + 3200],
    ['regression (issue 9): the tier OpenAI reports (priority) is charged', M['gpt-4o'], { service_tier: 'priority' }, usage(1000, 100, { billing: { serviceTier: 'priority' } }), 4250 + 1700],
    ['priority asked, default served: default rates', M['gpt-4o'], { service_tier: 'priority' }, usage(1000, 100, { billing: { serviceTier: 'default' } }), 2500 + 1000],
    ['priority asked, no tier reported: the dearest planned tier', M['gpt-4o'], { service_tier: 'priority' }, usage(1000, 100), 4250 + 1700],
    ['auto asked, priority served (project default): priority, as billed', M['gpt-4o'], { service_tier: 'auto' }, usage(1000, 100, { billing: { serviceTier: 'priority' } }), 4250 + 1700],
    ['a reported tier the config does not price: the planned one', M['gpt-4o'], {}, usage(1000, 100, { billing: { serviceTier: 'scale' } }), 2500 + 1000],
    ['Anthropic: uncached 1×, 5-minute writes 1.25×, 1-hour writes 2×, reads 0.1× (haiku $1 input)', M['claude-haiku-4-5'], {},
      usage(100 + 1000 + 1000 + 10_000, 10, { cached: 10_000, billing: { cacheWriteTokens: 2000, cacheWrite1hTokens: 1000, serviceTier: 'default' } }),
      100 + 1250 + 2000 + 1000 + 50],
    ['web searches the provider reports', M['claude-haiku-4-5'], { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }] },
      usage(100, 10, { billing: { webSearchRequests: 2 } }), 100 + 50 + 20_000],
    ['no search count reported: the planned (allowed) searches', M['gpt-4o-mini-search-preview'], {}, usage(1000, 100), 150 + 60 + 25_000],
  ] as const)('%s', (_name, model, extra, u, want) => {
    const p = plan(model, req(extra as Record<string, unknown>), 'fixed')
    expect(usageCostMicros(model, p, u).cost).toBe(want)
  })

  test('malformed details never lower the charge below list', () => {
    const p = plan(M['gpt-4o-mini'], req())
    const bad = { ...usage(1000, 100), prompt_tokens_details: { cached_tokens: -5 } } as Usage
    expect(usageCostMicros(M['gpt-4o-mini'], p, bad).cost).toBe(150 + 60)
  })

  test('the record keeps the client-facing counts', () => {
    const p = plan(M['gpt-4.1'], req())
    expect(usageCostMicros(M['gpt-4.1'], p, usage(10, 100, { reasoning: 400 }))).toMatchObject({ prompt: 10, completion: 400 })
  })
})

describe('property: under strict, any usage within the request\'s bounds costs at most its reservation', () => {
  const cases: Array<[string, ModelConfig, Record<string, unknown>]> = [
    ['gpt-4o priority', M['gpt-4o'], { service_tier: 'priority' }],
    ['claude 1h cache + searches', { ...M['claude-sonnet-4-5'], webSearchInputTokensPerCall: 5_000 }, {
      messages: [{ role: 'user', content: [{ type: 'text', text: 'y'.repeat(3000), cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 4 }],
    }],
    ['search preview', M['gpt-4o-mini-search-preview'], {}],
  ]
  test.each(cases)('%s', (_name, model, extra) => {
    const p = plan(model, req({ max_completion_tokens: 2000, ...extra }))
    const reserved = reserveMicros(model, p, 'strict')
    const tiers = ['default', ...Object.keys(model.tiers ?? {}).filter((t) => p.tiers.includes(t))]
    fc.assert(fc.property(
      fc.nat(p.promptTokens), fc.nat(p.maxOutputTokens), fc.nat(100), fc.nat(100), fc.nat(100), fc.nat(p.webSearchCalls), fc.constantFrom(...tiers),
      (prompt, completion, readPct, writePct, hourPct, searches, tier) => {
        const read = Math.floor((prompt * readPct) / 100)
        const written = p.cacheWrite === 'none' ? 0 : Math.floor(((prompt - read) * writePct) / 100)
        const hour = p.cacheWrite === '1h' ? Math.floor((written * hourPct) / 100) : 0
        const u = usage(prompt, completion, { cached: read, billing: { cacheWriteTokens: written, cacheWrite1hTokens: hour, webSearchRequests: searches, serviceTier: tier } })
        return usageCostMicros(model, p, u).cost <= reserved
      },
    ), { numRuns: 2_000 })
  })
})
