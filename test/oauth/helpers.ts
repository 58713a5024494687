import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { createApp } from '../../server/app.ts';
import { type Core, createCore } from '../../server/core.ts';
import { VersionFields } from '../../server/modules/apps/schemas.ts';
import { CHECKLIST_KEYS } from '../../server/modules/reviews/service.ts';
import { type Actor, type OrgContext, SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { testConfig, uniqueEmail } from '../helpers/core.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { png } from '../helpers/images.ts';

/**
 * A Plaza listening on a real port, with PLAZA_PUBLIC_URL pointing at it, so
 * that a relying party (openid-client) sees the issuer it discovers. Pass a
 * `database` to run a second API process on the same database.
 */
export interface OAuthPlaza {
  core: Core;
  app: ReturnType<typeof createApp>;
  baseUrl: string;
  issuer: string;
  /** A client with no cookies, talking to the listening server. */
  http: ReturnType<typeof supertest>;
  database: TestDatabase;
  server: Server;
  close(): Promise<void>;
}

export async function startOAuthPlaza(
  opts: {
    database?: TestDatabase;
    env?: Record<string, string>;
    workers?: boolean;
    revocationPollMs?: number;
    /** PLAZA_PUBLIC_URL when it is not this server's own address (processes behind one load balancer). */
    publicUrl?: string;
  } = {},
): Promise<OAuthPlaza> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const ownDatabase = !opts.database;
  const database = opts.database ?? (await createTestDatabase());
  const config = testConfig({ PLAZA_PUBLIC_URL: opts.publicUrl ?? baseUrl, ...opts.env });
  const core = await createCore(config, {
    db: database.db,
    oauth: { revocationPollMs: opts.revocationPollMs },
  });
  if (opts.workers !== false) await core.startWorkers();
  const app = createApp(core);
  server.on('request', app.callback());
  return {
    core,
    app,
    baseUrl,
    issuer: `${config.baseUrl}/oauth`,
    http: supertest(baseUrl),
    database,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await core.close(2000);
      if (ownDatabase) await database.drop();
    },
  };
}

export interface Person {
  user: { id: string; email: string; name: string };
  email: string;
  password: string;
  actor: Actor;
}

/** A person made through the identity service (signs in on the OAuth pages with email and password). */
export async function person(plaza: OAuthPlaza, name = 'Pat Person'): Promise<Person> {
  const email = uniqueEmail(name.split(' ')[0].toLowerCase());
  const password = 'correct horse battery';
  const user = await plaza.core.identity.createUser(plaza.core.db, { name, email, password });
  return {
    user: { id: user.id, email, name },
    email,
    password,
    actor: { ...SYSTEM_ACTOR, userId: user.id, email },
  };
}

/** An account organization owned by `who`. */
export async function account(plaza: OAuthPlaza, who: Person, name = 'Corner Shop'): Promise<OrgContext> {
  const org = await plaza.core.organizations.create(who.actor, { name, kind: 'account' });
  return plaza.core.organizations.resolveContext(who.actor, org.id);
}

export interface TestApp {
  appId: string;
  clientId: string;
  clientSecret: string;
  versionId: string;
  developer: OrgContext;
  /** The person who owns the developer organization (administers its test accounts). */
  developerPerson: Person;
  redirectUri: string;
}

let slugs = 0;

/**
 * An app in the registry, made the way developers and reviewers do it through
 * the services: `live` (default) submits it, runs the checks and approves it;
 * otherwise it stays a draft (development mode: test accounts only).
 */
