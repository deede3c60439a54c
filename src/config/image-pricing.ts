import type { ImagePricing } from './types.ts'

/**
 * Image formulas by family, selectable by name in the config (`image_pricing = "gpt-4o-mini"`); see
 * src/budget/pricing/images.ts. OpenAI: https://platform.openai.com/docs/guides/images-vision#calculating-costs.
 * Claude's 1,640 cap is the largest size its vision docs list as not resized (784 × 1568 px / 750).
 */
export const IMAGE_PRICING_PRESETS: Readonly<Record<string, ImagePricing>> = {
  'gpt-4o': { kind: 'tiles', baseTokens: 85, tileTokens: 170 }, // also gpt-4.1, gpt-4.5
  'gpt-4o-mini': { kind: 'tiles', baseTokens: 2833, tileTokens: 5667 },
  'o-series': { kind: 'tiles', baseTokens: 75, tileTokens: 150 }, // o1, o3
  'gpt-4.1-mini': { kind: 'patches', multiplier: 1.62 },
  'gpt-4.1-nano': { kind: 'patches', multiplier: 2.46 },
  'o4-mini': { kind: 'patches', multiplier: 1.72 },
  claude: { kind: 'area', pixelsPerToken: 750, maxTokens: 1640 },
}
