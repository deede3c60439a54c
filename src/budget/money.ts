/**
 * The one place for money. Amounts are integer micro-USD (µUSD); dollars appear only at the edges
 * (config parsing, display). Costs are rounded up: never in the tenant's favour (docs/budgets.md "Money").
 */
import type { Period, Policy } from '../tenants/types.ts'

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
interface Decimal {
  num: bigint
  scale: number
  /** `num` as a Number: exact when `num` is a safe integer, and otherwise no safe integer (termsCostMicros). */
  digits: number
}

/** Scales finer than 10^15 (below 2^53) are left to the exact path: rarer than any price a config holds. */
const MAX_SAFE_POWER_OF_TEN = 15

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
  const num = neg ? -digits : digits
  const d = { num, scale, digits: Number(num) }
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
  return termsCostMicros([
    [nonNegInt(usage.prompt_tokens, 'prompt_tokens'), price.inputUsdPerMtok],
    [nonNegInt(usage.completion_tokens, 'completion_tokens'), price.outputUsdPerMtok],
  ])
}

/**
 * One priced quantity: `quantity × usdPerMtok × factor` µUSD. A $/Mtok price is numerically µUSD per token;
 * `factor` scales it exactly (1.25 for a cache write at 1.25× input; 1e6 turns a USD-per-call fee into µUSD).
 */
export type CostTerm = readonly [quantity: number, usdPerMtok: number, factor?: number]

/** ceil(Σ quantity × price × factor) in µUSD: exact decimal arithmetic, one rounding (up) on the total. */
export function termsCostMicros(terms: readonly CostTerm[]): number {
  return termsCostMicrosInSafeIntegers(terms) ?? termsCostMicrosExact(terms)
}

/**
 * termsCostMicros in Numbers, for the usual case where every product and the sum stay safe integers (then every
 * step is exact: a product of integers rounds only past 2^53, and a rounded one is never a safe integer); null
 * when one does not, and termsCostMicrosExact decides. The sum is kept at the finest scale seen so far (raised by a
 * power of ten when a finer term comes), so each term's price is looked up once. Arguments are checked in the same
 * order, with the same errors, all of them even once the sum has left the safe range. In BigInt a reservation's
 * bound took 0.28–0.31 µs and a settle's cost 0.56–0.59 (in a loop), every request.
 */
function termsCostMicrosInSafeIntegers(terms: readonly CostTerm[]): number | null {
  let scale = 0
  let sum = 0
  let safe = true
  for (const [q, usd, factor = 1] of terms) {
    nonNegInt(q, 'quantity')
    const a = toDecimal(usd)
    const f = toDecimal(factor)
    if (a.digits < 0 || f.digits < 0) throw new RangeError('negative price')
    if (!safe) continue
    const s = a.scale + f.scale
    let part = q * a.digits * f.digits
    if (s > scale) {
      sum *= 10 ** (s - scale)
      scale = s
    } else {
      part *= 10 ** (scale - s)
    }
    sum += part
    safe = scale <= MAX_SAFE_POWER_OF_TEN && Number.isSafeInteger(sum)
  }
  if (!safe) return null
  const unit = 10 ** scale
  const rest = sum % unit
  return (sum - rest) / unit + (rest > 0 ? 1 : 0)
}

/** The reference: every term a BigInt rational, summed at the finest scale, one ceil. */
export function termsCostMicrosExact(terms: readonly CostTerm[]): number {
  const parts: Array<{ num: bigint; scale: number }> = []
  let scale = 0
  for (const [q, usd, factor = 1] of terms) {
    const n = BigInt(nonNegInt(q, 'quantity'))
    const a = toDecimal(usd)
    const f = toDecimal(factor)
    if (a.num < 0n || f.num < 0n) throw new RangeError('negative price')
    const part = { num: n * a.num * f.num, scale: a.scale + f.scale }
    parts.push(part)
    scale = Math.max(scale, part.scale)
  }
  let num = 0n
  for (const p of parts) num += p.num * 10n ** BigInt(scale - p.scale)
  return Number(ceilDiv(num, 10n ** BigInt(scale)))
}

/** ceil(n × factor), exact (a token multiplier such as 1.62 tokens per image patch). */
export function ceilTimes(n: number, factor: number): number {
  const f = toDecimal(factor)
  if (f.num < 0n) throw new RangeError('negative factor')
  return Number(ceilDiv(BigInt(nonNegInt(n, 'quantity')) * f.num, 10n ** BigInt(f.scale)))
}

function nonNegInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`)
  return n
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

const DAY_MS = 86_400_000
const MAX_DATE_MS = 8.64e15
/** The UTC day of the last key made, and its keys: every request of a day or month budget asks for one. */
let keysDay = NaN
let dayKey = ''
let monthKey = ''

/** 'total' | 'day:2026-11-24' | 'month:2026-11', in UTC. */
export function periodKey(period: Period, nowMs: number): string {
  if (period === 'total') return 'total'
  // Both keys change only at a UTC midnight (a JavaScript day is exactly DAY_MS), so they are made once a day. The
  // day is the one a Date would hold: the time truncated toward zero; outside a Date's range (and NaN) nothing is
  // kept, and toISOString throws as it always did.
  const t = Math.trunc(nowMs)
  const day = Math.abs(t) <= MAX_DATE_MS ? Math.floor(t / DAY_MS) : NaN
  if (day !== keysDay) {
    const iso = new Date(nowMs).toISOString() // always UTC, "2026-11-24T…"; a RangeError for a time it cannot hold
    dayKey = `day:${iso.slice(0, 10)}`
    monthKey = `month:${iso.slice(0, 7)}`
    keysDay = day
  }
  return period === 'day' ? dayKey : monthKey
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
