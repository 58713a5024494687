import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlazaError } from '../../server/errors.ts';
import {
  authorizationUrl,
  browserAgent,
  claimsOf,
  exchange,
  follow,
  formFields,
  installByConsent,
  randomVerifier,
  relyingParty,
  s256,
  submit,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Step 6: the security requirements of the issue, one test each (RFC 9700
 * MUSTs and the page protections), driven with openid-client as the relying
 * party where it applies and with raw requests where a well-behaved library
 * would refuse to send the bad request.
 */
let plaza: PlazaServer;
let app: TestApp;
let config: client.Configuration;
let who: Person;
let shopId: string;
const CALLBACK = 'https://sync.example.com/oauth/callback';

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
  app = await registerApp(plaza, {
    redirectUris: [CALLBACK, 'http://127.0.0.1:8400/callback'],
    scopes: [{ name: 'contacts:read' }],
  });
  config = await relyingParty(plaza, app);
  who = await person(plaza);
  shopId = (await account(plaza, who)).org.id;
});
afterAll(() => plaza?.close());

/** An authorization request as raw query parameters (for requests openid-client would not build). */
function authorize(params: Record<string, string>) {
  const verifier = randomVerifier();
  return new URLSearchParams({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: CALLBACK,
    scope: 'contacts:read',
    state: 'st4te',
    code_challenge: s256(verifier),
    code_challenge_method: 'S256',
    ...params,
  });
}

/** GET /oauth/auth without following: either an error page (no redirect) or a redirect. */
const authRequest = (params: URLSearchParams) =>
  plaza.http.get(`/oauth/auth?${params}`).redirects(0).set('accept', 'text/html');

/** The error an authorization request sent back to the client's redirect URI. */
function redirectedError(res: { status: number; headers: Record<string, string> }) {
  expect(res.status).toBe(303);
  const url = new URL(res.headers.location);
  expect(url.origin + url.pathname).toBe(CALLBACK);
  return url.searchParams;
}

async function installAndExchange() {
  const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
  const callback = await installByConsent(plaza, browserAgent(plaza), start, who, shopId);
  return { start, callback };
}

describe('redirect URIs', () => {
  it('must match exactly: trailing slash, case, extra query, port and scheme are refused without a redirect', async () => {
    const variants = [
      `${CALLBACK}/`,
      'https://sync.example.com/OAuth/callback',
      'https://SYNC.example.com/oauth/callback',
      `${CALLBACK}?next=/admin`,
      'https://sync.example.com:8443/oauth/callback',
      'http://sync.example.com/oauth/callback',
      'https://sync.example.com.evil.example/oauth/callback',
    ];
    for (const redirect_uri of variants) {
      const res = await authRequest(authorize({ redirect_uri }));
      expect(res.status, redirect_uri).toBe(400);
      expect(res.headers.location, redirect_uri).toBeUndefined();
      expect(res.text).toContain('invalid_redirect_uri');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    }
    // A redirect URI of another app is no better.
    const other = await registerApp(plaza, { redirectUris: ['https://other.example.com/cb'], live: false });
    const res = await authRequest(authorize({ redirect_uri: other.redirectUri }));
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
  });

  it('are https, or plain http only on loopback addresses', async () => {
    const draft = await registerApp(plaza, { redirectUris: ['http://localhost:3000/cb'], live: false });
    for (const uri of ['http://app.example.com/cb', 'http://10.0.0.1/cb', 'javascript:alert(1)']) {
      const err = await plaza.core.apps
        .updateVersion(draft.developer, draft.appId, draft.versionId, { redirectUris: [uri] })
        .then(
          () => undefined,
          (e) => e,
        );
      expect(err, uri).toBeInstanceOf(PlazaError);
      expect((err as PlazaError).fields?.[0].field).toBe('body.redirectUris.0');
    }
    // Even a plain-http URI that reached the database some other way is never a redirect target.
    await plaza.core.db.query(
      "UPDATE app_versions SET redirect_uris = array_append(redirect_uris, 'http://legacy.example.com/cb') WHERE id = $1",
      [app.versionId],
    );
    const res = await authRequest(authorize({ redirect_uri: 'http://legacy.example.com/cb' }));
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    // The loopback one registered for the app works.
    const loopback = await authRequest(authorize({ redirect_uri: 'http://127.0.0.1:8400/callback' }));
    expect(loopback.status).toBe(303);
    expect(loopback.headers.location).toMatch(/^\/oauth\/interaction\//);
  });

  it('of an unreviewed version never take a customer’s account anywhere', async () => {
    const grown = await registerApp(plaza, { redirectUris: [CALLBACK], name: 'Grown App' });
    const draft = await plaza.core.apps.createVersion(grown.developer, grown.appId);
    await plaza.core.apps.updateVersion(grown.developer, grown.appId, draft.id, {
      redirectUris: [CALLBACK, 'https://new.example.com/cb'],
    });
    const grownConfig = await relyingParty(plaza, grown);
    const start = await authorizationUrl(grownConfig, 'https://new.example.com/cb', 'contacts:read');
    // The provider accepts the URI (the developer's test accounts may use it), so the person gets to
    // Plaza's pages; for a customer's account the consent page refuses, and nothing redirects there.
    const agent = browserAgent(plaza);
    const login = await follow(agent, plaza, start.url.pathname + start.url.search);
    const action = /action="([^"]*\/login)"/.exec(login.page!.text)![1];
    const fields = formFields(login.page!.text, /\/login$/);
    const signed = await submit(agent, action, { ...fields, email: who.email, password: who.password });
    const page = await follow(agent, plaza, signed.headers.location);
    expect(page.redirect).toBeUndefined();
    expect(page.page!.status).toBe(400);
    expect(page.page!.text).toContain('not registered for version 1');
    expect(await plaza.core.installations.findActive(shopId, grown.appId)).toBeUndefined();
  });
});

