/**
 * OpenAPI 3.1 description of the admin HTTP API, served at GET /admin/v1/openapi.json. Written by hand
 * (it is the contract); tests hold it to the route table (src/admin/routes.ts) both ways and check the
 * responses the API actually sends against its schemas.
 */
import pkg from '../../package.json' with { type: 'json' }

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra })
const object = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) =>
  ({ type: 'object', properties, required, additionalProperties: false })
const int = (description?: string) => ({ type: 'integer', minimum: 0, ...(description ? { description } : {}) })
const time = { type: 'string', format: 'date-time' }
const ID = '^[A-Za-z0-9._:\\-]{1,128}$'
const DURATION = { type: 'string', description: 'A duration: 90s, 15m, 24h, 30d, 2w (at most 3650d).', examples: ['30d'] }
const DATE = { type: 'string', description: 'YYYY-MM-DD (UTC midnight) or an ISO 8601 date-time with Z or an offset.', examples: ['2026-12-31T00:00:00Z'] }

const TENANT_FIELDS = {
  budget_usd_micros: nullable('integer', { minimum: 0, description: 'Spend limit per period in micro-USD (1000000 = $1); null = unlimited.' }),
  budget_period: { enum: ['total', 'day', 'month'], description: 'Budget period; day and month are UTC.' },
  policy: { enum: ['strict', 'fixed'], description: 'strict reserves the worst case; fixed a flat $0.001.' },
  allowed_models: nullable('array', { items: { type: 'string' }, minItems: 1, description: 'Models the tenant may use; null = every model.' }),
  fail_open: { type: 'boolean', description: 'Serve this tenant while the budget store is down.' },
}
const TENANT = { id: { type: 'string', pattern: ID }, ...TENANT_FIELDS, disabled: { type: 'boolean' } }
const KEY_EXPIRY = {
  expires_in: { ...DURATION, description: 'The key expires this long from now. Not with expires_at.' },
  expires_at: { ...DATE, description: 'The key expires at this instant. Not with expires_in.' },
}
const USAGE_TOTALS = { requests: int(), prompt_tokens: int(), completion_tokens: int(), cost_usd_micros: int() }

const schemas = {
  Error: object({
    error: object({
      message: { type: 'string' }, type: { type: 'string' }, code: { type: 'string' },
      param: nullable('string'), request_id: { type: 'string' },
    }),
  }),
  Tenant: object(TENANT),
  TenantListing: object({ ...TENANT, created_at: time, keys: int('Keys of the tenant.'), active_keys: int('Keys neither revoked nor expired.') }),
  Key: object({
    id: { type: 'string' }, tenant_id: { type: 'string' }, prefix: { type: 'string', description: 'The first 10 characters of the secret.' },
    name: nullable('string'), created_at: time, expires_at: nullable('string', { format: 'date-time' }),
    revoked_at: nullable('string', { format: 'date-time' }), status: { enum: ['active', 'expired', 'revoked'] },
  }),
  Budget: object({
    period: { type: 'string', description: 'Period key: total, day:YYYY-MM-DD or month:YYYY-MM.' },
    spent_usd_micros: int(),
    reserved_usd_micros: nullable('integer', { description: 'Held by requests in flight; null when only recorded usage could be read.' }),
    remaining_usd_micros: nullable('integer', { description: 'null for an unlimited budget.' }),
    source: { enum: ['live', 'recorded'], description: 'live: the budget ledger; recorded: usage_records (lags by the shipping interval).' },
    live_unavailable: nullable('string', { description: 'Why live figures are missing.' }),
  }),
  TenantDetail: object({ tenant: ref('Tenant'), budget: ref('Budget'), keys: { type: 'array', items: ref('Key') } }),
  TenantResponse: object({ tenant: ref('Tenant') }),
  TenantList: object({ data: { type: 'array', items: ref('TenantListing') } }),
  DeletedTenant: object({ id: { type: 'string' }, deleted: { const: true }, revoked_keys: int('Active keys the forced delete revoked.') }),
  KeyList: object({ data: { type: 'array', items: ref('Key') } }),
  KeyResponse: object({ key: ref('Key') }),
  CreatedKey: object({ key: ref('Key'), api_key: { type: 'string', description: 'The secret, in this response only: the gateway stores its sha256.' } }),
  RotatedKey: object({ key: ref('Key'), api_key: { type: 'string', description: 'The new secret, in this response only.' }, old_key: ref('Key') }),
  UsageRow: object({
    tenant_id: { type: 'string' },
    day: { type: 'string', description: 'With by=day: the UTC day, YYYY-MM-DD.' },
    model: { type: 'string', description: 'With by=model.' },
    key_id: { type: 'string', description: 'With by=key.' },
    ...USAGE_TOTALS,
  }, ['tenant_id', ...Object.keys(USAGE_TOTALS)]),
  UsageReport: object({
    tenant_id: nullable('string'), since: time, until: nullable('string', { format: 'date-time' }), by: { enum: ['day', 'model', 'key'] },
    rows: { type: 'array', items: ref('UsageRow') }, total: object(USAGE_TOTALS),
  }),
  TenantCreate: object({ id: { type: 'string', pattern: ID }, ...TENANT_FIELDS }, ['id']),
  TenantPatch: { ...object(TENANT_FIELDS, []), minProperties: 1 },
  KeyCreate: object({ name: nullable('string'), ...KEY_EXPIRY }, []),
  KeyRotate: object({
    grace: { ...DURATION, description: 'The old key keeps working this long (default 24h; 0 ends it now), never past its own expiry.' },
    name: nullable('string', { description: "The new key's name; absent: the old key's." }), ...KEY_EXPIRY,
  }, []),
}

