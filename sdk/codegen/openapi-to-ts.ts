/**
 * OpenAPI 3.1 → TypeScript types, for the JSON-Schema subset Plaza's document
 * uses (zod's `toJSONSchema` output plus the hand-written Problem schema):
 *
 * - `type` (one name or an array of names, `null` among them), `enum`, `const`,
 *   `nullable` (OpenAPI 3.0 style);
 * - objects: `properties` with `required` (others become optional),
 *   `additionalProperties` (false, true, or a schema: a record), `propertyNames`
 *   with `enum`/`const` (a record with those keys);
 * - arrays: `items`, `prefixItems` (tuples);
 * - `$ref` to `#/components/<kind>/<name>`; `oneOf`/`anyOf` (unions, with an
 *   OpenAPI `discriminator` fixing the tag of each branch), `allOf` (intersections);
 * - every `format` is a string; validation keywords (`pattern`, `minLength`,
 *   `maximum`...) do not change a type and are left out; `description`,
 *   `default`, `format` and `deprecated` become JSDoc.
 *
 * Anything it cannot express exactly becomes `unknown`, never a wrong type;
 * a `$ref` it cannot resolve is an error. The output shape follows
 * openapi-typescript (`paths`, `operations`, `components`) so it reads like
 * what developers know. Pure and deterministic: paths, methods and components
 * come out sorted, so the same document always gives the same text.
 */

export type JsonSchema = boolean | { [keyword: string]: any };

export interface OpenApiDocument {
  openapi: string;
  paths?: Record<string, Record<string, any>>;
  components?: {
    schemas?: Record<string, JsonSchema>;
    parameters?: Record<string, any>;
    securitySchemes?: Record<string, any>;
    [kind: string]: any;
  };
  [key: string]: any;
}

export interface OperationInfo {
  path: string;
  method: string;
  operation: Record<string, any>;
}

export interface GenerateOptions {
  /** Keep only the operations this returns true for (default: all); components are pruned to what the kept ones reach. */
  include?: (op: OperationInfo) => boolean;
  /** Comment lines for the top of the file. */
  header?: string[];
  /** Add `ResponseOf`, `RequestBodyOf` and `QueryOf`: a route's JSON types by path and method. */
  routeHelpers?: boolean;
}

/** Types that read a route's JSON shapes out of `paths`, so callers name a route instead of an operation. */
const ROUTE_HELPERS = [
  "type JsonContent<T> = T extends { content: { 'application/json': infer J } } ? J : never;",
  '',
  '/** The JSON a route answers with on success (its 200 or 201 response). */',
  'export type ResponseOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {',
  '  responses: infer R;',
  '}',
  '  ? JsonContent<R[Extract<keyof R, 200 | 201>]>',
  '  : never;',
  '',
  '/** The JSON body a route takes. */',
  'export type RequestBodyOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {',
  '  requestBody?: infer B;',
  '}',
  '  ? JsonContent<NonNullable<B>>',
  '  : never;',
  '',
  '/** The query parameters a route takes. */',
  'export type QueryOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {',
  '  parameters: { query?: infer Q };',
  '}',
  '  ? NonNullable<Q>',
  '  : never;',
  '',
];

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED = new Set([
  'paths',
  'operations',
  'components',
  'Scope',
  'Schemas',
  'JsonContent',
  'ResponseOf',
  'RequestBodyOf',
  'QueryOf',
]);

/** A TypeScript string literal in single quotes. */
export function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

const propertyKey = (name: string) => (IDENTIFIER.test(name) ? name : quote(name));

/** The TypeScript literal type of a JSON value (`const`, `enum` members). */
function literal(value: unknown, indent: string): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, indent)).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return 'Record<string, never>';
    const inner = `${indent}  `;
    return `{\n${entries.map(([k, v]) => `${inner}${propertyKey(k)}: ${literal(v, inner)};`).join('\n')}\n${indent}}`;
  }
  return 'unknown';
}

/** Whether a type text has a union or intersection at its top level (so it needs parentheses inside another). */
export function isCompound(text: string): boolean {
  let depth = 0;
  let quoteChar: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoteChar) {
      if (c === '\\') i++;
      else if (c === quoteChar) quoteChar = null;
      continue;
    }
    if (c === "'" || c === '"') quoteChar = c;
    else if (c === '{' || c === '(' || c === '[' || c === '<') depth++;
    else if (c === '}' || c === ')' || c === ']' || c === '>') depth--;
    else if (depth === 0 && (c === '|' || c === '&')) return true;
  }
  return false;
}

const paren = (text: string) => (isCompound(text) ? `(${text})` : text);

function union(members: string[]): string {
  const unique = [...new Set(members)];
  if (unique.includes('unknown')) return 'unknown';
  const kept = unique.filter((m) => m !== 'never');
  if (!kept.length) return 'never';
  return kept.length === 1 ? kept[0] : kept.map((m) => (m.includes('&') ? paren(m) : m)).join(' | ');
}

