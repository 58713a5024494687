import type { Context } from 'koa';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { type Caller, sessionCookie } from '../../http/auth.ts';
import { defineRoute, Email, Pagination, page, RoleSchema, Timestamp } from '../../http/route.ts';
import { type OrganizationsService, OrganizationWithRole } from '../organizations/index.ts';
import type { IdentityService, User } from './service.ts';

export const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    platformRole: z.enum(['admin', 'reviewer']).nullable(),
    emailVerified: z.boolean().describe('Whether the person followed the link emailed to this address'),
  })
  .meta({ id: 'User' });

const SessionResponse = z.object({ user: UserSchema, csrfToken: z.string() }).meta({ id: 'SessionResponse' });

export const ApiKeySchema = z
  .object({
    id: z.string(),
    organizationId: z.string(),
    name: z.string(),
    prefix: z.string().describe('First characters of the secret, to recognise it'),
    role: RoleSchema,
    createdBy: z.string(),
    createdAt: Timestamp,
    lastUsedAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

const Password = z
  .string()
  .min(12, { message: 'must be at least 12 characters' })
  .max(200, { message: 'must be at most 200 characters' });

const OrgParams = z.object({ orgId: z.string().max(64) });

export function identityRoutes(deps: {
  identity: IdentityService;
  organizations: OrganizationsService;
  config: Config;
}) {
  const { identity, organizations, config } = deps;

  const meta = (ctx: Context) => ({
    ip: ctx.ip || null,
    userAgent: ctx.get('user-agent'),
    requestId: ctx.state.requestId,
  });
  const publicUser = (u: User) => ({
    id: u.id,
    email: u.email,
    name: u.name,
    platformRole: u.platformRole,
    emailVerified: u.emailVerified,
  });
  const LinkToken = z.string().min(1).max(500);

  return [
    defineRoute({
      method: 'post',
      path: '/v1/auth/signup',
      summary: 'Sign up',
      tag: 'Auth',
      access: { kind: 'public' },
      status: 201,
      body: z.object({ name: z.string().trim().min(1).max(200), email: Email, password: Password }),
      response: SessionResponse,
      async handler({ body, ctx }) {
        const { user, token, session } = await identity.signup(body, meta(ctx));
        sessionCookie.write(ctx, config, token);
        return { user: publicUser(user), csrfToken: session.csrfToken };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/login',
      summary: 'Sign in',
      tag: 'Auth',
      access: { kind: 'public' },
      body: z.object({ email: Email, password: z.string().min(1).max(200) }),
      response: SessionResponse,
      async handler({ body, ctx }) {
        const { user, token, session } = await identity.login(body, meta(ctx));
        sessionCookie.write(ctx, config, token);
        return { user: publicUser(user), csrfToken: session.csrfToken };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/verify-email',
      summary: 'Verify an email address',
      // Follows the signed link emailed at sign-up; no sign-in needed (the token is the proof).
      tag: 'Auth',
      access: { kind: 'public' },
      body: z.object({ token: LinkToken }),
      response: z.object({ user: UserSchema }),
      async handler({ body, ctx }) {
        return { user: publicUser(await identity.verifyEmail(body.token, meta(ctx))) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/verify-email/resend',
      summary: 'Send a new verification link',
      tag: 'Auth',
      access: { kind: 'user' },
      apiKeys: false,
      status: 202,
      async handler({ caller }) {
        await identity.resendVerification(caller!.user);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/password/forgot',
      summary: 'Ask for a password reset link',
      // 202 whether or not an account has this address, so the form does not reveal who has one.
      tag: 'Auth',
      access: { kind: 'public' },
      status: 202,
      body: z.object({ email: Email }),
      response: z.object({ detail: z.string() }),
      async handler({ body, ctx }) {
        await identity.requestPasswordReset(body.email, meta(ctx));
        return { detail: 'If an account has this address, we sent it a link to choose a new password.' };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/password/reset',
      summary: 'Choose a new password with a reset link',
      // The link works once and expires; every session of the account ends.
      tag: 'Auth',
      access: { kind: 'public' },
      body: z.object({ token: LinkToken, password: Password }),
      async handler({ body, ctx }) {
        await identity.resetPassword(body, meta(ctx));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/logout',
      summary: 'Sign out',
      tag: 'Auth',
      access: { kind: 'user' },
      apiKeys: false,
      async handler({ ctx, caller, actor }) {
        await identity.logout(caller!.session!.id, actor);
        sessionCookie.clear(ctx);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/me',
      summary: 'Current user',
      tag: 'Auth',
      access: { kind: 'user' },
      response: z.object({
        user: UserSchema,
        csrfToken: z.string().nullable().describe('Send in x-csrf-token on state-changing cookie requests'),
        organizations: z.array(OrganizationWithRole),
      }),
      async handler({ caller }) {
        const c = caller as Caller;
        const orgs = await organizations.listForUser(c.user.id);
        return {
          user: publicUser(c.user),
          csrfToken: c.session?.csrfToken ?? null,
          organizations: c.apiKey ? orgs.filter((o) => o.id === c.apiKey!.organizationId) : orgs,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/api-keys',
      summary: 'List API keys',
      tag: 'API keys',
      access: { kind: 'org' },
      params: OrgParams,
      query: Pagination,
      response: page(ApiKeySchema),
      handler: ({ org, query }) => identity.listApiKeys(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/api-keys',
      summary: 'Create an API key',
      tag: 'API keys',
      access: { kind: 'org' },
      apiKeys: false,
      status: 201,
      params: OrgParams,
      body: z.object({ name: z.string().trim().min(1).max(100), role: RoleSchema.default('member') }),
      response: z.object({ apiKey: ApiKeySchema, secret: z.string().describe('Shown once; store it now') }),
      handler: ({ org, body }) => identity.createApiKey(org, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/api-keys/:keyId',
      summary: 'Revoke an API key',
      tag: 'API keys',
      access: { kind: 'org' },
      params: OrgParams.extend({ keyId: z.string().max(64) }),
      handler: ({ org, params }) => identity.revokeApiKey(org, params.keyId),
    }),
  ];
}
