import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relyingParty } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { registerApp, type TestApp } from '../helpers/world.ts';

/**
 * The token and revocation endpoints are rate limited per client (after its
 * secret was checked) and, without valid client credentials, per address.
 * Past the limit: 429 with Retry-After and an OAuth error body
 * `{"error":"slow_down"}` (application/json), which openid-client surfaces
 * as a ResponseBodyError.
 */
const LIMIT = 3;
let plaza: PlazaServer;
let busy: TestApp;
let calm: TestApp;

beforeAll(async () => {
  plaza = await startPlazaServer({
    workers: false,
    env: {
      PLAZA_OAUTH_TOKEN_RATE_LIMIT_PER_MINUTE: String(LIMIT),
      PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '2',
    },
  });
  busy = await registerApp(plaza, { name: 'Busy App', redirectUris: ['https://busy.example.com/cb'] });
  calm = await registerApp(plaza, { name: 'Calm App', redirectUris: ['https://calm.example.com/cb'] });
}, 60_000);
afterAll(() => plaza?.close());

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Runs `attempt` until it is refused (at most `max` times); the successes before, and the refusal. */
async function untilRefused(attempt: () => Promise<unknown>, max = 3 * LIMIT) {
  let ok = 0;
  for (let i = 0; i < max; i++) {
    try {
      await attempt();
      ok++;
    } catch (err) {
      return { ok, err };
    }
  }
  return { ok, err: undefined };
}

describe('token endpoint rate limit', () => {
  it('answers 429 slow_down with Retry-After past the limit of one client, which openid-client reads', async () => {
    const config = await relyingParty(plaza, busy);
    const first = await plaza.http
      .post('/oauth/token')
      .set('authorization', basic(busy.clientId, busy.clientSecret))
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(200);
    expect(first.headers['ratelimit-limit']).toBe(String(LIMIT));
    expect(Number(first.headers['ratelimit-remaining'])).toBeLessThan(LIMIT);

    // A fixed window may roll over once during the loop: at least LIMIT pass before the refusal.
    const { ok, err } = await untilRefused(() => client.clientCredentialsGrant(config));
    expect(ok).toBeGreaterThanOrEqual(LIMIT - 1);
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    const refused = err as client.ResponseBodyError;
    expect(refused.status).toBe(429);
    expect(refused.error).toBe('slow_down');
    expect(refused.error_description).toContain(`${LIMIT} per minute`);
    const retryAfter = Number(refused.response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.response.headers.get('cache-control')).toBe('no-store');
    expect(refused.response.headers.get('content-type')).toMatch(/^application\/json/);

    // The revocation endpoint counts against the same budget.
    await expect(client.tokenRevocation(config, 'some-token')).rejects.toMatchObject({
      status: 429,
      error: 'slow_down',
    });
    // Another app has its own budget.
    const other = await client.clientCredentialsGrant(await relyingParty(plaza, calm));
    expect(other.access_token).toBeDefined();
  });

  it('counts requests without valid client credentials against the address, not the app they name', async () => {
    const wrong = () =>
      plaza.http
        .post('/oauth/token')
        .set('authorization', basic(calm.clientId, 'plz_cs_not-the-secret'))
        .type('form')
        .send({ grant_type: 'client_credentials' });
    let status = 0;
    for (let i = 0; i < 6 && status !== 429; i++) status = (await wrong()).status;
    expect(status).toBe(429);
    const refused = await wrong();
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'slow_down' });
    // The app whose client id was sent is not throttled by it.
    const tokens = await client.clientCredentialsGrant(await relyingParty(plaza, calm));
    expect(tokens.access_token).toBeDefined();
  });
});
