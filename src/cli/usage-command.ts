/** `gateway usage [TENANT] [--since 7d|DATE] [--until DATE] [--by day|model|key] [--json]`: spend from usage_records. */
import * as admin from '../admin/service.ts'
import { usageQueryOf } from '../admin/input.ts'
import { usageReportView } from '../admin/views.ts'
import { formatUsd } from '../budget/money.ts'
import { UsageError, type AdminCommand } from './command.ts'
import { renderTable, when } from './text.ts'

export const USAGE_COMMAND: AdminCommand = {
  args: ['TENANT?'],
  flags: ['since', 'until', 'by', 'json'],
  async run({ store, io, args, now, flags, json }) {
    const errors: string[] = []
    const tenantId = args[0]
    const q = usageQueryOf({ tenant: tenantId, since: flags.since, until: flags.until, by: flags.by }, now, { since: '--since', until: '--until', by: '--by' }, errors)
    if (errors.length) throw new UsageError(errors.join('\n'))
    const report = await admin.usageReport(store, q)
    const { rows, total } = report
    const by = q.by
    if (flags.json) return json(usageReportView(q, report))
    io.out(`usage of ${tenantId ? `tenant ${tenantId}` : 'all tenants'} from ${when(q.sinceMs)} to ${q.untilMs === undefined ? 'now' : when(q.untilMs)}, ` +
      `by ${by === 'day' ? 'UTC day' : by}`)
    if (rows.length === 0) return io.out('no usage recorded in this window')
    const cells = rows.map((r) => [r.tenantId, r.group, String(r.requests), String(r.promptTokens), String(r.completionTokens), formatUsd(r.costUsdMicros)])
    cells.push(['TOTAL', '', String(total.requests), String(total.promptTokens), String(total.completionTokens), formatUsd(total.costUsdMicros)])
    const group = by === 'key' ? 'KEY_ID' : by.toUpperCase()
    for (const line of renderTable(['TENANT', group, 'REQUESTS', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'COST_USD'], cells)) io.out(line)
  },
}
