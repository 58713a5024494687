import Router from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAppAuthenticator } from '../../server/http/app-auth.ts';
import { createRateLimiter } from '../../server/http/rate-limit.ts';
import { defineRoute } from '../../server/http/route.ts';
import { mountRoutes } from '../../server/http/router.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signUp } from '../helpers/world.ts';

/**
 * Who may call which routes, without any token being valid: app routes take
 * only OAuth access tokens, people routes never do, and the OpenAPI document
 * says which scope each app route needs. (test/api/app-routes.test.ts drives
 * the same routes with real tokens.)
 */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
});
afterAll(() => plaza.close());

const APP_ROUTES = [
  ['get', '/v1/account', 'account:read'],
  ['get', '/v1/contacts', 'contacts:read'],
  ['post', '/v1/contacts', 'contacts:write'],
  ['get', '/v1/contacts/{contactId}', 'contacts:read'],
  ['patch', '/v1/contacts/{contactId}', 'contacts:write'],
  ['delete', '/v1/contacts/{contactId}', 'contacts:write'],
  ['get', '/v1/users', 'users:read'],
] as const;

// A well-formed JWT that no Plaza signed.
const FOREIGN_JWT =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhY2N0XzEiLCJzY29wZSI6ImNvbnRhY3RzOnJlYWQifQ.c2lnbmF0dXJl';

describe('app routes and people routes keep their callers apart', () => {
  it('app routes answer 401 with a Bearer challenge to anonymous callers, sessions and API keys', async () => {
    const ann = await signUp(plaza);
    const account = await createOrg(ann, 'account');
    const key = await ann.agent
      .post(`/v1/organizations/${account.id}/api-keys`)
      .set('x-csrf-token', ann.csrf)
      .send({ name: 'key', role: 'owner' })
      .expect(201);
    const appRoutes = plaza.core.routes.filter(
      (r) => r.access.kind === 'app' || r.access.kind === 'app_client',
    );
    expect(appRoutes.length).toBeGreaterThanOrEqual(8);
    for (const route of appRoutes) {
      const path = route.path.replace(':contactId', 'ct_x');
      const label = `${route.method.toUpperCase()} ${route.path}`;
      const anonymous = await plaza.http[route.method](path).send({});
      expect(anonymous.status, label).toBe(401);
      expect(anonymous.headers['www-authenticate'], label).toBe('Bearer realm="Plaza API"');

      const session = await ann.agent[route.method](path).set('x-csrf-token', ann.csrf).send({});
      expect(session.status, label).toBe(401);
      expect(session.body.detail).toContain('send an OAuth access token');
      expect(session.headers['www-authenticate']).toContain('error="invalid_request"');

      const apiKey = await plaza.http[route.method](path)
        .set('Authorization', `Bearer ${key.body.secret}`)
        .send({});
      expect(apiKey.status, label).toBe(401);
      expect(apiKey.body.detail).toContain('not a personal API key');

      const forged = await plaza.http[route.method](path)
        .set('Authorization', `Bearer ${FOREIGN_JWT}`)
        .send({});
      expect(forged.status, label).toBe(401);
      expect(forged.body.code).toBe('PLAZA_UNAUTHENTICATED');
      expect(forged.headers['www-authenticate'], label).toContain('error="invalid_token"');

      const malformed = await plaza.http[route.method](path).set('Authorization', 'Token abc').send({});
      expect(malformed.status, label).toBe(401);
      expect(malformed.headers['www-authenticate'], label).toContain('error="invalid_request"');
    }
  });

  it('people routes refuse an app token with a 401 that says where app tokens go', async () => {
    const ann = await signUp(plaza);
    const account = await createOrg(ann, 'account');
    const res = await plaza.http
      .get(`/v1/organizations/${account.id}/contacts`)
      .set('Authorization', `Bearer ${FOREIGN_JWT}`)
      .expect(401);
    expect(res.body.code).toBe('PLAZA_UNAUTHENTICATED');
    expect(res.body.detail).toContain('OAuth access tokens are for the app API');
    // A token next to a session cookie does not borrow the session either.
    const at = { domain: '127.0.0.1', path: '/', secure: false, script: false };
    const jar = (ann.agent as any).jar;
    await plaza.http
      .get('/v1/me')
      .set(
        'Cookie',
        `plaza_session=${jar.getCookie('plaza_session', at).value}; plaza_session.sig=${jar.getCookie('plaza_session.sig', at).value}`,
      )
      .set('Authorization', `Bearer ${FOREIGN_JWT}`)
      .expect(401);
    // Public routes ignore it.
    await plaza.http.get('/v1/marketplace/apps').set('Authorization', `Bearer ${FOREIGN_JWT}`).expect(200);
  });

  it('the OpenAPI document lists the oauth2 scheme with the scope catalog and each app route’s scope', async () => {
    const doc = (await plaza.http.get('/openapi.json').expect(200)).body;
    const scheme = doc.components.securitySchemes.oauth2;
    expect(scheme.type).toBe('oauth2');
    const scopes = scheme.flows.authorizationCode.scopes;
    for (const s of plaza.core.scopes.list()) expect(scopes[s.name]).toBe(s.consentText);
    expect(scheme.flows.authorizationCode.authorizationUrl).toMatch(/\/oauth\/auth$/);
    expect(scheme.flows.clientCredentials.tokenUrl).toMatch(/\/oauth\/token$/);
    for (const [method, path, scope] of APP_ROUTES) {
      const op = doc.paths[path][method];
      expect(op.security, `${method} ${path}`).toEqual([{ oauth2: [scope] }]);
      expect(op['x-plaza-access']).toEqual({ kind: 'app', scope });
    }
    expect(doc.paths['/v1/app'].get.security).toEqual([{ oauth2: [] }]);
    expect(doc.paths['/v1/app'].get['x-plaza-access']).toEqual({ kind: 'app_client' });
    // People routes do not offer oauth2.
    expect(JSON.stringify(doc.paths['/v1/organizations/{orgId}/contacts'])).not.toContain('oauth2');
  });

  it('a route that needs a scope nobody registered fails when it is mounted', () => {
    const route = defineRoute({
      method: 'get',
      path: '/v1/widgets',
      summary: 'Widgets',
      tag: 'Test',
      access: { kind: 'app', scope: 'widgets:read' },
      response: z.object({}),
      handler: async () => ({}),
    });
    expect(() =>
      mountRoutes(new Router(), [route], {
        identity: plaza.core.identity,
        organizations: plaza.core.organizations,
        bodyLimitBytes: 1024,
        scopes: plaza.core.scopes,
        apps: createAppAuthenticator({
          organizationById: async () => undefined,
          limiter: createRateLimiter(undefined, 'x'),
          limits: { perInstallation: 1, perApp: 1, anonymous: 1 },
        }),
        anonymousLimit: { limiter: createRateLimiter(undefined, 'x'), perMinute: 1 },
      }),
    ).toThrow('unknown scope widgets:read');
  });
});
