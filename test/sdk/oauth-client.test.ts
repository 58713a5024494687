import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createPlazaClient,
  PlazaCallbackError,
  PlazaOAuthError,
  PlazaSdkError,
} from '../../sdk/src/index.ts';
import { type FakeServer, fakeJwt, startFakeServer } from './fake-server.ts';

let server: FakeServer;
beforeAll(async () => {
  server = await startFakeServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.metadata.issuer = `${server.url}/oauth`;
  server.metadata.authorization_response_iss_parameter_supported = true;
});

const REDIRECT = 'http://127.0.0.1:4999/callback';
// A secret with characters Basic must form-encode first (RFC 6749 §2.3.1).
const SECRET = 'se cret:+/%é';
const client = () =>
  createPlazaClient({
    plazaUrl: `${server.url}/`,
    clientId: 'cli_1',
    clientSecret: SECRET,
    redirectUri: REDIRECT,
  });

function tokenAnswer(n: number, extra: Record<string, unknown> = {}) {
  return {
    access_token: fakeJwt({ plaza_account: 'acct_1', plaza_installation: 'inst_1', plaza_app: 'app_1', n }),
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: `rt_${n}`,
    scope: 'contacts:read',
    ...extra,
  };
}

function basicCredentials(header: string | undefined) {
  expect(header).toMatch(/^Basic /);
  const [id, secret] = Buffer.from(header!.slice(6), 'base64').toString('utf8').split(':');
  const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: decode(id), secret: decode(secret) };
}

