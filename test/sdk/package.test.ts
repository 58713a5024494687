import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { typecheck } from './typecheck.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(path.join(repo, 'sdk', 'package.json'), 'utf8'));

describe('@plaza/sdk as a package', () => {
  let project: string;
  let installed: string;
  beforeAll(() => {
    // A consumer project with the built package in its node_modules, as `npm install` would leave it.
    project = mkdtempSync(path.join(tmpdir(), 'plaza-sdk-consumer-'));
    installed = path.join(project, 'node_modules', '@plaza', 'sdk');
    mkdirSync(installed, { recursive: true });
    execFileSync(
      process.execPath,
      [tsc, '-p', path.join(repo, 'sdk', 'tsconfig.build.json'), '--outDir', path.join(installed, 'dist')],
      {
        stdio: 'pipe',
      },
    );
    cpSync(path.join(repo, 'sdk', 'package.json'), path.join(installed, 'package.json'));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ type: 'module' }));
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('declares an ESM package for Node ≥ 20 whose exports point at the built JS and types', () => {
    expect(pkg).toMatchObject({ name: '@plaza/sdk', type: 'module', engines: { node: '>=20' } });
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const target = pkg.exports['.'];
    for (const file of [target.types, target.default])
      expect(readFileSync(path.join(installed, file), 'utf8').length).toBeGreaterThan(0);
  });

  it('imports by its name and exports the client, the errors and the PKCE helpers', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@plaza/sdk'); console.log(JSON.stringify(Object.keys(m).sort()))",
      ],
      { cwd: project, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual([
      'PlazaApiError',
      'PlazaCallbackError',
      'PlazaOAuthError',
      'PlazaSdkError',
      'PlazaWebhookError',
      'codeChallengeS256',
      'createCodeVerifier',
      'createPlazaClient',
      'createState',
      'decodeJwtClaims',
      'expressWebhook',
      'koaWebhook',
      'readRawBody',
      'signWebhook',
      'verifyWebhook',
    ]);
  });

  it('has no runtime dependency: the built files import only each other', () => {
    const files = readdirSync(path.join(installed, 'dist'), { recursive: true, encoding: 'utf8' }).filter(
      (f) => f.endsWith('.js'),
    );
    expect(files).toContain('index.js');
    for (const file of files) {
      const text = readFileSync(path.join(installed, 'dist', file), 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
      for (const s of specifiers) expect(s, `${file} imports ${s}`).toMatch(/^\.\.?\/.*\.js$/);
    }
  });

  it("type-checks in a consumer's strict project without Node types", () => {
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          lib: ['es2022', 'dom'],
          types: [],
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(
      path.join(project, 'app.ts'),
      `import { createPlazaClient, PlazaApiError, type Contact, type PlazaTokens } from '@plaza/sdk';
const plaza = createPlazaClient({ plazaUrl: 'https://plaza.example', clientId: 'c', clientSecret: 's', redirectUri: 'https://app.example/cb' });
declare const tokens: PlazaTokens;
const api = plaza.api(tokens, { onTokens: async (next) => { const t: string | undefined = next.refreshToken; void t; } });
const page = await api.contacts.list({ limit: 10 });
const first: Contact | undefined = page.data[0];
// @ts-expect-error the name is a string
const wrong: number = page.data[0].name;
export { first, wrong, PlazaApiError };
`,
    );
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(project, 'tsconfig.json')], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout);
    }
    expect(output).toBe('');
  });
});

describe('the typed API', () => {
  it('accepts what the routes take and refuses the rest, at compile time', () => {
    const diagnostics = typecheck({
      'api.ts': `
import type { PlazaApi, PlazaAppApi, Contact, Scope } from '../../../sdk/src/index.ts';
declare const api: PlazaApi;
declare const app: PlazaAppApi;
const one: Contact = await api.get('/v1/contacts/{contactId}', { params: { contactId: 'con_1' } });
const page = await api.get('/v1/contacts', { query: { limit: 5, sort: 'name' } });
const cursor: string | null = page.nextCursor;
const created = await api.post('/v1/contacts', { body: { name: 'Ada', customFields: { vip: true } } });
const updated = await api.contacts.update('con_1', { customFields: { vip: null } });
const gone: undefined = await api.delete('/v1/contacts/{contactId}', { params: { contactId: 'con_1' } });
for await (const c of api.contacts.all({ q: 'a' })) { const id: string = c.id; void id; }
for await (const u of api.paginate('/v1/users')) { const role: 'owner' | 'admin' | 'member' = u.role; void role; }
const account = await api.account.get();
const agency: string | undefined = account.agency?.brandName;
const self = await app.app.get();
const n: number = self.activeInstallations;
const scope: Scope = 'contacts:read';
// @ts-expect-error the contact id is required
await api.get('/v1/contacts/{contactId}');
// @ts-expect-error not a route apps call
await api.get('/v1/organizations/{orgId}/contacts', { params: { orgId: 'x' } });
// @ts-expect-error creating needs a body
await api.post('/v1/contacts');
// @ts-expect-error limit is a number
await api.get('/v1/contacts', { query: { limit: 'ten' } });
// @ts-expect-error sort is one of created, name, updated
await api.contacts.list({ sort: 'email' });
// @ts-expect-error there is no PUT on contacts
await api.put('/v1/contacts/{contactId}', { params: { contactId: 'x' } });
// @ts-expect-error custom field values are strings, numbers or booleans
await api.contacts.create({ name: 'x', customFields: { a: { nested: 1 } } });
export { one, cursor, created, updated, gone, agency, n, scope };
`,
    });
    expect(diagnostics).toEqual([]);
  });
});
