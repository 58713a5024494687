/**
 * Who is acting, and in which organization. Services that touch tenant-owned
 * rows take an `OrgContext`; only `organizations.resolveContext` (which checks
 * membership) can make one, so a service cannot be called for an organization
 * the caller does not belong to.
 */
export type OrgKind = 'developer' | 'agency' | 'account';
export type Role = 'owner' | 'admin' | 'member';
export type PlatformRole = 'admin' | 'reviewer';

export const ROLE_RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

export interface Actor {
  /** null for the system itself (jobs, seeds). */
  userId: string | null;
  /** Kept with audit entries as they were at the time. */
  email: string | null;
  platformRole: PlatformRole | null;
  /** Set when the caller authenticated with an API key. */
  apiKeyId?: string;
  ip: string | null;
  requestId: string | null;
}

declare const orgContextBrand: unique symbol;

export interface OrgContext {
  readonly actor: Actor;
  readonly org: { id: string; kind: OrgKind; name: string; parentId: string | null };
  /** The caller's effective role in this organization. */
  readonly role: Role;
  readonly [orgContextBrand]: true;
}

/** Only the organizations module calls this, after it has checked membership. */
export function makeOrgContext(actor: Actor, org: OrgContext['org'], role: Role): OrgContext {
  return Object.freeze({ actor, org, role }) as OrgContext;
}

export const SYSTEM_ACTOR: Actor = {
  userId: null,
  email: null,
  platformRole: null,
  ip: null,
  requestId: null,
};

export function hasRole(ctx: OrgContext, min: Role): boolean {
  return ROLE_RANK[ctx.role] >= ROLE_RANK[min];
}

// Apps ---------------------------------------------------------------

declare const appContextBrand: unique symbol;

/**
 * An app acting in an account with an OAuth access token (an installation).
 * Only the router makes one, after the token was verified and the account
 * found, so a service taking an AppContext knows which account the token is
 * bound to. `actor` is the request (ip, request id); it has no user.
 */
export interface AppContext {
  readonly actor: Actor;
  readonly org: OrgContext['org'];
  readonly app: {
    readonly appId: string;
    readonly installationId: string;
    readonly clientId: string;
    /** The scopes the token carries (granted to the installation). */
    readonly scopes: readonly string[];
  };
  readonly [appContextBrand]: true;
}

/** Only the router calls this, after verifying the access token. */
export function makeAppContext(actor: Actor, org: OrgContext['org'], app: AppContext['app']): AppContext {
  return Object.freeze({
    actor,
    org,
    app: Object.freeze({ ...app, scopes: Object.freeze([...app.scopes]) }),
  }) as unknown as AppContext;
}

/** Either a person in an account organization, or an app installed in it. */
export type AccountContext = OrgContext | AppContext;

export const isAppContext = (ctx: AccountContext): ctx is AppContext => 'app' in ctx;
