/**
 * Preloaded into the Portkey gateway's process (`bun --preload`): its start script calls
 * `server.listen(port)` with no host, which binds every interface; the benchmark keeps all traffic on
 * loopback, so force 127.0.0.1.
 */
import http from 'node:http'

const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (this: http.Server, ...args: any[]) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    const cb = args.find((a) => typeof a === 'function')
    return (listen as (...a: unknown[]) => http.Server).call(this, args[0], '127.0.0.1', cb)
  }
  return listen.apply(this, args as any)
} as typeof listen
