/**
 * What a request can make the provider bill beyond plain tokens, read from the request alone: the service
 * tier it asks for, whether it can write the prompt cache (and with which TTL), and how many per-call
 * priced web searches it allows. Pure; deep structures are walked iteratively (no recursion to overflow).
 */
import type { ChatRequest } from '../../wire/openai.ts'

/** Tiers billed at the model's list price: the request's absence of a tier, and the names providers use for it. */
export const LIST_PRICE_TIERS = new Set(['auto', 'default', 'standard'])

export type CacheWrite = 'none' | '5m' | '1h'

/** Nodes visited at most when looking for cache_control marks; past this the request is assumed to set one with 1h. */
const MAX_SCAN_NODES = 1_000_000

/**
 * The most expensive cache write a request can trigger. Anthropic writes the cache only where the request
 * puts `cache_control` (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching): 5-minute
 * writes cost 1.25× input, `ttl: "1h"` writes 2×. OpenAI's automatic caching only ever discounts.
 */
export function cacheWriteOf(req: ChatRequest): CacheWrite {
  let found: CacheWrite = 'none'
  const stack: unknown[] = [req.messages, req.tools, req.system]
  let visited = 0
  while (stack.length > 0) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object') continue
    if (++visited > MAX_SCAN_NODES) return '1h'
    if (Array.isArray(v)) { for (const x of v) stack.push(x); continue }
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue
      const x = (v as Record<string, unknown>)[k]
      if (k === 'cache_control' && x !== null && x !== undefined) {
        if ((x as { ttl?: unknown }).ttl === '1h') return '1h'
        found = '5m'
      } else {
        stack.push(x)
      }
    }
  }
  return found
}

/** Anthropic server tools billed per use (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool). */
export const isWebSearchServerTool = (t: unknown): boolean =>
  !!t && typeof t === 'object' && typeof (t as { type?: unknown }).type === 'string' && (t as { type: string }).type.startsWith('web_search_')

export interface WebSearchCalls {
  /** The most searches the request allows (what it is reserved for, and settled at when none are reported). */
  calls: number
  /** A web search tool that sets no `max_uses`: its number of searches has no bound. */
  unbounded: boolean
  /** Which request field asks for searches (for error messages), if any. */
  param: string | null
}

/**
 * Web searches a request can make. OpenAI chat: a `*-search-preview` model searches once per request
 * (`web_search_options` configures it; https://platform.openai.com/docs/guides/tools-web-search?api-mode=chat),
 * so any `web_search_options` counts one call, as does `callsPerRequest` of a model that always searches.
 * Anthropic: each `web_search_*` server tool may search up to its `max_uses` times.
 */
export function webSearchCallsOf(req: ChatRequest, callsPerRequest: number | undefined): WebSearchCalls {
  let openai = callsPerRequest ?? 0
  let param: string | null = openai > 0 ? 'model' : null
  if (req.web_search_options !== undefined && req.web_search_options !== null) {
    openai = Math.max(openai, 1)
    param = 'web_search_options'
  }
  let server = 0
  let unbounded = false
  for (const t of Array.isArray(req.tools) ? (req.tools as unknown[]) : []) {
    if (!isWebSearchServerTool(t)) continue
    param = 'tools'
    const max = (t as { max_uses?: unknown }).max_uses
    if (typeof max === 'number' && Number.isSafeInteger(max) && max >= 0) server += max
    else unbounded = true
  }
  return { calls: openai + server, unbounded, param }
}

/**
 * Tools the provider defines and runs or prompts for itself (Anthropic's `type: "bash_20250124"` and the like),
 * other than web search (priced above). https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview
 * #pricing: each adds a hidden system prompt of its own (computer use 735 tokens + 466-499 for the tool-use
 * prompt, text editor 700, bash 245), so each gets PROVIDER_TOOL_PROMPT_TOKENS. Client-run tools cost tokens
 * only; server-run ones other than web search are billed outside token usage (code execution by container
 * time) or add input no field bounds (web fetch, MCP servers), so a strict budget refuses them.
 */
export const PROVIDER_TOOL_PROMPT_TOKENS = 1_500
const CLIENT_RUN_TOOL_PREFIXES = ['bash_', 'text_editor_', 'computer_', 'memory_']
const PLAIN_TOOL_TYPES = new Set(['function', 'custom'])

export interface ProviderTools {
  /** Hidden prompt tokens the provider-defined tools add. */
  promptTokens: number
  /** The first tool (or field) no strict bound covers, if any. */
  unbounded: string | null
}

export function providerToolsOf(req: ChatRequest): ProviderTools {
  let promptTokens = 0
  let unbounded: string | null = null
  for (const t of Array.isArray(req.tools) ? (req.tools as unknown[]) : []) {
    const type = t && typeof t === 'object' ? (t as { type?: unknown }).type : undefined
    if (typeof type !== 'string' || PLAIN_TOOL_TYPES.has(type) || isWebSearchServerTool(t)) continue
    promptTokens += PROVIDER_TOOL_PROMPT_TOKENS
    if (!CLIENT_RUN_TOOL_PREFIXES.some((p) => type.startsWith(p))) unbounded ??= type
  }
  if (req.mcp_servers !== undefined && req.mcp_servers !== null) unbounded ??= 'mcp_servers'
  return { promptTokens, unbounded }
}
