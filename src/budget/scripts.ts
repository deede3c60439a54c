/**
 * Budget Lua scripts and the key layout they run on. Every key of a tenant carries the hash tag `{t:<tenant>}`
 * so each script touches one Redis Cluster slot, and every key a script touches is passed in KEYS.
 *
 * Scripts are imported as text so `bun build --compile` embeds them in the executable, and sent as EVALSHA,
 * falling back to EVAL on NOSCRIPT (after a SCRIPT FLUSH, a Redis restart or a failover to a replica that never
 * saw SCRIPT LOAD).
 *
 * Time: scripts take `now` from the caller (ARGV) instead of calling TIME, so a script is a deterministic
 * function of its arguments (safe for replication/AOF of the script itself) and tests can drive the clock.
 * Gateways must therefore have roughly synchronized clocks; skew only shifts when an abandoned
 * reservation is reclaimed, never the amounts.
 *
 * Redis Lua has no include: code shared by several scripts lives in scripts/prelude.lua, prepended to every body.
 */
import type { Cluster, Redis } from 'ioredis'
import type { UsageRecord } from './types.ts'
import preludeLua from './scripts/prelude.lua' with { type: 'text' }
import reserveLua from './scripts/reserve.lua' with { type: 'text' }
import settleLua from './scripts/settle.lua' with { type: 'text' }
import releaseLua from './scripts/release.lua' with { type: 'text' }
import recoverLua from './scripts/recover.lua' with { type: 'text' }
import shipReadLua from './scripts/ship-read.lua' with { type: 'text' }
import ackLua from './scripts/ack.lua' with { type: 'text' }
import releaseLeaseLua from './scripts/release-lease.lua' with { type: 'text' }
import trimLua from './scripts/trim.lua' with { type: 'text' }

export type RedisClient = Redis | Cluster

/** Shared Lua functions (dropReservation, shrinkReservation, addReservation, callerEpoch, holdsLease), prepended to every script body. */
export const PRELUDE = preludeLua

export const SCRIPTS = {
  gwReserve: { lua: PRELUDE + reserveLua, numberOfKeys: 5 },
  gwSettle: { lua: PRELUDE + settleLua, numberOfKeys: 7 },
  gwRelease: { lua: PRELUDE + releaseLua, numberOfKeys: 5 },
  gwRecover: { lua: PRELUDE + recoverLua, numberOfKeys: 8 },
  gwShipRead: { lua: PRELUDE + shipReadLua, numberOfKeys: 2 },
  gwAck: { lua: PRELUDE + ackLua, numberOfKeys: 2 },
  gwReleaseLease: { lua: PRELUDE + releaseLeaseLua, numberOfKeys: 1 },
  gwTrim: { lua: PRELUDE + trimLua, numberOfKeys: 3 },
} as const

/**
 * The per-tenant shipping lease (`shipLease` key): a shipper holds it for one tenant batch from read through insert
 * to ack, a counter rebuild while it reads the stream, queries the store and runs recover.lua (see there).
 * Its TTL bounds how long a crashed holder blocks the tenant's shipping and rebuilds; a holder that outlives it is
 * fenced (ack.lua and recover.lua check the token) and its work is redone, harmlessly.
 */
export const SHIP_LEASE_MS = 4_000
/** How long a rebuild waits for the shipping lease before failing (the reserve then fails budget_unavailable). */
export const LEASE_WAIT_MS = 5_000

/** Random lease token: who holds the lease. */
export const leaseToken = (): string => crypto.randomUUID()

/** Set of tenant ids whose ledger stream may hold records; read by the usage shipper. No hash tag: not in a script. */
export const LEDGER_TENANTS_KEY = 'gw:ledger:tenants'

export function tenantKeys(tenantId: string) {
  const p = `gw:{t:${tenantId}}:`
  return {
    spent: (periodKey: string) => `${p}spent:${periodKey}`,
    reserved: (periodKey: string) => `${p}reserved:${periodKey}`,
    resv: `${p}resv`,
    resvAmt: `${p}resv:amt`,
    done: `${p}done`,
    ledger: `${p}ledger`,
    shipLease: `${p}shiplease`,
    /** Which Redis "life" the tenant's keys belong to: created by recover.lua, gone when Redis lost them. */
    epoch: `${p}epoch`,
  }
}

type Arg = string | number
type Keys<N extends number, T extends string[] = []> = T['length'] extends N ? T : Keys<N, [...T, string]>

/** Typed access to the registered commands; one per client. */
export interface BudgetScripts {
  /**
   * [1, spent, reserved, epoch, granted]: admitted (granted: the amount held, less than asked only for a slice; absent
   * when the id had reserved already) | [0, spent, reserved, epoch]: rejected | [-1]: counter or epoch missing or not
   * the caller's: recover.
   */
  reserve(keys: Keys<5>, args: Arg[]): Promise<[1, number, number, string, number?] | [0, number, number, string] | [-1]>
  /**
   * [1, epoch, sliceHeld]: settled (sliceHeld 0: the slice it named has no reservation any more) | [0, epoch]: already
   * settled/released | [-1]: the caller's epoch is gone: recover.
   */
  settle(keys: Keys<7>, args: Arg[]): Promise<[1, string, 0 | 1] | [0, string] | [-1]>
  /** [1|0, epoch]: released, or already settled/released | [-1]: the caller's epoch is gone: recover. */
  release(keys: Keys<5>, args: Arg[]): Promise<[1 | 0, string] | [-1]>
  /** [spent, epoch] | [-1]: mode 'keep' and the counter is missing. */
  recover(keys: Keys<8>, args: Arg[]): Promise<[number, string] | [-1]>
  /**
   * [0] lease busy | [1, entries] (entries may be empty; the lease is then already released). Each entry: its id
   * and its flat field/value list as one JSON array (parseFieldList).
   */
  shipRead(keys: [string, string], args: Arg[]): Promise<[0] | [1, [id: string, fieldsJson: string][]]>
  /** Entries acked, or -1 if the lease was lost (nothing acked). */
  ack(keys: [string, string], args: Arg[]): Promise<number>
  releaseLease(keys: [string], args: Arg[]): Promise<number>
  /** [1, epoch]: a slice's reservation shrunk (or already gone) | [-1]: the caller's epoch is gone: recover. */
  trim(keys: Keys<3>, args: Arg[]): Promise<[1, string] | [-1]>
}

