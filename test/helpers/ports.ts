/** A port nobody listens on now (bind 0, read, close). `redis-server --port 0` would disable TCP instead. */
export function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}
