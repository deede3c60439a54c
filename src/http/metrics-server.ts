/**
 * /metrics in the Prometheus text format, on the main port or (`metrics_listen`) on a listener of its own,
 * bound to a private interface: only there are per-tenant series (tenant ids as labels) served. That listener
 * is the operators' one: when the admin API is enabled, it is served there (and not on the main port).
 */
import { isAdminPath, type AdminHandler } from '../admin/api.ts'
import type { ListenAddress } from '../config/index.ts'
import type { Metrics } from './metrics.ts'

/** `tenants`: include the per-tenant series (only on the dedicated listener; see Metrics.render). */
export function metricsResponse(metrics: Metrics, opts: { tenants?: boolean } = {}): Response {
  return new Response(metrics.render(opts), { headers: { 'content-type': 'text/plain; version=0.0.4' } })
}

export function startMetricsServer(addr: ListenAddress, metrics: Metrics, admin?: AdminHandler): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    hostname: addr.host,
    port: addr.port,
    fetch(req) {
      const { pathname } = new URL(req.url)
      if (pathname === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) return metricsResponse(metrics, { tenants: true })
      if (admin && isAdminPath(pathname)) return admin(req)
      return new Response('not found\n', { status: 404 })
    },
  })
}
