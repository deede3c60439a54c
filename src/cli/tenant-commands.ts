/** `gateway tenant create|set|show|list|disable|enable|delete`. */
import * as admin from '../admin/service.ts'
import { tenantDetailView, tenantListingView } from '../admin/views.ts'
import { formatUsd } from '../budget/money.ts'
import { keyStatus, type Tenant } from '../tenants/types.ts'
import { UsageError, type AdminCommand, type CommandContext } from './command.ts'
import { parseTenantFlags, TENANT_FLAG_NAMES } from './tenant-flags.ts'
import { keyTable } from './key-commands.ts'
import { renderTable, when } from './text.ts'

export function describeTenant(t: Tenant): string {
  const budget = t.budgetUsdMicros === null ? 'unlimited' : `${formatUsd(t.budgetUsdMicros)} per ${t.budgetPeriod}`
  return `tenant ${t.id}: budget ${budget}, policy ${t.policy}, models ${t.allowedModels ? t.allowedModels.join(',') : 'all'}, ` +
    `fail_open ${t.failOpen}${t.disabled ? ', DISABLED' : ''}`
}

function patchFrom({ config, flags }: CommandContext) {
  const { patch, errors } = parseTenantFlags(flags, Object.keys(config.models))
  if (errors.length) throw new UsageError(errors.join('\n'))
  return patch
}

const setDisabled = (disabled: boolean): AdminCommand => ({
  args: ['tenant ID'],
  flags: [],
  async run({ store, io, args }) {
    const t = await admin.updateTenant(store, args[0]!, { disabled })
    io.out(describeTenant(t))
    io.out(disabled
      ? `tenant ${t.id} is disabled: its keys are refused with 403 tenant_disabled (running gateways pick this up)`
      : `tenant ${t.id} is enabled`)
  },
})

export const TENANT_COMMANDS: Record<string, AdminCommand> = {
  create: {
    args: ['tenant ID'],
    flags: [...TENANT_FLAG_NAMES],
    async run(c) {
      const patch = patchFrom(c)
      const t = await admin.createTenant(c.store, c.args[0]!, patch).catch((e: unknown) => {
        if (e instanceof admin.AdminError && e.code === 'conflict') throw new UsageError(`${e.message} (use "tenant set" to change it)`)
        throw e
      })
      c.io.out(describeTenant(t))
    },
  },

  set: {
    args: ['tenant ID'],
    flags: [...TENANT_FLAG_NAMES],
    async run(c) {
      const patch = patchFrom(c)
      if (Object.keys(patch).length === 0) throw new UsageError(`nothing to change: give at least one of ${TENANT_FLAG_NAMES.map((f) => `--${f}`).join(', ')}`)
      c.io.out(describeTenant(await admin.updateTenant(c.store, c.args[0]!, patch)))
    },
  },

  show: {
    args: ['tenant ID'],
    flags: ['json'],
    async run({ store, io, args, now, flags, json }) {
      const { tenant: t, keys } = await admin.getTenant(store, args[0]!)
      const p = await admin.periodStatus(store, t, now, io.snapshot)
      // Only an unreachable budget store is worth a warning; no REDIS_URL at all is an embedded setup.
      if (io.snapshot && p.source === 'recorded') io.note(`warning: live budget figures unavailable (${p.liveUnavailable}); showing recorded usage`)
      if (flags.json) return json(tenantDetailView(t, p, keys, now))
      io.out(describeTenant(t))
      const note = p.source === 'live' ? '' : io.snapshot
        ? ` (from recorded usage: live spent/reserved figures are unavailable: ${p.liveUnavailable})`
        : ` (from recorded usage; ${p.liveUnavailable})`
      io.out(`period ${p.periodKey}: spent ${formatUsd(p.spentUsdMicros)}, reserved ${formatUsd(p.reservedUsdMicros ?? 0)}` +
        (p.remainingUsdMicros === null ? '' : `, remaining ${formatUsd(p.remainingUsdMicros)}`) + note)
      const count = (s: string) => keys.filter((k) => keyStatus(k, now) === s).length
      io.out(`keys: ${count('active')} active, ${count('revoked')} revoked, ${count('expired')} expired`)
      if (keys.length) for (const line of keyTable(keys, now)) io.out(`  ${line}`)
    },
  },

  list: {
    args: [],
    flags: ['json'],
    async run({ store, io, now, flags, json }) {
      const tenants = await admin.listTenants(store, now)
      if (flags.json) return json(tenants.map(tenantListingView))
      const rows = tenants.map(({ tenant: t, createdAt, keys, activeKeys }) => [
        t.id,
        t.budgetUsdMicros === null ? 'unlimited' : formatUsd(t.budgetUsdMicros),
        t.budgetPeriod,
        t.policy,
        t.allowedModels ? t.allowedModels.join(',') : 'all',
        String(t.failOpen),
        t.disabled ? 'disabled' : 'enabled',
        `${activeKeys}/${keys}`,
        when(createdAt),
      ])
      for (const line of renderTable(['ID', 'BUDGET', 'PERIOD', 'POLICY', 'MODELS', 'FAIL_OPEN', 'STATUS', 'KEYS(ACTIVE/ALL)', 'CREATED'], rows)) io.out(line)
    },
  },

  disable: setDisabled(true),
  enable: setDisabled(false),

  delete: {
    args: ['tenant ID'],
    flags: ['force'],
    async run({ store, io, args, now, flags }) {
      const { activeKeys } = await admin.deleteTenant(store, args[0]!, { force: flags.force === 'true', now }).catch((e: unknown) => {
        if (e instanceof admin.AdminError && e.code === 'conflict') throw new UsageError(`${e.message}: revoke them first, or pass --force to revoke them and delete`)
        throw e
      })
      io.out(`deleted tenant ${args[0]}` + (activeKeys ? ` and revoked its ${activeKeys} active key(s)` : '') +
        '; its usage records are kept')
    },
  },
}
