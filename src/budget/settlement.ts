/**
 * The one decision on how a request's reservation is closed, for every route and both response modes.
 * A request ends once; what it cost is known only as well as the upstream told us, so the rule is:
 * reported usage is charged as reported; a finished reply without usage is charged its estimate (prompt bound
 * + the bytes it produced, which bound its tokens); an upstream that failed before producing anything is
 * released (providers do not bill a refused call); anything else (the gateway ended it, or it broke after it
 * started) may have generated tokens we never saw — reasoning, in-flight output — so it is charged the
 * worst case the reservation was sized for.
 */
import type { Usage } from '../wire/openai.ts'
import type { Reservation, SettleOutcome } from './service.ts'

export type EndedBy =
  /** The upstream finished its reply (stream end or complete JSON body). */
  | 'completed'
  /** The upstream failed: an error status, a reset, a malformed body or event. */
  | 'upstream_error'
  /** The gateway cut it: a timeout, the request deadline, a shutdown past its drain deadline. */
  | 'gateway'

export interface RequestEnding {
  endedBy: EndedBy
  /** Recorded on the usage row. */
  status: SettleOutcome['status']
  usage: Usage | null
  /** UTF-8 bytes of generated text/arguments seen; bounds completion tokens of a finished reply. */
  completionBytes: number
  /** Whether anything of the reply arrived (headers of a stream count: a model may think before writing). */
  started: boolean
}

export type Decision = 'settle' | 'release' | 'worst_case'

export function isTokenCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** Usage an upstream reports is trusted only when well-formed. */
export function usableUsage(u: Usage | null | undefined): u is Usage {
  return !!u && isTokenCount(u.prompt_tokens) && isTokenCount(u.completion_tokens)
}

export function decide(e: RequestEnding): Decision {
  if (usableUsage(e.usage)) return 'settle'
  if (e.endedBy === 'completed') return 'settle'
  if (e.endedBy === 'upstream_error' && !e.started) return 'release'
  return 'worst_case'
}

/** Applies the decision; never throws (the reservation logs its own store failures). Returns µUSD charged. */
export async function closeReservation(r: Reservation, e: RequestEnding, durationMs: number): Promise<number> {
  switch (decide(e)) {
    case 'settle': return r.settle({ usage: e.usage, completionBytes: e.completionBytes, status: e.status }, durationMs)
    case 'worst_case': return r.chargeWorstCase(e.status, durationMs)
    case 'release': await r.release(); return 0
  }
}
