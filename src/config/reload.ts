/**
 * SIGHUP: what a reloaded config may change in a running gateway. Providers, models (and so prices) and the
 * request size limit are read per request from AppDeps.config, so swapping that object is enough: a request
 * in flight keeps the route it resolved, the next one sees the new config. The log level is re-set. The rest
 * (listen addresses, stores, warm-up, drain timeout) is fixed at boot; a change there is reported, not applied.
 */
import type { GatewayConfig } from './index.ts'

/** The part of the config a reload swaps in. */
export type ReloadableConfig = Pick<GatewayConfig, 'providers' | 'models' | 'maxBodyBytes'>

const RESTART_ONLY = ['port', 'host', 'warmLimit', 'dataDir', 'databaseUrl', 'redisUrl', 'adminKey', 'adminReadonlyKey', 'drainTimeoutMs', 'metricsListen', 'budgetSliceMicros'] as const

export interface ReloadPlan {
  apply: ReloadableConfig
  logLevel: GatewayConfig['logLevel']
  /** Settings that differ in the new config but only take effect after a restart. */
  needsRestart: string[]
  /** Providers and models added, removed or changed, by name (for the log line). */
  changed: { providers: string[]; models: string[] }
}

export function planReload(current: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const needsRestart = RESTART_ONLY.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]))
  return {
    apply: { providers: next.providers, models: next.models, maxBodyBytes: next.maxBodyBytes },
    logLevel: next.logLevel,
    needsRestart: [...needsRestart],
    changed: { providers: changedNames(current.providers, next.providers), models: changedNames(current.models, next.models) },
  }
}

function changedNames(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...names].filter((n) => JSON.stringify(a[n]) !== JSON.stringify(b[n])).sort()
}
