/**
 * HTTP/1.1 over a raw TCP socket (Bun.connect), for what fetch refuses to send: lying or absent
 * content-length, endless chunked bodies, odd header bytes. Everything is bounded by a timeout.
 */
export interface RawResponse {
  /** null when the server closed the connection without a status line. */
  status: number | null
  headers: Record<string, string>
  /** Raw header block (for "is this header present at all" checks). */
  head: string
  body: string
  /** Bytes of request body this client had written when the response head arrived. */
  bodyBytesSentAtResponse: number
  closedByServer: boolean
}

export interface RawRequest {
  port: number
  /** Request line + headers, without the final blank line; lines joined with CRLF here. */
  head: string[] | Uint8Array
  /** Body bytes written right after the head. */
  body?: Uint8Array | string
  /** Keeps writing chunks (already framed by the caller) until a response arrives or `maxBytes` are sent. */
  endless?: { chunk: Uint8Array; maxBytes: number }
  timeoutMs?: number
}

const enc = new TextEncoder()

export async function rawHttp(req: RawRequest): Promise<RawResponse> {
  const chunks: Uint8Array[] = []
  let sentBody = 0
  let sentAtResponse = -1
  let closed = false
  let gotHead = false
  const timeoutMs = req.timeoutMs ?? 5000

  return new Promise<RawResponse>((resolve, reject) => {
    let socket: Awaited<ReturnType<typeof Bun.connect>> | null = null
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      try { socket?.end() } catch {}
      const all = Buffer.concat(chunks).toString('latin1')
      const sep = all.indexOf('\r\n\r\n')
      const head = sep >= 0 ? all.slice(0, sep) : all
      const body = sep >= 0 ? all.slice(sep + 4) : ''
      const [statusLine, ...lines] = head.split('\r\n')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const i = l.indexOf(':')
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
      }
      resolve({ status: m ? Number(m[1]) : null, headers, head, body, bodyBytesSentAtResponse: sentAtResponse < 0 ? sentBody : sentAtResponse, closedByServer: closed })
    }
    const timer = setTimeout(finish, timeoutMs)

    // A partial write leaves the rest of the chunk here; it goes out first on the next drain (framing stays intact).
    let pending: Uint8Array | null = null
    const pump = () => {
      if (!req.endless || !socket) return
      for (;;) {
        if (gotHead || closed) return
        if (!pending) {
          if (sentBody >= req.endless.maxBytes) return
          pending = req.endless.chunk
        }
        const n = socket.write(pending)
        if (n > 0) sentBody += n
        if (n < pending.byteLength) {
          pending = pending.subarray(Math.max(0, n))
          return // socket buffer full: continue on drain
        }
        pending = null
      }
    }

    Bun.connect({
      hostname: '127.0.0.1',
      port: req.port,
      socket: {
        open(s) {
          socket = s
          const head = req.head instanceof Uint8Array ? req.head : enc.encode(req.head.join('\r\n') + '\r\n\r\n')
          s.write(head)
          if (req.body !== undefined) {
            const b = typeof req.body === 'string' ? enc.encode(req.body) : req.body
            s.write(b)
            sentBody += b.byteLength
          }
          pump()
        },
        drain() {
          pump()
        },
        data(_s, data) {
          chunks.push(new Uint8Array(data))
          if (!gotHead && Buffer.concat(chunks).includes('\r\n\r\n')) {
            gotHead = true
            sentAtResponse = sentBody
          }
        },
        close() {
          closed = true
          finish()
        },
        error() {
          closed = true
          finish()
        },
        connectError(_s, err) {
          clearTimeout(timer)
          if (!settled) { settled = true; reject(err) }
        },
      },
    }).catch((err) => {
      clearTimeout(timer)
      if (!settled) { settled = true; reject(err) }
    })
  })
}