const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } })
const responses = {
  BadRequest: error('invalid_request_error: a bad id, body, field or parameter (the message lists every problem).'),
  Unauthorized: error('invalid_admin_key: no `Authorization: Bearer` header, or not an admin key.'),
  ReadOnly: error('admin_read_only: the read-only admin key was used for a change.'),
  NotFound: error('not_found: no such tenant or key (or route).'),
  Conflict: error('conflict: the current state refuses the change.'),
}
const errors = (...codes: Array<'400' | '403' | '404' | '409'>) => {
  const names = { 400: 'BadRequest', 403: 'ReadOnly', 404: 'NotFound', 409: 'Conflict' } as const
  const out: Record<string, unknown> = { 401: { $ref: '#/components/responses/Unauthorized' } }
  for (const c of codes) out[c] = { $ref: `#/components/responses/${names[c]}` }
  return out
}
const body = (schema: string, required = true) => ({ required, content: { 'application/json': { schema: ref(schema) } } })
const reply = (description: string, schema: string) => ({ description, content: { 'application/json': { schema: ref(schema) } } })
const pathId = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string', pattern: ID } })
const tenantId = pathId('Tenant id.')
const keyId = pathId('Key id (key_…).')
const query = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }) => ({ name, in: 'query', required: false, description, schema })

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'LLM gateway admin API',
    version: pkg.version,
    description: 'Tenants, keys and usage of the gateway: the operations of the `gateway tenant|key|usage` commands, on the same store. ' +
      'Off unless GATEWAY_ADMIN_KEY is set. Money is integer micro-USD; times are ISO 8601 UTC.',
  },
  servers: [{ url: '/admin/v1' }],
  security: [{ adminKey: [] }],
  paths: {
    '/tenants': {
      get: { operationId: 'listTenants', summary: 'Every tenant, by id, with its key counts', responses: { 200: reply('The tenants.', 'TenantList'), ...errors() } },
      post: {
        operationId: 'createTenant', summary: 'Create a tenant (defaults: unlimited, month, strict, every model, fail closed)',
        requestBody: body('TenantCreate'), responses: { 201: reply('Created.', 'TenantResponse'), ...errors('400', '403', '409') },
      },
    },
    '/tenants/{id}': {
      get: {
        operationId: 'getTenant', summary: "A tenant's config, current period spend and reservations, and keys", parameters: [tenantId],
        responses: { 200: reply('The tenant.', 'TenantDetail'), ...errors('400', '404') },
      },
      patch: {
        operationId: 'updateTenant', summary: 'Change tenant fields (like `gateway tenant set`)', parameters: [tenantId],
        requestBody: body('TenantPatch'), responses: { 200: reply('The changed tenant.', 'TenantResponse'), ...errors('400', '403', '404') },
      },
      delete: {
        operationId: 'deleteTenant', summary: 'Delete a tenant and its keys; usage records are kept',
        parameters: [tenantId, query('force', 'true: revoke its active keys and delete; otherwise refused (409) while it has any.', { enum: ['true', 'false'] })],
        responses: { 200: reply('Deleted.', 'DeletedTenant'), ...errors('400', '403', '404', '409') },
      },
    },
    '/tenants/{id}/disable': {
      post: {
        operationId: 'disableTenant', summary: "Refuse every key of the tenant (403 tenant_disabled); config and keys stay", parameters: [tenantId],
        responses: { 200: reply('The tenant.', 'TenantResponse'), ...errors('400', '403', '404') },
      },
    },
    '/tenants/{id}/enable': {
      post: { operationId: 'enableTenant', summary: 'Serve the tenant again', parameters: [tenantId], responses: { 200: reply('The tenant.', 'TenantResponse'), ...errors('400', '403', '404') } },
    },
    '/tenants/{id}/keys': {
      get: {
        operationId: 'listKeys', summary: "The tenant's keys (never a secret or its hash)", parameters: [tenantId],
        responses: { 200: reply('The keys.', 'KeyList'), ...errors('400', '404') },
      },
      post: {
        operationId: 'createKey', summary: 'Create a key; the response is the only place its secret ever appears', parameters: [tenantId],
        requestBody: body('KeyCreate', false), responses: { 201: reply('Created.', 'CreatedKey'), ...errors('400', '403', '404') },
      },
    },
    '/keys/{id}/revoke': {
      post: { operationId: 'revokeKey', summary: 'Revoke a key now', parameters: [keyId], responses: { 200: reply('The revoked key.', 'KeyResponse'), ...errors('400', '403', '404') } },
    },
    '/keys/{id}/rotate': {
      post: {
        operationId: 'rotateKey', summary: 'A new key for the same tenant now; the old one expires after the grace', parameters: [keyId],
        requestBody: body('KeyRotate', false), responses: { 201: reply('The new key (secret shown once) and the old one.', 'RotatedKey'), ...errors('400', '403', '404', '409') },
      },
    },
    '/usage': {
      get: {
        operationId: 'usageReport', summary: 'Recorded usage per tenant and UTC day, model or key',
        parameters: [
          query('tenant', 'One tenant; absent: every tenant.', { type: 'string', pattern: ID }),
          query('since', 'Start (inclusive): a date, or a duration meaning that long ago. Default 7d.'),
          query('until', 'End (exclusive): a date or a duration ago. Default: now.'),
          query('by', 'Grouping; default day.', { enum: ['day', 'model', 'key'] }),
        ],
        responses: { 200: reply('The report.', 'UsageReport'), ...errors('400') },
      },
    },
    '/openapi.json': {
      get: { operationId: 'openapi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: { type: 'object' } } } }, ...errors() } },
    },
  },
  components: {
    securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'GATEWAY_ADMIN_KEY, or GATEWAY_ADMIN_READONLY_KEY for GET routes.' } },
    schemas,
    responses,
  },
} as const
