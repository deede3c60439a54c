/**
 * A client that stops reading: one HTTP/1.1 request over node:net, whose socket is paused before the reply
 * arrives. A paused socket is not read at all, so the kernel's receive buffer fills and the server's writes
 * back up, as with a real client that stopped reading. `resume()` reads the rest of the reply.
 *
 * Also what loopback can hold for such a client, measured against a bare Bun.serve (the baseline any
 * backpressure bound is stated against), and a wait for a counter to stop moving.
 */
import net from 'node:net'

export interface PausedClient {
  /** Reads the reply to its end; `onBody` gets the de-chunked body bytes as they come (nothing is kept). */
  resume(onBody: (bytes: Uint8Array) => void): Promise<{ status: number; headers: Record<string, string> }>
  close(): void
}

export function pausedRequest(port: number, path: string, headers: Record<string, string>, body: string): PausedClient {
  const socket = net.connect(port, '127.0.0.1')
  socket.pause()
  const lines = [`POST ${path} HTTP/1.1`, 'host: gateway.test', `content-length: ${Buffer.byteLength(body)}`]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`)
  return {
    resume(onBody) {
      return new Promise((resolve, reject) => {
        const reader = chunkedReader(onBody)
        socket.on('data', (data: Buffer) => {
          try {
            const head = reader.feed(data)
            if (head) {
              resolve(head)
              socket.end()
            }
          } catch (e) {
            reject(e)
            socket.destroy()
          }
        })
        socket.on('error', reject)
        socket.on('close', () => reject(new Error('connection closed before the end of the reply')))
        socket.resume()
      })
    },
    close: () => socket.destroy(),
  }
}

/** An HTTP/1.1 response with a chunked body, fed in pieces; returns the head once the last chunk is in. */
function chunkedReader(onBody: (bytes: Uint8Array) => void) {
  let buf: Buffer = Buffer.alloc(0)
  let head: { status: number; headers: Record<string, string> } | null = null
  let left = -1 // data bytes left in the current chunk; -1: a size line comes next
  return {
    feed(data: Buffer): { status: number; headers: Record<string, string> } | null {
      buf = buf.length === 0 ? data : Buffer.concat([buf, data])
      if (!head) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return null
        const [statusLine, ...rest] = buf.subarray(0, end).toString('latin1').split('\r\n')
        const headers: Record<string, string> = {}
        for (const l of rest) headers[l.slice(0, l.indexOf(':')).trim().toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
        head = { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]), headers }
        if (headers['transfer-encoding'] !== 'chunked') throw new Error(`expected a chunked reply: ${statusLine}`)
        buf = buf.subarray(end + 4)
      }
      for (;;) {
        if (left < 0) {
          const eol = buf.indexOf('\r\n')
          if (eol < 0) return null
          const size = parseInt(buf.subarray(0, eol).toString('latin1'), 16)
          if (!Number.isInteger(size)) throw new Error('bad chunk size line')
          buf = buf.subarray(eol + 2)
          if (size === 0) return head
          left = size
        }
        if (left > 0) {
          if (buf.length === 0) return null
          const take = Math.min(left, buf.length)
          onBody(buf.subarray(0, take))
          left -= take
          buf = buf.subarray(take)
        }
        if (left === 0) {
          if (buf.length < 2) return null // the CRLF after the chunk's data
          buf = buf.subarray(2)
          left = -1
        }
      }
    },
  }
}

/**
 * Bytes a Bun.serve stream body hands to a paused client before backpressure stops it: the kernel's send
 * buffer on the server side plus the client's receive buffer (plus what Bun keeps between them).
 */
export async function pausedClientCapacity(chunkBytes: number): Promise<number> {
  const chunk = new Uint8Array(chunkBytes).fill(97)
  let pulled = 0
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: () => new Response(new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.byteLength
        c.enqueue(chunk)
      },
    })),
  })
  const client = pausedRequest(server.port!, '/', {}, '')
  try {
    return await whenSteady(() => pulled)
  } finally {
    client.close()
    await server.stop(true)
  }
}

/**
 * The value of `read()` once it has not changed for `quietMs`. A counter still moving after `maxMs` is
 * returned as it is: the caller's bound then decides (an unbounded reader fails it).
 */
export async function whenSteady(read: () => number, quietMs = 500, maxMs = 20_000): Promise<number> {
  const start = performance.now()
  let value = read()
  let since = start
  for (;;) {
    await Bun.sleep(25)
    const now = performance.now()
    const v = read()
    if (v !== value) {
      value = v
      since = now
    } else if (now - since >= quietMs) return v
    if (now - start >= maxMs) return v
  }
}

/** A Linux TCP buffer limit (`tcp_rmem` / `tcp_wmem`: min, default, max), or `fallback` elsewhere. */
export async function tcpBufferLimit(name: 'tcp_rmem' | 'tcp_wmem', field: 'default' | 'max', fallback: number): Promise<number> {
  try {
    const parts = (await Bun.file(`/proc/sys/net/ipv4/${name}`).text()).trim().split(/\s+/).map(Number)
    const v = parts[field === 'default' ? 1 : 2]
    return v !== undefined && Number.isFinite(v) ? v : fallback
  } catch {
    return fallback
  }
}
