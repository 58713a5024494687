import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationUrl,
  browserAgent,
  claimsOf,
  exchange,
  installByConsent,
  refreshOn,
  relyingParty,
  uninstallAudit,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Step 4: refresh tokens rotate on every use; a used refresh token presented
 * again revokes the grant (and so the installation), except within the grace
 * window for the immediately previous token, when the lost pair is replaced;
 * a refresh never widens the scopes.
 */
let plaza: PlazaServer;
let app: TestApp;
let config: client.Configuration;
const CALLBACK = 'https://sync.example.com/oauth/callback';

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false, env: { PLAZA_OAUTH_ACCESS_TOKEN_TTL_SECONDS: '600' } });
  app = await registerApp(plaza, {
    redirectUris: [CALLBACK],
    scopes: [{ name: 'contacts:read' }, { name: 'account:read' }],
  });
  config = await relyingParty(plaza, app);
});
afterAll(() => plaza?.close());

/** A fresh installation in a new account, and the app's first tokens. */
async function installed(scope = 'contacts:read account:read') {
  const who = await person(plaza);
  const shop = await account(plaza, who);
  const start = await authorizationUrl(config, CALLBACK, scope);
  const tokens = await exchange(
    config,
    await installByConsent(plaza, browserAgent(plaza), start, who, shop.org.id),
    start,
  );
  return { shop, tokens, installationId: claimsOf(tokens.access_token).plaza_installation as string };
}

async function refused(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e) => e,
  );
  if (!(err instanceof client.ResponseBodyError)) throw err;
  return err.error;
}

/** Pretends a refresh token was used `seconds` ago (time travel on the row, not a mock). */
const usedAgo = (refreshToken: string, seconds: number) =>
  plaza.core.db.query(
    "UPDATE oauth_payloads SET consumed_at = now() - make_interval(secs => $2) WHERE model = 'RefreshToken' AND id = $1",
    [refreshToken, seconds],
  );

const isActive = async (installationId: string) =>
  (await plaza.core.db.one('SELECT status FROM installations WHERE id = $1', [installationId])).status ===
  'active';

