/**
 * Pixel size of a base64 image from its header (PNG, JPEG, GIF, WebP), read straight from the base64 text:
 * only the few bytes a header walk needs are decoded, so the cost is bounded whatever the image size.
 * Any doubt (unknown format, odd base64, a header we would have to guess about) answers null, and the
 * caller then takes the model family's worst case: a wrong size must never make a bound too small.
 * The format is sniffed from the bytes, never taken from the media type a client wrote.
 */
export interface ImageSize { width: number; height: number }

/** Segments/blocks walked at most before giving up (a real header is reached in a handful). */
const MAX_STEPS = 100_000

const B64 = new Int16Array(128).fill(-1)
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) B64[c.charCodeAt(0)] = i
B64['-'.charCodeAt(0)] = 62 // base64url
B64['_'.charCodeAt(0)] = 63

/** Random access to the bytes of a base64 text without decoding all of it. */
class Base64Bytes {
  readonly length: number
  constructor(private readonly s: string, private readonly start: number) {
    let end = s.length
    while (end > start && s.charCodeAt(end - 1) === 61 /* = */) end--
    this.length = Math.floor(((end - start) * 6) / 8)
  }

  /** The byte at i, or -1 past the end or on a character that is not base64. */
  at(i: number): number {
    if (i < 0 || i >= this.length) return -1
    const q = this.start + Math.floor(i / 3) * 4
    const pos = i % 3
    const c0 = this.sextet(q + pos)
    const c1 = this.sextet(q + pos + 1)
    if (c0 < 0 || c1 < 0) return -1
    if (pos === 0) return (c0 << 2) | (c1 >> 4)
    if (pos === 1) return ((c0 & 15) << 4) | (c1 >> 2)
    return ((c0 & 3) << 6) | c1
  }

  private sextet(j: number): number {
    const c = this.s.charCodeAt(j)
    return c < 128 ? B64[c] : -1
  }

  u16be(i: number): number { return this.pair(this.at(i), this.at(i + 1)) }
  u16le(i: number): number { return this.pair(this.at(i + 1), this.at(i)) }
  u32be(i: number): number {
    const hi = this.u16be(i)
    const lo = this.u16be(i + 2)
    return hi < 0 || lo < 0 ? -1 : hi * 65536 + lo
  }

  u24le(i: number): number {
    const lo = this.u16le(i)
    const hi = this.at(i + 2)
    return lo < 0 || hi < 0 ? -1 : hi * 65536 + lo
  }

  ascii(i: number, n: number): string {
    let out = ''
    for (let k = 0; k < n; k++) {
      const b = this.at(i + k)
      if (b < 0) return ''
      out += String.fromCharCode(b)
    }
    return out
  }

  private pair(hi: number, lo: number): number { return hi < 0 || lo < 0 ? -1 : hi * 256 + lo }
}

/** Size of the image in a `data:<type>;base64,<data>` URL; null for anything else or any doubt. */
export function dataUrlImageSize(url: string): ImageSize | null {
  if (!url.startsWith('data:')) return null
  const comma = url.indexOf(',')
  if (comma < 0 || !url.slice(0, comma).endsWith(';base64')) return null
  return base64ImageSize(url, comma + 1)
}

/** Size of the image whose base64 text starts at `start` in `s` (a data URL's payload, or a bare base64 string). */
export function base64ImageSize(s: string, start = 0): ImageSize | null {
  const b = new Base64Bytes(s, start)
  const size = png(b) ?? gif(b) ?? jpeg(b) ?? webp(b)
  if (!size || size === 'unknown') return null
  return size.width > 0 && size.height > 0 ? size : null
}

type Parsed = ImageSize | 'unknown' | null // null: not this format

/** https://www.w3.org/TR/png/#5PNG-file-signature: the IHDR chunk comes first; width, height are u32 BE. */
function png(b: Base64Bytes): Parsed {
  if (b.ascii(1, 3) !== 'PNG' || b.at(0) !== 0x89) return null
  if (b.ascii(12, 4) !== 'IHDR') return 'unknown'
  const width = b.u32be(16)
  const height = b.u32be(20)
  return width < 0 || height < 0 ? 'unknown' : { width, height }
}

/**
 * https://www.w3.org/Graphics/GIF/spec-gif89a.txt: the logical screen, then blocks up to the first image
 * descriptor. A frame may lie outside the logical screen, so the size is the union of both; an animated GIF
 * (a second frame) answers 'unknown' rather than guess which frame a provider reads.
 */