describe('PKCE', () => {
  it('is required, S256 only', async () => {
    const none = redirectedError(
      await authRequest(authorize({ code_challenge: '', code_challenge_method: '' })),
    );
    expect(none.get('error')).toBe('invalid_request');
    expect(none.get('iss')).toBe(plaza.issuer);
    const plain = redirectedError(await authRequest(authorize({ code_challenge_method: 'plain' })));
    expect(plain.get('error')).toBe('invalid_request');
    const methodOnly = redirectedError(await authRequest(authorize({ code_challenge: '' })));
    expect(methodOnly.get('error')).toBe('invalid_request');
  });

  it('refuses a code exchanged without its verifier or with another one', async () => {
    const { start, callback } = await installAndExchange();
    const code = callback.searchParams.get('code')!;
    const token = (extra: Record<string, string>) =>
      plaza.http
        .post('/oauth/token')
        .auth(app.clientId, app.clientSecret)
        .type('form')
        .send(
          new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: CALLBACK,
            ...extra,
          }).toString(),
        );
    expect((await token({})).body.error).toBe('invalid_grant');
    expect((await token({ code_verifier: randomVerifier() })).body.error).toBe('invalid_grant');
    expect(start.verifier).toBeTruthy();
  });

  it('refuses a verifier for a code that was issued without a challenge', async () => {
    const { start, callback } = await installAndExchange();
    const tokens = await exchange(config, callback, start);
    // Such a code cannot come out of /oauth/auth; make one directly to prove the token endpoint refuses it.
    const provider = plaza.core.oauth.provider;
    const inst = await plaza.core.installations.findActive(shopId, app.appId);
    const code = new provider.AuthorizationCode({
      client: await provider.Client.find(app.clientId),
      accountId: shopId,
      grantId: inst!.grantId!,
      redirectUri: CALLBACK,
      scope: 'contacts:read',
      resource: `${plaza.baseUrl}/v1`,
    } as any);
    const value = await code.save();
    const res = await plaza.http
      .post('/oauth/token')
      .auth(app.clientId, app.clientSecret)
      .type('form')
      .send(
        new URLSearchParams({
          grant_type: 'authorization_code',
          code: value,
          redirect_uri: CALLBACK,
          code_verifier: randomVerifier(),
        }).toString(),
      );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(tokens.access_token).toBeTruthy();
  });
});

