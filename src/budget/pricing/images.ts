/**
 * Input tokens a provider bills for one image, per model family, as an upper bound: with the pixel size
 * known (from a data: URL header), the published formula; unknown, the family's worst case. Exact
 * rational arithmetic (BigInt) for the scaling steps, so no float rounding ever lands a tile short.
 *
 * - `tiles` (OpenAI gpt-4o, gpt-4o-mini, gpt-4.1, o-series; https://platform.openai.com/docs/guides/images-vision#calculating-costs):
 *   detail "low" = base tokens; "high"/"auto" = fit in 2048×2048, scale the shortest side to 768, count
 *   512-px tiles: base + tiles × tile tokens. At most 4 × 2 = 8 tiles (2048 × 768).
 * - `patches` (gpt-4.1-mini, gpt-4.1-nano, o4-mini; same page): 32-px patches covering the image, scaled
 *   down to at most 1,536, times the model's multiplier (1.62, 2.46, 1.72).
 * - `area` (Claude; https://docs.anthropic.com/en/docs/build-with-claude/vision#calculate-image-costs):
 *   width × height / 750, after a resize to a ~1,600-token box (long edge ≤ 1568 px); capped at maxTokens.
 */
import type { ImagePricing } from '../../config/types.ts'
import { ceilTimes } from '../money.ts'
import type { ImageSize } from './image-size.ts'

export type ImageDetail = 'low' | 'high'

/** Tiles at most: a tile image is at most 2048 px long and 768 px short after OpenAI's resizing. */
export const MAX_TILES = 8
/** OpenAI's patch cap per image. */
export const MAX_PATCHES = 1536

/** Upper bound on the tokens billed for one image of `size` (null: unknown) at `detail`. */
export function imageTokens(f: ImagePricing, size: ImageSize | null, detail: ImageDetail): number {
  switch (f.kind) {
    case 'tiles':
      if (detail === 'low') return f.baseTokens
      return f.baseTokens + f.tileTokens * (size ? tileCount(size.width, size.height) : MAX_TILES)
    case 'patches':
      // `detail` does not raise a patch-priced image above its patch count, so it is ignored (bound side).
      return ceilTimes(size ? patchCount(size.width, size.height) : MAX_PATCHES, f.multiplier)
    case 'area': {
      if (!size) return f.maxTokens
      const t = Number((BigInt(size.width) * BigInt(size.height) + BigInt(f.pixelsPerToken) - 1n) / BigInt(f.pixelsPerToken))
      return Math.min(t, f.maxTokens)
    }
  }
}

/** The most any single image can cost on this family (what an image of unknown size is reserved at). */
export function worstImageTokens(f: ImagePricing, detail: ImageDetail): number {
  return imageTokens(f, null, detail)
}

/**
 * 512-px tiles after OpenAI's high-detail resizing. The docs say the image is "scaled such that the
 * shortest side is 768px" without saying it is never enlarged, so a small image is assumed enlarged too
 * (a bound, not a guess: enlarging can only add tiles), then kept inside the 2048-px square.
 */
export function tileCount(width: number, height: number): number {
  if (!(width > 0 && height > 0)) return MAX_TILES
  const w = BigInt(width)
  const h = BigInt(height)
  const long = w > h ? w : h
  const short = w > h ? h : w
  // Once the short side is scaled to 768 (up or down) only the aspect ratio matters, so the first fit into
  // 2048 × 2048 changes nothing; if the long side would then pass 2048, it is 2048 and the short side less.
  // Sides as exact fractions n / d.
  const [shortN, shortD, longN, longD] = long * 768n > 2048n * short
    ? [short * 2048n, long, 2048n, 1n]
    : [768n, 1n, long * 768n, short]
  return Number(ceilDivBig(shortN, shortD * 512n) * ceilDivBig(longN, longD * 512n))
}

function ceilDivBig(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b
}

/**
 * 32-px patches covering the image; above the cap OpenAI scales the image down until at most 1,536 patches
 * cover it, so the cap itself bounds every larger image.
 */
export function patchCount(width: number, height: number): number {
  const n = Math.ceil(width / 32) * Math.ceil(height / 32)
  return Math.min(n, MAX_PATCHES)
}
