import type { Context } from 'koa';
import { z } from 'zod';
import { type FieldError, PlazaError } from '../errors.ts';
import type { Actor, AppContext, OrgContext } from '../tenancy.ts';
import type { AppClient } from './app-auth.ts';
import type { Caller } from './auth.ts';
import { refuseIllFormed } from './edge.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call a route and how its tenant is found:
 * - `public`: anyone, signed in or not;
 * - `user`: any signed-in caller (session or API key), no organization;
 * - `org`: a member of the organization named by the `:orgId` path parameter;
 * - `platform`: an operator with one of the given platform roles;
 * - `app`: an app installed in an account, with an OAuth access token of that
 *   installation (`Authorization: Bearer <jwt>`) carrying `scope` (null: any
 *   installation token). The account comes from the token, never from the path;
 * - `app_client`: an app acting for itself with a client-credentials token
 *   (no account, never account data).
 * Sessions and API keys are refused on app routes, app tokens on all others.
 * The cross-tenant test matrix walks every route by this field.
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'user' }
  | {
      kind: 'org';
      minRole?: 'owner' | 'admin' | 'member';
      orgKinds?: Array<'developer' | 'agency' | 'account'>;
    }
  | { kind: 'platform'; roles: Array<'admin' | 'reviewer'> }
  | { kind: 'app'; scope: string | null }
  | { kind: 'app_client' };

type AnyObject = z.ZodObject<any>;

/**
 * What a handler returns: the input type of its declared `response` schema
 * (the router serializes it; tests also parse it against the schema). A
 * route without `response` answers 204 or writes `ctx.body` itself.
 */
export type ResponseOf<S> = S extends z.ZodType ? z.input<S> : void;

export interface RouteSpec<
  P extends AnyObject,
  Q extends AnyObject,
  B extends z.ZodType,
  S extends z.ZodType | undefined = undefined,
> {
  method: Method;
  /** Koa-router path, `/v1/organizations/:orgId/members`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Success status (default 200, or 204 when the handler returns nothing). */
  status?: number;
  response?: S;
  /** Also accept API keys? (default true for non-public routes) */
  apiKeys?: boolean;
  /**
   * The body is raw bytes (uploads), not JSON: the router leaves the stream
   * alone and the handler reads it with `readRawBody`. OpenAPI lists these types.
   */
  rawBody?: { contentTypes: string[]; maxBytes: number };
  /**
   * Accept an `Idempotency-Key` header: the first successful answer for a
   * caller's key is kept 24 hours and replayed for the same request; the same
   * key with another body is 409 (server/modules/idempotency). For POSTs that
   * create what users pay for or what is delivered (installs, messages).
   */
  idempotent?: boolean;
  /**
   * Leave this route out of the per-caller limit: for signed deliveries from a
   * provider (Stripe's webhooks come in bursts from a few addresses), where the
   * handler checks the signature before any work. Fixed paths only.
   */
  unlimited?: boolean;
  handler: (input: HandlerInput<P, Q, B>) => Promise<ResponseOf<S>>;
}

export interface HandlerInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  ctx: Context;
  /** Null on public routes called without signing in. */
  caller: Caller | null;
  actor: Actor;
  /** The resolved organization on `org` routes (membership already checked). */
  org: OrgContext;
  /** On `app` routes: the installation's account and the token's app and scopes. */
  app: AppContext;
  /** On `app_client` routes: the app calling for itself. */
  client: AppClient;
}

export type AnyRoute = Omit<RouteSpec<AnyObject, AnyObject, z.ZodType, z.ZodType>, 'handler'> & {
  handler: (input: HandlerInput<AnyObject, AnyObject, z.ZodType>) => Promise<unknown>;
};

/** Declares a route; `mountRoutes` mounts it and the OpenAPI document lists it. */
export function defineRoute<
  P extends AnyObject,
  Q extends AnyObject,
  B extends z.ZodType,
  S extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B, S>): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** Converts zod issues into Plaza's field errors (`body.email: Invalid email`). */
export function fieldErrors(where: string, error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    reason: issue.message,
  }));
}

export function parseInput<S extends z.ZodType>(where: string, schema: S, value: unknown): z.output<S> {
  refuseIllFormed(where, value);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = fieldErrors(where, result.error);
  throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), {
    fields,
  });
}

// Shared schemas -----------------------------------------------------------

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const Timestamp = z.iso.datetime();

export const Email = z.email({ message: 'must be an email address' }).max(320).trim();
export const RoleSchema = z.enum(['owner', 'admin', 'member']);
export const OrgKindSchema = z.enum(['developer', 'agency', 'account']);
