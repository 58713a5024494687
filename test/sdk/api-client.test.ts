import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPlazaClient, PlazaApiError, PlazaOAuthError, type PlazaTokens } from '../../sdk/src/index.ts';
import { type FakeServer, fakeJwt, type RecordedRequest, startFakeServer } from './fake-server.ts';

let server: FakeServer;
beforeAll(async () => {
  server = await startFakeServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const client = (onTokens?: (t: PlazaTokens, p: PlazaTokens) => void | Promise<void>) =>
  createPlazaClient({
    plazaUrl: server.url,
    clientId: 'cli_1',
    clientSecret: 'secret',
    redirectUri: 'http://127.0.0.1:4999/callback',
    onTokens,
  });

const tokens = (n: number, overrides: Partial<PlazaTokens> = {}): PlazaTokens => ({
  accessToken: `at_${n}`,
  refreshToken: `rt_${n}`,
  expiresAt: Date.now() + 900_000,
  scopes: ['contacts:read'],
  accountId: 'acct_1',
  ...overrides,
});

const CONTACT = {
  id: 'con_1',
  accountId: 'acct_1',
  name: 'Ada',
  email: null,
  phone: null,
  tags: [],
  customFields: {},
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  createdBy: { type: 'system' },
  updatedBy: { type: 'system' },
};

const bearer = (req: RecordedRequest) => req.headers.authorization?.replace(/^Bearer /, '');
const invalidToken = {
  status: 401,
  headers: {
    'content-type': 'application/problem+json',
    'www-authenticate':
      'Bearer realm="Plaza API", error="invalid_token", error_description="the access token is invalid, expired or revoked"',
  },
  json: {
    type: 'https://plaza.dev/problems/unauthenticated',
    title: 'Unauthenticated',
    status: 401,
    code: 'PLAZA_UNAUTHENTICATED',
    detail: 'the access token is invalid, expired or revoked',
  },
};

/** Token endpoint that rotates rt_n → (at_n+1, rt_n+1). */
function rotatingTokenEndpoint() {
  server.on('POST /oauth/token', (req) => {
    const n = Number(req.form.get('refresh_token')!.slice(3)) + 1;
    return {
      json: {
        access_token: `at_${n}`,
        refresh_token: `rt_${n}`,
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'contacts:read',
      },
    };
  });
}

describe('the API client', () => {
  it('sends the bearer token, builds paths and queries, and returns the typed body', async () => {
    server.on('GET /v1/contacts', () => ({ json: { data: [CONTACT], nextCursor: null } }));
    const api = client().api(tokens(1));
    const page = await api.contacts.list({ limit: 5, q: 'a&b=c', sort: 'name' });
    expect(page.data[0].name).toBe('Ada');
    const [sent] = server.to('/v1/contacts');
    expect(sent.headers.authorization).toBe('Bearer at_1');
    expect(Object.fromEntries(sent.query)).toEqual({ limit: '5', q: 'a&b=c', sort: 'name' });
    // Path parameters are encoded: a slash cannot reach another route.
    server.on('GET /v1/contacts/con%201%2Fx', () => ({ json: CONTACT }));
    await api.contacts.get('con 1/x');
    expect(server.requests.at(-1)!.path).toBe('/v1/contacts/con%201%2Fx');
  });

  it('sends JSON bodies and returns nothing for 204', async () => {
    server.on('POST /v1/contacts', (req) => ({
      status: 201,
      json: { ...CONTACT, name: JSON.parse(req.body).name },
    }));
    server.on('DELETE /v1/contacts/con_1', () => ({ status: 204 }));
    const api = client().api(tokens(1));
    const created = await api.contacts.create({ name: 'Grace', tags: ['vip'] });
    expect(created.name).toBe('Grace');
    const post = server.to('/v1/contacts').at(-1)!;
    expect(post.headers['content-type']).toBe('application/json');
    expect(JSON.parse(post.body)).toEqual({ name: 'Grace', tags: ['vip'] });
    expect(await api.delete('/v1/contacts/{contactId}', { params: { contactId: 'con_1' } })).toBeUndefined();
    await expect(api.contacts.delete('con_1')).resolves.toBeUndefined();
  });

  it('follows the cursor through every page', async () => {
    server.on('GET /v1/contacts', (req) => {
      const cursor = req.query.get('cursor');
      const n = cursor ? Number(cursor) : 0;
      return {
        json: {
          data: [
            { ...CONTACT, id: `con_${n}` },
            { ...CONTACT, id: `con_${n + 1}` },
          ],
          nextCursor: n < 4 ? String(n + 2) : null,
        },
      };
    });
    const ids: string[] = [];
    for await (const contact of client().api(tokens(1)).contacts.all({ q: 'x' })) ids.push(contact.id);
    expect(ids).toEqual(['con_0', 'con_1', 'con_2', 'con_3', 'con_4', 'con_5']);
    expect(server.to('/v1/contacts').map((r) => r.query.get('q'))).toEqual(['x', 'x', 'x']);
  });

  it('refreshes once on 401 invalid_token, tells onTokens, and retries every waiting call', async () => {
    rotatingTokenEndpoint();
    server.on('GET /v1/contacts', (req) =>
      bearer(req) === 'at_2' ? { json: { data: [CONTACT], nextCursor: null } } : invalidToken,
    );
    const seen: Array<[string, string]> = [];
    const api = client((next, previous) => {
      seen.push([previous.refreshToken!, next.refreshToken!]);
    }).api(tokens(1));
    const pages = await Promise.all([api.contacts.list(), api.contacts.list(), api.contacts.list()]);
    expect(pages.every((p) => p.data.length === 1)).toBe(true);
    expect(server.to('/oauth/token')).toHaveLength(1);
    expect(seen).toEqual([['rt_1', 'rt_2']]);
    expect(api.tokens).toMatchObject({ accessToken: 'at_2', refreshToken: 'rt_2', accountId: 'acct_1' });
    // The new pair is used from then on.
    await api.contacts.list();
    expect(bearer(server.to('/v1/contacts').at(-1)!)).toBe('at_2');
    expect(server.to('/oauth/token')).toHaveLength(1);
  });

  it('refreshes before the call when the access token has expired', async () => {
    rotatingTokenEndpoint();
    server.on('GET /v1/account', (req) =>
      bearer(req) === 'at_8' ? { json: { id: 'acct_1' } } : invalidToken,
    );
    const api = client().api(tokens(7, { expiresAt: Date.now() - 1000 }));
    await api.account.get();
    expect(server.to('/v1/account').map(bearer)).toEqual(['at_8']);
  });

  it('does not refresh for other 401s, or without a refresh token', async () => {
    server.on('GET /v1/contacts', () => ({
      ...invalidToken,
      headers: {
        ...invalidToken.headers,
        'www-authenticate': 'Bearer realm="Plaza API", error="invalid_request"',
      },
    }));
    const err = await client()
      .api(tokens(1))
      .contacts.list()
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaApiError);
    expect(err.bearerError).toBe('invalid_request');
    server.on('GET /v1/contacts', () => invalidToken);
    const noRefresh = await client()
      .api(tokens(1, { refreshToken: undefined }))
      .contacts.list()
      .catch((e) => e);
    expect(noRefresh.status).toBe(401);
    expect(server.to('/oauth/token')).toHaveLength(0);
  });

  it('answers 401 with the refusal as cause when the refresh is refused (uninstalled)', async () => {
    server.on('POST /oauth/token', () => ({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    }));
    server.on('GET /v1/contacts', () => invalidToken);
    let called = false;
    const err = await client(() => {
      called = true;
    })
      .api(tokens(1))
      .contacts.list()
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaApiError);
    expect(err).toMatchObject({ status: 401, code: 'PLAZA_UNAUTHENTICATED', bearerError: 'invalid_token' });
    expect(err.cause).toBeInstanceOf(PlazaOAuthError);
    expect(err.cause.error).toBe('invalid_grant');
    expect(called).toBe(false);
  });

  it('surfaces problem documents: code, fields, request id, Retry-After', async () => {
    server.on('GET /v1/users', () => ({
      status: 403,
      headers: { 'content-type': 'application/problem+json', 'x-request-id': 'req_abc' },
      json: {
        type: 'https://plaza.dev/problems/scope-missing',
        title: 'Scope missing',
        status: 403,
        code: 'PLAZA_SCOPE_MISSING',
        detail: 'this needs the scope users:read',
        requiredScope: 'users:read',
        fields: [{ field: 'scope', reason: 'users:read is required' }],
      },
    }));
    const err = await client()
      .api(tokens(1))
      .users.list()
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaApiError);
    expect(err).toMatchObject({ status: 403, code: 'PLAZA_SCOPE_MISSING', requestId: 'req_abc' });
    expect(err.message).toBe('PLAZA_SCOPE_MISSING: this needs the scope users:read');
    expect(err.problem.requiredScope).toBe('users:read');

    server.on('GET /v1/users', () => ({
      status: 429,
      headers: { 'content-type': 'application/problem+json', 'retry-after': '7' },
      json: { type: 'x', title: 'Too many', status: 429, code: 'PLAZA_RATE_LIMITED' },
    }));
    const limited = await client()
      .api(tokens(1))
      .users.list()
      .catch((e) => e);
    expect(limited).toMatchObject({ status: 429, code: 'PLAZA_RATE_LIMITED', retryAfter: 7 });

    server.on('GET /v1/users', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream down');
    });
    const plain = await client()
      .api(tokens(1))
      .users.list()
      .catch((e) => e);
    expect(plain).toMatchObject({
      status: 502,
      code: undefined,
      problem: undefined,
      message: 'upstream down',
    });
  });

  it('as the app itself: one client-credentials token for many calls, a new one after 401', async () => {
    let issued = 0;
    server.on('POST /oauth/token', (req) => {
      expect(req.form.get('grant_type')).toBe('client_credentials');
      return { json: { access_token: fakeJwt({ n: ++issued }), token_type: 'Bearer', expires_in: 900 } };
    });
    let refuseFirst = true;
    server.on('GET /v1/app', () => {
      if (refuseFirst && issued === 1) return invalidToken;
      return { json: { appId: 'app_1', clientId: 'cli_1', activeInstallations: issued } };
    });
    const app = client().appApi();
    const first = await app.app.get();
    expect(first.activeInstallations).toBe(2);
    refuseFirst = false;
    await Promise.all([app.app.get(), app.app.get()]);
    expect(issued).toBe(2);
  });

  it("as the app itself: lists its installations, gets an installation's tokens to use, uninstalls", async () => {
    server.on('POST /oauth/token', () => ({
      json: { access_token: fakeJwt({ plaza_app: 'app_1' }), token_type: 'Bearer', expires_in: 900 },
    }));
    const installation = {
      id: 'inst_2',
      accountId: 'acct_2',
      versionId: 'ver_1',
      grantedScopes: ['contacts:read'],
      status: 'active',
      createdAt: '2025-01-01T00:00:00.000Z',
      uninstalledAt: null,
    };
    server.on('GET /v1/app/installations', () => ({ json: { data: [installation], nextCursor: null } }));
    server.on('POST /v1/app/installations/inst_2/token', () => ({
      json: {
        access_token: fakeJwt({ plaza_account: 'acct_2', plaza_installation: 'inst_2', plaza_app: 'app_1' }),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: 'rt_bulk',
        scope: 'contacts:read',
      },
    }));
    server.on('DELETE /v1/app/installations/inst_2', () => ({
      json: { ...installation, status: 'uninstalled', uninstalledAt: '2025-01-02T00:00:00.000Z' },
    }));
    server.on('GET /v1/contacts', () => ({ json: { data: [CONTACT], nextCursor: null } }));
    const plaza = client();
    const app = plaza.appApi();
    const all = [];
    for await (const inst of app.installations.all()) all.push(inst.id);
    expect(all).toEqual(['inst_2']);
    const got = await app.installations.tokens('inst_2');
    expect(got).toMatchObject({
      refreshToken: 'rt_bulk',
      scopes: ['contacts:read'],
      accountId: 'acct_2',
      installationId: 'inst_2',
      appId: 'app_1',
    });
    expect(got.expiresAt).toBeGreaterThan(Date.now());
    await plaza.api(got).contacts.list();
    expect(bearer(server.to('/v1/contacts')[0])).toBe(got.accessToken);
    expect((await app.installations.uninstall('inst_2')).status).toBe('uninstalled');
    // Every app call carried the client-credentials token, never the installation's.
    for (const path of ['/v1/app/installations', '/v1/app/installations/inst_2/token'])
      expect(bearer(server.to(path)[0])).not.toBe(got.accessToken);
  });

  it('as the app itself: manages its webhook endpoints (create with the secret, read it again, test, change, delete)', async () => {
    server.on('POST /oauth/token', () => ({
      json: { access_token: fakeJwt({ plaza_app: 'app_1' }), token_type: 'Bearer', expires_in: 900 },
    }));
    const endpoint = {
      id: 'ep_1',
      appId: 'app_1',
      url: 'https://myapp.example.com/hooks',
      description: '',
      eventTypes: ['contact.created'],
      installationIds: [],
      enabled: true,
      disabledReason: null,
      disabledAt: null,
      rateLimit: null,
      failingSince: null,
      consecutiveFailures: 0,
      lastAttemptAt: null,
      lastSuccessAt: null,
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:00.000Z',
    };
    server.on('POST /v1/app/webhook-endpoints', () => ({
      status: 201,
      json: { endpoint, secret: 'whsec_c2VjcmV0' },
    }));
    server.on('GET /v1/app/webhook-endpoints', () => ({ json: { data: [endpoint], nextCursor: null } }));
    server.on('GET /v1/app/webhook-endpoints/ep_1', () => ({ json: endpoint }));
    server.on('PATCH /v1/app/webhook-endpoints/ep_1', () => ({ json: { ...endpoint, enabled: false } }));
    server.on('DELETE /v1/app/webhook-endpoints/ep_1', () => ({ status: 204 }));
    server.on('GET /v1/app/webhook-endpoints/ep_1/secret', () => ({
      json: { secret: 'whsec_c2VjcmV0', createdAt: endpoint.createdAt, previous: [] },
    }));
    server.on('POST /v1/app/webhook-endpoints/ep_1/test', () => ({
      status: 201,
      json: { id: 'msg_1', eventType: 'webhook.test', state: 'pending' },
    }));
    const endpoints = client().appApi().webhookEndpoints;
    const created = await endpoints.create({ url: endpoint.url, eventTypes: ['contact.created'] });
    expect(created).toEqual({ endpoint, secret: 'whsec_c2VjcmV0' });
    expect(JSON.parse(server.to('/v1/app/webhook-endpoints')[0].body)).toEqual({
      url: endpoint.url,
      eventTypes: ['contact.created'],
    });
    const all = [];
    for await (const e of endpoints.all()) all.push(e.id);
    expect(all).toEqual(['ep_1']);
    expect((await endpoints.list()).data).toHaveLength(1);
    expect(await endpoints.get('ep_1')).toEqual(endpoint);
    expect((await endpoints.secret('ep_1')).secret).toBe('whsec_c2VjcmV0');
    expect((await endpoints.test('ep_1')).id).toBe('msg_1');
    expect((await endpoints.update('ep_1', { enabled: false })).enabled).toBe(false);
    expect(
      JSON.parse(server.to('/v1/app/webhook-endpoints/ep_1').find((r) => r.method === 'PATCH')!.body),
    ).toEqual({
      enabled: false,
    });
    expect(await endpoints.delete('ep_1')).toBeUndefined();
    expect(
      server.requests.filter((r) => r.path.startsWith('/v1/app/webhook-endpoints')).map((r) => r.method),
    ).toEqual(['POST', 'GET', 'GET', 'GET', 'GET', 'POST', 'PATCH', 'DELETE']);
  });
});
