/** What every route handler receives: the request, its id and timing, and the app's injected parts. */
import type { BudgetService } from '../budget/service.ts'
import type { GatewayConfig } from '../config/index.ts'
import type { AccessFacts } from '../budget/types.ts'
import type { Metrics } from '../http/metrics.ts'
import type { RequestTiming } from '../http/timing.ts'
import type { LogFn } from '../log.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import type { ProviderKind } from '../config/types.ts'
import type { Store } from '../store/types.ts'
import type { TenantCache } from '../tenants/cache.ts'

export interface AppDeps {
  /** Read per request, never cached: SIGHUP swaps this object (a request keeps the route it resolved). */
  config: Pick<GatewayConfig, 'models' | 'providers' | 'maxBodyBytes'>
  store: Store
  cache: TenantCache
  budget: BudgetService
  metrics: Metrics
  log: LogFn
  /**
   * Aborted when a shutdown's drain deadline is reached, with a GatewayError('server_shutdown') as its reason:
   * requests still in flight must end now (a stream with one error event), settling with status 'shutdown'.
   * Connections are force-closed shortly after.
   */
  shutdown: AbortSignal
  /** null when ready; otherwise why not (served by /readyz). */
  notReadyReason: () => Promise<string | null>
  /** Interval of SSE keep-alive comments on a stream (default 15 s); a test seam. */
  heartbeatMs?: number
  /** Longest a request may take in total (default MAX_REQUEST_MS, inside the reservation TTL); a test seam. */
  maxRequestMs?: number
  /** Test seam: replace a provider kind's adapter. */
  adapters?: Partial<Record<ProviderKind, ProviderAdapter>>
  now?: () => number
}

export interface RequestContext {
  request: Request
  requestId: string
  timing: RequestTiming
  /** Facts for the request's access-log line; handlers fill what they learn (see http/access-log.ts). */
  access: AccessFacts
  /**
   * Set by the app for a handler whose work goes on after it returns its response: a stream's body, or the
   * settle of a non-streamed reply. The request stays in flight (a shutdown's drain waits for it) and its
   * access-log line and metrics are written when `done` resolves. Without it (a handler called on its own),
   * the handler finishes before it returns.
   */
  onFinishing?: (done: Promise<void>, kind: 'stream' | 'settle') => void
}
