/**
 * A small JSON Schema checker for the subset the admin API's OpenAPI document uses ($ref into the document,
 * type (one or a list), properties, required, additionalProperties: false, items, enum, const, minimum,
 * minItems, minProperties, pattern, format date-time). Returns every mismatch as "path: problem"; an unknown
 * schema keyword is itself a mismatch, so the checker cannot silently pass what it does not understand.
 */
type Schema = Record<string, any>

const KNOWN = new Set(['$ref', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'minimum',
  'minItems', 'minProperties', 'pattern', 'format', 'description', 'examples'])

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

export function resolveRef(doc: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`not a local $ref: ${ref}`)
  let node: any = doc
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part]
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`)
  }
  return node
}

export function checkSchema(doc: Schema, schema: Schema, value: unknown, path = '$'): string[] {
  if (schema.$ref) return checkSchema(doc, resolveRef(doc, schema.$ref), value, path)
  const problems: string[] = []
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) problems.push(`${path}: schema keyword "${k}" is not supported by the checker`)
  const t = typeOf(value)
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type]
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [...problems, `${path}: ${t} is not ${types.join('|')}`]
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`)
  if ('const' in schema && value !== schema.const) problems.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`)
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: ${value} < ${schema.minimum}`)
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: "${value}" does not match ${schema.pattern}`)
    if (schema.format === 'date-time' && !(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) && Number.isFinite(Date.parse(value)))) {
      problems.push(`${path}: "${value}" is not an ISO 8601 UTC date-time`)
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) problems.push(`${path}: fewer than ${schema.minItems} items`)
    if (schema.items) value.forEach((v, i) => problems.push(...checkSchema(doc, schema.items, v, `${path}[${i}]`)))
  }
  if (t === 'object') {
    const o = value as Record<string, unknown>
    const props: Record<string, Schema> = schema.properties ?? {}
    for (const r of schema.required ?? []) if (!(r in o)) problems.push(`${path}: missing "${r}"`)
    if (schema.minProperties !== undefined && Object.keys(o).length < schema.minProperties) problems.push(`${path}: fewer than ${schema.minProperties} properties`)
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) problems.push(...checkSchema(doc, props[k]!, v, `${path}.${k}`))
      else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property "${k}"`)
    }
  }
  return problems
}

/** Every `$ref` anywhere in the document, with where it is. */
export function refsIn(node: unknown, path = '$'): Array<{ path: string; ref: string }> {
  if (typeof node !== 'object' || node === null) return []
  return Object.entries(node).flatMap(([k, v]) =>
    k === '$ref' && typeof v === 'string' ? [{ path, ref: v }] : refsIn(v, `${path}.${k}`))
}