function intersection(members: string[]): string {
  const kept = [...new Set(members)].filter((m) => m !== 'unknown');
  if (!kept.length) return 'unknown';
  return kept.length === 1 ? kept[0] : kept.map(paren).join(' & ');
}

/** JSDoc lines for a schema (description, default, format, deprecated); empty when it has none. */
export function docLines(schema: JsonSchema | undefined, extra: string[] = []): string[] {
  const lines = [...extra];
  if (schema && typeof schema === 'object') {
    if (typeof schema.description === 'string' && schema.description.trim())
      lines.push(...schema.description.trim().split('\n'));
    if (schema.deprecated === true) lines.push('@deprecated');
    if (typeof schema.format === 'string') lines.push(`Format: ${schema.format}`);
    if (schema.default !== undefined) lines.push(`@default ${JSON.stringify(schema.default)}`);
  }
  return lines;
}

/** A JSDoc comment; a comment terminator in the text is escaped so it cannot end it early. */
function jsdoc(text: string[], indent: string): string {
  const lines = text.map((l) => l.replace(/\*\//g, '*\\/'));
  if (!lines.length) return '';
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)).join('\n')}\n${indent} */\n`;
}

/** `#/components/schemas/Pet` → `components['schemas']['Pet']`. */
export function refType(ref: string): string {
  const match = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
  if (!match)
    throw new Error(`cannot resolve $ref ${ref}: only #/components/<kind>/<name> references are supported`);
  const unescapePointer = (s: string) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~');
  return `components[${quote(unescapePointer(match[1]))}][${quote(unescapePointer(match[2]))}]`;
}

const OBJECT_KEYWORDS = ['properties', 'additionalProperties', 'propertyNames', 'required'];
const ARRAY_KEYWORDS = ['items', 'prefixItems'];

/** The TypeScript type of a JSON schema. `indent` is the indentation of the line the type starts on. */
export function schemaToType(schema: JsonSchema | undefined, indent = ''): string {
  if (schema === undefined || schema === true) return 'unknown';
  if (schema === false) return 'never';
  if (typeof schema !== 'object' || Array.isArray(schema)) return 'unknown';

  const parts: string[] = [];
  if (typeof schema.$ref === 'string') parts.push(refType(schema.$ref));
  else if ('const' in schema) parts.push(literal(schema.const, indent));
  else if (Array.isArray(schema.enum)) parts.push(union(schema.enum.map((v: unknown) => literal(v, indent))));
  else {
    const base = baseType(schema, indent);
    if (base !== undefined) parts.push(base);
  }
  for (const key of ['oneOf', 'anyOf'] as const)
    if (Array.isArray(schema[key])) parts.push(variants(schema, schema[key], indent));
  if (Array.isArray(schema.allOf))
    parts.push(intersection(schema.allOf.map((s: JsonSchema) => schemaToType(s, indent))));

  let type = parts.length ? intersection(parts) : 'unknown';
  if (schema.nullable === true && type !== 'unknown') type = union([type, 'null']);
  return type;
}

/** The union of `oneOf`/`anyOf` branches; with a `discriminator`, each branch gets its tag. */
function variants(parent: Record<string, any>, branches: JsonSchema[], indent: string): string {
  const discriminator = parent.discriminator as
    | { propertyName?: string; mapping?: Record<string, string> }
    | undefined;
  return union(
    branches.map((branch) => {
      const type = schemaToType(branch, indent);
      if (!discriminator?.propertyName || typeof branch !== 'object' || typeof branch.$ref !== 'string')
        return type;
      const tags = Object.entries(discriminator.mapping ?? {})
        .filter(([, ref]) => ref === branch.$ref)
        .map(([tag]) => tag);
      if (!tags.length) tags.push(branch.$ref.split('/').pop()!);
      return `${paren(type)} & { ${propertyKey(discriminator.propertyName)}: ${union(tags.map(quote))} }`;
    }),
  );
}

/** The type from `type` (and object/array keywords when `type` is absent); undefined when the schema has no type at all. */
function baseType(schema: Record<string, any>, indent: string): string | undefined {
  let types: string[];
  if (Array.isArray(schema.type)) types = schema.type;
  else if (typeof schema.type === 'string') types = [schema.type];
  else if (OBJECT_KEYWORDS.some((k) => k in schema)) types = ['object'];
  else if (ARRAY_KEYWORDS.some((k) => k in schema)) types = ['array'];
  else return undefined;
  return union(
    types.map((t) => {
      switch (t) {
        case 'string':
          return 'string';
        case 'integer':
        case 'number':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'array':
          return arrayType(schema, indent);
        case 'object':
          return objectType(schema, indent);
        default:
          return 'unknown';
      }
    }),
  );
}

