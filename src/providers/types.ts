/** The adapter interface every provider implements. Providers return typed chunk objects; only src/http/sse.ts turns them into SSE frames. */
import type { ModelConfig, ProviderConfig, ProviderKind } from '../config/types.ts'
import type { ChatChunk, ChatCompletion, ChatRequest } from '../wire/openai.ts'

export interface ModelRoute {
  model: ModelConfig
  provider: ProviderConfig
}

export interface ProviderAdapter {
  /** Non-streaming call. Throws GatewayError (mapped upstream status) on failure. */
  complete(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<ChatCompletion>
  /**
   * Streaming call. Resolves once the upstream accepted the request (so its 4xx/5xx still map to an HTTP
   * status); the iterable then yields OpenAI chunks, including a final usage chunk (empty choices, usage
   * set) whenever the upstream reported usage. A failure after the first chunk is thrown from the iterator
   * as a GatewayError.
   */
  stream(req: ChatRequest, route: ModelRoute, signal: AbortSignal): Promise<AsyncIterable<ChatChunk>>
}

/** One event of Anthropic's Messages protocol from an upstream: parsed, with its JSON text as received. */
export interface RawMessagesEvent {
  event: { type: string; [field: string]: unknown }
  json: string
}

/**
 * A provider that speaks Anthropic's Messages API itself: /v1/messages sends it the client's body (model
 * mapped) instead of translating to chat completions, and passes its events on as written.
 */
export interface NativeMessages {
  complete(route: ModelRoute, body: Record<string, unknown>, client: Headers, signal: AbortSignal): Promise<Record<string, unknown>>
  /** Resolves once the upstream accepted the request; the events end at message_stop (else an error is thrown). */
  stream(route: ModelRoute, body: Record<string, unknown>, client: Headers, signal: AbortSignal): Promise<AsyncIterable<RawMessagesEvent>>
  countTokens(route: ModelRoute, body: Record<string, unknown>, client: Headers, signal: AbortSignal): Promise<{ input_tokens: number }>
}

/** A built-in catalog entry: a model at list prices, served by its kind's provider. */
export type CatalogModel = Omit<ModelConfig, 'name' | 'provider' | 'upstreamModel'> & { upstreamModel?: string }

/**
 * Everything the gateway knows about one kind of provider, in its own folder; the registry lists them and
 * the configuration derives from them (kinds, built-in providers, catalog), so a new provider is a new folder
 * and one line in registry.ts.
 */
export interface ProviderDescriptor {
  kind: ProviderKind
  adapter: ProviderAdapter
  /**
   * The provider of this kind that exists with no config file: `always` (a hosted API, its key and base URL
   * from the environment) or only under `gateway demo`.
   */
  builtin?: { name: string; when: 'always' | 'demo'; baseUrl: string; baseUrlEnv?: string; apiKeyEnv?: string }
  /** Base URL of a configured provider of this kind that names none; without it, `base_url` is required. */
  defaultBaseUrl?: string
  /** In-process: no network, no key, nothing to preconnect. */
  local?: boolean
  /** Models served out of the box: by the `always` built-in provider, else by the first configured provider of the kind. */
  catalog: Readonly<Record<string, CatalogModel>>
  messages?: NativeMessages
}