describe('authorizeUrl', () => {
  it('builds a code + PKCE S256 request for the discovered authorization endpoint', async () => {
    const plaza = client();
    const a = await plaza.authorizeUrl({ scopes: ['contacts:read', 'account:read', 'contacts:read'] });
    const url = new URL(a.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${server.url}/oauth/auth`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'cli_1',
      redirect_uri: REDIRECT,
      scope: 'contacts:read account:read',
      state: a.state,
      code_challenge: createHash('sha256').update(a.codeVerifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const b = await plaza.authorizeUrl();
    expect(b.state).not.toBe(a.state);
    expect(b.codeVerifier).not.toBe(a.codeVerifier);
    expect(new URL(b.url).searchParams.has('scope')).toBe(false);
    // Discovery once per client.
    expect(server.to('/oauth/.well-known/openid-configuration')).toHaveLength(1);
  });

  it('uses the default scopes and a given state, and refuses a guessable state', async () => {
    const plaza = createPlazaClient({
      plazaUrl: server.url,
      clientId: 'cli_1',
      clientSecret: 's',
      redirectUri: REDIRECT,
      scopes: ['users:read'],
    });
    const a = await plaza.authorizeUrl({ state: 'my-own-state-0123456789' });
    expect(a.state).toBe('my-own-state-0123456789');
    expect(new URL(a.url).searchParams.get('scope')).toBe('users:read');
    await expect(plaza.authorizeUrl({ state: '1' })).rejects.toThrow(/16 characters/);
  });

  it('refuses a discovery document of another issuer, and tries discovery again after a failure', async () => {
    server.metadata.issuer = 'https://evil.example/oauth';
    const plaza = client();
    await expect(plaza.authorizeUrl()).rejects.toThrow(PlazaSdkError);
    await expect(plaza.authorizeUrl()).rejects.toThrow(/expected http:\/\/127\.0\.0\.1:\d+\/oauth/);
    server.metadata.issuer = `${server.url}/oauth`;
    await expect(plaza.authorizeUrl()).resolves.toHaveProperty('state');
    expect(server.to('/oauth/.well-known/openid-configuration')).toHaveLength(3);
  });

  it('needs every option', () => {
    expect(() =>
      createPlazaClient({ plazaUrl: server.url, clientId: '', clientSecret: 's', redirectUri: REDIRECT }),
    ).toThrow(/clientId is required/);
  });
});

describe('exchangeCode', () => {
  const issuer = () => `${server.url}/oauth`;
  const callback = (params: Record<string, string>) => `${REDIRECT}?${new URLSearchParams(params)}`;

  it('exchanges the code with client_secret_basic, the redirect URI and the verifier', async () => {
    server.on('POST /oauth/token', () => ({ json: tokenAnswer(1) }));
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    const tokens = await plaza.exchangeCode({
      callbackUrl: callback({ code: 'code-1', state, iss: issuer() }),
      expectedState: state,
      codeVerifier,
    });
    expect(tokens).toMatchObject({
      refreshToken: 'rt_1',
      scopes: ['contacts:read'],
      accountId: 'acct_1',
      installationId: 'inst_1',
      appId: 'app_1',
    });
    const [sent] = server.to('/oauth/token');
    expect(basicCredentials(sent.headers.authorization)).toEqual({ id: 'cli_1', secret: SECRET });
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(sent.form)).toEqual({
      grant_type: 'authorization_code',
      code: 'code-1',
      redirect_uri: REDIRECT,
      code_verifier: codeVerifier,
    });
    // The secret never travels in the body.
    expect(sent.body).not.toContain('client_secret');
  });

  it('reads a callback given as a path and query (req.url of node:http)', async () => {
    server.on('POST /oauth/token', () => ({ json: tokenAnswer(3) }));
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    const path = `/callback?${new URLSearchParams({ code: 'code-3', state, iss: issuer() })}`;
    const tokens = await plaza.exchangeCode({ callbackUrl: path, expectedState: state, codeVerifier });
    expect(tokens.refreshToken).toBe('rt_3');
    expect(server.to('/oauth/token')[0].form.get('code')).toBe('code-3');
  });

  it('refuses a callback whose state is not the flow’s, before talking to Plaza', async () => {
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    for (const got of [{ state: 'x'.repeat(22) }, {}] as Array<Record<string, string>>) {
      const err = await plaza
        .exchangeCode({
          callbackUrl: callback({ code: 'c', iss: issuer(), ...got }),
          expectedState: state,
          codeVerifier,
        })
        .catch((e) => e);
      expect(err).toBeInstanceOf(PlazaCallbackError);
      expect(err.reason).toBe('state_mismatch');
    }
    // Even an error answer must carry the flow's state.
    const err = await plaza
      .exchangeCode({
        callbackUrl: callback({ error: 'access_denied', state: 'other', iss: issuer() }),
        expectedState: state,
        codeVerifier,
      })
      .catch((e) => e);
    expect(err.reason).toBe('state_mismatch');
    expect(server.to('/oauth/token')).toHaveLength(0);
  });

  it('refuses an answer from another issuer, or without iss when Plaza promises it (RFC 9207)', async () => {
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    const mixUp = await plaza
      .exchangeCode({
        callbackUrl: callback({ code: 'c', state, iss: 'https://evil.example/oauth' }),
        expectedState: state,
        codeVerifier,
      })
      .catch((e) => e);
    expect(mixUp).toBeInstanceOf(PlazaCallbackError);
    expect(mixUp.reason).toBe('issuer_mismatch');
    const missing = await plaza
      .exchangeCode({ callbackUrl: callback({ code: 'c', state }), expectedState: state, codeVerifier })
      .catch((e) => e);
    expect(missing.reason).toBe('issuer_missing');
    const byParts = await plaza
      .exchangeCode({ code: 'c', state, expectedState: state, codeVerifier })
      .catch((e) => e);
    expect(byParts.reason).toBe('issuer_missing');
    expect(server.to('/oauth/token')).toHaveLength(0);
  });

  it('accepts a missing iss from a server that does not announce it', async () => {
    server.metadata.authorization_response_iss_parameter_supported = false;
    server.on('POST /oauth/token', () => ({ json: tokenAnswer(2) }));
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    const tokens = await plaza.exchangeCode({ code: 'c', state, expectedState: state, codeVerifier });
    expect(tokens.refreshToken).toBe('rt_2');
  });

  it('turns a declined installation and a refused code into OAuth errors', async () => {
    const plaza = client();
    const { state, codeVerifier } = await plaza.authorizeUrl();
    const denied = await plaza
      .exchangeCode({
        callbackUrl: callback({
          error: 'access_denied',
          error_description: 'the account did not approve',
          state,
          iss: issuer(),
        }),
        expectedState: state,
        codeVerifier,
      })
      .catch((e) => e);
    expect(denied).toBeInstanceOf(PlazaOAuthError);
    expect(denied).toMatchObject({ error: 'access_denied', errorDescription: 'the account did not approve' });

    const nothing = await plaza
      .exchangeCode({ callbackUrl: callback({ state, iss: issuer() }), expectedState: state, codeVerifier })
      .catch((e) => e);
    expect(nothing.reason).toBe('code_missing');

    server.on('POST /oauth/token', () => ({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    }));
    const refused = await plaza
      .exchangeCode({
        callbackUrl: callback({ code: 'used', state, iss: issuer() }),
        expectedState: state,
        codeVerifier,
      })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(PlazaOAuthError);
    expect(refused).toMatchObject({
      error: 'invalid_grant',
      errorDescription: 'grant request is invalid',
      status: 400,
    });
  });
});

describe('refresh, revoke, client credentials', () => {
  it('refreshes with the refresh token and returns the rotated pair', async () => {
    server.on('POST /oauth/token', (req) => ({
      json: tokenAnswer(Number(req.form.get('refresh_token')!.slice(3)) + 1),
    }));
    const plaza = client();
    const next = await plaza.refresh('rt_1');
    expect(next.refreshToken).toBe('rt_2');
    expect(Object.fromEntries(server.to('/oauth/token')[0].form)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt_1',
    });
    const after = await plaza.refresh(next);
    expect(after.refreshToken).toBe('rt_3');
  });

  it('sends one request for concurrent refreshes of the same token', async () => {
    let n = 10;
    server.on('POST /oauth/token', () => ({ json: tokenAnswer(++n) }));
    const plaza = client();
    const results = await Promise.all([plaza.refresh('rt_x'), plaza.refresh('rt_x'), plaza.refresh('rt_x')]);
    expect(new Set(results.map((r) => r.refreshToken))).toEqual(new Set(['rt_11']));
    expect(server.to('/oauth/token')).toHaveLength(1);
    // Once settled, the same token goes to the server again (it decides).
    await plaza.refresh('rt_x');
    expect(server.to('/oauth/token')).toHaveLength(2);
  });

  it('retries once with the same token when the answer is lost', async () => {
    let attempts = 0;
    server.on('POST /oauth/token', (_req, res) => {
      if (++attempts === 1) {
        res.socket?.destroy(); // the server rotated, the client never heard
        return;
      }
      return { json: tokenAnswer(5) };
    });
    const tokens = await client().refresh('rt_4');
    expect(tokens.refreshToken).toBe('rt_5');
    const sent = server.to('/oauth/token');
    expect(sent.map((r) => r.form.get('refresh_token'))).toEqual(['rt_4', 'rt_4']);
  });

  it('does not retry a refused refresh', async () => {
    server.on('POST /oauth/token', () => ({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'grant revoked' },
    }));
    await expect(client().refresh('rt_9')).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    expect(server.to('/oauth/token')).toHaveLength(1);
    await expect(client().refresh({ accessToken: 'a', expiresAt: 0, scopes: [] })).rejects.toThrow(
      /no refresh token/,
    );
  });

  it('revokes with client_secret_basic and the token type hint', async () => {
    server.on('POST /oauth/token/revocation', () => ({ status: 200 }));
    await client().revoke('rt_7', 'refresh_token');
    const [sent] = server.to('/oauth/token/revocation');
    expect(basicCredentials(sent.headers.authorization).id).toBe('cli_1');
    expect(Object.fromEntries(sent.form)).toEqual({ token: 'rt_7', token_type_hint: 'refresh_token' });

    server.on('POST /oauth/token/revocation', () => ({ status: 401, json: { error: 'invalid_client' } }));
    await expect(client().revoke('rt_7')).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('gets a client-credentials token for the app itself', async () => {
    server.on('POST /oauth/token', () => ({
      json: { access_token: fakeJwt({ plaza_app: 'app_1' }), token_type: 'Bearer', expires_in: 900 },
    }));
    const tokens = await client().clientCredentials();
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.accountId).toBeUndefined();
    expect(tokens.appId).toBe('app_1');
    expect(Object.fromEntries(server.to('/oauth/token')[0].form)).toEqual({
      grant_type: 'client_credentials',
    });
  });

  it('says how long to wait when the token endpoint rate limits the app (429 slow_down)', async () => {
    server.on('POST /oauth/token', () => ({
      status: 429,
      headers: { 'retry-after': '17' },
      json: { error: 'slow_down', error_description: 'too many requests' },
    }));
    const err = await client()
      .clientCredentials()
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaOAuthError);
    expect(err).toMatchObject({ error: 'slow_down', status: 429, retryAfter: 17 });
    // Not a lost answer: a refused refresh is not retried.
    await expect(client().refresh('rt_1')).rejects.toMatchObject({ error: 'slow_down' });
    expect(server.to('/oauth/token')).toHaveLength(2);
  });

  it('reports a token endpoint that does not answer JSON', async () => {
    server.on('POST /oauth/token', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>Bad gateway</h1>');
    });
    const err = await client()
      .clientCredentials()
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaOAuthError);
    expect(err).toMatchObject({ error: 'server_error', status: 502 });
    expect(err.message).toContain('Bad gateway');
  });
});
