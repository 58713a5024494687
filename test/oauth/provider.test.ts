import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore } from '../../server/core.ts';
import { createAdapterFactory } from '../../server/modules/oauth/adapter.ts';
import { type PlazaServer, startPlazaServer, testConfig } from '../helpers/plaza.ts';

/**
 * Step 1: the provider is mounted at /oauth with its state in PostgreSQL and
 * its signing keys in the database: discovery and JWKS answer, every process
 * on the database publishes the same keys, and the adapter keeps its promises
 * (expiry, atomic consume, revoke by grant, cleanup).
 */
let plaza: PlazaServer;
let second: PlazaServer;

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
  second = await startPlazaServer({ database: plaza.database, workers: false });
});
afterAll(async () => {
  await second?.close();
  await plaza?.close();
});

describe('discovery and keys', () => {
  it('publishes the authorization server metadata under /oauth', async () => {
    const res = await plaza.http.get('/oauth/.well-known/openid-configuration').expect(200);
    const meta = res.body;
    expect(meta.issuer).toBe(`${plaza.baseUrl}/oauth`);
    expect(meta.authorization_endpoint).toBe(`${plaza.baseUrl}/oauth/auth`);
    expect(meta.token_endpoint).toBe(`${plaza.baseUrl}/oauth/token`);
    expect(meta.revocation_endpoint).toBe(`${plaza.baseUrl}/oauth/token/revocation`);
    expect(meta.jwks_uri).toBe(`${plaza.baseUrl}/oauth/jwks`);
    expect(meta.response_types_supported).toEqual(['code']);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(new Set(meta.grant_types_supported)).toEqual(
      new Set(['authorization_code', 'refresh_token', 'client_credentials']),
    );
    expect(meta.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic']);
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    // No userinfo, no dynamic registration, no introspection: less surface.
    expect(meta.userinfo_endpoint).toBeUndefined();
    expect(meta.registration_endpoint).toBeUndefined();
    expect(meta.introspection_endpoint).toBeUndefined();
    // The OAuth 2.0 metadata document answers too (RFC 8414).
    await plaza.http.get('/oauth/.well-known/oauth-authorization-server').expect(200);
  });

  it('publishes one ES256 public key, the same from every process on the database', async () => {
    const a = (await plaza.http.get('/oauth/jwks').expect(200)).body;
    const b = (await second.http.get('/oauth/jwks').expect(200)).body;
    expect(a.keys).toHaveLength(1);
    expect(a.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(a.keys[0].kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.keys[0].d).toBeUndefined();
    expect(b).toEqual(a);
  });

  it('stores the private key encrypted, and a process with another secret refuses to start', async () => {
    const row = await plaza.core.db.one('SELECT public_jwk, private_jwk_encrypted FROM oauth_signing_keys');
    expect(row.private_jwk_encrypted).toMatch(/^v1\./);
    expect(row.private_jwk_encrypted).not.toContain('"d"');
    const config = testConfig({ PLAZA_SECRET: 'another-secret-another-secret-another-1234' });
    await expect(createCore(config, { db: plaza.database.db })).rejects.toThrow(/PLAZA_SECRET/);
  });

  it('answers unknown /oauth paths with a problem document, not the web app', async () => {
    const res = await plaza.http.get('/oauth/nothing-here').expect(404);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });
});

describe('the PostgreSQL adapter', () => {
  const factory = () =>
    createAdapterFactory({
      db: plaza.core.db,
      refreshGraceSeconds: () => 0,
      findClient: async () => undefined,
      onGrantRevoked: async () => {},
      onPairReplaced: async () => {},
    }).adapter;

  it('finds what it stored until it expires', async () => {
    const codes = factory()('AuthorizationCode') as any;
    await codes.upsert('code-1', { grantId: 'grant-1', kind: 'AuthorizationCode', jti: 'code-1' }, 60);
    await codes.upsert('code-2', { grantId: 'grant-1', kind: 'AuthorizationCode', jti: 'code-2' }, 1);
    expect(await codes.find('code-1')).toMatchObject({ grantId: 'grant-1' });
    await plaza.core.db.query(
      "UPDATE oauth_payloads SET expires_at = now() - interval '1 second' WHERE id = 'code-2'",
    );
    expect(await codes.find('code-2')).toBeUndefined();
    expect(await codes.find('nope')).toBeUndefined();
  });

  it('consumes atomically: of two concurrent consumes exactly one wins', async () => {
    const codes = factory()('AuthorizationCode') as any;
    await codes.upsert('code-3', { grantId: 'grant-2', kind: 'AuthorizationCode' }, 60);
    const results = await Promise.allSettled([codes.consume('code-3'), codes.consume('code-3')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason.error).toBe('invalid_grant');
    expect((await codes.find('code-3')).consumed).toEqual(expect.any(Number));
  });

  it('revokes every artifact of a grant, finds sessions by uid, and cleans up expired rows', async () => {
    const f = factory();
    const codes = f('AuthorizationCode') as any;
    const tokens = f('RefreshToken') as any;
    const sessions = f('Session') as any;
    await codes.upsert('code-4', { grantId: 'grant-3' }, 60);
    await tokens.upsert('rt-4', { grantId: 'grant-3' }, 60);
    await tokens.upsert('rt-5', { grantId: 'other-grant' }, 60);
    await tokens.revokeByGrantId('grant-3');
    await codes.revokeByGrantId('grant-3');
    expect(await codes.find('code-4')).toBeUndefined();
    expect(await tokens.find('rt-4')).toBeUndefined();
    expect(await tokens.find('rt-5')).toBeDefined();
    await sessions.upsert('sess-1', { uid: 'uid-1', accountId: 'acct_x' }, 60);
    expect(await sessions.findByUid('uid-1')).toMatchObject({ accountId: 'acct_x' });
    await plaza.core.db.query(
      "UPDATE oauth_payloads SET expires_at = now() - interval '1 minute' WHERE id = 'rt-5'",
    );
    const cleaned = await plaza.core.oauth.cleanup();
    expect(cleaned.payloads).toBeGreaterThanOrEqual(1);
    expect(await plaza.core.db.maybeOne("SELECT 1 FROM oauth_payloads WHERE id = 'rt-5'")).toBeUndefined();
    expect(await sessions.findByUid('uid-1')).toBeDefined();
  });
});
