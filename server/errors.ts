/**
 * The one error type of Plaza. Every error a client can see has a stable code
 * (PLAZA_*), an HTTP status and a problem `type` URI derived from the code.
 */
export const ErrorCodes = {
  PLAZA_VALIDATION: { status: 400, title: 'Request validation failed' },
  PLAZA_BAD_JSON: { status: 400, title: 'Malformed JSON body' },
  PLAZA_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  PLAZA_BAD_CREDENTIALS: { status: 401, title: 'Email or password is wrong' },
  PLAZA_PAYMENT_REQUIRED: { status: 402, title: 'Payment required' },
  PLAZA_PAYMENT_DECLINED: { status: 402, title: 'The payment was declined' },
  // Thrown by plugins (billing) through `organization.limits` and their own gated routes: `extra` names the feature and plan.
  PLAZA_ENTITLEMENT: { status: 402, title: 'The organization’s plan does not include this' },
  PLAZA_CSRF: { status: 403, title: 'CSRF token missing or wrong' },
  PLAZA_FORBIDDEN: { status: 403, title: 'Not allowed' },
  PLAZA_EMAIL_UNVERIFIED: { status: 403, title: 'Email address not verified' },
  PLAZA_SCOPE_MISSING: { status: 403, title: 'Token lacks a required scope' },
  PLAZA_NOT_FOUND: { status: 404, title: 'Not found' },
  PLAZA_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  PLAZA_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  PLAZA_CONFLICT: { status: 409, title: 'Conflict with the current state' },
  PLAZA_USAGE_CAP_REACHED: { status: 409, title: 'The usage cap the customer approved is reached' },
  PLAZA_IDEMPOTENCY_KEY_REUSED: { status: 409, title: 'Idempotency-Key already used for another request' },
  PLAZA_GONE: { status: 410, title: 'No longer available' },
  PLAZA_ACCOUNT_PAUSED: { status: 423, title: 'This account is paused by its agency' },
  PLAZA_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  PLAZA_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  PLAZA_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  PLAZA_LOGIN_LOCKED: { status: 429, title: 'Too many failed sign-in attempts' },
  PLAZA_INTERNAL: { status: 500, title: 'Internal error' },
  PLAZA_RESPONSE_CONTRACT: { status: 500, title: 'Response does not match its declared schema' },
  PLAZA_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * A code a plugin declared in its manifest (`PLAZA_BILLING_CARD_DECLINED`):
 * made only by the plugin host (`ctx.error(...)`), so a core code's typo is
 * still a type error.
 */
export type PluginErrorCode = string & { readonly __pluginErrorCode: true };

const pluginCodes = new Map<string, { status: number; title: string; owner: string }>();

/** Registers codes a plugin owns; a code already known (core or another plugin) throws. */
export function registerErrorCodes(owner: string, codes: Record<string, { status: number; title: string }>) {
  for (const [code, info] of Object.entries(codes)) {
    const taken = code in ErrorCodes ? 'core' : pluginCodes.get(code)?.owner;
    if (taken && taken !== owner) throw new Error(`error code ${code} of ${owner} is already ${taken}'s`);
    pluginCodes.set(code, { ...info, owner });
  }
}

/** Every plugin-owned code (the OpenAPI document lists them beside core's). */
export const pluginErrorCodes = () => [...pluginCodes.keys()];

function errorInfo(code: string): { status: number; title: string } {
  const info = ErrorCodes[code as ErrorCode] ?? pluginCodes.get(code);
  if (!info) throw new Error(`unknown error code ${code}`);
  return info;
}

export interface FieldError {
  /** Dotted path of the failing field, prefixed by where it was: `body.email`, `query.limit`. */
  field: string;
  reason: string;
}

export class PlazaError extends Error {
  readonly code: ErrorCode | PluginErrorCode;
  readonly status: number;
  readonly title: string;
  readonly fields?: FieldError[];
  /** Extra headers the response should carry (Retry-After ...). */
  readonly headers?: Record<string, string>;
  /** Extra members of the problem document. */
  readonly extra?: Record<string, unknown>;

  constructor(
    code: ErrorCode | PluginErrorCode,
    detail?: string,
    opts: {
      fields?: FieldError[];
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    const info = errorInfo(code);
    super(detail ?? info.title, { cause: opts.cause });
    this.name = 'PlazaError';
    this.code = code;
    this.status = info.status;
    this.title = info.title;
    this.fields = opts.fields;
    this.headers = opts.headers;
    this.extra = opts.extra;
  }
}

export const problemTypeUri = (code: string) =>
  `https://plaza.dev/problems/${code
    .replace(/^PLAZA_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;

export const notFound = (what: string) => new PlazaError('PLAZA_NOT_FOUND', `${what} not found`);
export const forbidden = (detail: string) => new PlazaError('PLAZA_FORBIDDEN', detail);
export const conflict = (detail: string, fields?: FieldError[]) =>
  new PlazaError('PLAZA_CONFLICT', detail, { fields });
export const invalid = (field: string, reason: string) =>
  new PlazaError('PLAZA_VALIDATION', `${field}: ${reason}`, { fields: [{ field, reason }] });
