import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { claimsOf, relyingParty } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Step 2: apps of the registry are the provider's clients, authenticated with
 * their hashed client secrets (Basic only), and get client-credentials tokens
 * for app-level routes: the app itself, no account, no scope.
 */
let plaza: PlazaServer;
let app: TestApp;

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
  app = await registerApp(plaza, { redirectUris: ['https://sync.example.com/callback'] });
});
afterAll(() => plaza?.close());

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** The OAuth error of a refused openid-client call (error body or WWW-Authenticate challenge). */
async function refusal(promise: Promise<unknown>): Promise<{ error: string; status: number }> {
  const err = await promise.then(
    () => {
      throw new Error('expected the request to be refused');
    },
    (e) => e,
  );
  if (err instanceof client.ResponseBodyError) return { error: err.error, status: err.status };
  if (err instanceof client.WWWAuthenticateChallengeError)
    return { error: String(err.cause[0]?.parameters.error), status: err.status };
  throw err;
}

describe('client credentials', () => {
  it('gives an app a JWT for the Plaza API that carries the app and no account', async () => {
    const config = await relyingParty(plaza, app);
    const tokens = await client.clientCredentialsGrant(config);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(900);
    expect(tokens.refresh_token).toBeUndefined();
    const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0], 'base64url').toString());
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const claims = claimsOf(tokens.access_token);
    expect(claims).toMatchObject({
      iss: plaza.issuer,
      aud: `${plaza.baseUrl}/v1`,
      client_id: app.clientId,
      plaza_app: app.appId,
    });
    // Never account data: no account, no installation, no scope (asking for one is invalid_scope).
    expect(claims.plaza_account).toBeUndefined();
    expect(claims.plaza_installation).toBeUndefined();
    expect(claims.scope).toBeUndefined();
    expect(await plaza.core.oauth.verifyAccessToken(tokens.access_token)).toEqual({
      accountId: null,
      appId: app.appId,
      installationId: null,
      clientId: app.clientId,
      scopes: [],
    });
    // The app-level API route takes it; an account route does not.
    const me = await plaza.http.get('/v1/app').set('authorization', `Bearer ${tokens.access_token}`);
    expect(me.status).toBe(200);
    const contacts = await plaza.http
      .get('/v1/contacts')
      .set('authorization', `Bearer ${tokens.access_token}`);
    expect([401, 403]).toContain(contacts.status);
  });

  it('refuses a wrong secret, an unknown client and a secret sent in the body', async () => {
    const wrong = await refusal(
      client.clientCredentialsGrant(
        await relyingParty(plaza, { clientId: app.clientId, clientSecret: 'plz_cs_wrong' }),
      ),
    );
    expect(wrong.error).toBe('invalid_client');
    expect(wrong.status).toBe(401);
    const unknown = await plaza.http
      .post('/oauth/token')
      .set('authorization', basic('cl_unknown', app.clientSecret))
      .type('form')
      .send('grant_type=client_credentials')
      .expect(401);
    expect(unknown.body.error).toBe('invalid_client');
    // client_secret_post is not a method Plaza accepts: the plaintext secret never reaches the provider's comparison.
    const post = await plaza.http
      .post('/oauth/token')
      .type('form')
      .send(
        new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: app.clientId,
          client_secret: app.clientSecret,
        }).toString(),
      );
    expect(post.status).toBe(401);
    expect(post.body.error).toBe('invalid_client');
    // No CORS for browsers: a cross-origin call to the token endpoint is refused, with no allow-origin.
    const cors = await plaza.http
      .post('/oauth/token')
      .set('origin', 'https://evil.example')
      .set('authorization', basic(app.clientId, app.clientSecret))
      .type('form')
      .send('grant_type=client_credentials')
      .expect(400);
    expect(cors.body.error).toBe('invalid_request');
    expect(cors.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('follows secret rotation: the old secret works during the overlap, not after', async () => {
    const other = await registerApp(plaza, { redirectUris: ['https://other.example.com/cb'], live: false });
    const rotated = await plaza.core.apps.rotateClientSecret(other.developer, other.appId, 1);
    const oldConfig = await relyingParty(plaza, other);
    const newConfig = await relyingParty(plaza, {
      clientId: other.clientId,
      clientSecret: rotated.clientSecret,
    });
    await client.clientCredentialsGrant(oldConfig);
    await client.clientCredentialsGrant(newConfig);
    const again = await plaza.core.apps.rotateClientSecret(other.developer, other.appId, 0);
    expect((await refusal(client.clientCredentialsGrant(newConfig))).error).toBe('invalid_client');
    await client.clientCredentialsGrant(
      await relyingParty(plaza, { clientId: other.clientId, clientSecret: again.clientSecret }),
    );
  });

  it('stops serving a suspended app, and serves it again once reinstated', async () => {
    const other = await registerApp(plaza, { redirectUris: ['https://third.example.com/cb'], live: false });
    const config = await relyingParty(plaza, other);
    await client.clientCredentialsGrant(config);
    const operator = { ...SYSTEM_ACTOR, platformRole: 'admin' as const };
    await plaza.core.apps.suspend(operator, other.appId, 'abuse report');
    expect((await refusal(client.clientCredentialsGrant(config))).error).toBe('invalid_client');
    await plaza.core.apps.reinstate(operator, other.appId);
    await client.clientCredentialsGrant(config);
  });

  it('issues tokens only for the Plaza API', async () => {
    const config = await relyingParty(plaza, app);
    const err = await refusal(
      client.clientCredentialsGrant(config, { resource: 'https://api.elsewhere.example/' }),
    );
    expect(err.error).toBe('invalid_target');
    const ok = await client.clientCredentialsGrant(config, { resource: `${plaza.baseUrl}/v1` });
    expect(claimsOf(ok.access_token).aud).toBe(`${plaza.baseUrl}/v1`);
  });

  it('refuses the password grant', async () => {
    const res = await plaza.http
      .post('/oauth/token')
      .set('authorization', basic(app.clientId, app.clientSecret))
      .type('form')
      .send('grant_type=password&username=a@example.com&password=x')
      .expect(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });
});
