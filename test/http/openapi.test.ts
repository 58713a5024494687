import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza();
});
afterAll(() => plaza.close());

describe('OpenAPI', () => {
  it('documents every route, generated from the validating schemas', async () => {
    const res = await plaza.http.get('/openapi.json').expect(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    for (const route of plaza.core.routes) {
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(doc.paths[path]?.[route.method], `${route.method} ${path}`).toBeDefined();
    }
    const signup = doc.paths['/v1/auth/signup'].post;
    const schema = signup.requestBody.content['application/json'].schema;
    expect(schema.required.sort()).toEqual(['email', 'name', 'password']);
    expect(schema.properties.password.minLength).toBe(12);
    expect(
      signup.responses['201'].content['application/json'].schema.$ref ??
        signup.responses['201'].content['application/json'].schema.properties,
    ).toBeTruthy();
    // Every $ref resolves.
    const refs = JSON.stringify(doc).match(/"#\/components\/schemas\/[^"]+"/g) ?? [];
    for (const ref of refs) expect(doc.components.schemas[ref.slice(22, -1)], ref).toBeDefined();
    const members = doc.paths['/v1/organizations/{orgId}/members'].get;
    expect(members.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual([
      'path:orgId',
      'query:limit',
      'query:cursor',
    ]);
  });

  it('serves a rendered reference at /docs with its assets locally', async () => {
    const page = await plaza.http.get('/docs').expect(200);
    expect(page.text).toContain('/openapi.json'.length ? '/docs/assets/init.js' : '');
    await plaza.http
      .get('/docs/assets/swagger-ui-bundle.js')
      .expect(200)
      .expect('content-type', /javascript/);
    const init = await plaza.http.get('/docs/assets/init.js').expect(200);
    expect(init.text).toContain("url: '/openapi.json'");
    await plaza.http.get('/docs/assets/../../package.json').expect(404);
  });
});
