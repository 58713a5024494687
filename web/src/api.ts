/**
 * The web app's one HTTP client for the Plaza API.
 *
 * - cookies are sent same-origin (the session is an httpOnly cookie);
 * - every non-GET request carries the `x-csrf-token` header, the token coming
 *   from `/v1/me` or the signup/login answers;
 * - problem+json errors become an `ApiError` whose message shows the `detail`
 *   and every `field: reason`.
 */

import type {
  ApiKey,
  AuditEntry,
  components,
  Invitation,
  Member,
  Organization,
  RequestBodyOf,
  ResponseOf,
  User,
} from './generated/openapi.ts';

// The API's shapes come from web/src/generated/openapi.ts (npm run web:types); names here only point into it.
export type { ApiKey, AuditEntry, Invitation, Member, Organization, User };

type Schemas = components['schemas'];

export type OrgKind = RequestBodyOf<'/v1/organizations', 'post'>['kind'];
export type Role = NonNullable<RequestBodyOf<'/v1/organizations/{orgId}/invitations', 'post'>['role']>;
/** An organization in the signed-in person's list, with their role in it. */
export type OrgSummary = Me['organizations'][number];
export type InvitationPreview = ResponseOf<'/v1/invitations/{token}', 'get'>;
export type MailMessage = ResponseOf<'/v1/dev/mailbox', 'get'>['data'][number];
export type AuthResult = Schemas['SessionResponse'];
export type Me = ResponseOf<'/v1/me', 'get'>;
export type ProblemField = NonNullable<Schemas['Problem']['fields']>[number];
/** What an error answer may carry: any part can be missing when a proxy, not Plaza, answered. */
type Problem = Partial<Omit<Schemas['Problem'], 'code'>> & { code?: string };

/** One page of a cursor-paginated list, the envelope of every list route. */
export type Page<T> = { data: T[]; nextCursor: string | null };

/** A route's query as a form holds it: a field may also be empty ('' or null), which `withQuery` leaves out. */
export type FormQuery<Q> = { [K in keyof Q]?: Q[K] | '' | null };