export async function registerApp(
  plaza: OAuthPlaza,
  opts: {
    redirectUris: string[];
    scopes?: Array<{ name: string; optional?: boolean }>;
    live?: boolean;
    name?: string;
    /** The version's install link (where the marketplace's Install button goes). */
    installUrl?: string | null;
  },
): Promise<TestApp> {
  const { apps, organizations } = plaza.core;
  const dev = await person(plaza, 'Dev Eloper');
  const org = await organizations.create(dev.actor, { name: `Dev Org ${++slugs}`, kind: 'developer' });
  const developer = await organizations.resolveContext(dev.actor, org.id);
  const fields = VersionFields.parse({
    name: opts.name ?? 'Contact Sync',
    tagline: 'Contacts to lists',
    description:
      '## Sync contacts\n\nKeeps your contacts in step with your mailing lists, both ways, every few minutes. Unsubscribes flow back.',
    supportUrl: 'https://example.com/support',
    privacyUrl: 'https://example.com/privacy',
    termsUrl: 'https://example.com/terms',
    redirectUris: opts.redirectUris,
    installUrl: opts.installUrl ?? null,
    scopes: (opts.scopes ?? [{ name: 'contacts:read' }]).map((s) => ({
      name: s.name,
      optional: s.optional ?? false,
      justification: 'We copy contacts to your mailing lists.',
    })),
    webhookEvents: ['app.data_request', 'app.data_erasure'],
  });
  const slug = `oauth-app-${process.pid}-${Date.now().toString(36)}-${++slugs}`;
  const created = await apps.create(developer, {
    slug,
    name: fields.name,
    tagline: fields.tagline,
    description: fields.description,
    category: fields.category,
    supportUrl: fields.supportUrl,
    privacyUrl: fields.privacyUrl,
    termsUrl: fields.termsUrl,
  });
  const appId = created.app.id;
  const versionId = created.version.id;
  await apps.updateVersion(developer, appId, versionId, {
    redirectUris: fields.redirectUris,
    installUrl: fields.installUrl,
    scopes: fields.scopes,
    webhookEvents: fields.webhookEvents,
  });
  if (opts.live !== false) {
    await apps.uploadAsset(developer, appId, versionId, 'icon', {
      contentType: 'image/png',
      bytes: png(128, 128),
    });
    await apps.uploadAsset(developer, appId, versionId, 'screenshot', {
      contentType: 'image/png',
      bytes: png(640, 400),
    });
    await approveVersion(plaza, developer, appId, versionId);
  }
  return {
    appId,
    clientId: created.app.clientId,
    clientSecret: created.clientSecret,
    versionId,
    developer,
    developerPerson: dev,
    redirectUri: opts.redirectUris[0],
  };
}

/** Approves a submitted version as a platform admin (checks run now, then claim and approve). */
async function approveVersion(plaza: OAuthPlaza, developer: OrgContext, appId: string, versionId: string) {
  const { reviews, identity, db } = plaza.core;
  const submitted = await reviews.submit(developer, appId, versionId);
  await reviews.runChecksNow(submitted.submission!.id);
  const reviewer = await identity.createUser(db, {
    name: 'Ria Reviewer',
    email: uniqueEmail('reviewer'),
    password: 'reviewer password 1',
    platformRole: 'admin',
  });
  const operator: Actor = {
    ...SYSTEM_ACTOR,
    userId: reviewer.id,
    email: reviewer.email,
    platformRole: 'admin',
  };
  await reviews.claim(operator, versionId);
  await reviews.approve(operator, versionId, {
    checklist: Object.fromEntries(CHECKLIST_KEYS.map((k) => [k, true])),
    comment: 'Approved for OAuth tests',
  });
}

/** A new version of a live app with other scopes or redirect URIs, reviewed and live. */
export async function publishVersion(
  plaza: OAuthPlaza,
  app: TestApp,
  patch: {
    scopes?: Array<{ name: string; optional?: boolean }>;
    redirectUris?: string[];
    installUrl?: string | null;
  },
): Promise<string> {
  const { apps } = plaza.core;
  const version = await apps.createVersion(app.developer, app.appId);
  await apps.updateVersion(app.developer, app.appId, version.id, {
    ...(patch.redirectUris ? { redirectUris: patch.redirectUris } : {}),
    ...(patch.installUrl !== undefined ? { installUrl: patch.installUrl } : {}),
    ...(patch.scopes
      ? {
          scopes: patch.scopes.map((s) => ({
            name: s.name,
            optional: s.optional ?? false,
            justification: 'We need it for the sync.',
          })),
        }
      : {}),
  });
  await approveVersion(plaza, app.developer, app.appId, version.id);
  return version.id;
}

/** openid-client configuration for an app (confidential client, Basic auth, plain http allowed in tests). */
export async function relyingParty(plaza: OAuthPlaza, app: Pick<TestApp, 'clientId' | 'clientSecret'>) {
  return client.discovery(
    new URL(plaza.issuer),
    app.clientId,
    undefined,
    client.ClientSecretBasic(app.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** A browser: one cookie jar against the listening server. */
export function browser(plaza: OAuthPlaza): TestAgent {
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
export async function follow(agent: TestAgent, plaza: OAuthPlaza, start: string) {
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
export async function install(
  plaza: OAuthPlaza,
  agent: TestAgent,
  start: AuthorizationStart,
  who: Person,
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
      if (res.status !== 303) throw new Error(`consent answered ${res.status}: ${res.text.slice(0, 300)}`);
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

/** Decodes a JWT's payload (no verification: the tests verify through Plaza). */
export const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
export const randomVerifier = () => randomBytes(32).toString('base64url');