/** Each script's SHA-1, which EVALSHA names it by. */
const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, s]) => [name, new Bun.CryptoHasher('sha1').update(s.lua).digest('hex')])) as
  Record<keyof typeof SCRIPTS, string>

export function registerScripts(client: RedisClient): BudgetScripts {
  // Plain EVALSHA, and EVAL of the same script if Redis answers NOSCRIPT (the script did not run, so sending it again
  // cannot apply it twice). Not ioredis defineCommand: every auto-pipelined batch then builds a Pipeline that copies
  // each defined script onto itself, and at low load every command is its own batch (4% of the main thread at c=1).
  const cmd = (name: keyof typeof SCRIPTS) => {
    const { lua, numberOfKeys } = SCRIPTS[name]
    const sha = SHAS[name]
    return (keys: string[], args: Arg[]): Promise<unknown> => client.evalsha(sha, numberOfKeys, ...keys, ...args).catch((e: unknown) => {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e
      return client.eval(lua, numberOfKeys, ...keys, ...args)
    })
  }
  return {
    reserve: cmd('gwReserve') as BudgetScripts['reserve'],
    settle: cmd('gwSettle') as BudgetScripts['settle'],
    release: cmd('gwRelease') as BudgetScripts['release'],
    recover: cmd('gwRecover') as BudgetScripts['recover'],
    shipRead: cmd('gwShipRead') as BudgetScripts['shipRead'],
    ack: cmd('gwAck') as BudgetScripts['ack'],
    releaseLease: cmd('gwReleaseLease') as BudgetScripts['releaseLease'],
    trim: cmd('gwTrim') as BudgetScripts['trim'],
  }
}

/**
 * SCRIPT LOAD on every master at boot, so the first request pays no EVAL and a syntax error fails boot
 * instead of a request. Optional: EVALSHA falls back on NOSCRIPT anyway.
 */
export async function preloadScripts(client: RedisClient): Promise<void> {
  const nodes: Redis[] = 'nodes' in client && typeof client.nodes === 'function' && (client as Cluster).isCluster
    ? (client as Cluster).nodes('master')
    : [client as Redis]
  await Promise.all(nodes.flatMap(n => Object.values(SCRIPTS).map(s => n.script('LOAD', s.lua))))
}

/** Fields of a usage record in a stream entry, one per column (the layout every gateway writes). */
const RECORD_FIELDS = ['requestId', 'tenantId', 'keyId', 'model', 'provider', 'promptTokens', 'completionTokens',
  'costUsdMicros', 'status', 'startedAt', 'durationMs'] as const satisfies readonly (keyof UsageRecord)[]
const NUMERIC = new Set<string>(['promptTokens', 'completionTokens', 'costUsdMicros', 'startedAt', 'durationMs'])

/** Optional fields: written only when set, read when present (entries written by older gateways lack them). */
const OPTIONAL_FIELDS = ['clientRequestId'] as const satisfies readonly (keyof UsageRecord)[]

/**
 * A usage record's fields in its stream entry (after the leading `period`, `cost` written by settle.lua), one per
 * column: the layout every gateway version writes and reads. They cross the wire as one JSON array each way
 * (settle.lua expands it, ship-read.lua packs it), which costs ioredis one argument and one reply string per record
 * instead of two dozen. The stored layout stays the same, so gateways of every version read each other's entries.
 */
export function recordToFields(r: UsageRecord): string[] {
  const out: string[] = []
  // Well-formed: a lone UTF-16 surrogate (a config name could hold one) becomes U+FFFD, as it did when each field
  // was its own argument; JSON.stringify would escape it as \ud800, which Redis's cjson refuses.
  for (const f of RECORD_FIELDS) out.push(f, String(r[f]).toWellFormed())
  for (const f of OPTIONAL_FIELDS) if (r[f] != null) out.push(f, String(r[f]).toWellFormed())
  return out
}

/** A stream entry's field/value list as ship-read.lua sends it (one JSON array); null if it is not one. */
export function parseFieldList(json: string): string[] | null {
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    return null
  }
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null
}

/** Parses a stream entry's flat field list; null if it is not a usage record (never throw on foreign data). */
export function fieldsToRecord(fields: string[]): { periodKey: string; record: UsageRecord } | null {
  const m: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]] = fields[i + 1]
  if (m.period === undefined) return null
  const rec: Record<string, string | number> = {}
  for (const f of RECORD_FIELDS) {
    const v = m[f]
    if (v === undefined) return null
    const value = NUMERIC.has(f) ? Number(v) : v
    if (typeof value === 'number' && !Number.isFinite(value)) return null
    rec[f] = value
  }
  for (const f of OPTIONAL_FIELDS) if (m[f] !== undefined) rec[f] = m[f]
  return { periodKey: m.period, record: rec as unknown as UsageRecord }
}
