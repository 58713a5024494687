import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPlazaOpenApi } from '../../scripts/generate-sdk-types.ts';
import { WEB_TYPES_FILE, webTypesFor } from '../../scripts/generate-web-types.ts';
import type { OpenApiDocument } from '../../sdk/codegen/openapi-to-ts.ts';

let doc: OpenApiDocument;
beforeAll(async () => {
  doc = await buildPlazaOpenApi();
});

describe("the web app's generated types", () => {
  it('are in step with the routes (run `npm run web:types` when this fails)', () => {
    const committed = readFileSync(WEB_TYPES_FILE, 'utf8');
    expect(committed, 'web/src/generated/openapi.ts is stale: run `npm run web:types` and commit it').toBe(
      webTypesFor(doc),
    );
  });

  it('cover every route people call and none that only apps call', () => {
    const text = webTypesFor(doc);
    const block = text.slice(
      text.indexOf('export interface paths {'),
      text.indexOf('export interface operations {'),
    );
    const generated = new Set([...block.matchAll(/^ {2}'([^']+)': \{$/gm)].map((m) => m[1]));
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      const people = Object.values(item).some(
        (op: any) => !['app', 'app_client'].includes(op['x-plaza-access']?.kind),
      );
      expect(generated.has(path), path).toBe(people);
    }
    expect(generated).toContain('/v1/organizations/{orgId}/invitations');
  });

  it('give the web app the server schemas, e.g. an invitation with its organization and inviter', () => {
    const text = webTypesFor(doc);
    const invitation = text.slice(
      text.indexOf('    Invitation: {'),
      text.indexOf('    };', text.indexOf('    Invitation: {')),
    );
    expect(invitation).toContain('organizationId: string;');
    expect(invitation).toMatch(/invitedBy: string;/);
  });
});
