/** JSON-lines logger. Callers pass structured fields; secrets are never passed in (keys are logged by id/prefix only). */
export type LogFn = (fields: Record<string, unknown>) => void

export function createLogger(write: (line: string) => void = (l) => process.stdout.write(l + '\n')): LogFn {
  return (fields) => write(JSON.stringify({ ts: new Date().toISOString(), ...fields }))
}

export const silentLogger: LogFn = () => {}
