/**
 * The OAuth install as an app and a person do it: openid-client as the relying
 * party, a cookie-keeping agent as the browser on Plaza's sign-in, account
 * chooser and consent pages.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import type { PlazaServer } from './plaza.ts';
import type { Person } from './world.ts';

/** openid-client configuration for an app (confidential client, Basic auth, plain http allowed in tests). */
export async function relyingParty(plaza: PlazaServer, app: { clientId: string; clientSecret: string }) {
  return client.discovery(
    new URL(plaza.issuer),
    app.clientId,
    undefined,
    client.ClientSecretBasic(app.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** A browser's cookie jar against the listening server. */
export function browserAgent(plaza: PlazaServer): TestAgent {
  return supertest.agent(plaza.baseUrl);
}

/** Fields of the first form on an HTML page whose action matches, as name -> value. */
export function formFields(html: string, action: RegExp): Record<string, string> {
  const forms = [...html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find((f) => action.test(decode(f[1])));
  if (!form) throw new Error(`no form with action ${action} in page`);
  const out: Record<string, string> = {};
  for (const m of form[2].matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*>/g))
    out[m[1]] = decode(m[2]);
  return out;
}

export const decode = (s: string) =>
  s
    .replaceAll('&amp;', '&')
    .replaceAll('&quot;', '"')
    .replaceAll('&#x27;', "'")
    .replaceAll('&#x3D;', '=')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');

export interface AuthorizationStart {
  url: URL;
  verifier: string;
  state: string;
}

/** Builds an authorization URL with PKCE S256 and state, the way an app does with openid-client. */
export async function authorizationUrl(
  config: client.Configuration,
  redirectUri: string,
  scope: string,
  extra: Record<string, string> = {},
): Promise<AuthorizationStart> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state };
}

/** Follows redirects inside Plaza (relative or same-origin Location) until a page or the app's redirect URI. */
export async function follow(agent: TestAgent, plaza: PlazaServer, start: string) {
  let location = start;
  for (let hops = 0; hops < 10; hops++) {
    const url = new URL(location, plaza.baseUrl);
    if (url.origin !== plaza.baseUrl) return { redirect: url, page: undefined };
    const res = await agent.get(url.pathname + url.search).redirects(0);
    if (res.status >= 300 && res.status < 400) {
      location = res.headers.location;
      continue;
    }
    return { redirect: undefined, page: res };
  }
  throw new Error('too many redirects');
}

/** Posts a page's form (application/x-www-form-urlencoded). */
export function submit(agent: TestAgent, action: string, fields: Record<string, string | string[]>) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  return agent.post(action).type('form').send(body.toString()).redirects(0);
}

/**
 * The whole install as a person does it in a browser: open the authorization
 * URL, sign in on Plaza's page (unless the agent already has a session),
 * pick `accountId` (when the chooser shows), approve with the optional scopes
 * in `optional` (all when omitted). Returns the app's callback URL.
 */
export async function installByConsent(
  plaza: PlazaServer,
  agent: TestAgent,
  start: AuthorizationStart,
  who: Pick<Person, 'email' | 'password'>,
  accountId: string,
  opts: { optional?: string[]; decision?: 'approve' | 'deny' } = {},
): Promise<URL> {
  let step = await follow(agent, plaza, start.url.pathname + start.url.search);
  for (let i = 0; i < 6 && step.page; i++) {
    const html = step.page.text;
    if (html.includes('name="password"')) {
      const action = /action="([^"]*\/login)"/.exec(html)![1];
      const fields = formFields(html, /\/login$/);
      const res = await submit(agent, decode(action), {
        ...fields,
        email: who.email,
        password: who.password,
      });
      if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
      step = await follow(agent, plaza, res.headers.location);
    } else if (html.includes('name="account" value=') && html.includes('type="radio"')) {
      const action = decode(/<form method="get" action="([^"]*)"/.exec(html)![1]);
      step = await follow(agent, plaza, `${action}?account=${encodeURIComponent(accountId)}`);
    } else if (html.includes('name="decision"')) {
      const fields = formFields(html, /\/consent$/);
      if (fields.account !== accountId)
        throw new Error(`consent shown for ${fields.account}, wanted ${accountId}`);
      const optional = [...html.matchAll(/type="checkbox" name="scope" value="([^"]+)"/g)].map((m) => m[1]);
      const action = decode(/<form method="post" action="([^"]*\/consent)"/.exec(html)![1]);
      const res = await submit(agent, action, {
        csrf: fields.csrf,
        account: accountId,
        scope: opts.optional ?? optional,
        decision: opts.decision ?? 'approve',
      });
      if (res.status !== 303)
        throw Object.assign(new Error(`consent answered ${res.status}: ${res.text.slice(0, 300)}`), {
          page: res.text,
        });
      step = await follow(agent, plaza, res.headers.location);
    } else throw new Error(`unexpected page: ${html.slice(0, 500)}`);
  }
  if (!step.redirect) throw new Error('the flow did not return to the app');
  return step.redirect;
}

/** Exchanges the code at the app's callback URL (openid-client checks state, iss and PKCE). */
export function exchange(config: client.Configuration, callback: URL, start: AuthorizationStart) {
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
  });
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client-credentials access token of an app (the app acting for itself). */
export async function clientToken(
  plaza: PlazaServer,
  app: { clientId: string; clientSecret: string },
): Promise<string> {
  const res = await plaza.http
    .post('/oauth/token')
    .set('authorization', basic(app.clientId, app.clientSecret))
    .type('form')
    .send({ grant_type: 'client_credentials' })
    .expect(200);
  return res.body.access_token;
}

/**
 * A refresh sent straight to one process's token endpoint (a relying party goes
 * to the public URL): for tests that run several API processes on one database.
 */
export async function refreshOn(
  server: PlazaServer,
  app: { clientId: string; clientSecret: string },
  refreshToken: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${server.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: basic(app.clientId, app.clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** Decodes a JWT's payload (no verification: the tests verify through Plaza). */
export const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
export const randomVerifier = () => randomBytes(32).toString('base64url');

/** `{ authorization: 'Bearer …' }`, for `.set(...)`. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The audit record of an installation's closing: who closed it (null: the system) and why (data.reason). */
export function uninstallAudit(
  plaza: PlazaServer,
  installationId: string,
): Promise<{ actor_user_id: string | null; data: { reason?: string } & Record<string, unknown> }> {
  return plaza.core.db.one(
    "SELECT actor_user_id, data FROM audit_events WHERE action = 'app.uninstalled' AND target_id = $1",
    [installationId],
  );
}