function arrayType(schema: Record<string, any>, indent: string): string {
  if (Array.isArray(schema.prefixItems)) {
    const head = schema.prefixItems.map((s: JsonSchema) => schemaToType(s, indent));
    const rest = schema.items === false ? [] : [`...${paren(schemaToType(schema.items, indent))}[]`];
    return `[${[...head, ...rest].join(', ')}]`;
  }
  return `${paren(schemaToType(schema.items, indent))}[]`;
}

function objectType(schema: Record<string, any>, indent: string): string {
  const inner = `${indent}  `;
  const properties = Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>);
  const required = new Set<string>(Array.isArray(schema.required) ? schema.required : []);
  const extra = schema.additionalProperties;
  const keyNames = schema.propertyNames;
  const keys =
    keyNames && typeof keyNames === 'object'
      ? 'const' in keyNames
        ? [keyNames.const]
        : Array.isArray(keyNames.enum)
          ? keyNames.enum
          : undefined
      : undefined;

  // A record with a closed set of keys: `{ [K in 'a' | 'b']?: T }`.
  if (!properties.length && keys && extra !== undefined && extra !== false) {
    const value = schemaToType(extra, indent);
    return `{ [K in ${union(keys.map((k: unknown) => literal(String(k), indent)))}]?: ${value} }`;
  }

  const lines: string[] = [];
  const propertyTypes: string[] = [];
  for (const [name, prop] of properties) {
    const type = schemaToType(prop, inner);
    propertyTypes.push(type);
    lines.push(
      `${jsdoc(docLines(prop), inner)}${inner}${propertyKey(name)}${required.has(name) ? '' : '?'}: ${type};`,
    );
  }
  if (extra !== undefined && extra !== false) {
    const value = schemaToType(extra, inner);
    // An index signature must admit every declared property's type.
    const indexType = value === 'unknown' ? value : union([value, ...propertyTypes]);
    lines.push(`${inner}[key: string]: ${indexType};`);
  }
  if (!lines.length) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>';
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** Every `$ref` target under a node. */
function collectRefs(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, into);
  else if (node && typeof node === 'object')
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') into.add(value);
      else collectRefs(value, into);
    }
}

function resolveParameter(doc: OpenApiDocument, param: any): any {
  if (param && typeof param.$ref === 'string') {
    const match = /^#\/components\/parameters\/([^/]+)$/.exec(param.$ref);
    const found = match ? doc.components?.parameters?.[match[1]] : undefined;
    if (!found) throw new Error(`cannot resolve parameter $ref ${param.$ref}`);
    return found;
  }
  return param;
}

const pascal = (s: string) =>
  s
    .replace(/[{}]/g, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');

/** The types of a whole document: `paths`, `operations`, `components`, the `Scope` union and one alias per schema. */
export function generateTypes(doc: OpenApiDocument, opts: GenerateOptions = {}): string {
  const selected: Array<OperationInfo & { id: string }> = [];
  const ids = new Set<string>();
  for (const path of Object.keys(doc.paths ?? {}).sort()) {
    const item = doc.paths![path];
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const info = { path, method, operation };
      if (opts.include && !opts.include(info)) continue;
      const id: string = operation.operationId ?? `${method}${pascal(path)}`;
      if (ids.has(id)) throw new Error(`operationId ${id} is used twice`);
      ids.add(id);
      selected.push({ ...info, id });
    }
  }

  // The components the kept operations reach, following references between components.
  const schemas = (doc.components?.schemas ?? {}) as Record<string, JsonSchema>;
  let schemaNames: string[];
  if (opts.include) {
    const reached = new Set<string>();
    const pending: string[] = [];
    const visit = (node: unknown) => {
      const refs = new Set<string>();
      collectRefs(node, refs);
      for (const ref of refs) {
        const match = /^#\/components\/schemas\/([^/]+)$/.exec(ref);
        if (match && !reached.has(match[1])) {
          reached.add(match[1]);
          pending.push(match[1]);
        }
      }
    };
    for (const op of selected) visit(op.operation);
    while (pending.length) visit(schemas[pending.pop()!]);
    schemaNames = [...reached].sort();
  } else schemaNames = Object.keys(schemas).sort();
  for (const name of schemaNames)
    if (!(name in schemas)) throw new Error(`cannot resolve $ref #/components/schemas/${name}`);

  const out: string[] = [];
  for (const line of opts.header ?? []) out.push(`// ${line}`.trimEnd());
  if (opts.header?.length) out.push('');

  // paths
  out.push('export interface paths {');
  const byPath = new Map<string, typeof selected>();
  for (const op of selected) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op]);
  for (const [path, ops] of byPath) {
    out.push(`  ${quote(path)}: {`);
    for (const op of ops) {
      out.push(
        `${jsdoc(op.operation.summary ? [op.operation.summary] : [], '    ')}    ${op.method}: operations[${quote(op.id)}];`,
      );
    }
    out.push('  };');
  }
  out.push('}', '');

  // operations
  out.push('export interface operations {');
  for (const op of selected) {
    const o = op.operation;
    const doc1: string[] = [];
    if (o.summary) doc1.push(o.summary);
    if (o.description) doc1.push(...(doc1.length ? [''] : []), ...String(o.description).split('\n'));
    if (o.deprecated) doc1.push('@deprecated');
    out.push(`${jsdoc(doc1, '  ')}  ${propertyKey(op.id)}: {`);
    out.push(...operationBody(doc, op, '    '));
    out.push('  };');
  }
  out.push('}', '');

  // components
  out.push('export interface components {', '  schemas: {');
  for (const name of schemaNames) {
    const schema = schemas[name];
    out.push(`${jsdoc(docLines(schema), '    ')}    ${propertyKey(name)}: ${schemaToType(schema, '    ')};`);
  }
  out.push('  };', '}', '');

  // Scopes of the OAuth security schemes.
  const scopes = new Set<string>();
  for (const scheme of Object.values(doc.components?.securitySchemes ?? {}))
    for (const flow of Object.values((scheme as any)?.flows ?? {}))
      for (const scope of Object.keys((flow as any)?.scopes ?? {})) scopes.add(scope);
  out.push('/** Every OAuth scope the document names. */');
  out.push(`export type Scope = ${scopes.size ? [...scopes].sort().map(quote).join(' | ') : 'never'};`, '');

  out.push('/** Every schema by name. */');
  out.push("export type Schemas = components['schemas'];");
  for (const name of schemaNames)
    if (IDENTIFIER.test(name) && !RESERVED.has(name))
      out.push(`export type ${name} = components['schemas'][${quote(name)}];`);
  if (opts.routeHelpers) out.push('', ...ROUTE_HELPERS.slice(0, -1));
  return `${out.join('\n')}\n`;
}

