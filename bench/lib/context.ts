/** What every scenario gets from the runner. */
export interface BenchCtx {
  databaseUrl: string
  redisUrl: string
  quick: boolean
  log: (line: string) => void
}

export const chatBody = (o: { model?: string; stream?: boolean; maxTokens?: number } = {}) => JSON.stringify({
  model: o.model ?? 'bench-model',
  // ~30 prompt tokens by the gateway's estimate: above the fake upstream's fixed 10 reported prompt tokens.
  messages: [{ role: 'user', content: 'Please reply to this benchmark request with a short greeting. '.repeat(2) }],
  max_tokens: o.maxTokens ?? 50,
  ...(o.stream ? { stream: true } : {}),
})

export const jsonHeaders = (bearer: string, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...extra,
})
