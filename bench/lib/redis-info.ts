/** What the benches read from a Redis server's own `INFO`: its pid (for its CPU time) and its per-command counts. */

type InfoClient = { info(section: string): Promise<string> }

/** The pid of the Redis server behind a client, as the server itself reports it (its CPU is read with cpuTimeMs). */
export async function redisServerPid(client: InfoClient): Promise<number> {
  const m = /process_id:(\d+)/.exec(await client.info('server'))
  if (!m) throw new Error('Redis INFO server gave no process_id')
  return Number(m[1])
}

/** `INFO commandstats` → calls and µs in all per command. */
export async function commandStats(client: InfoClient): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>()
  for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return out
}