describe('refresh', () => {
  it('rotates the refresh token on every use, with access tokens of the configured lifetime', async () => {
    const { tokens } = await installed();
    expect(tokens.expires_in).toBe(600);
    const next = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(next.refresh_token).toBeTruthy();
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.expires_in).toBe(600);
    const third = await client.refreshTokenGrant(config, next.refresh_token!);
    expect(claimsOf(third.access_token).plaza_installation).toBe(
      claimsOf(tokens.access_token).plaza_installation,
    );
  });

  it('revokes the grant and uninstalls when a used refresh token comes back after the grace window', async () => {
    const { tokens, installationId } = await installed();
    const next = await client.refreshTokenGrant(config, tokens.refresh_token!);
    await usedAgo(tokens.refresh_token!, 60);
    expect(await refused(client.refreshTokenGrant(config, tokens.refresh_token!))).toBe('invalid_grant');
    // Everything of the grant is gone: the newer refresh token, the access tokens, the installation.
    expect(await refused(client.refreshTokenGrant(config, next.refresh_token!))).toBe('invalid_grant');
    expect(await plaza.core.oauth.verifyAccessToken(next.access_token)).toBeNull();
    expect(await plaza.core.oauth.verifyAccessToken(tokens.access_token)).toBeNull();
    expect(await isActive(installationId)).toBe(false);
    const audit = await uninstallAudit(plaza, installationId);
    expect(audit.data.reason).toBe('token_reuse');
  });

  it('lets a client whose response got lost retry within the grace window, and invalidates the lost pair', async () => {
    const { tokens, installationId } = await installed();
    const lost = await client.refreshTokenGrant(config, tokens.refresh_token!);
    // The response never arrived; the app retries with the token it still has.
    const retried = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(retried.refresh_token).not.toBe(lost.refresh_token);
    expect(await plaza.core.oauth.verifyAccessToken(retried.access_token)).not.toBeNull();
    // The lost access token is refused (revocation set), the installation stays.
    expect(await plaza.core.oauth.verifyAccessToken(lost.access_token)).toBeNull();
    expect(await isActive(installationId)).toBe(true);
    // The app carries on with the new pair.
    const after = await client.refreshTokenGrant(config, retried.refresh_token!);
    expect(await plaza.core.oauth.verifyAccessToken(after.access_token)).not.toBeNull();
    expect(await isActive(installationId)).toBe(true);
  });

  it('treats the lost refresh token, if it ever shows up, as reuse', async () => {
    const { tokens, installationId } = await installed();
    const lost = await client.refreshTokenGrant(config, tokens.refresh_token!);
    const retried = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(await refused(client.refreshTokenGrant(config, lost.refresh_token!))).toBe('invalid_grant');
    expect(await refused(client.refreshTokenGrant(config, retried.refresh_token!))).toBe('invalid_grant');
    expect(await isActive(installationId)).toBe(false);
  });

  it('gives the grace only to the immediately previous token', async () => {
    const { tokens, installationId } = await installed();
    const second = await client.refreshTokenGrant(config, tokens.refresh_token!);
    await client.refreshTokenGrant(config, second.refresh_token!);
    // The first token's successor was used already: presenting the first is reuse, even within seconds.
    expect(await refused(client.refreshTokenGrant(config, tokens.refresh_token!))).toBe('invalid_grant');
    expect(await isActive(installationId)).toBe(false);
  });

  it('survives two concurrent refreshes with the same token without revoking the installation', async () => {
    const { tokens, installationId } = await installed();
    const results = await Promise.allSettled([
      client.refreshTokenGrant(config, tokens.refresh_token!),
      client.refreshTokenGrant(config, tokens.refresh_token!),
    ]);
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as client.ResponseBodyError).error).toBe('invalid_grant');
    expect(await isActive(installationId)).toBe(true);
  });

  it('rotates many chains at once on one process: each token once, every chain goes on', async () => {
    // Concurrent rotations of one process are written together (adapter.ts, rotate).
    const chains = [];
    for (let i = 0; i < 5; i++) chains.push(await installed());
    let tokens = chains.map((c) => c.tokens.refresh_token!);
    for (let round = 0; round < 3; round++)
      tokens = (await Promise.all(tokens.map((rt) => client.refreshTokenGrant(config, rt)))).map(
        (t) => t.refresh_token!,
      );
    // One token presented twice among the others: the others all go on, the copies as when alone.
    const [twice, ...others] = tokens;
    const results = await Promise.allSettled(
      [twice, twice, ...others].map((rt) => client.refreshTokenGrant(config, rt)),
    );
    expect(results.slice(2).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results.slice(0, 2).some((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as client.ResponseBodyError).error).toBe('invalid_grant');
    for (const c of chains) expect(await isActive(c.installationId)).toBe(true);
    const used = await plaza.core.db.query(
      `SELECT i.id, count(*)::int AS n FROM installations i JOIN oauth_payloads p
         ON p.model = 'RefreshToken' AND p.grant_id = i.grant_id AND p.consumed_at IS NOT NULL
       WHERE i.id = ANY($1) GROUP BY i.id`,
      [chains.map((c) => c.installationId)],
    );
    // Three rotations and this one; the copy given the grace window also marks its lost replacement used.
    const n = new Map(used.map((u) => [u.id as string, u.n as number]));
    expect(chains.slice(1).map((c) => n.get(c.installationId))).toEqual([4, 4, 4, 4]);
    expect([4, 5]).toContain(n.get(chains[0].installationId));
  });

  it('is bound to the granted scopes: narrower is fine, broader is refused', async () => {
    const { tokens, installationId } = await installed('contacts:read');
    const narrower = await client.refreshTokenGrant(config, tokens.refresh_token!, {
      scope: 'contacts:read',
    });
    expect(narrower.scope).toBe('contacts:read');
    // account:read is declared by the app but was not requested nor granted for this installation.
    expect(
      await refused(
        client.refreshTokenGrant(config, narrower.refresh_token!, { scope: 'contacts:read account:read' }),
      ),
    ).toBe('invalid_scope');
    expect(
      await refused(client.refreshTokenGrant(config, narrower.refresh_token!, { scope: 'contacts:write' })),
    ).toBe('invalid_scope');
    // A refused widening is not reuse: the refresh token still works.
    const still = await client.refreshTokenGrant(config, narrower.refresh_token!);
    expect(still.scope).toBe('contacts:read');
    expect(await isActive(installationId)).toBe(true);
  });

  it('refuses another client’s refresh token', async () => {
    const { tokens } = await installed();
    const other = await registerApp(plaza, { redirectUris: ['https://other.example.com/cb'], live: false });
    const otherConfig = await relyingParty(plaza, other);
    expect(await refused(client.refreshTokenGrant(otherConfig, tokens.refresh_token!))).toBe('invalid_grant');
    // ... and that attempt did not spend it.
    await client.refreshTokenGrant(config, tokens.refresh_token!);
  });
});

