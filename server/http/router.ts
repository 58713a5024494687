import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { PlazaError } from '../errors.ts';
import type { IdentityService } from '../modules/identity/service.ts';
import type { OrganizationsService } from '../modules/organizations/service.ts';
import { ROLE_RANK } from '../tenancy.ts';
import { actorOf, type Caller, checkCsrf } from './auth.ts';
import { readJsonBody } from './body.ts';
import { type AnyRoute, parseInput } from './route.ts';

export interface MountDeps {
  identity: IdentityService;
  organizations: OrganizationsService;
  bodyLimitBytes: number;
}

const EMPTY = z.object({});

/** Mounts declared routes on a router: access, CSRF, input validation, then the handler. */
export function mountRoutes(router: Router, routes: AnyRoute[], deps: MountDeps): void {
  for (const route of routes) {
    router[route.method](route.path, async (ctx: Context) => {
      const caller = (ctx.state.caller as Caller | undefined) ?? null;
      const access = route.access;
      if (access.kind !== 'public') {
        if (!caller)
          throw new PlazaError('PLAZA_UNAUTHENTICATED', 'sign in, or send an API key as a Bearer token');
        if (caller.via === 'api_key' && route.apiKeys === false)
          throw new PlazaError('PLAZA_FORBIDDEN', 'this route is for signed-in people, not API keys');
        checkCsrf(ctx, deps.identity);
      }
      const params = parseInput('path', route.params ?? EMPTY, ctx.params);
      const query = parseInput('query', route.query ?? EMPTY, ctx.query);
      const actor = actorOf(ctx);
      let org: any;
      if (access.kind === 'org') {
        org = await deps.organizations.resolveContext(actor, String(ctx.params.orgId), caller!.apiKey);
        if (access.orgKinds && !access.orgKinds.includes(org.org.kind))
          throw new PlazaError(
            'PLAZA_FORBIDDEN',
            `this is for ${access.orgKinds.join(' or ')} organizations`,
          );
        if (access.minRole && ROLE_RANK[org.role as keyof typeof ROLE_RANK] < ROLE_RANK[access.minRole])
          throw new PlazaError('PLAZA_FORBIDDEN', `this needs the ${access.minRole} role or higher`);
      } else if (access.kind === 'platform') {
        // A platform admin may do everything a reviewer may.
        const role = caller!.user.platformRole;
        if (!role || caller!.apiKey || !(role === 'admin' || access.roles.includes(role)))
          throw new PlazaError(
            'PLAZA_FORBIDDEN',
            `this needs the platform role ${access.roles.join(' or ')}`,
          );
      }
      const raw =
        !route.rawBody && (route.body || ctx.method !== 'GET')
          ? await readJsonBody(ctx, deps.bodyLimitBytes)
          : undefined;
      const body = route.body ? parseInput('body', route.body, raw ?? {}) : undefined;
      const result = await route.handler({ params, query, body, ctx, caller, actor, org });
      if (ctx.body !== undefined && ctx.body !== null) return; // the handler wrote its own response
      ctx.status = route.status ?? (result === undefined ? 204 : 200);
      if (result !== undefined) ctx.body = result;
    });
  }
}
