/**
 * `gateway migrate | tenant … | key … | usage …`: admin commands against the configured store. Each
 * subcommand declares its arguments and flags; the work is done by src/admin/service.ts (shared with the
 * admin HTTP API). Results go to stdout (`--json` on every read command); notes and warnings go to stderr
 * through `io.note`, so stdout stays parseable.
 */
import { AdminError, ID_SHAPE } from '../admin/service.ts'
import type { GatewayConfig } from '../config/index.ts'
import type { Store } from '../store/types.ts'
import { UsageError, type AdminCommand, type AdminIO, type CommandContext } from './command.ts'
import { KEY_COMMANDS } from './key-commands.ts'
import { TENANT_COMMANDS } from './tenant-commands.ts'
import { USAGE_COMMAND } from './usage-command.ts'

export { UsageError, type AdminIO } from './command.ts'

const COMMON_FLAGS = ['config', 'data-dir']

const MIGRATE: AdminCommand = {
  args: [],
  flags: [],
  async run({ store, io }) {
    const applied = await store.migrate()
    const versions = await store.appliedMigrations()
    const current = versions.at(-1) ?? 'none'
    if (applied.length) {
      io.out(`applied migrations: ${applied.join(', ')}`)
      io.out(`schema is now at version ${current}`)
    } else {
      io.out(`schema is up to date at version ${current}: no migrations pending`)
    }
  },
}

const COMMANDS: Record<string, Record<string, AdminCommand>> = {
  migrate: { '': MIGRATE },
  tenant: TENANT_COMMANDS,
  key: KEY_COMMANDS,
  usage: { '': USAGE_COMMAND },
}

function resolve(config: GatewayConfig): { cmd: AdminCommand; label: string; positionals: string[] } {
  const group = COMMANDS[config.command]
  if (!group) throw new UsageError(`not an admin command: ${config.command}`)
  if (group['']) return { cmd: group[''], label: config.command, positionals: config.positionals }
  const [sub, ...rest] = config.positionals
  const cmd = sub === undefined ? undefined : group[sub]
  if (!cmd) {
    const names = Object.keys(group)
    throw new UsageError(`unknown ${config.command} subcommand "${sub ?? ''}" (expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)})`)
  }
  return { cmd, label: `${config.command} ${sub}`, positionals: rest }
}

/** Checks arity, ID shapes and flags of the resolved command; every problem is reported at once. */
function checkInvocation(cmd: AdminCommand, label: string, positionals: string[], flags: Readonly<Record<string, string>>): void {
  const errors: string[] = []
  cmd.args.forEach((name, i) => {
    const optional = name.endsWith('?')
    const what = optional ? name.slice(0, -1) : name
    const v = positionals[i]
    if (v === undefined) {
      if (!optional) errors.push(`missing ${what}`)
    } else if (!ID_SHAPE.test(v)) {
      errors.push(`${what} may only contain letters, digits and . _ : - (1-128 chars)`)
    }
  })
  for (const extra of positionals.slice(cmd.args.length)) errors.push(`unexpected argument "${extra}" for "${label}"`)
  const allowed = new Set([...COMMON_FLAGS, ...cmd.flags])
  for (const f of Object.keys(flags)) if (!allowed.has(f)) errors.push(`flag --${f} does not apply to "${label}"`)
  if (errors.length) throw new UsageError(errors.join('\n'))
}

export async function runAdmin(config: GatewayConfig, store: Store, io: AdminIO, now = Date.now()): Promise<void> {
  const { cmd, label, positionals } = resolve(config)
  checkInvocation(cmd, label, positionals, config.flags)
  const ctx: CommandContext = {
    config, store, io, now, args: positionals, flags: config.flags,
    json: (value) => io.out(JSON.stringify(value, null, 2)),
  }
  try {
    await cmd.run(ctx)
  } catch (e) {
    // Every refusal of the admin rules is the operator's to fix: exit 2 with the message.
    if (e instanceof AdminError) throw new UsageError(e.message)
    throw e
  }
}

/** Every admin command line ("tenant list", "usage", …): a test holds HELP_TEXT to it. */
export const adminCommandNames = (): string[] =>
  Object.entries(COMMANDS).flatMap(([g, subs]) => Object.keys(subs).map((s) => (s ? `${g} ${s}` : g)))