function gif(b: Base64Bytes): Parsed {
  const sig = b.ascii(0, 6)
  if (sig !== 'GIF87a' && sig !== 'GIF89a') return null
  let width = b.u16le(6)
  let height = b.u16le(8)
  const flags = b.at(10)
  if (width < 0 || height < 0 || flags < 0) return 'unknown'
  let p = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0)
  let frames = 0
  for (let step = 0; step < MAX_STEPS; step++) {
    const tag = b.at(p)
    if (tag === 0x3b) return frames === 1 ? { width, height } : 'unknown' // trailer
    if (tag === 0x21) { // extension: label, then data sub-blocks
      p = skipSubBlocks(b, p + 2)
    } else if (tag === 0x2c) { // image descriptor
      if (++frames > 1) return 'unknown'
      const left = b.u16le(p + 1), top = b.u16le(p + 3), w = b.u16le(p + 5), h = b.u16le(p + 7), f = b.at(p + 9)
      if (left < 0 || top < 0 || w < 0 || h < 0 || f < 0) return 'unknown'
      width = Math.max(width, left + w)
      height = Math.max(height, top + h)
      p += 10 + (f & 0x80 ? 3 * 2 ** ((f & 7) + 1) : 0)
      p = skipSubBlocks(b, p + 1) // LZW minimum code size, then the image data
    } else {
      return 'unknown'
    }
    if (p < 0) return 'unknown'
  }
  return 'unknown'
}

function skipSubBlocks(b: Base64Bytes, p: number): number {
  for (let step = 0; step < MAX_STEPS; step++) {
    const n = b.at(p)
    if (n < 0) return -1
    p += 1 + n
    if (n === 0) return p
  }
  return -1
}

/** SOFn markers carry the frame size (ITU T.81 B.2.2); DHT (C4), JPG (C8) and DAC (CC) share the range. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])

/** ITU T.81 / JFIF: walk the marker segments by their lengths to the first SOF (an EXIF thumbnail is skipped whole). */
function jpeg(b: Base64Bytes): Parsed {
  if (b.at(0) !== 0xff || b.at(1) !== 0xd8) return null
  let p = 2
  for (let step = 0; step < MAX_STEPS; step++) {
    if (b.at(p) !== 0xff) return 'unknown'
    let marker = b.at(p + 1)
    while (marker === 0xff) marker = b.at(++p + 1) // fill bytes
    if (marker < 0 || marker === 0xd9 || marker === 0xda) return 'unknown' // EOI / scan data before any frame header
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { p += 2; continue } // no length
    const len = b.u16be(p + 2)
    if (len < 2) return 'unknown'
    if (SOF.has(marker)) {
      const height = b.u16be(p + 5)
      const width = b.u16be(p + 7)
      // Height 0 means "defined later by a DNL marker": no size to read here.
      return width > 0 && height > 0 ? { width, height } : 'unknown'
    }
    p += 2 + len
  }
  return 'unknown'
}

/** https://developers.google.com/speed/webp/docs/riff_container: the first chunk is VP8, VP8L or VP8X. */
function webp(b: Base64Bytes): Parsed {
  if (b.ascii(0, 4) !== 'RIFF' || b.ascii(8, 4) !== 'WEBP') return null
  const chunk = b.ascii(12, 4)
  if (chunk === 'VP8X') { // canvas size, 24-bit minus-one fields: the largest any frame may draw
    const w = b.u24le(24), h = b.u24le(27)
    return w < 0 || h < 0 ? 'unknown' : { width: w + 1, height: h + 1 }
  }
  if (chunk === 'VP8 ') { // RFC 6386 §9.1: 3-byte frame tag, start code 9d 01 2a, then 14-bit sizes
    if (b.at(23) !== 0x9d || b.at(24) !== 0x01 || b.at(25) !== 0x2a) return 'unknown'
    const w = b.u16le(26), h = b.u16le(28)
    return w < 0 || h < 0 ? 'unknown' : { width: w & 0x3fff, height: h & 0x3fff }
  }
  if (chunk === 'VP8L') { // lossless bitstream: signature 0x2f, then 14-bit width-1 and height-1
    if (b.at(20) !== 0x2f) return 'unknown'
    const b1 = b.at(21), b2 = b.at(22), b3 = b.at(23), b4 = b.at(24)
    if (b1 < 0 || b2 < 0 || b3 < 0 || b4 < 0) return 'unknown'
    return { width: 1 + (b1 | ((b2 & 0x3f) << 8)), height: 1 + ((b2 >> 6) | (b3 << 2) | ((b4 & 0x0f) << 10)) }
  }
  return 'unknown'
}
