/** `gateway key create|list|revoke|rotate`. A secret is printed once, at creation; only its sha256 is stored. */
import * as admin from '../admin/service.ts'
import { expiryOf, graceOf } from '../admin/input.ts'
import { createdKeyView, keyView, rotatedKeyView } from '../admin/views.ts'
import { keyStatus, type ApiKeyRecord } from '../tenants/types.ts'
import { UsageError, type AdminCommand, type CommandContext } from './command.ts'
import { renderTable, when } from './text.ts'
import { formatDuration } from './time-args.ts'

export function keyTable(keys: readonly ApiKeyRecord[], now: number): string[] {
  return renderTable(['ID', 'PREFIX', 'NAME', 'CREATED', 'EXPIRES', 'REVOKED', 'STATUS'],
    keys.map((k) => [k.id, `${k.prefix}…`, k.name ?? '-', when(k.createdAt), when(k.expiresAt), when(k.revokedAt), keyStatus(k, now)]))
}

/** --expires-in DURATION | --expires-at DATE → epoch ms, or null for a key that never expires. */
function expiryFrom(flags: CommandContext['flags'], now: number): number | null {
  const errors: string[] = []
  const at = expiryOf({ in: flags['expires-in'], at: flags['expires-at'] }, now, { in: '--expires-in', at: '--expires-at' }, errors)
  if (errors.length) throw new UsageError(errors.join('\n'))
  return at
}

function printSecret(c: CommandContext, key: ApiKeyRecord, secret: string): void {
  c.io.out(`key id: ${key.id}`)
  c.io.out(`api key (shown once, store it now): ${secret}`)
  if (key.expiresAt !== null) c.io.out(`expires: ${when(key.expiresAt)}`)
}

const EXPIRY_FLAGS = ['expires-in', 'expires-at']

export const KEY_COMMANDS: Record<string, AdminCommand> = {
  create: {
    args: ['TENANT'],
    flags: ['name', 'json', ...EXPIRY_FLAGS],
    async run(c) {
      const expiresAt = expiryFrom(c.flags, c.now)
      const { key, secret } = await admin.createKey(c.store, c.args[0]!, { name: c.flags.name ?? null, expiresAt, now: c.now })
      if (c.flags.json) return c.json(createdKeyView(key, secret, c.now))
      printSecret(c, key, secret)
    },
  },

  list: {
    args: ['TENANT'],
    flags: ['json'],
    async run({ store, io, args, now, flags, json }) {
      const keys = await admin.listKeys(store, args[0]!)
      if (flags.json) return json(keys.map((k) => keyView(k, now)))
      for (const line of keyTable(keys, now)) io.out(line)
    },
  },

  revoke: {
    args: ['KEY_ID'],
    flags: [],
    async run({ store, io, args }) {
      const k = await admin.revokeKey(store, args[0]!)
      io.out(`revoked key ${k.id} of tenant ${k.tenantId}`)
    },
  },

  rotate: {
    args: ['KEY_ID'],
    flags: ['grace', 'name', 'json', ...EXPIRY_FLAGS],
    async run(c) {
      const errors: string[] = []
      const graceMs = graceOf(c.flags.grace, admin.DEFAULT_ROTATION_GRACE_MS, '--grace', errors)
      if (errors.length) throw new UsageError(errors.join('\n'))
      const expiresAt = expiryFrom(c.flags, c.now)
      const r = await admin.rotateKey(c.store, c.args[0]!, { graceMs, now: c.now, name: c.flags.name, expiresAt })
      if (c.flags.json) return c.json(rotatedKeyView(r, c.now))
      printSecret(c, r.created, r.secret)
      const shortened = r.old.expiresAt !== null && r.old.expiresAt < c.now + graceMs
      c.io.out(`old key ${r.old.id} stops working at ${when(r.old.expiresAt)}` +
        (shortened ? ' (its own, earlier expiry)' : ` (grace ${formatDuration(graceMs)})`))
    },
  },
}