/**
 * A process remembers the refresh tokens it issued (no read when one comes
 * back to it). Another process may have used, revoked or replaced one in the
 * meantime: the rotation's write checks the row, and the outcome is the one
 * a read would have had.
 */
describe('refresh tokens a process remembers', () => {
  let other: PlazaServer;
  beforeAll(async () => {
    other = await startPlazaServer({
      database: plaza.database,
      publicUrl: plaza.baseUrl,
      workers: false,
      env: { PLAZA_OAUTH_ACCESS_TOKEN_TTL_SECONDS: '600' },
    });
  });
  afterAll(() => other?.close());

  it('chains refreshes on one process, each token used once', async () => {
    const { tokens, installationId } = await installed();
    let rt = tokens.refresh_token!;
    for (let i = 0; i < 4; i++) {
      const next = await refreshOn(other, app, rt);
      expect(next.status).toBe(200);
      expect(claimsOf(next.body.access_token).plaza_installation).toBe(installationId);
      rt = next.body.refresh_token;
    }
    const used = await plaza.core.db.one(
      "SELECT count(*)::int AS n FROM oauth_payloads WHERE model = 'RefreshToken' AND consumed_at IS NOT NULL AND payload->>'grantId' = (SELECT grant_id FROM installations WHERE id = $1)",
      [installationId],
    );
    expect(used.n).toBe(4);
  });

  it('detects reuse of a token it issued that another process rotated: the grant is revoked', async () => {
    const { tokens, installationId } = await installed();
    const issuedByOther = await refreshOn(other, app, tokens.refresh_token!);
    expect(issuedByOther.status).toBe(200);
    // The app's next refresh lands on the first process, which rotates the token the other one remembers.
    const next = await client.refreshTokenGrant(config, issuedByOther.body.refresh_token);
    await usedAgo(issuedByOther.body.refresh_token, 60);
    const reused = await refreshOn(other, app, issuedByOther.body.refresh_token);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    expect(await isActive(installationId)).toBe(false);
    expect(await refused(client.refreshTokenGrant(config, next.refresh_token!))).toBe('invalid_grant');
    const audit = await uninstallAudit(plaza, installationId);
    expect(audit.data.reason).toBe('token_reuse');
  });

  it('gives the grace window to a token it issued that another process rotated a moment ago', async () => {
    const { tokens, installationId } = await installed();
    const issuedByOther = await refreshOn(other, app, tokens.refresh_token!);
    // The first process rotates it, and its response is lost; the app retries on the other process.
    const lost = await client.refreshTokenGrant(config, issuedByOther.body.refresh_token);
    const retried = await refreshOn(other, app, issuedByOther.body.refresh_token);
    expect(retried.status).toBe(200);
    expect(retried.body.refresh_token).not.toBe(lost.refresh_token);
    expect(await isActive(installationId)).toBe(true);
    // The lost pair is worthless; the app goes on with the retried one.
    expect(await plaza.core.oauth.verifyAccessToken(lost.access_token)).toBeNull();
    const after = await client.refreshTokenGrant(config, retried.body.refresh_token);
    expect(await plaza.core.oauth.verifyAccessToken(after.access_token)).not.toBeNull();
    expect(await isActive(installationId)).toBe(true);
  });

  it('refuses a token it issued once the app revoked it at the other process', async () => {
    const { tokens, installationId } = await installed();
    const issuedByOther = await refreshOn(other, app, tokens.refresh_token!);
    await client.tokenRevocation(config, issuedByOther.body.refresh_token);
    const after = await refreshOn(other, app, issuedByOther.body.refresh_token);
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('invalid_grant');
    expect(await isActive(installationId)).toBe(false);
  });
});
