/** `gateway usage [TENANT] [--since 7d|DATE] [--until DATE] [--by day|model|key] [--json]`: spend from usage_records. */
import * as admin from '../admin/service.ts'
import { usageRowView, usageTotalsView } from '../admin/views.ts'
import { formatUsd } from '../budget/money.ts'
import type { UsageGroupBy } from '../store/types.ts'
import { UsageError, type AdminCommand } from './command.ts'
import { renderTable, when } from './text.ts'
import { parseSince } from './time-args.ts'

const GROUPS: readonly UsageGroupBy[] = ['day', 'model', 'key']
const DEFAULT_SINCE = '7d'

export const USAGE_COMMAND: AdminCommand = {
  args: ['TENANT?'],
  flags: ['since', 'until', 'by', 'json'],
  async run({ store, io, args, now, flags, json }) {
    const errors: string[] = []
    const since = parseSince(flags.since ?? DEFAULT_SINCE, now)
    if (!since.ok) errors.push(`--since: ${since.error}`)
    const until = flags.until === undefined ? undefined : parseSince(flags.until, now)
    if (until && !until.ok) errors.push(`--until: ${until.error}`)
    const by = (flags.by ?? 'day') as UsageGroupBy
    if (!GROUPS.includes(by)) errors.push(`--by must be day, model or key (got "${flags.by}")`)
    if (errors.length || !since.ok || (until && !until.ok)) throw new UsageError(errors.join('\n'))
    const tenantId = args[0]
    const q = { tenantId, sinceMs: since.ms, untilMs: until?.ms, by }
    const { rows, total } = await admin.usageReport(store, q)
    if (flags.json) {
      return json({
        tenant_id: tenantId ?? null, since: new Date(q.sinceMs).toISOString(), until: q.untilMs === undefined ? null : new Date(q.untilMs).toISOString(),
        by, rows: rows.map((r) => usageRowView(r, by)), total: usageTotalsView(total),
      })
    }
    io.out(`usage of ${tenantId ? `tenant ${tenantId}` : 'all tenants'} from ${when(q.sinceMs)} to ${q.untilMs === undefined ? 'now' : when(q.untilMs)}, ` +
      `by ${by === 'day' ? 'UTC day' : by}`)
    if (rows.length === 0) return io.out('no usage recorded in this window')
    const cells = rows.map((r) => [r.tenantId, r.group, String(r.requests), String(r.promptTokens), String(r.completionTokens), formatUsd(r.costUsdMicros)])
    cells.push(['TOTAL', '', String(total.requests), String(total.promptTokens), String(total.completionTokens), formatUsd(total.costUsdMicros)])
    const group = by === 'key' ? 'KEY_ID' : by.toUpperCase()
    for (const line of renderTable(['TENANT', group, 'REQUESTS', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'COST_USD'], cells)) io.out(line)
  },
}
