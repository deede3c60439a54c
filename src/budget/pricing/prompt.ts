/**
 * Cheap prompt token bound used to size `strict` reservations before the upstream call (a real tokenizer
 * would cost more than the request budget allows).
 *
 * Why one token per UTF-8 byte: byte-level BPE tokenizers (cl100k/o200k, Claude's) never produce a token
 * shorter than one byte, so the byte count is a hard upper bound, including for adversarial inputs (runs of
 * rare symbols) where bytes/3 or bytes/4 heuristics undercount. Strict reservations promise no overrun
 * ever, so they need a bound, not an average; output tokens dominate most reservations anyway. We count the
 * JSON of each message's fields (quotes/keys add margin, same side); images count by their model family's
 * formula (images.ts), never by the bytes of a data: URL.
 */
import type { ImagePricing } from '../../config/types.ts'
import { base64ImageSize, dataUrlImageSize, type ImageSize } from './image-size.ts'
import { type ImageDetail, imageTokens } from './images.ts'

/** Per-message framing (role, separators) and reply priming, as in OpenAI's token counting guide. */
const PER_MESSAGE_TOKENS = 4
const PRIMING_TOKENS = 3
/**
 * An image on a model with no image formula: an estimate only (settlement without usage under `fixed`);
 * a strict budget refuses such images instead of trusting it.
 */
export const UNPRICED_IMAGE_TOKENS = 3_000

const IMAGE_PART_TYPES = new Set(['image_url', 'image', 'input_image'])

/** Content part types whose tokens cannot be bounded from the request (a stored or fetched file, a PDF's pages). */
const UNBOUNDED_PART_TYPES = new Set(['file', 'input_file', 'document'])

/** Request fields that only configure the call; every other field (known or not) is counted as prompt. */
const UNBILLED_FIELDS = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n',
  'seed', 'user', 'store', 'logprobs', 'top_logprobs', 'presence_penalty', 'frequency_penalty', 'logit_bias',
  'parallel_tool_calls', 'service_tier', 'reasoning_effort',
])

const TOOL_PROMPT_ALLOWANCE_TOKENS = 1_000

export interface PromptBound {
  /** The whole prompt bound, images included. */
  tokens: number
  /** Image parts in the messages. */
  images: number
  /** File/document parts, which no byte count bounds (a strict budget must refuse them rather than guess). */
  unboundedParts: number
}

/** The prompt bound of the messages alone (`images`: the model's image formula, if any). */
export function estimatePromptTokens(messages: readonly unknown[], images?: ImagePricing): number {
  let tokens = PRIMING_TOKENS
  for (const m of messages) {
    tokens += PER_MESSAGE_TOKENS
    if (m === null || typeof m !== 'object') { tokens += bytesToTokens(String(m)); continue }
    // for…in over own keys is Object.entries' keys in its order, without an array of pairs per object (~15× less).
    for (const k in m) {
      if (!Object.hasOwn(m, k)) continue
      const v = (m as Record<string, unknown>)[k]
      if (k === 'content' && Array.isArray(v)) tokens += contentPartsTokens(v, images)
      else if (typeof v === 'string') tokens += bytesToTokens(v)
      else if (v !== null && v !== undefined) tokens += bytesToTokens(JSON.stringify(v) ?? '')
    }
  }
  return tokens
}

/**
 * The prompt bound over the whole request: messages as in estimatePromptTokens, plus every other field that
 * could reach the model (tools, functions, response_format, prediction, unknown pass-through fields) by its
 * JSON bytes.
 */
export function estimateRequestTokens(req: Record<string, unknown>, images?: ImagePricing): PromptBound {
  const messages = Array.isArray(req.messages) ? req.messages : []
  let tokens = estimatePromptTokens(messages, images)
  for (const k in req) {
    if (!Object.hasOwn(req, k)) continue
    const v = req[k]
    if (UNBILLED_FIELDS.has(k) || v === null || v === undefined) continue
    tokens += bytesToTokens(typeof v === 'string' ? v : JSON.stringify(v) ?? '')
  }
  // Providers add a hidden system prompt when tools are offered (Anthropic documents ~300-500 tokens).
  if (req.tools || req.functions) tokens += TOOL_PROMPT_ALLOWANCE_TOKENS
  let imageParts = 0
  let unboundedParts = 0
  for (const m of messages) {
    const content = m && typeof m === 'object' ? (m as { content?: unknown }).content : undefined
    if (!Array.isArray(content)) continue
    for (const p of content) {
      const type = partType(p)
      if (IMAGE_PART_TYPES.has(type)) imageParts++
      else if (UNBOUNDED_PART_TYPES.has(type)) unboundedParts++
    }
  }
  return { tokens, images: imageParts, unboundedParts }
}

function contentPartsTokens(parts: unknown[], images: ImagePricing | undefined): number {
  let t = 0
  for (const p of parts) {
    const type = partType(p)
    if (IMAGE_PART_TYPES.has(type)) t += images ? imagePartTokens(p as Record<string, unknown>, images) : UNPRICED_IMAGE_TOKENS
    else if (type === 'text' && typeof (p as { text?: unknown }).text === 'string') t += bytesToTokens((p as { text: string }).text) + 1
    else t += bytesToTokens(JSON.stringify(p) ?? '')
  }
  return t
}

/** The bound of one image part: its formula at the size read from a base64 header, else the worst case. */
export function imagePartTokens(part: Record<string, unknown>, f: ImagePricing): number {
  const { size, detail } = describeImage(part)
  return imageTokens(f, size, detail)
}

/**
 * Pixel size (when a base64 header says it) and detail of an image part in any of the shapes clients send:
 * OpenAI chat `{type:"image_url", image_url:{url, detail}}` (or a bare URL string), Responses-style
 * `{type:"input_image", image_url, detail}`, Anthropic-style `{type:"image", source:{type:"base64", data}}`.
 * Any detail but "low" is "high": "auto" lets the provider choose high.
 */
export function describeImage(part: Record<string, unknown>): { size: ImageSize | null; detail: ImageDetail } {
  const ref = part.image_url
  const obj = ref && typeof ref === 'object' ? (ref as Record<string, unknown>) : null
  const url = typeof ref === 'string' ? ref : typeof obj?.url === 'string' ? obj.url : null
  const detail: ImageDetail = (obj?.detail ?? part.detail) === 'low' ? 'low' : 'high'
  if (url !== null) return { size: dataUrlImageSize(url), detail }
  const source = part.source && typeof part.source === 'object' ? (part.source as Record<string, unknown>) : null
  if (source?.type === 'base64' && typeof source.data === 'string') return { size: base64ImageSize(source.data), detail }
  return { size: null, detail }
}

function partType(p: unknown): string {
  const type = p && typeof p === 'object' ? (p as { type?: unknown }).type : undefined
  return typeof type === 'string' ? type : ''
}

function bytesToTokens(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}
