/**
 * Header sizes of real encoder output (test/fixtures/images, written by Pillow; the file name is the size the
 * encoder was asked for), and of shapes where guessing would be wrong: those must answer null (worst case).
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { base64ImageSize, dataUrlImageSize } from '../../../src/budget/pricing/image-size.ts'

const dir = join(import.meta.dir, '../../fixtures/images')
const b64 = (file: string) => readFileSync(join(dir, file)).toString('base64')
const dataUrl = (file: string, type = 'image/png') => `data:${type};base64,${b64(file)}`

describe('real files', () => {
  test.each([
    ['2048x768.png', 2048, 768],
    ['500x1500.jpg', 500, 1500], // baseline SOF0
    ['640x480-progressive-exif.jpg', 640, 480], // SOF2 after an APP1 EXIF segment
    ['640x480-with-160x120-thumbnail.jpg', 640, 480], // the thumbnail's own SOF sits inside APP1 and is skipped
    ['300x200.gif', 300, 200],
    ['1800x2400-lossy.webp', 1800, 2400], // VP8
    ['123x45-lossless.webp', 123, 45], // VP8L
    ['77x99-alpha.webp', 77, 99], // VP8X canvas
  ])('%s → %p × %p', (file, width, height) => {
    // The media type is never trusted: every file is sent as "image/png".
    expect(dataUrlImageSize(dataUrl(file))).toEqual({ width, height })
    expect(base64ImageSize(b64(file))).toEqual({ width, height })
  })
})

describe('known 1×1 images from vendor docs and feature tests', () => {
  test.each([
    ['PNG (Anthropic vision docs)', 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC'],
    ['GIF', 'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=='],
    ['WebP lossy', 'UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA'],
    ['WebP lossless', 'UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=='],
  ])('%s', (_name, data) => {
    expect(base64ImageSize(data)).toEqual({ width: 1, height: 1 })
  })
})

test('a GIF frame larger than its logical screen: the union of both', () => {
  const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64')
  expect(gif[27]).toBe(0x2c) // image descriptor, after the graphic control extension
  gif.writeUInt16LE(5, 32) // frame width 5 on a 1×1 screen
  expect(base64ImageSize(gif.toString('base64'))).toEqual({ width: 5, height: 1 })
})

describe('doubt answers null (the caller then reserves the worst case)', () => {
  const png = b64('2048x768.png')
  test.each([
    ['an http URL', 'https://example.com/cat.png'],
    ['a data URL that is not base64', 'data:image/png,%89PNG'],
    ['no comma', 'data:image/png;base64'],
    ['an unknown format (BMP)', `data:image/bmp;base64,${Buffer.from('BM\x00\x00\x00\x00').toString('base64')}`],
    ['a PNG cut before its size', `data:image/png;base64,${png.slice(0, 24)}`],
    ['whitespace inside the base64 header', `data:image/png;base64,${png.slice(0, 20)}\n${png.slice(20)}`],
    ['an animated GIF (which frame a provider reads is not ours to guess)', dataUrl('50x40-two-frames.gif')],
    ['a JPEG whose frame height comes later (DNL)', `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 0, 0, 16, 1, 1, 0x11, 0]).toString('base64')}`],
    ['a JPEG with scan data before any frame header', `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]).toString('base64')}`],
    ['a zero-width PNG', `data:image/png;base64,${zeroWidthPng()}`],
  ])('%s', (_name, url) => {
    expect(dataUrlImageSize(url)).toBeNull()
  })

  test('bounded work on a 4 MB image: only the header bytes are decoded', () => {
    const big = `data:image/png;base64,${png}${'A'.repeat(4 * 1024 * 1024)}`
    expect(dataUrlImageSize(big)).toEqual({ width: 2048, height: 768 })
  })

  test('a JPEG made only of empty segments gives up instead of looping', () => {
    const segs = Buffer.concat([Buffer.from([0xff, 0xd8]), ...Array.from({ length: 200_000 }, () => Buffer.from([0xff, 0xfe, 0, 2]))])
    expect(base64ImageSize(segs.toString('base64'))).toBeNull()
  })
})

function zeroWidthPng(): string {
  const bytes = Buffer.from(readFileSync(join(dir, '2048x768.png')))
  bytes.writeUInt32BE(0, 16)
  return bytes.toString('base64')
}
