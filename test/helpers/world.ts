/**
 * Builders for the world a test needs: people, organizations, apps in the
 * registry and installations. People and organizations come either through
 * the HTTP API (`signUp`, `createOrg`: a signed-in agent) or through the
 * services (`person`, `account`: an actor, for tests that drive the OAuth
 * pages). Apps are made the way developers and reviewers make them.
 */
import type { TokenEndpointResponse } from 'openid-client';
import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import type { Core } from '../../server/core.ts';
import { VersionFields } from '../../server/modules/apps/schemas.ts';
import type { Pricing } from '../../server/modules/marketplace/index.ts';
import { CHECKLIST_KEYS } from '../../server/modules/reviews/service.ts';
import { type Actor, type OrgContext, SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { png } from './images.ts';
import {
  authorizationUrl,
  bearer,
  browserAgent,
  claimsOf,
  exchange,
  installByConsent,
  relyingParty,
} from './oauth.ts';
import type { PlazaServer, TestPlaza } from './plaza.ts';

/** Any started Plaza (in-process or listening): the builders only need its core. */
type WithCore = { core: Core };

let counter = 0;
export const uniqueEmail = (label = 'user') =>
  `${label}.${process.pid}.${Date.now()}.${++counter}@example.test`;

export const uniqueSlug = (label = 'app') =>
  `${label}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

// ---- People and organizations through the HTTP API ----

export interface SignedIn {
  agent: TestAgent;
  user: { id: string; email: string; name: string };
  csrf: string;
}

/** Signs a new person up; the returned agent keeps the session cookie, `csrf` goes in x-csrf-token. */
export async function signUp(
  plaza: Pick<TestPlaza, 'app'>,
  opts: { email?: string; name?: string; password?: string } = {},
): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent
    .post('/v1/auth/signup')
    .send({
      name: opts.name ?? 'Test Person',
      email: opts.email ?? uniqueEmail(),
      password: opts.password ?? 'correct horse battery',
    })
    .expect(201);
  return { agent, user: res.body.user, csrf: res.body.csrfToken };
}

/** Creates an organization as `who` and returns it. */
export async function createOrg(
  who: SignedIn,
  kind: 'developer' | 'agency' | 'account',
  name = `Org ${++counter}`,
) {
  const res = await who.agent
    .post('/v1/organizations')
    .set('x-csrf-token', who.csrf)
    .send({ name, kind })
    .expect(201);
  return res.body as { id: string; name: string; kind: string };
}

/** A person with a platform role, signed in (reviewers and admins are made by operators, not by sign-up). */
export async function signInWithPlatformRole(
  plaza: WithCore & Pick<TestPlaza, 'app'>,
  platformRole: 'reviewer' | 'admin',
): Promise<SignedIn> {
  const email = uniqueEmail(platformRole);
  const password = 'correct horse battery';
  const user = await plaza.core.identity.createUser(plaza.core.db, {
    name: `Ria ${platformRole}`,
    email,
    password,
    platformRole,
  });
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent.post('/v1/auth/login').send({ email, password }).expect(200);
  return { agent, user: { id: user.id, email, name: user.name }, csrf: res.body.csrfToken };
}

// ---- People and organizations through the services ----

export interface Person {
  user: { id: string; email: string; name: string };
  email: string;
  password: string;
  actor: Actor;
}

/** A person made through the identity service (signs in on the OAuth pages with email and password). */
export async function person(plaza: WithCore, name = 'Pat Person'): Promise<Person> {
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
export async function account(plaza: WithCore, who: Person, name = 'Corner Shop'): Promise<OrgContext> {
  const org = await plaza.core.organizations.create(who.actor, { name, kind: 'account' });
  return plaza.core.organizations.resolveContext(who.actor, org.id);
}

// ---- Apps in the registry ----

export interface TestApp {
  appId: string;
  clientId: string;
  clientSecret: string;
  versionId: string;
  /** The scopes the live version asks for (names). */
  scopes: string[];
  developer: OrgContext;
  /** The person who owns the developer organization (administers its test accounts). */
  developerPerson: Person;
  redirectUri: string;
}

export interface AppOptions {
  redirectUris: string[];
  scopes?: Array<{ name: string; optional?: boolean }>;
  /** Submitted, checked and approved (default); otherwise a draft (development mode: test accounts only). */
  live?: boolean;
  name?: string;
  /** The version's install link (where the marketplace's Install button goes). */
  installUrl?: string | null;
  /** The version's price (default free). */
  pricing?: Pricing;
  /** Another app of this app's developer organization (default: a new developer organization). */
  sameDeveloperAs?: TestApp;
}

/** An app in a new developer organization, made the way developers and reviewers do it through the services. */
export async function registerApp(plaza: WithCore, opts: AppOptions): Promise<TestApp> {
  const { apps, organizations } = plaza.core;
  const dev = opts.sameDeveloperAs?.developerPerson ?? (await person(plaza, 'Dev Eloper'));
  const developer =
    opts.sameDeveloperAs?.developer ??
    (await organizations.resolveContext(
      dev.actor,
      (
        await organizations.create(dev.actor, { name: `Dev Org ${++counter}`, kind: 'developer' })
      ).id,
    ));
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
  const created = await apps.create(developer, {
    slug: uniqueSlug('oauth-app'),
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
    ...(opts.pricing ? { pricing: opts.pricing } : {}),
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
    scopes: fields.scopes.map((s) => s.name),
    developer,
    developerPerson: dev,
    redirectUri: opts.redirectUris[0],
  };
}

/** Approves a submitted version as a platform admin (checks run now, then claim and approve). */
async function approveVersion(plaza: WithCore, developer: OrgContext, appId: string, versionId: string) {
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
    comment: 'Approved for tests',
  });
}

/** A new version of a live app with other scopes or redirect URIs, reviewed and live. */
export async function publishVersion(
  plaza: WithCore,
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

// ---- Installations ----

/** Installs an app in an account with the given scopes through the installations service (no OAuth grant, no tokens). */
export async function installApp(
  plaza: WithCore,
  app: Pick<TestApp, 'appId' | 'versionId'>,
  accountId: string,
  scopes: string[],
) {
  return plaza.core.installations.create({
    accountId,
    appId: app.appId,
    versionId: app.versionId,
    grantedScopes: scopes,
    actor: SYSTEM_ACTOR,
  });
}

export interface InstalledApp {
  app: TestApp;
  /** The person who installed it (owner of the account). */
  owner: Person;
  /** The account organization it is installed in. */
  account: OrgContext['org'];
  accountId: string;
  installationId: string;
  /** The token set the app received (access, refresh, id token). */
  tokens: TokenEndpointResponse;
  accessToken: string;
  /** `{ authorization: 'Bearer <access token>' }`, for `.set(...)`. */
  as: { authorization: string };
}

/**
 * A developer organization with a live app, installed in an account by its
 * owner through the real consent pages, and the app's token set from the
 * code exchange. Pass `app`, `owner` or `account` to reuse ones the test
 * already has; otherwise each is made new.
 */
export async function withInstalledApp(
  plaza: PlazaServer,
  opts: Partial<AppOptions> & {
    app?: TestApp;
    owner?: Person;
    /** An account organization (or sub-account) `owner` administers. */
    account?: { id: string };
    accountName?: string;
    /** The scopes the app asks for in this authorization (default: all its scopes). */
    scope?: string;
    /** The optional scopes the person approves (default: all). */
    optional?: string[];
  } = {},
): Promise<InstalledApp> {
  const app =
    opts.app ??
    (await registerApp(plaza, {
      ...opts,
      redirectUris: opts.redirectUris ?? ['https://app.example.com/oauth/callback'],
    }));
  const owner = opts.owner ?? (await person(plaza, 'Olive Owner'));
  const acct = opts.account
    ? await plaza.core.organizations.resolveContext(owner.actor, opts.account.id)
    : await account(plaza, owner, opts.accountName ?? 'Corner Shop');
  const config = await relyingParty(plaza, app);
  const start = await authorizationUrl(config, app.redirectUri, opts.scope ?? app.scopes.join(' '));
  const callback = await installByConsent(plaza, browserAgent(plaza), start, owner, acct.org.id, {
    optional: opts.optional,
  });
  const tokens = await exchange(config, callback, start);
  return {
    app,
    owner,
    account: acct.org,
    accountId: acct.org.id,
    installationId: claimsOf(tokens.access_token).plaza_installation,
    tokens,
    accessToken: tokens.access_token,
    as: bearer(tokens.access_token),
  };
}