describe('grant and response types', () => {
  it('refuses response_type=token (and any hybrid) without putting a token anywhere', async () => {
    for (const response_type of ['token', 'code token', 'code id_token', 'id_token']) {
      const res = await authRequest(authorize({ response_type }));
      const location = res.headers.location ?? '';
      expect(location, response_type).not.toMatch(/access_token|id_token=/);
      if (res.status === 303) {
        const url = new URL(location.replace('#', '?'));
        expect(url.searchParams.get('error')).toMatch(/unsupported_response_type|invalid_request/);
      } else expect(res.status).toBe(400);
    }
  });

  it('refuses grant_type=password', async () => {
    const res = await plaza.http
      .post('/oauth/token')
      .auth(app.clientId, app.clientSecret)
      .type('form')
      .send('grant_type=password&username=someone%40example.com&password=secret')
      .expect(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });
});

describe('codes and tokens', () => {
  it('uses a code once: a second exchange is refused and revokes the grant', async () => {
    const { start, callback } = await installAndExchange();
    const tokens = await exchange(config, callback, start);
    const again = await exchange(config, callback, start).then(
      () => undefined,
      (e: client.ResponseBodyError) => e,
    );
    expect(again?.error).toBe('invalid_grant');
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await plaza.core.oauth.verifyAccessToken(tokens.access_token)).toBeNull();
    expect(await plaza.core.installations.findActive(shopId, app.appId)).toBeUndefined();
  });

  it('binds a refresh to the granted scopes', async () => {
    const { start, callback } = await installAndExchange();
    const tokens = await exchange(config, callback, start);
    await expect(
      client.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'contacts:read contacts:write' }),
    ).rejects.toMatchObject({ error: 'invalid_scope' });
    await plaza.core.oauth.uninstallInstallation(
      { installationId: claimsOf(tokens.access_token).plaza_installation },
      who.actor,
    );
  });

  it('restricts access tokens to the Plaza API: a token for another audience is refused', async () => {
    // Another Plaza on the same database signs with the same keys, for its own API.
    const other = await startPlazaServer({
      database: plaza.database,
      publicUrl: 'https://other-plaza.example',
      workers: false,
    });
    try {
      const res = await other.http
        .post('/oauth/token')
        .auth(app.clientId, app.clientSecret)
        .type('form')
        .send('grant_type=client_credentials')
        .expect(200);
      const foreign = res.body.access_token as string;
      expect(claimsOf(foreign).aud).toBe('https://other-plaza.example/v1');
      expect(await other.core.oauth.verifyAccessToken(foreign)).not.toBeNull();
      expect(await plaza.core.oauth.verifyAccessToken(foreign)).toBeNull();
      await plaza.http.get('/v1/app').set('authorization', `Bearer ${foreign}`).expect(401);
    } finally {
      await other.close();
    }
    // And the token endpoint issues nothing for another resource.
    await expect(
      client.clientCredentialsGrant(config, { resource: 'https://api.elsewhere.example/' }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('never carries tokens in query strings', async () => {
    const { start, callback } = await installAndExchange();
    // The authorization response carries a code, the state and the issuer, nothing else.
    expect([...callback.searchParams.keys()].sort()).toEqual(['code', 'iss', 'state']);
    const tokens = await exchange(config, callback, start);
    // The API takes a token from the Authorization header only.
    await plaza.http.get(`/v1/contacts?access_token=${tokens.access_token}`).expect(401);
    await plaza.http.get('/v1/contacts').set('authorization', `Bearer ${tokens.access_token}`).expect(200);
    // The token endpoint reads its parameters from the body, never the query.
    const res = await plaza.http
      .post('/oauth/token?grant_type=client_credentials')
      .auth(app.clientId, app.clientSecret)
      .type('form')
      .send('')
      .expect(400);
    expect(res.body.error).toBe('invalid_request');
    await plaza.core.oauth.uninstallInstallation(
      { installationId: claimsOf(tokens.access_token).plaza_installation },
      who.actor,
    );
  });
});

describe('the sign-in and consent pages', () => {
  it('answer every credential and consent POST with 303', async () => {
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const agent = browserAgent(plaza);
    const login = await follow(agent, plaza, start.url.pathname + start.url.search);
    const fields = formFields(login.page!.text, /\/login$/);
    const action = /action="([^"]*\/login)"/.exec(login.page!.text)![1];
    const wrong = await submit(agent, action, { ...fields, email: who.email, password: 'not it' });
    expect(wrong.status).toBe(303);
    const again = await follow(agent, plaza, wrong.headers.location);
    expect(again.page!.text).toContain('do not match');
    const right = await submit(agent, action, { ...fields, email: who.email, password: who.password });
    expect(right.status).toBe(303);
    const consent = await follow(agent, plaza, right.headers.location);
    const consentFields = formFields(consent.page!.text, /\/consent$/);
    const consentAction = /<form method="post" action="([^"]*\/consent)"/.exec(consent.page!.text)![1];
    const denied = await submit(agent, consentAction, { ...consentFields, decision: 'deny' });
    expect(denied.status).toBe(303);
  });

  it('cannot be framed, are not cached, and refuse forms without their CSRF token', async () => {
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const agent = browserAgent(plaza);
    const login = await follow(agent, plaza, start.url.pathname + start.url.search);
    for (const res of [login.page!]) {
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cache-control']).toContain('no-store');
    }
    const action = /action="([^"]*\/login)"/.exec(login.page!.text)![1];
    const forged = await submit(agent, action, { csrf: 'forged', email: who.email, password: who.password });
    expect(forged.status).toBe(403);
    expect(forged.headers['set-cookie'] ?? []).not.toContainEqual(expect.stringMatching(/^plaza_session=/));
    const missing = await submit(agent, action, { email: who.email, password: who.password });
    expect(missing.status).toBe(403);
    // Signed in properly, the consent form needs the session's token too.
    const fields = formFields(login.page!.text, /\/login$/);
    const signed = await submit(agent, action, { ...fields, email: who.email, password: who.password });
    const consent = await follow(agent, plaza, signed.headers.location);
    expect(consent.page!.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const consentAction = /<form method="post" action="([^"]*\/consent)"/.exec(consent.page!.text)![1];
    const bad = await submit(agent, consentAction, {
      csrf: fields.csrf,
      account: shopId,
      decision: 'approve',
    });
    expect(bad.status).toBe(403);
    expect(await plaza.core.installations.findActive(shopId, app.appId)).toBeUndefined();
    // The interaction of one browser cannot be finished from another (its cookie is bound to it).
    const other = browserAgent(plaza);
    const stolen = await other.get(new URL(consentAction, plaza.baseUrl).pathname.replace(/\/consent$/, ''));
    expect(stolen.status).toBe(400);
    expect(stolen.text).toContain('expired');
  });

  it('sign their cookies and set no CORS headers on the authorization endpoint', async () => {
    const params = authorize({});
    const res = await authRequest(params).set('origin', 'https://evil.example');
    expect(res.status).toBe(303);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const cookies = res.headers['set-cookie'] as unknown as string[];
    expect(cookies.some((c) => c.startsWith('plaza_oauth_interaction='))).toBe(true);
    expect(cookies.some((c) => c.startsWith('plaza_oauth_interaction.sig='))).toBe(true);
    const preflight = await plaza.http
      .options(`/oauth/auth?${params}`)
      .set('origin', 'https://evil.example')
      .set('access-control-request-method', 'GET');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(plaza.core.oauth.provider.proxy).toBe(plaza.core.config.trustProxy);
  });

  it('put the issuer in every authorization response (RFC 9207)', async () => {
    const { start, callback } = await installAndExchange();
    expect(callback.searchParams.get('iss')).toBe(plaza.issuer);
    const tokens = await exchange(config, callback, start);
    // openid-client checks iss itself: a response claiming another issuer is rejected.
    const forged = new URL(callback);
    forged.searchParams.set('iss', 'https://evil.example/oauth');
    await expect(exchange(config, forged, start)).rejects.toBeDefined();
    await plaza.core.oauth.uninstallInstallation(
      { installationId: claimsOf(tokens.access_token).plaza_installation },
      who.actor,
    );
  });
});
