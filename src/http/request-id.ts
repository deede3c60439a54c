/** The request id of every response: the client's own `x-request-id` when it is safe to echo, else a new one. */
const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/

export function requestIdFor(request: Request): string {
  const sent = request.headers.get('x-request-id')
  return sent && REQUEST_ID.test(sent) ? sent : `req_${crypto.randomUUID().replaceAll('-', '')}`
}