function operationBody(doc: OpenApiDocument, op: OperationInfo, indent: string): string[] {
  const inner = `${indent}  `;
  const out: string[] = [];
  const params = [
    ...((doc.paths?.[op.path]?.parameters as any[]) ?? []),
    ...((op.operation.parameters as any[]) ?? []),
  ].map((p) => resolveParameter(doc, p));

  out.push(`${indent}parameters: {`);
  for (const where of ['query', 'header', 'path', 'cookie'] as const) {
    // Later (operation-level) declarations replace path-level ones of the same name.
    const byName = new Map<string, any>();
    for (const p of params) if (p.in === where) byName.set(p.name, p);
    if (!byName.size) {
      if (where === 'query' || where === 'path') out.push(`${inner}${where}?: never;`);
      continue;
    }
    const anyRequired = [...byName.values()].some((p) => p.required === true || where === 'path');
    const lines = [...byName.values()].map((p) => {
      const required = where === 'path' || p.required === true;
      const doc = docLines(
        p.schema,
        p.description && p.description !== p.schema?.description ? [p.description] : [],
      );
      return `${jsdoc(doc, `${inner}  `)}${inner}  ${propertyKey(p.name)}${required ? '' : '?'}: ${schemaToType(p.schema, `${inner}  `)};`;
    });
    out.push(`${inner}${where}${anyRequired ? '' : '?'}: {`, ...lines, `${inner}};`);
  }
  out.push(`${indent}};`);

  const body = op.operation.requestBody;
  if (body?.content) {
    out.push(`${indent}requestBody${body.required ? '' : '?'}: {`, `${inner}content: {`);
    for (const [mime, media] of Object.entries(body.content as Record<string, any>))
      out.push(`${inner}  ${quote(mime)}: ${schemaToType(media?.schema, `${inner}  `)};`);
    out.push(`${inner}};`, `${indent}};`);
  } else out.push(`${indent}requestBody?: never;`);

  out.push(`${indent}responses: {`);
  for (const [status, response] of Object.entries((op.operation.responses ?? {}) as Record<string, any>)) {
    const key = /^\d{3}$/.test(status) ? status : propertyKey(status);
    const doc = response?.description ? [response.description] : [];
    if (!response?.content || !Object.keys(response.content).length) {
      out.push(`${jsdoc(doc, inner)}${inner}${key}: { content?: never };`);
      continue;
    }
    out.push(`${jsdoc(doc, inner)}${inner}${key}: {`, `${inner}  content: {`);
    for (const [mime, media] of Object.entries(response.content as Record<string, any>))
      out.push(`${inner}    ${quote(mime)}: ${schemaToType(media?.schema, `${inner}    `)};`);
    out.push(`${inner}  };`, `${inner}};`);
  }
  out.push(`${indent}};`);
  return out;
}
