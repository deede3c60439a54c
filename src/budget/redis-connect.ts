/**
 * The ledger's Redis connection. Fail fast, fail closed: short connect/command timeouts, no offline queue and one
 * retry, so while Redis is unreachable every call rejects within about commandTimeoutMs instead of queueing
 * requests; ioredis keeps reconnecting in the background, so service resumes on its own.
 */
import './tracing-channel-shim.ts' // before ioredis: see there
import { Cluster, Redis } from 'ioredis'
import type { RedisClient } from './scripts.ts'

function toNode(u: string): { host: string; port: number } {
  const p = new URL(u.includes('://') ? u : `redis://${u}`)
  return { host: p.hostname, port: Number(p.port || 6379) }
}

export interface ConnectOptions {
  /** `redis://host:port` or, for a cluster, the seed nodes. */
  url: string | string[]
  cluster?: boolean
  commandTimeoutMs?: number
  connectTimeoutMs?: number
}

export function connectRedis(opts: ConnectOptions): RedisClient {
  const commandTimeout = opts.commandTimeoutMs ?? 500
  const connectTimeout = opts.connectTimeoutMs ?? 500
  const nodeOpts = {
    connectTimeout,
    commandTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    // Reconnect forever, backing off to 1 s: the gateway must recover without a restart.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  }
  const urls = Array.isArray(opts.url) ? opts.url : [opts.url]
  if (opts.cluster) {
    return new Cluster(urls.map(toNode), {
      enableOfflineQueue: false,
      lazyConnect: true,
      enableAutoPipelining: true,
      slotsRefreshTimeout: connectTimeout * 2,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      redisOptions: { connectTimeout, commandTimeout, maxRetriesPerRequest: 1 },
    })
  }
  return new Redis(urls[0], { ...nodeOpts, enableAutoPipelining: true })
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const t = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms) })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}
