/**
 * Settings Bun reads only when the process starts (setting them later has no effect), which a server wants
 * different from Bun's defaults. main.ts re-executes a server once, same pid, with the missing ones added; a
 * value the caller set is kept, so each stays the operator's to choose.
 */
export const SERVER_STARTUP_ENV: Readonly<Record<string, string>> = {
  // Bun caps concurrent outgoing fetches at 256. A gateway must not queue upstream calls below its inbound
  // concurrency (measured: 1,000 streams had 5.6 s added time-to-first-token).
  BUN_CONFIG_MAX_HTTP_REQUESTS: '65535',
  // Bun's allocator (mimalloc) hands the free holes inside its pages back to the kernel from a background
  // thread, and the request path then faults them in again: 0.77 minor faults per request at c=1 against
  // 0.18–0.40 without, 0.80–0.92× CPU per request, 1.4% of requests over 1 ms instead of 2.2%
  // (bench/RESULTS.md). Whole free pages are still returned (mimalloc's purge_delay), so memory still goes
  // back after a burst, ~25 MiB less of it.
  MIMALLOC_PURGE_HOLES: '0',
}

/** The environment to re-execute a server with, or null when every startup setting is already there. */
export function serverStartupEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> | null {
  const missing = Object.keys(SERVER_STARTUP_ENV).filter((k) => !env[k])
  if (missing.length === 0) return null
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  for (const k of missing) out[k] = SERVER_STARTUP_ENV[k]!
  return out
}
