/**
 * The one place for pricing rules: what a request can cost at most (the strict reservation), and what a
 * finished request costs (settlement), for every input kind a provider bills: text, images, service tiers,
 * prompt-cache reads and writes, per-call web search fees. Arithmetic is money.ts's (exact, rounded up).
 *
 * Rule of the bound: every input token is priced at the highest input rate the request can trigger (its
 * tier's, or the tier's cache-write rate when the request marks cache breakpoints), every allowed output
 * token at the tier's output rate, every allowed search at its fee plus its result-token allowance; the
 * reservation is the most expensive tier the request can land on (the default one or the one it asks for).
 */
import type { ModelConfig, TierRates } from '../../config/types.ts'
import type { ChatRequest, Usage } from '../../wire/openai.ts'
import { BILLING } from '../../wire/openai.ts'
import { type CostTerm, FIXED_RESERVATION_MICROS, termsCostMicros } from '../money.ts'
import type { Policy } from '../../tenants/types.ts'
import { estimateRequestTokens } from './prompt.ts'
import { type CacheWrite, cacheWriteOf, LIST_PRICE_TIERS, webSearchCallsOf, providerToolsOf } from './request.ts'

export interface PricePlan {
  /** Upper bound of the prompt tokens (text bytes, images by formula, tool allowance). */
  promptTokens: number
  /** The output cap the upstream is held to. */
  maxOutputTokens: number
  /** Tiers the request may be billed at; the reservation is the dearest. `default` = the model's list price. */
  tiers: readonly string[]
  cacheWrite: CacheWrite
  /** Web searches reserved for (and charged when the provider reports none). */
  webSearchCalls: number
}

export type PlanResult = { ok: true; plan: PricePlan } | { ok: false; message: string; param: string }

/** Reads what the request can make the provider bill, or says why this budget cannot admit it. */
export function planRequest(model: ModelConfig, req: ChatRequest, policy: Policy): PlanResult {
  const where = `models."${model.name}"`
  const prompt = estimateRequestTokens(req, model.imagePricing)
  if (policy === 'strict' && prompt.unboundedParts > 0) {
    return refuse('File and document inputs cannot be bounded before the call, so a strict budget cannot admit them; ask for policy "fixed" to use them.', 'messages')
  }
  if (policy === 'strict' && prompt.images > 0 && !model.imagePricing) {
    return refuse(`Model \`${model.name}\` has no image pricing configured (${where}.image_pricing), so a strict budget cannot bound its image inputs; ask for policy "fixed" to use them.`, 'messages')
  }
  const tier = req.service_tier
  if (tier !== undefined && tier !== null && typeof tier !== 'string') return refuse('`service_tier` must be a string.', 'service_tier')
  const tiers = ['default']
  if (typeof tier === 'string' && !LIST_PRICE_TIERS.has(tier)) {
    // Both policies: a tier the gateway has no price for would be charged at the wrong rate.
    if (!model.tiers?.[tier]) return refuse(`service_tier "${tier}" has no price configured for model \`${model.name}\` (${where}.tiers.${tier}), so the gateway cannot charge it.`, 'service_tier')
    tiers.push(tier)
  }
  const search = webSearchCallsOf(req, model.webSearchCallsPerRequest)
  if (search.calls > 0 || search.unbounded) {
    // Both policies: a fee never appears in token usage, so an unpriced one would go uncharged.
    if (model.webSearchUsdPerCall === undefined) {
      return refuse(`Web search is billed per call and model \`${model.name}\` has no fee configured (${where}.web_search_usd_per_call).`, search.param ?? 'tools')
    }
    if (policy === 'strict' && search.unbounded) {
      return refuse('A web search tool without `max_uses` can search any number of times; set `max_uses` so a strict budget can bound its fees.', 'tools')
    }
    if (policy === 'strict' && model.webSearchInputTokensPerCall === undefined) {
      return refuse(`Search results add input tokens that model \`${model.name}\` has no bound for (${where}.web_search_input_tokens_per_call), so a strict budget cannot admit web search.`, search.param ?? 'tools')
    }
  }
  const providerTools = providerToolsOf(req)
  if (policy === 'strict' && providerTools.unbounded !== null) {
    return refuse(`\`${providerTools.unbounded}\` is billed outside token usage or adds input nothing in the request bounds (code execution, web fetch, MCP servers), so a strict budget cannot admit it; ask for policy "fixed" to use it.`, providerTools.unbounded === 'mcp_servers' ? 'mcp_servers' : 'tools')
  }
  return {
    ok: true,
    plan: {
      promptTokens: prompt.tokens + providerTools.promptTokens + search.calls * (model.webSearchInputTokensPerCall ?? 0),
      maxOutputTokens: req.max_completion_tokens ?? req.max_tokens ?? model.maxOutputTokens,
      tiers,
      cacheWrite: cacheWriteOf(req),
      webSearchCalls: search.calls,
    },
  }
}