/** An error answer of the API (or a network failure, with status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly detail: string;
  readonly fields: ProblemField[];
  /** Seconds, from the Retry-After header of a 429. */
  readonly retryAfter: number | undefined;

  constructor(status: number, problem: Problem, retryAfter?: number) {
    const detail = problem.detail || problem.title || `Request failed with status ${status}`;
    const fields = Array.isArray(problem.fields) ? problem.fields : [];
    super([detail, ...fields.map((f) => `${fieldLabel(f.field)}: ${f.reason}`)].join('\n'));
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code;
    this.detail = detail;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

/** `body.email` -> `email`: the part a person recognises from the form. */
export function fieldLabel(field: string): string {
  return field.replace(/^(body|query|params|path)\./, '');
}

/** Readable text of anything thrown, for error boxes. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a signed-in request answers 401 (the session ended elsewhere). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** A raw request body (file upload) with its content type, instead of JSON. */
export interface RawBody {
  raw: Blob;
  contentType: string;
}

const isRaw = (body: unknown): body is RawBody =>
  !!body && typeof body === 'object' && (body as RawBody).raw instanceof Blob;

export async function request<T>(method: Method, path: string, body?: unknown, retried = false): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['content-type'] = isRaw(body) ? body.contentType : 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;

  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : isRaw(body) ? body.raw : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, {
      detail: 'Could not reach the Plaza server. Check your connection and try again.',
    });
  }

  if (res.ok) {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  const problem = await readProblem(res);
  // A stale CSRF token (new session in another tab): fetch the current one and try once more.
  if (res.status === 403 && problem.code === 'PLAZA_CSRF' && !retried && method !== 'GET') {
    try {
      const me = await request<Me>('GET', '/v1/me', undefined, true);
      csrfToken = me.csrfToken;
      return await request<T>(method, path, body, true);
    } catch {
      // fall through to the original error
    }
  }
  if (res.status === 401 && onUnauthorized && !path.startsWith('/v1/auth/') && path !== '/v1/me') {
    onUnauthorized();
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  throw new ApiError(
    res.status,
    problem,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

async function readProblem(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  const type = res.headers.get('content-type') ?? '';
  if (text && type.includes('json')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object') return parsed as Problem;
    } catch {
      // not JSON after all
    }
  }
  return { title: res.statusText || undefined, status: res.status };
}

export const seg = encodeURIComponent;

export function withQuery(path: string, query: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Every item of a cursor-paginated list (bounded, so a huge list cannot hang the page). */
export async function collect<T>(path: string, maxPages = 20): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page: Page<T> = await request<Page<T>>('GET', withQuery(path, { limit: 100, cursor }));
    out.push(...page.data);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return out;
}

export const api = {
  signup: (input: { name: string; email: string; password: string }) =>
    request<AuthResult>('POST', '/v1/auth/signup', input),
  login: (input: { email: string; password: string }) => request<AuthResult>('POST', '/v1/auth/login', input),
  logout: () => request<void>('POST', '/v1/auth/logout'),
  verifyEmail: (token: string) => request<{ user: User }>('POST', '/v1/auth/verify-email', { token }),
  resendVerification: () => request<void>('POST', '/v1/auth/verify-email/resend'),
  forgotPassword: (input: { email: string }) =>
    request<{ detail: string }>('POST', '/v1/auth/password/forgot', input),
  resetPassword: (input: { token: string; password: string }) =>
    request<void>('POST', '/v1/auth/password/reset', input),
  me: () => request<Me>('GET', '/v1/me'),

  createOrganization: (input: { name: string; kind: OrgKind }) =>
    request<Organization>('POST', '/v1/organizations', input),
  organization: (orgId: string) => request<Organization>('GET', `/v1/organizations/${seg(orgId)}`),

  subAccounts: (orgId: string) => collect<Organization>(`/v1/organizations/${seg(orgId)}/sub-accounts`),
  createSubAccount: (orgId: string, input: { name: string }) =>
    request<Organization>('POST', `/v1/organizations/${seg(orgId)}/sub-accounts`, input),

  members: (orgId: string) => collect<Member>(`/v1/organizations/${seg(orgId)}/members`),
  changeRole: (orgId: string, userId: string, role: Role) =>
    request<Member>('PATCH', `/v1/organizations/${seg(orgId)}/members/${seg(userId)}`, { role }),
  removeMember: (orgId: string, userId: string) =>
    request<void>('DELETE', `/v1/organizations/${seg(orgId)}/members/${seg(userId)}`),

  invitations: (orgId: string) => collect<Invitation>(`/v1/organizations/${seg(orgId)}/invitations`),
  invite: (orgId: string, input: { email: string; role: Role }) =>
    request<Invitation>('POST', `/v1/organizations/${seg(orgId)}/invitations`, input),
  revokeInvitation: (orgId: string, invitationId: string) =>
    request<void>('DELETE', `/v1/organizations/${seg(orgId)}/invitations/${seg(invitationId)}`),
  invitation: (token: string) => request<InvitationPreview>('GET', `/v1/invitations/${seg(token)}`),
  acceptInvitation: (token: string) =>
    request<{ organization: Organization }>('POST', `/v1/invitations/${seg(token)}/accept`),

  apiKeys: (orgId: string) => collect<ApiKey>(`/v1/organizations/${seg(orgId)}/api-keys`),
  createApiKey: (orgId: string, input: { name: string; role: Role }) =>
    request<{ apiKey: ApiKey; secret: string }>('POST', `/v1/organizations/${seg(orgId)}/api-keys`, input),
  revokeApiKey: (orgId: string, keyId: string) =>
    request<void>('DELETE', `/v1/organizations/${seg(orgId)}/api-keys/${seg(keyId)}`),

  auditLog: (orgId: string, opts: { limit?: number; cursor?: string | null } = {}) =>
    request<Page<AuditEntry>>('GET', withQuery(`/v1/organizations/${seg(orgId)}/audit-log`, opts)),

  mailbox: () => request<{ data: MailMessage[] }>('GET', '/v1/dev/mailbox'),
};

/** Server-side field errors by form field name (`body.email` -> `email`). */
export function fieldErrorsOf(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof ApiError) for (const f of err.fields) out[fieldLabel(f.field)] ??= f.reason;
  return out;
}
