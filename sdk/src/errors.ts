import type { Problem } from './generated/openapi.ts';

/** Every error the SDK throws is one of these; `instanceof PlazaSdkError` catches them all. */
export class PlazaSdkError extends Error {
  override name = 'PlazaSdkError';
}

/**
 * Plaza's OAuth server refused a request (token, refresh, revocation), or the
 * authorization response carried an error (`access_denied` when the person
 * declined). `error` is the OAuth error code (RFC 6749 §5.2, §4.1.2.1).
 */
export class PlazaOAuthError extends PlazaSdkError {
  override name = 'PlazaOAuthError';
  /** `invalid_grant`, `invalid_client`, `access_denied`, `invalid_scope`, ... */
  readonly error: string;
  readonly errorDescription: string | undefined;
  /** HTTP status of the token endpoint's answer; undefined for an authorization response. */
  readonly status: number | undefined;
  /** Seconds to wait before trying again (429 `slow_down`: the client's rate limit at the token endpoint). */
  readonly retryAfter: number | undefined;

  constructor(
    error: string,
    errorDescription?: string,
    status?: number,
    options?: { cause?: unknown; retryAfter?: number },
  ) {
    super(errorDescription ? `${error}: ${errorDescription}` : error, options);
    this.error = error;
    this.errorDescription = errorDescription;
    this.status = status;
    this.retryAfter = options?.retryAfter;
  }
}

export type CallbackProblem =
  /** `state` differs from the one stored when the flow started: a forged or mixed-up callback. */
  | 'state_mismatch'
  /** `iss` names another authorization server (RFC 9207 mix-up defence). */
  | 'issuer_mismatch'
  /** The server promises `iss` in authorization responses and this one has none. */
  | 'issuer_missing'
  /** Neither `code` nor `error` in the callback. */
  | 'code_missing';

/** The redirect back to the app failed a check; nothing was sent to Plaza. */
export class PlazaCallbackError extends PlazaSdkError {
  override name = 'PlazaCallbackError';
  readonly reason: CallbackProblem;
  constructor(reason: CallbackProblem, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A Plaza API call failed: `problem` is the RFC 9457 document Plaza answered with. */
export class PlazaApiError extends PlazaSdkError {
  override name = 'PlazaApiError';
  readonly status: number;
  /** Plaza's stable error code (`PLAZA_SCOPE_MISSING`, `PLAZA_NOT_FOUND`, ...); undefined when the answer was not a problem document. */
  readonly code: Problem['code'] | undefined;
  readonly problem: (Problem & Record<string, unknown>) | undefined;
  /** The request id, to quote when asking Plaza's operators. */
  readonly requestId: string | undefined;
  /** Seconds to wait before trying again (429, 503). */
  readonly retryAfter: number | undefined;
  /** The `error` of a `WWW-Authenticate: Bearer` challenge (`invalid_token`, `insufficient_scope`). */
  readonly bearerError: string | undefined;

  constructor(
    status: number,
    problem: (Problem & Record<string, unknown>) | undefined,
    headers: Headers,
    options?: { cause?: unknown; text?: string },
  ) {
    const detail = problem?.detail ?? problem?.title ?? options?.text?.slice(0, 200) ?? `HTTP ${status}`;
    super(problem?.code ? `${problem.code}: ${detail}` : detail, options);
    this.status = status;
    this.problem = problem;
    this.code = problem?.code;
    this.requestId = problem?.requestId ?? headers.get('x-request-id') ?? undefined;
    const retry = Number(headers.get('retry-after'));
    this.retryAfter = headers.has('retry-after') && Number.isFinite(retry) ? retry : undefined;
    this.bearerError = bearerChallengeError(headers.get('www-authenticate'));
  }
}

/** The `error` parameter of a Bearer challenge (RFC 6750 §3). */
export function bearerChallengeError(header: string | null): string | undefined {
  if (!header || !/^\s*Bearer\b/i.test(header)) return undefined;
  return /\berror="([^"]*)"/i.exec(header)?.[1];
}
