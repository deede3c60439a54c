/** `gateway migrate | tenant … | key …`: admin commands against the configured store. */
import { formatUsd, periodKey, periodStartMs } from '../budget/money.ts'
import type { GatewayConfig } from '../config/index.ts'
import { generateApiKey } from '../store/keys.ts'
import { DuplicateError, type Store, type Tenant } from '../store/types.ts'
import { parseTenantFlags } from './tenant-flags.ts'

export class UsageError extends Error {}

export interface AdminIO {
  out: (line: string) => void
  /** Current spend/reservation of a period, when a shared budget store is configured. */
  snapshot?: (tenantId: string, periodKey: string) => Promise<{ spentMicros: number; reservedMicros: number }>
}

function needId(positionals: string[], i: number, what: string): string {
  const id = positionals[i]
  if (!id) throw new UsageError(`missing ${what}`)
  if (!/^[A-Za-z0-9._:\-]{1,128}$/.test(id)) throw new UsageError(`${what} may only contain letters, digits and . _ : - (1-128 chars)`)
  return id
}

export async function runAdmin(config: GatewayConfig, store: Store, io: AdminIO, now = Date.now()): Promise<void> {
  const [sub, ...rest] = config.positionals
  if (config.command === 'migrate') {
    const applied = await store.migrate()
    io.out(applied.length ? `applied migrations: ${applied.join(', ')}` : 'schema is up to date')
    return
  }
  if (config.command === 'tenant') {
    const id = needId(rest, 0, 'tenant ID')
    if (sub === 'create' || sub === 'set') {
      const { patch, errors } = parseTenantFlags(config.flags)
      if (errors.length) throw new UsageError(errors.join('\n'))
      if (sub === 'create') {
        const t: Tenant = { id, budgetUsdMicros: null, budgetPeriod: 'month', policy: 'strict', allowedModels: null, failOpen: false, ...patch }
        try {
          await store.createTenant(t)
        } catch (e) {
          if (e instanceof DuplicateError) throw new UsageError(`tenant "${id}" already exists (use "tenant set" to change it)`)
          throw e
        }
        io.out(describeTenant(t))
        return
      }
      const updated = await store.updateTenant(id, patch)
      if (!updated) throw new UsageError(`tenant "${id}" does not exist`)
      io.out(describeTenant(updated))
      return
    }
    if (sub === 'show') {
      const bundle = await store.loadTenant(id)
      if (!bundle) throw new UsageError(`tenant "${id}" does not exist`)
      const t = bundle.tenant
      const pk = periodKey(t.budgetPeriod, now)
      const snap = io.snapshot
        ? await io.snapshot(id, pk)
        : { spentMicros: await store.sumUsageSince(id, periodStartMs(t.budgetPeriod, now)), reservedMicros: 0 }
      io.out(describeTenant(t))
      io.out(`period ${pk}: spent ${formatUsd(snap.spentMicros)}, reserved ${formatUsd(snap.reservedMicros)}` +
        (t.budgetUsdMicros === null ? '' : `, remaining ${formatUsd(Math.max(0, t.budgetUsdMicros - snap.spentMicros - snap.reservedMicros))}`) +
        (io.snapshot ? '' : ' (from recorded usage; no REDIS_URL, so live reservations are not visible here)'))
      const active = bundle.keys.filter((k) => k.revokedAt === null)
      io.out(`keys: ${active.length} active, ${bundle.keys.length - active.length} revoked`)
      for (const k of bundle.keys) io.out(`  ${k.id}  ${k.prefix}…  ${k.name ?? ''}${k.revokedAt ? '  (revoked)' : ''}`)
      return
    }
    throw new UsageError(`unknown tenant subcommand "${sub ?? ''}" (expected create, set or show)`)
  }
  if (config.command === 'key') {
    if (sub === 'create') {
      const tenantId = needId(rest, 0, 'TENANT')
      if (!(await store.loadTenant(tenantId))) throw new UsageError(`tenant "${tenantId}" does not exist`)
      const k = generateApiKey()
      await store.createKey({ id: k.id, tenantId, keyHash: k.hash, prefix: k.prefix, name: config.flags.name ?? null })
      io.out(`key id: ${k.id}`)
      io.out(`api key (shown once, store it now): ${k.key}`)
      return
    }
    if (sub === 'revoke') {
      const keyId = needId(rest, 0, 'KEY_ID')
      const revoked = await store.revokeKey(keyId)
      if (!revoked) throw new UsageError(`key "${keyId}" does not exist`)
      io.out(`revoked key ${keyId} of tenant ${revoked.tenantId}`)
      return
    }
    throw new UsageError(`unknown key subcommand "${sub ?? ''}" (expected create or revoke)`)
  }
  throw new UsageError(`not an admin command: ${config.command}`)
}

export function describeTenant(t: Tenant): string {
  const budget = t.budgetUsdMicros === null ? 'unlimited' : `${formatUsd(t.budgetUsdMicros)} per ${t.budgetPeriod}`
  return `tenant ${t.id}: budget ${budget}, policy ${t.policy}, models ${t.allowedModels ? t.allowedModels.join(',') : 'all'}, fail_open ${t.failOpen}`
}
