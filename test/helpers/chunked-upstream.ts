/**
 * A provider's HTTP/1.1 server at the socket level, for what Bun.serve does not let a test control: keep-alive
 * connections it can count, and a chunked reply whose last chunk (`0\r\n\r\n`) comes `endDelayMs` after the rest,
 * as from a server that flushes each event and then finishes the response (a separate TCP segment). Each request
 * is answered with `reply(path)`: an SSE body, sent as one chunk.
 */
export interface ChunkedUpstream {
  url: string
  /** TCP connections opened to it so far. */
  connections(): number
  /** Requests answered so far. */
  requests(): number
  stop(): void
}

export function startChunkedUpstream(o: { reply: (path: string) => string; endDelayMs: number }): ChunkedUpstream {
  let connections = 0
  let requests = 0
  const ends = new Set<ReturnType<typeof setTimeout>>()
  const pending = new WeakMap<object, string>()
  const answer = (socket: { write(data: string): number }, path: string) => {
    const sse = o.reply(path)
    const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n'
    const first = `${head}${Buffer.byteLength(sse).toString(16)}\r\n${sse}\r\n`
    // Replies here are a few KB: the socket takes them whole.
    if (socket.write(first) !== Buffer.byteLength(first)) throw new Error('chunked-upstream: short write')
    const end = setTimeout(() => {
      ends.delete(end)
      socket.write('0\r\n\r\n')
    }, o.endDelayMs)
    ends.add(end)
  }
  const server = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(socket) {
        connections++
        pending.set(socket, '')
      },
      data(socket, data) {
        // Requests come one at a time on a connection (the client waits for each reply; Bun does not pipeline):
        // headers, then a content-length body. Decoded as latin1, one character a byte, so lengths are bytes.
        let buf = (pending.get(socket) ?? '') + data.toString('latin1')
        for (;;) {
          const headEnd = buf.indexOf('\r\n\r\n')
          if (headEnd === -1) break
          const head = buf.slice(0, headEnd)
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
          if (buf.length < headEnd + 4 + length) break
          buf = buf.slice(headEnd + 4 + length)
          requests++
          answer(socket, head.split(' ')[1] ?? '/')
        }
        pending.set(socket, buf)
      },
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    connections: () => connections,
    requests: () => requests,
    stop: () => {
      for (const end of ends) clearTimeout(end)
      server.stop(true)
    },
  }
}
