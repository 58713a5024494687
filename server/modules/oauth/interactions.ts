import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { PlazaError } from '../../errors.ts';
import { sessionCookie } from '../../http/auth.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import { type Actor, hasRole, ROLE_RANK } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { IdentityService, Session, User } from '../identity/index.ts';
import type { Installation, InstallationsService } from '../installations/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { interactionPath } from './provider.ts';
import type { Theme, Views } from './views.ts';

/**
 * Plaza's own pages between the authorization request and the code
 * (`/oauth/interaction/:uid...`): sign in (unless the person already has a
 * Plaza session), choose the account (accounts and sub-accounts the person
 * administers where the app may be installed), consent (every requested scope
 * in plain words, optional ones as checkboxes), approve or deny.
 *
 * - Every form carries a CSRF token: the Plaza session's, or before sign-in
 *   one bound to the interaction (HMAC of its uid); every POST answers 303.
 * - Pages are never framed (`frame-ancestors 'none'`, X-Frame-Options) and
 *   never cached; they load nothing from elsewhere and run no script.
 * - Nothing here redirects to the app except through the provider's resume
 *   endpoint: when the request cannot go on safely (an unknown redirect URI
 *   for the version being installed, undeclared scopes), an error page says so.
 */
export interface ApproveInput {
  accountId: string;
  appId: string;
  clientId: string;
  versionId: string;
  /** Scopes approved now (required ones and the optional ones left checked). */
  granted: string[];
  /** Requested optional scopes the person unchecked. */
  rejected: string[];
  /** OpenID scopes of the request (`openid`): never granted, Plaza is not a person's identity provider. */
  oidcRequested: string[];
  existing: Installation | undefined;
  actor: Actor;
}

export interface InteractionDeps {
  /** The provider of the request's host (the platform's, or a verified agency domain's). */
  providerOf: (ctx: Context) => Provider;
  config: Config;
  secret: string;
  db: Db;
  log: Logger;
  identity: IdentityService;
  organizations: OrganizationsService;
  apps: AppsService;
  installations: InstallationsService;
  scopes: ScopeCatalog;
  views: Views;
  theme: (ctx: Context, accountId: string | null) => Promise<Theme>;
  /** Saves the grant and creates or updates the installation; returns the grant id, or null when nothing was granted. */
  approve(input: ApproveInput): Promise<string | null>;
}

const FORM_LIMIT = 16 * 1024;
const OIDC_SCOPES = new Set(['openid', 'offline_access']);

class PageError extends Error {
  readonly status: number;
  readonly heading: string;
  /** What the person can do about it, shown as a button ("Pay and install"). */
  readonly action?: { href: string; label: string };
  constructor(status: number, heading: string, message: string, action?: { href: string; label: string }) {
    super(message);
    this.status = status;
    this.heading = heading;
    this.action = action;
  }
}

/** A web address a page may link to: http(s) only, so a gate's `extra` cannot smuggle a script URL. */
const linkable = (url: unknown): string | undefined => {
  if (typeof url !== 'string') return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
};

const expired = () =>
  new PageError(
    400,
    'This installation link has expired',
    'It is no longer valid in this browser (it may have been used already, or taken too long). Go back to the app and start again.',
  );

