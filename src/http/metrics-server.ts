/**
 * /metrics in the Prometheus text format, on the main port or (`metrics_listen`) on a listener of its own,
 * bound to a private interface: only there are per-tenant series (tenant ids as labels) served.
 */
import type { ListenAddress } from '../config/index.ts'
import type { Metrics } from './metrics.ts'

/** `tenants`: include the per-tenant series (only on the dedicated listener; see Metrics.render). */
export function metricsResponse(metrics: Metrics, opts: { tenants?: boolean } = {}): Response {
  return new Response(metrics.render(opts), { headers: { 'content-type': 'text/plain; version=0.0.4' } })
}

export function startMetricsServer(addr: ListenAddress, metrics: Metrics): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    hostname: addr.host,
    port: addr.port,
    fetch(req) {
      const { pathname } = new URL(req.url)
      if (pathname === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) return metricsResponse(metrics, { tenants: true })
      return new Response('not found\n', { status: 404 })
    },
  })
}
