/** What every admin subcommand is made of; shared by src/cli/admin.ts and the command modules. */
import type { PeriodSnapshot } from '../budget/types.ts'
import type { GatewayConfig } from '../config/index.ts'
import type { Store } from '../store/types.ts'

/** Bad input or a refused operation: printed as one message, exit code 2. */
export class UsageError extends Error {}

export interface AdminIO {
  out: (line: string) => void
  /** A note or warning for the operator (stderr). */
  note: (line: string) => void
  /** Live spend/reservation of a period from the shared budget store; undefined without REDIS_URL. May reject (Redis down). */
  snapshot?: (tenantId: string, periodKey: string) => Promise<PeriodSnapshot>
}

export interface CommandContext {
  config: GatewayConfig
  store: Store
  io: AdminIO
  now: number
  /** The positional arguments, checked against the command's `args`. */
  args: string[]
  flags: Readonly<Record<string, string>>
  /** Prints a value as JSON (for `--json`). */
  json: (value: unknown) => void
}

export interface AdminCommand {
  /** Positional argument names; a trailing `?` marks an optional one. IDs are checked for a safe shape. */
  args: string[]
  /** Flags besides --config and --data-dir. */
  flags: string[]
  run: (c: CommandContext) => Promise<void>
}