/** Reads an application/x-www-form-urlencoded body (the pages' forms). */
async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded'))
    throw new PageError(415, 'Unexpected request', 'This page only accepts its own form.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > FORM_LIMIT) throw new PageError(413, 'Unexpected request', 'The form was too large.');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const same = (a: string, b: string | null | undefined) => {
  if (!b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function interactionRoutes(deps: InteractionDeps): Router {
  const { providerOf, identity, organizations, apps, installations, scopes, views, config } = deps;
  const router = new Router({ prefix: '/oauth/interaction' });

  const loginCsrf = (uid: string) =>
    createHmac('sha256', deps.secret).update(`plaza-oauth-login:${uid}`).digest('base64url');

  /** The interaction of this browser, only when it is the one in the URL. */
  async function interactionOf(ctx: Context) {
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await providerOf(ctx).interactionDetails(ctx.req, ctx.res);
    } catch {
      throw expired();
    }
    if (details.uid !== ctx.params.uid) throw expired();
    return details;
  }

  async function personOf(ctx: Context): Promise<{ user: User; session: Session } | null> {
    const token = sessionCookie.read(ctx);
    return token ? identity.authenticateSession(token) : null;
  }

  const actorFor = (ctx: Context, user: User): Actor => ({
    userId: user.id,
    email: user.email,
    platformRole: user.platformRole,
    ip: ctx.ip || null,
    requestId: ctx.state.requestId ?? null,
  });

  /** The app the request is for; an unknown or suspended client never reaches these pages. */
  async function appOf(clientId: unknown) {
    const app = typeof clientId === 'string' ? await apps.oauthClient(clientId) : undefined;
    if (app?.status !== 'active')
      throw new PageError(400, 'This app cannot be installed', 'The app is not available for installation.');
    const developer = await organizations.byId(app.organizationId);
    return { ...app, developerName: developer?.name ?? null };
  }

  const urls = (uid: string) => {
    const base = interactionPath(uid);
    return {
      main: base,
      loginAction: `${base}/login`,
      logoutAction: `${base}/logout`,
      abortAction: `${base}/abort`,
      denyAction: `${base}/abort`,
      consentAction: `${base}/consent`,
      chooseAction: `${base}?choose=1`,
    };
  };

  const seeOther = (ctx: Context, location: string) => {
    ctx.redirect(location);
    ctx.status = 303;
  };

  /** Accounts the person administers, each with whether (and which version of) the app may go there. */
  async function eligibleAccounts(user: User, appId: string) {
    const orgs = await organizations.listForUser(user.id);
    const names = new Map(orgs.map((o) => [o.id, o.name]));
    const out: Array<{
      id: string;
      name: string;
      parentName: string | null;
      installed: boolean;
      development: boolean;
    }> = [];
    let administered = 0;
    for (const org of orgs) {
      if (org.kind !== 'account' || ROLE_RANK[org.role] < ROLE_RANK.admin) continue;
      administered++;
      const target = await apps.assertInstallable(org.id, appId).catch(() => undefined);
      if (!target) continue;
      const parentName = org.parentId
        ? (names.get(org.parentId) ?? (await organizations.byId(org.parentId))?.name ?? null)
        : null;
      out.push({
        id: org.id,
        name: org.name,
        parentName,
        installed: await installations.isActive(org.id, appId),
        development: target.development,
      });
    }
    return { accounts: out, administered };
  }

  /** Everything the consent page and its POST need, checked. */
  async function consentContext(
    ctx: Context,
    details: Awaited<ReturnType<typeof interactionOf>>,
    accountId: string,
  ) {
    const who = await personOf(ctx);
    if (!who) return null;
    const actor = actorFor(ctx, who.user);
    const org = await organizations.resolveContext(actor, accountId).catch(() => undefined);
    if (org?.org.kind !== 'account')
      throw new PageError(404, 'Account not found', 'You cannot install apps in this account.');
    if (!hasRole(org, 'admin'))
      throw new PageError(
        403,
        'You cannot install apps here',
        `Only owners and admins of ${org.org.name} can install apps.`,
      );
    const app = await appOf(details.params.client_id);
    let target: { versionId: string; development: boolean };
    try {
      target = await apps.assertInstallable(accountId, app.appId);
    } catch (err) {
      throw new PageError(
        403,
        'This app cannot be installed here',
        err instanceof PlazaError ? err.message : 'not installable',
      );
    }
    const { version } = await apps.versionForReview(deps.db, target.versionId);
    // The redirect URI must belong to the version being installed (the provider
    // accepted it against live ∪ development versions): no redirect otherwise.
    const redirectUri = String(details.params.redirect_uri ?? '');
    if (!version.redirectUris.includes(redirectUri))
      throw new PageError(
        400,
        'This app cannot be installed this way',
        `The address the app asked Plaza to send you back to is not registered for version ${version.number} of ${version.name}, so Plaza will not send you there.`,
      );
    const requested = [
      ...new Set(
        String(details.params.scope ?? '')
          .split(' ')
          .filter(Boolean),
      ),
    ];
    const oidcRequested = requested.filter((s) => OIDC_SCOPES.has(s));
    const apiRequested = requested.filter((s) => !OIDC_SCOPES.has(s));
    const declared = new Map(version.scopes.map((s) => [s.name, s]));
    const unknown = apiRequested.filter((s) => !scopes.get(s) || !declared.has(s));
    if (unknown.length)
      throw new PageError(
        400,
        'This app asks for access it did not declare',
        `${version.name} asked for ${unknown.join(', ')}, which version ${version.number} does not declare. Nothing was installed.`,
      );
    const existing = await installations.findActive(accountId, app.appId);
    const already = new Set(existing?.grantedScopes ?? []);
    const describe = (name: string) => {
      const def = scopes.get(name);
      return { name, consentText: def?.consentText ?? name, personal: def?.sensitivity === 'personal' };
    };
    const fresh = apiRequested.filter((s) => !already.has(s));
    return {
      who,
      actor,
      org,
      app,
      target,
      version,
      existing,
      oidcRequested,
      granted: [...already].sort().map(describe),
      required: fresh.filter((s) => !declared.get(s)!.optional).map(describe),
      optional: fresh.filter((s) => declared.get(s)!.optional).map(describe),
    };
  }

  /** Runs a page handler; PageErrors and unexpected errors become the error page. */
  const page =
    (handler: (ctx: Context) => Promise<void>) =>
    async (ctx: Context): Promise<void> => {
      try {
        await handler(ctx);
      } catch (err) {
        if (!(err instanceof PageError)) deps.log.error({ err }, 'oauth interaction failed');
        const e =
          err instanceof PageError
            ? err
            : new PageError(
                500,
                'Something went wrong',
                'Plaza could not finish this step. Go back to the app and try again.',
              );
        views.render(
          ctx,
          'error',
          {
            title: e.heading,
            heading: e.heading,
            message: e.message,
            action: e.action,
            theme: await deps.theme(ctx, null),
            homeUrl: config.baseUrl,
          },
          e.status,
        );
      }
    };

  // Sign in, or choose the account (straight to consent when only one fits).
  router.get(
    '/:uid',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const app = await appOf(details.params.client_id);
      const u = urls(details.uid);
      const who = await personOf(ctx);
      const theme = await deps.theme(ctx, null);
      if (!who) {
        const error = ctx.query.error;
        return views.render(ctx, 'login', {
          title: `Sign in to install ${app.name}`,
          theme,
          app,
          ...u,
          csrf: loginCsrf(details.uid),
          email: typeof ctx.query.email === 'string' ? ctx.query.email.slice(0, 320) : '',
          error:
            error === 'credentials'
              ? 'That email and password do not match.'
              : error === 'locked'
                ? `Too many failed sign-ins. Try again in ${Number(ctx.query.wait) || 60} seconds.`
                : null,
        });
      }
      const { accounts, administered } = await eligibleAccounts(who.user, app.appId);
      if (accounts.length === 1 && !ctx.query.choose)
        return seeOther(ctx, `${u.consentAction}?account=${encodeURIComponent(accounts[0].id)}`);
      views.render(ctx, 'choose-account', {
        title: `Install ${app.name}`,
        theme,
        app,
        ...u,
        csrf: who.session.csrfToken,
        user: who.user,
        accounts,
        development: accounts.some((a) => a.development),
        emptyReason:
          administered === 0
            ? 'You are not an owner or admin of any account, so you cannot install apps. Ask an admin of your account.'
            : `${app.name} cannot be installed in the accounts you administer${app.live ? '' : ': it is not reviewed yet, so only its developer’s test accounts can install it'}.`,
      });
    }),
  );

  router.post(
    '/:uid/login',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const form = await readForm(ctx);
      if (!same(loginCsrf(details.uid), form.get('csrf')))
        throw new PageError(403, 'This form has expired', 'Reload the page and sign in again.');
      const email = (form.get('email') ?? '').trim().slice(0, 320);
      const back = `${interactionPath(details.uid)}?email=${encodeURIComponent(email)}`;
      try {
        const { token } = await identity.login(
          { email, password: (form.get('password') ?? '').slice(0, 1000) },
          { ip: ctx.ip || null, userAgent: ctx.get('user-agent'), requestId: ctx.state.requestId ?? null },
        );
        sessionCookie.write(ctx, config, token);
        seeOther(ctx, interactionPath(details.uid));
      } catch (err) {
        if (err instanceof PlazaError && err.code === 'PLAZA_LOGIN_LOCKED')
          return seeOther(
            ctx,
            `${back}&error=locked&wait=${encodeURIComponent(err.headers?.['Retry-After'] ?? '60')}`,
          );
        if (err instanceof PlazaError && err.code === 'PLAZA_BAD_CREDENTIALS')
          return seeOther(ctx, `${back}&error=credentials`);
        throw err;
      }
    }),
  );

  router.post(
    '/:uid/logout',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const form = await readForm(ctx);
      const who = await personOf(ctx);
      if (who) {
        if (!same(who.session.csrfToken, form.get('csrf')))
          throw new PageError(403, 'This form has expired', 'Reload the page and try again.');
        await identity.logout(who.session.id, actorFor(ctx, who.user));
        sessionCookie.clear(ctx);
      }
      seeOther(ctx, interactionPath(details.uid));
    }),
  );

  // Cancel (before or after sign-in): the app gets access_denied.
  router.post(
    '/:uid/abort',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const form = await readForm(ctx);
      const who = await personOf(ctx);
      const expected = who ? who.session.csrfToken : loginCsrf(details.uid);
      if (!same(expected, form.get('csrf')))
        throw new PageError(403, 'This form has expired', 'Reload the page and try again.');
      const returnTo = await providerOf(ctx).interactionResult(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'the installation was cancelled' },
        { mergeWithLastSubmission: false },
      );
      seeOther(ctx, returnTo);
    }),
  );

  router.get(
    '/:uid/consent',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const accountId = typeof ctx.query.account === 'string' ? ctx.query.account : '';
      const c = await consentContext(ctx, details, accountId);
      if (!c) return seeOther(ctx, interactionPath(details.uid));
      const u = urls(details.uid);
      const { version } = c;
      const upgrade = Boolean(c.existing && (c.required.length || c.optional.length));
      views.render(ctx, 'consent', {
        title: upgrade ? `${c.app.name} asks for more access` : `Install ${c.app.name}`,
        theme: await deps.theme(ctx, accountId),
        ...u,
        csrf: c.who.session.csrfToken,
        user: c.who.user,
        account: { id: c.org.org.id, name: c.org.org.name },
        app: {
          name: version.name,
          developerName: c.app.developerName,
          // Same-origin: on an agency's domain the page must not name the platform's host.
          iconUrl: version.icon?.url?.replace(config.baseUrl, '') ?? null,
          privacyUrl: version.privacyUrl,
          termsUrl: version.termsUrl,
          versionNumber: version.number,
        },
        development: c.target.development,
        upgrade,
        reconnect: Boolean(c.existing) && !upgrade,
        granted: c.granted,
        required: c.required,
        optional: c.optional,
        anything: c.granted.length + c.required.length + c.optional.length > 0,
      });
    }),
  );

  router.post(
    '/:uid/consent',
    page(async (ctx) => {
      const details = await interactionOf(ctx);
      const form = await readForm(ctx);
      const c = await consentContext(ctx, details, form.get('account') ?? '');
      if (!c)
        throw new PageError(401, 'Signed out', 'You were signed out. Go back to the app and start again.');
      if (!same(c.who.session.csrfToken, form.get('csrf')))
        throw new PageError(403, 'This form has expired', 'Reload the page and try again.');
      let result: Parameters<Provider['interactionResult']>[2];
      if (form.get('decision') !== 'approve') {
        result = {
          error: 'access_denied',
          error_description: 'the account did not approve the installation',
        };
      } else {
        const checked = new Set(form.getAll('scope'));
        const grantedOptional = c.optional.filter((s) => checked.has(s.name)).map((s) => s.name);
        const grantId = await deps
          .approve({
            accountId: c.org.org.id,
            appId: c.app.appId,
            clientId: c.app.clientId,
            versionId: c.target.versionId,
            granted: [...c.required.map((s) => s.name), ...grantedOptional],
            rejected: c.optional.filter((s) => !checked.has(s.name)).map((s) => s.name),
            oidcRequested: c.oidcRequested,
            existing: c.existing,
            actor: c.actor,
          })
          .catch((err) => {
            // An installation gate said no (a paid app not paid for yet): the person reads why.
            if (err instanceof PlazaError && err.status < 500) {
              // A paid app's gate hands the checkout page: a button, not an address in the text.
              const checkoutUrl = err.extra?.checkoutUrl;
              const pay = linkable(checkoutUrl);
              throw new PageError(
                err.status,
                'This app cannot be installed here',
                pay ? err.message.replace(String(checkoutUrl), 'the link below') : err.message,
                pay ? { href: pay, label: 'Pay and install' } : undefined,
              );
            }
            throw err;
          });
        result = grantId
          ? { login: { accountId: c.org.org.id, remember: false }, consent: { grantId } }
          : { error: 'access_denied', error_description: 'no scope was granted' };
      }
      const returnTo = await providerOf(ctx).interactionResult(ctx.req, ctx.res, result, {
        mergeWithLastSubmission: false,
      });
      seeOther(ctx, returnTo);
    }),
  );

  return router;
}
