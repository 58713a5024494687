import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationUrl, browserAgent, relyingParty } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { registerApp, type TestApp } from '../helpers/world.ts';

/**
 * What a new app developer meets first with a standard OAuth client
 * (openid-client): discovery, scope mistakes, client credentials, CORS.
 */
let plaza: PlazaServer;
let app: TestApp;

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
  app = await registerApp(plaza, {
    redirectUris: ['https://dev.example.com/callback'],
    scopes: [{ name: 'contacts:read' }],
  });
});
afterAll(() => plaza?.close());

describe('a developer with a standard OAuth client', () => {
  it('reads the API scopes in discovery, without openid (Plaza issues no ID tokens)', async () => {
    const config = await relyingParty(plaza, app);
    const supported = config.serverMetadata().scopes_supported ?? [];
    const catalog = plaza.core.scopes.list().map((s) => s.name);
    expect([...supported].sort()).toEqual([...catalog].sort());
    expect(supported).toContain('contacts:read');
    expect(supported).not.toContain('openid');
  });

  it('gets invalid_scope at its redirect URI for an unknown or undeclared scope, before any sign-in', async () => {
    const config = await relyingParty(plaza, app);
    for (const [scope, words] of [
      ['contacts:read contacts:wrte', 'contacts:wrte: not a Plaza scope'],
      ['contacts:read contacts:write', "contacts:write: not declared by the app's versions"],
    ]) {
      const start = await authorizationUrl(config, app.redirectUri, scope);
      const res = await browserAgent(plaza)
        .get(start.url.pathname + start.url.search)
        .redirects(0);
      expect(res.status).toBe(303);
      const back = new URL(res.headers.location);
      expect(back.origin + back.pathname).toBe(app.redirectUri);
      // openid-client reads the error off the callback, as the app would.
      const err = await client
        .authorizationCodeGrant(config, back, {
          pkceCodeVerifier: start.verifier,
          expectedState: start.state,
        })
        .then(
          () => undefined,
          (e) => e,
        );
      expect(err).toBeInstanceOf(client.AuthorizationResponseError);
      expect(err.error).toBe('invalid_scope');
      expect(err.error_description).toContain(words);
    }
  });

  it('is refused with invalid_scope when client credentials ask for an account scope', async () => {
    const config = await relyingParty(plaza, app);
    const err = await client.clientCredentialsGrant(config, { scope: 'contacts:read' }).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect(err.error).toBe('invalid_scope');
    expect(err.error_description).toContain("installation's token");
    // Without a scope it works.
    const ok = await client.clientCredentialsGrant(config);
    expect(ok.access_token).toBeTruthy();
  });

  it('gets a preflight on the token and revocation endpoints that agrees with the request: no CORS', async () => {
    for (const path of ['/oauth/token', '/oauth/token/revocation']) {
      const preflight = await plaza.http
        .options(path)
        .set('origin', 'https://evil.example')
        .set('access-control-request-method', 'POST')
        .set('access-control-request-headers', 'authorization');
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
    }
    // Discovery stays readable from browsers.
    const discovery = await plaza.http
      .get('/oauth/.well-known/openid-configuration')
      .set('origin', 'https://docs.example');
    expect(discovery.headers['access-control-allow-origin']).toBe('https://docs.example');
  });
});
