import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPlazaOpenApi, SDK_TYPES_FILE, sdkTypesFor } from '../../scripts/generate-sdk-types.ts';
import { generateTypes, type OpenApiDocument } from '../../sdk/codegen/openapi-to-ts.ts';
import { typecheck } from './typecheck.ts';

let doc: OpenApiDocument;
beforeAll(async () => {
  doc = await buildPlazaOpenApi();
});

describe("the SDK's generated types", () => {
  it('are in step with the routes (run `npm run sdk:types` when this fails)', () => {
    const committed = readFileSync(SDK_TYPES_FILE, 'utf8');
    expect(committed, 'sdk/src/generated/openapi.ts is stale: run `npm run sdk:types` and commit it').toBe(
      sdkTypesFor(doc),
    );
  });

  it('cover every route apps call (installation tokens, client credentials), and only those', () => {
    const expected: string[] = [];
    for (const [path, item] of Object.entries(doc.paths ?? {}))
      for (const [method, op] of Object.entries(item))
        if (['app', 'app_client'].includes(op['x-plaza-access']?.kind)) expected.push(`${method} ${path}`);
    // The `paths` interface of the generated file, read back as "method path" pairs.
    const text = sdkTypesFor(doc);
    const block = text.slice(
      text.indexOf('export interface paths {'),
      text.indexOf('export interface operations {'),
    );
    const generated: string[] = [];
    let current = '';
    for (const line of block.split('\n')) {
      const path = /^ {2}'([^']+)': \{$/.exec(line);
      if (path) current = path[1];
      const method = /^ {4}(\w+): operations\[/.exec(line);
      if (method) generated.push(`${method[1]} ${current}`);
    }
    expect(generated.sort()).toEqual(expected.sort());
    expect(expected).toEqual(
      expect.arrayContaining(['get /v1/contacts', 'post /v1/contacts', 'get /v1/app']),
    );
  });

  it('come from a generator that handles the whole document, every route and schema, into compiling TypeScript', () => {
    const everything = generateTypes(doc);
    for (const name of Object.keys(doc.components?.schemas ?? {}))
      expect(everything).toContain(`  ${/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`}: `);
    expect(everything).toContain("'/v1/organizations/{orgId}/contacts': {");
    expect(typecheck({ 'all.ts': everything, 'app.ts': sdkTypesFor(doc) })).toEqual([]);
  });
});
