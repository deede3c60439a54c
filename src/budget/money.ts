/**
 * The one place for money. Amounts are integer micro-USD (µUSD); dollars appear only at the edges
 * (config parsing, display). Costs are rounded up: never in the tenant's favour (docs/budgets.md "Money").
 */
import type { Period, Policy } from './types.ts'

export interface Price {
  /** USD per million tokens, as written in the config/catalog (e.g. 0.15). */
  inputUsdPerMtok: number
  outputUsdPerMtok: number
}

export interface TokenUsage {
  prompt_tokens: number
  completion_tokens: number
}

/** Flat reservation of the `fixed` policy: $0.001. */
export const FIXED_RESERVATION_MICROS = 1000

/**
 * A decimal number as an exact rational `num / 10^scale`. Parsed from the shortest round-trip string of the
 * double (what the user wrote in the config, e.g. "0.15"), so 0.15 is 15/100 and not 0.1499999999999999944….
 */
interface Decimal { num: bigint; scale: number }

const decimalCache = new Map<number, Decimal>()

function toDecimal(x: number): Decimal {
  const hit = decimalCache.get(x)
  if (hit) return hit
  if (!Number.isFinite(x)) throw new RangeError(`not a finite amount: ${x}`)
  // String(x) may use exponent notation (1e-7, 1.5e+21): split mantissa and exponent.
  const [mant, expPart] = String(x).toLowerCase().split('e')
  const exp = expPart === undefined ? 0 : Number(expPart)
  const neg = mant.startsWith('-')
  const [intPart, frac = ''] = (neg ? mant.slice(1) : mant).split('.')
  let digits = BigInt(intPart + frac)
  let scale = frac.length - exp
  if (scale < 0) { digits *= 10n ** BigInt(-scale); scale = 0 }
  const d = { num: neg ? -digits : digits, scale }
  if (decimalCache.size < 10_000) decimalCache.set(x, d)
  return d
}

function ceilDiv(a: bigint, b: bigint): bigint {
  // b > 0. BigInt division truncates toward zero; adjust positive remainders upward.
  const q = a / b
  return a % b > 0n ? q + 1n : q
}

/** Dollars → µUSD, exact decimal arithmetic, rounded half away from zero (for budgets typed by people). */
export function usdToMicros(usd: number): number {
  const { num, scale } = toDecimal(usd)
  if (scale <= 6) return Number(num * 10n ** BigInt(6 - scale))
  const div = 10n ** BigInt(scale - 6)
  const abs = num < 0n ? -num : num
  const q = (abs + div / 2n) / div
  return Number(num < 0n ? -q : q)
}

/** µUSD → dollars as a float, for display and JSON only; never feed it back into arithmetic. */
export function microsToUsd(micros: number): number {
  return micros / 1_000_000
}

/** "$1.234567" (6 decimals, exact, from the integer). */
export function formatUsd(micros: number): string {
  const neg = micros < 0
  const abs = BigInt(Math.abs(Math.trunc(micros)))
  const whole = abs / 1_000_000n
  const frac = (abs % 1_000_000n).toString().padStart(6, '0')
  return `${neg ? '-' : ''}$${whole}.${frac}`
}

/**
 * ceil(prompt × input + completion × output) in µUSD. A price in USD per million tokens is numerically
 * the price in µUSD per token, so the only rounding is the final ceil, done on exact rationals (BigInt):
 * 0.15 $/Mtok × 7 tokens = ceil(1.05) = 2 µUSD.
 */
export function costMicros(usage: TokenUsage, price: Price): number {
  const p = BigInt(nonNegInt(usage.prompt_tokens, 'prompt_tokens'))
  const c = BigInt(nonNegInt(usage.completion_tokens, 'completion_tokens'))
  const a = toDecimal(price.inputUsdPerMtok)
  const b = toDecimal(price.outputUsdPerMtok)
  if (a.num < 0n || b.num < 0n) throw new RangeError('negative price')
  // Bring both terms to the common scale max(sa, sb), then one ceil.
  const scale = Math.max(a.scale, b.scale)
  const num = p * a.num * 10n ** BigInt(scale - a.scale) + c * b.num * 10n ** BigInt(scale - b.scale)
  return Number(ceilDiv(num, 10n ** BigInt(scale)))
}

function nonNegInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`)
  return n
}

/** Tokens counted for an image part: providers bill images by size (OpenAI high detail and Claude stay under
 * ~2,500 after their own downscaling), not by the bytes of a data: URL. */
const IMAGE_PART_TOKENS = 3_000
/** Per-message framing (role, separators) and reply priming, as in OpenAI's token counting guide. */
const PER_MESSAGE_TOKENS = 4
const PRIMING_TOKENS = 3

/**
 * Cheap prompt token bound used to size `strict` reservations before the upstream call (a real tokenizer
 * would cost more than the request budget allows).
 *
 * Why one token per UTF-8 byte: byte-level BPE tokenizers (cl100k/o200k, Claude's) never produce a token
 * shorter than one byte, so the byte count is a hard upper bound, including for adversarial inputs (runs of
 * rare symbols) where bytes/3 or bytes/4 heuristics undercount. Strict reservations promise no overrun
 * ever, so they need a bound, not an average; output tokens dominate most reservations anyway. We count the
 * JSON of each message's fields (quotes/keys add margin, same side) and a flat allowance per image.
 */
export function estimatePromptTokens(messages: readonly unknown[]): number {
  let tokens = PRIMING_TOKENS
  for (const m of messages) {
    tokens += PER_MESSAGE_TOKENS
    if (m === null || typeof m !== 'object') { tokens += bytesToTokens(String(m)); continue }
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (k === 'content' && Array.isArray(v)) tokens += contentPartsTokens(v)
      else if (typeof v === 'string') tokens += bytesToTokens(v)
      else if (v !== null && v !== undefined) tokens += bytesToTokens(JSON.stringify(v) ?? '')
    }
  }
  return tokens
}

/** Request fields that only configure the call; every other field (known or not) is counted as prompt. */
const UNBILLED_FIELDS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n',
  'seed', 'user', 'store', 'logprobs', 'top_logprobs', 'presence_penalty', 'frequency_penalty', 'logit_bias',
  'parallel_tool_calls', 'service_tier', 'reasoning_effort',
])

const TOOL_PROMPT_ALLOWANCE_TOKENS = 1_000

/** Content part types whose tokens cannot be bounded from the request (a stored or fetched file, a PDF's pages). */
const UNBOUNDED_PART_TYPES = new Set(['file', 'input_file', 'document'])

/**
 * The prompt bound over the whole request: messages as in estimatePromptTokens, plus every other field that
 * could reach the model (tools, functions, response_format, prediction, unknown pass-through fields) by its
 * JSON bytes. `unboundedParts` counts file/document parts, which no byte count bounds (a strict budget must
 * refuse them rather than guess).
 */
export function estimateRequestTokens(req: Record<string, unknown>): { tokens: number; unboundedParts: number } {
  const messages = Array.isArray(req.messages) ? req.messages : []
  let tokens = estimatePromptTokens(messages)
  for (const [k, v] of Object.entries(req)) {
    if (UNBILLED_FIELDS.has(k) || v === null || v === undefined) continue
    tokens += bytesToTokens(typeof v === 'string' ? v : JSON.stringify(v) ?? '')
  }
  // Providers add a hidden system prompt when tools are offered (Anthropic documents ~300-500 tokens).
  if (req.tools || req.functions) tokens += TOOL_PROMPT_ALLOWANCE_TOKENS
  let unboundedParts = 0
  for (const m of messages) {
    const content = m && typeof m === 'object' ? (m as { content?: unknown }).content : undefined
    if (!Array.isArray(content)) continue
    for (const p of content) if (p && typeof p === 'object' && UNBOUNDED_PART_TYPES.has((p as { type?: unknown }).type as string)) unboundedParts++
  }
  return { tokens, unboundedParts }
}

function contentPartsTokens(parts: unknown[]): number {
  let t = 0
  for (const p of parts) {
    const type = p && typeof p === 'object' ? (p as { type?: unknown }).type : undefined
    if (type === 'image_url' || type === 'image' || type === 'input_image') t += IMAGE_PART_TOKENS
    else if (type === 'text' && typeof (p as { text?: unknown }).text === 'string') t += bytesToTokens((p as { text: string }).text) + 1
    else t += bytesToTokens(JSON.stringify(p) ?? '')
  }
  return t
}

function bytesToTokens(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

/**
 * µUSD to reserve before the upstream call. `strict`: the worst case (prompt estimate at the input price +
 * every allowed output token at the output price), so concurrent requests can never overrun the limit.
 * `fixed`: a flat $0.001 (bounds the overrun only for requests cheaper than that).
 */
export function reservationMicros(
  policy: Policy,
  tokens: { promptTokens: number; maxOutputTokens: number },
  price: Price,
): number {
  if (policy === 'fixed') return FIXED_RESERVATION_MICROS
  return costMicros({ prompt_tokens: tokens.promptTokens, completion_tokens: tokens.maxOutputTokens }, price)
}

/** 'total' | 'day:2026-11-24' | 'month:2026-11', in UTC. */
export function periodKey(period: Period, nowMs: number): string {
  if (period === 'total') return 'total'
  const iso = new Date(nowMs).toISOString() // always UTC, "2026-11-24T…"
  return period === 'day' ? `day:${iso.slice(0, 10)}` : `month:${iso.slice(0, 7)}`
}

/** Start of the period containing nowMs (epoch ms, UTC); 0 for 'total'. */
export function periodStartMs(period: Period, nowMs: number): number {
  if (period === 'total') return 0
  const d = new Date(nowMs)
  return period === 'day'
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

/** Start of the period named by a period key (inverse of periodKey); 0 for 'total'. Used by rebuilds. */
export function periodKeyStartMs(key: string): number {
  if (key === 'total') return 0
  const m = /^(day|month):(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(key)
  if (!m) throw new RangeError(`bad period key: ${key}`)
  return Date.UTC(Number(m[2]), Number(m[3]) - 1, m[4] ? Number(m[4]) : 1)
}
