/** mulberry32: a tiny deterministic PRNG, so a failing randomized test can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [0, n) from `prng(seed)`. */
export function randomInt(seed: number): (n: number) => number {
  const next = prng(seed)
  return (n) => Math.floor(next() * n)
}
