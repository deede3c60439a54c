import { describe, expect, test } from 'bun:test'
import { decide, type RequestEnding } from '../../../src/budget/settlement.ts'

const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
const base: RequestEnding = { endedBy: 'completed', status: 'ok', usage: null, completionBytes: 0, started: true }

describe('how a reservation is closed', () => {
  test.each([
    ['finished with usage', { usage }, 'settle'],
    ['finished without usage: the estimate (prompt bound + bytes produced)', {}, 'settle'],
    ['upstream failed before its reply began: providers do not bill it', { endedBy: 'upstream_error', started: false }, 'release'],
    ['upstream failed after its reply began, no usage: it may have generated unseen tokens', { endedBy: 'upstream_error' }, 'worst_case'],
    ['upstream failed after a usage report', { endedBy: 'upstream_error', usage }, 'settle'],
    ['cut by the gateway (timeout, deadline, shutdown), no usage', { endedBy: 'gateway', status: 'upstream_timeout' }, 'worst_case'],
    ['cut by the gateway before anything arrived: still the worst case (a non-streamed reply generates first)', { endedBy: 'gateway', started: false }, 'worst_case'],
    ['cut by the gateway after a usage report', { endedBy: 'gateway', usage }, 'settle'],
    ['malformed usage counts as none', { endedBy: 'gateway', usage: { prompt_tokens: -1, completion_tokens: 5, total_tokens: 4 } }, 'worst_case'],
    ['client left, reply drained to its end with usage', { status: 'client_disconnect', usage }, 'settle'],
  ] as const)('%s → %s', (_what, over, expected) => {
    expect(decide({ ...base, ...(over as Partial<RequestEnding>) })).toBe(expected)
  })
})
