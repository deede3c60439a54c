import { describe, expect, test } from 'bun:test'
import { SERVER_STARTUP_ENV, serverStartupEnv } from '../../src/startup-env.ts'

const BOTH = { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535', MIMALLOC_PURGE_HOLES: '0' }

describe('serverStartupEnv: what a server re-executes itself with', () => {
  test.each([
    ['nothing set: both added, the rest kept', { PATH: '/bin' }, { PATH: '/bin', ...BOTH }],
    ['the fetch cap set by the caller: kept, the allocator setting added', { BUN_CONFIG_MAX_HTTP_REQUESTS: '4096' },
      { BUN_CONFIG_MAX_HTTP_REQUESTS: '4096', MIMALLOC_PURGE_HOLES: '0' }],
    ['the allocator setting chosen by the caller: kept', { MIMALLOC_PURGE_HOLES: '1' }, { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535', MIMALLOC_PURGE_HOLES: '1' }],
    ['an empty value counts as unset', { BUN_CONFIG_MAX_HTTP_REQUESTS: '', MIMALLOC_PURGE_HOLES: '0' }, BOTH],
    ['both there: no re-exec', { ...BOTH, PATH: '/bin' }, null],
    ['both chosen by the caller: no re-exec', { BUN_CONFIG_MAX_HTTP_REQUESTS: '100', MIMALLOC_PURGE_HOLES: '1' }, null],
  ] as const)('%s', (_, env, expected) => {
    expect(serverStartupEnv(env)).toEqual(expected as Record<string, string> | null)
  })

  test('an unset variable (undefined) is not passed on as the string "undefined"', () => {
    const env = serverStartupEnv({ A: undefined, B: 'b' })!
    expect(Object.keys(env).sort()).toEqual(['B', ...Object.keys(SERVER_STARTUP_ENV)].sort())
  })
})