/** µUSD to reserve: `strict`, the worst case of the plan; `fixed`, a flat $0.001. */
export function reserveMicros(model: ModelConfig, plan: PricePlan, policy: Policy): number {
  if (policy === 'fixed') return FIXED_RESERVATION_MICROS
  return boundMicros(model, plan, plan.promptTokens, plan.maxOutputTokens)
}

/**
 * The most `prompt` input and `completion` output tokens plus the plan's searches can cost: the dearest
 * tier, every input token at that tier's dearest input rate. Also prices a request that ended without usage.
 */
export function boundMicros(model: ModelConfig, plan: PricePlan, prompt: number, completion: number): number {
  let max = 0
  for (const name of plan.tiers) {
    const r = tierRates(model, name)
    for (const input of inputRates(r, plan.cacheWrite)) {
      max = Math.max(max, termsCostMicros([[prompt, ...input], [completion, r.outputUsdPerMtok], searchFee(model, plan.webSearchCalls)]))
    }
  }
  return max
}

/**
 * What a finished request costs from the usage the provider reported, priced as the provider bills it:
 * uncached input, cache reads and cache writes (5-minute / 1-hour) at their own rates, all output tokens
 * (never fewer than the reasoning tokens reported), at the tier the provider says it served (the dearest
 * planned tier when it names none the config prices), plus the searches it reports (else the planned ones).
 */
export function usageCostMicros(model: ModelConfig, plan: PricePlan, usage: Usage): { cost: number; prompt: number; completion: number } {
  const b = usage[BILLING] ?? {}
  const served = b.serviceTier !== undefined && (LIST_PRICE_TIERS.has(b.serviceTier) || model.tiers?.[b.serviceTier]) ? [b.serviceTier] : plan.tiers
  const cached = count(usage.prompt_tokens_details?.cached_tokens)
  const written = count(b.cacheWriteTokens)
  const written1h = Math.min(count(b.cacheWrite1hTokens), written)
  const uncached = Math.max(0, usage.prompt_tokens - cached - written)
  const completion = Math.max(usage.completion_tokens, count(usage.completion_tokens_details?.reasoning_tokens))
  const searches = count(b.webSearchRequests, plan.webSearchCalls)
  let cost = 0
  for (const name of served) {
    const r = tierRates(model, name === 'standard' || name === 'auto' ? 'default' : name)
    cost = Math.max(cost, termsCostMicros([
      [uncached, r.inputUsdPerMtok],
      [cached, ...cachedRate(r)],
      [written - written1h, ...write5mRate(r)],
      [written1h, ...write1hRate(r)],
      [completion, r.outputUsdPerMtok],
      searchFee(model, searches),
    ]))
  }
  return { cost, prompt: usage.prompt_tokens, completion }
}

type Rate = readonly [usdPerMtok: number, factor?: number]

function tierRates(model: ModelConfig, name: string): TierRates {
  return name === 'default' ? model : model.tiers?.[name] ?? model
}

/** Published defaults when the config names no cache price: reads at the input price, writes 1.25× / 2× input. */
const cachedRate = (r: TierRates): Rate => [r.cachedInputUsdPerMtok ?? r.inputUsdPerMtok]
const write5mRate = (r: TierRates): Rate => (r.cacheWriteUsdPerMtok !== undefined ? [r.cacheWriteUsdPerMtok] : [r.inputUsdPerMtok, 1.25])
const write1hRate = (r: TierRates): Rate => (r.cacheWrite1hUsdPerMtok !== undefined ? [r.cacheWrite1hUsdPerMtok] : [r.inputUsdPerMtok, 2])

/** Every rate an input token of this request may be billed at (cache reads only ever discount). */
function inputRates(r: TierRates, cache: CacheWrite): Rate[] {
  const rates: Rate[] = [[r.inputUsdPerMtok]]
  if (cache !== 'none') rates.push(write5mRate(r))
  if (cache === '1h') rates.push(write1hRate(r))
  return rates
}

function searchFee(model: ModelConfig, calls: number): CostTerm {
  return [calls, model.webSearchUsdPerCall ?? 0, 1_000_000] // USD per call → µUSD
}

/** A well-formed token count, else `fallback` (malformed optional details never lower a charge below list). */
function count(n: unknown, fallback = 0): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : fallback
}

function refuse(message: string, param: string): PlanResult {
  return { ok: false, message, param }
}
