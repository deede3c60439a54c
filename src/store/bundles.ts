/** Groups keys under their tenants (the bulk warm-up load of both stores). */
import type { ApiKeyRecord, Tenant, TenantBundle } from '../tenants/types.ts'

/** One bundle per tenant, keys in the order given; keys of a tenant not in `tenants` are left out. */
export function bundlesOf(tenants: Tenant[], keys: ApiKeyRecord[]): TenantBundle[] {
  const byId = new Map<string, TenantBundle>()
  for (const t of tenants) byId.set(t.id, { tenant: t, keys: [] })
  for (const k of keys) byId.get(k.tenantId)?.keys.push(k)
  return [...byId.values()].filter((b) => b.keys.length > 0)
}
