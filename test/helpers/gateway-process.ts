/**
 * Runs the gateway as a real process: from source (`bun src/main.ts`) or, with `binary`, the compiled
 * executable. Captures output, waits for /readyz, and always kills the process in stop().
 */
import { freePort } from './ports.ts'

const ROOT = new URL('../..', import.meta.url).pathname

export interface GatewayProcess {
  url: string
  port: number
  proc: ReturnType<typeof Bun.spawn>
  output: () => string
  waitForOutput: (needle: string | RegExp, timeoutMs?: number) => Promise<string>
  waitReady: (timeoutMs?: number) => Promise<number>
  stop: (signal?: NodeJS.Signals) => Promise<number>
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  binary?: string
  cwd?: string
}

/** Environment for a child: the parent's, minus anything that would point it at the shared servers. */
export function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|GATEWAY_|OPENAI_|ANTHROPIC_)/.test(k)) env[k] = v
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v
  return env
}

function command(args: string[], opts: RunOptions): string[] {
  return opts.binary ? [opts.binary, ...args] : [process.execPath, `${ROOT}src/main.ts`, ...args]
}

/** Runs a one-shot subcommand to completion. */
export async function runGateway(args: string[], opts: RunOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(command(args, opts), { cwd: opts.cwd ?? ROOT, env: childEnv(opts.env), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, stdout, stderr }
}

export async function spawnGateway(args: string[], opts: RunOptions = {}): Promise<GatewayProcess> {
  const port = await freePort()
  const proc = Bun.spawn(command([...args, '--port', String(port), '--host', '127.0.0.1'], opts), {
    cwd: opts.cwd ?? ROOT, env: childEnv(opts.env), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore',
  })
  let out = ''
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder()
    for await (const chunk of s) out += dec.decode(chunk, { stream: true })
  }
  void pump(proc.stdout as ReadableStream<Uint8Array>)
  void pump(proc.stderr as ReadableStream<Uint8Array>)
  const url = `http://127.0.0.1:${port}`

  const waitForOutput = async (needle: string | RegExp, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (typeof needle === 'string' ? out.includes(needle) : needle.test(out)) return out
      if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode} before printing ${needle}:\n${out}`)
      await Bun.sleep(20)
    }
    throw new Error(`timed out waiting for ${needle}:\n${out}`)
  }

  const waitReady = async (timeoutMs = 20_000) => {
    const t0 = performance.now()
    while (performance.now() - t0 < timeoutMs) {
      if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode}:\n${out}`)
      try {
        const r = await fetch(`${url}/readyz`)
        if (r.status === 200) return performance.now() - t0
      } catch {}
      await Bun.sleep(10)
    }
    throw new Error(`gateway not ready after ${timeoutMs} ms:\n${out}`)
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode === null) proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    const code = await proc.exited
    clearTimeout(timer)
    return code
  }
  return { url, port, proc, output: () => out, waitForOutput, waitReady, stop }
}
