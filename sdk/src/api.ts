import { bearerChallengeError, PlazaApiError, PlazaSdkError } from './errors.ts';
import type { paths } from './generated/openapi.ts';
import { type PlazaTokens, tokensFromResponse } from './tokens.ts';

/**
 * The Plaza API for apps, typed from the generated OpenAPI types: every path
 * of `paths` with its parameters, body and answer. `get/post/patch/put/delete`
 * take the path as written in the OpenAPI document (`/v1/contacts/{contactId}`)
 * and its parameters; the named helpers (`contacts.list()`...) sit on top.
 */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Paths that have an operation for `M`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: M extends keyof paths[P] ? P : never;
}[keyof paths];

export type Operation<P extends keyof paths, M extends HttpMethod> = paths[P][M & keyof paths[P]];

type PathParams<O> = O extends { parameters: { path: infer X } } ? X : never;
type QueryParams<O> = O extends { parameters: { query?: infer X } } ? Exclude<X, undefined> : never;
type QueryRequired<O> = O extends { parameters: { query: object } } ? true : false;
type JsonContent<B> = B extends { content: { 'application/json': infer T } } ? T : never;
type JsonBody<O> = O extends { requestBody?: infer B } ? JsonContent<NonNullable<B>> : never;
type SuccessStatus = 200 | 201 | 202 | 203 | 204 | 206;
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;

/** The JSON a successful call answers with (undefined for 204 No Content). */
export type SuccessBody<O> = {
  [S in keyof Responses<O> & SuccessStatus]: JsonOf<Responses<O>[S]>;
}[keyof Responses<O> & SuccessStatus];

/** The options of a call: `params` (path), `query`, `body`, as the operation declares them. */
export type CallOptions<O> = { headers?: Record<string, string>; signal?: AbortSignal } & ([
  PathParams<O>,
] extends [never]
  ? { params?: undefined }
  : { params: PathParams<O> }) &
  ([QueryParams<O>] extends [never]
    ? { query?: undefined }
    : QueryRequired<O> extends true
      ? { query: QueryParams<O> }
      : { query?: QueryParams<O> }) &
  ([JsonBody<O>] extends [never] ? { body?: undefined } : { body: JsonBody<O> });

type Args<O> = Record<never, never> extends CallOptions<O> ? [init?: CallOptions<O>] : [init: CallOptions<O>];

/** The item type of a cursor-paginated list answer (`{ data: T[]; nextCursor }`). */
export type ListItem<O> =
  SuccessBody<O> extends { data: Array<infer T>; nextCursor: string | null } ? T : never;

export interface TypedFetch {
  get<P extends PathsWith<'get'>>(
    path: P,
    ...args: Args<Operation<P, 'get'>>
  ): Promise<SuccessBody<Operation<P, 'get'>>>;
  post<P extends PathsWith<'post'>>(
    path: P,
    ...args: Args<Operation<P, 'post'>>
  ): Promise<SuccessBody<Operation<P, 'post'>>>;
  put<P extends PathsWith<'put'>>(
    path: P,
    ...args: Args<Operation<P, 'put'>>
  ): Promise<SuccessBody<Operation<P, 'put'>>>;
  patch<P extends PathsWith<'patch'>>(
    path: P,
    ...args: Args<Operation<P, 'patch'>>
  ): Promise<SuccessBody<Operation<P, 'patch'>>>;
  delete<P extends PathsWith<'delete'>>(
    path: P,
    ...args: Args<Operation<P, 'delete'>>
  ): Promise<SuccessBody<Operation<P, 'delete'>>>;
  /** Every item of a cursor-paginated list, page after page. */
  paginate<P extends PathsWith<'get'>>(
    path: P,
    ...args: Args<Operation<P, 'get'>>
  ): AsyncIterableIterator<ListItem<Operation<P, 'get'>>>;
}

type ContactsList = Operation<'/v1/contacts', 'get'>;
type ContactGet = Operation<'/v1/contacts/{contactId}', 'get'>;
type ContactCreateOp = Operation<'/v1/contacts', 'post'>;
type ContactPatchOp = Operation<'/v1/contacts/{contactId}', 'patch'>;
type UsersList = Operation<'/v1/users', 'get'>;
type AppInstallationsList = Operation<'/v1/app/installations', 'get'>;
type AppInstallationDelete = Operation<'/v1/app/installations/{installationId}', 'delete'>;
type WebhookEndpointsList = Operation<'/v1/app/webhook-endpoints', 'get'>;
type WebhookEndpointCreateOp = Operation<'/v1/app/webhook-endpoints', 'post'>;
type WebhookEndpointGet = Operation<'/v1/app/webhook-endpoints/{endpointId}', 'get'>;
type WebhookEndpointPatchOp = Operation<'/v1/app/webhook-endpoints/{endpointId}', 'patch'>;
type WebhookEndpointSecretGet = Operation<'/v1/app/webhook-endpoints/{endpointId}/secret', 'get'>;
type WebhookEndpointTest = Operation<'/v1/app/webhook-endpoints/{endpointId}/test', 'post'>;

/** The API as an installation (an account's access token). */
export interface PlazaApi extends TypedFetch {
  /** The current tokens (they change when the client refreshes). */
  readonly tokens: PlazaTokens;
  /** Refreshes now, whatever the access token's expiry; `onTokens` is called. */
  refresh(): Promise<PlazaTokens>;
  /** `account:read` */
  account: { get(): Promise<SuccessBody<Operation<'/v1/account', 'get'>>> };
  /** `contacts:read` to read, `contacts:write` to change. */
  contacts: {
    list(query?: QueryParams<ContactsList>): Promise<SuccessBody<ContactsList>>;
    /** Every contact matching `query`, following the cursor. */
    all(query?: Omit<QueryParams<ContactsList>, 'cursor'>): AsyncIterableIterator<ListItem<ContactsList>>;
    get(contactId: string): Promise<SuccessBody<ContactGet>>;
    create(contact: JsonBody<ContactCreateOp>): Promise<SuccessBody<ContactCreateOp>>;
    update(contactId: string, patch: JsonBody<ContactPatchOp>): Promise<SuccessBody<ContactPatchOp>>;
    delete(contactId: string): Promise<void>;
  };
  /** `users:read` (emails only with `users:read_email`). */
  users: {
    list(query?: QueryParams<UsersList>): Promise<SuccessBody<UsersList>>;
    all(query?: Omit<QueryParams<UsersList>, 'cursor'>): AsyncIterableIterator<ListItem<UsersList>>;
  };
}

/** The API as the app itself (client credentials). */
export interface PlazaAppApi extends TypedFetch {
  app: { get(): Promise<SuccessBody<Operation<'/v1/app', 'get'>>> };
  /** The app's active installations, including ones made without the code flow (an agency's bulk install). */
  installations: {
    list(query?: QueryParams<AppInstallationsList>): Promise<SuccessBody<AppInstallationsList>>;
    all(
      query?: Omit<QueryParams<AppInstallationsList>, 'cursor'>,
    ): AsyncIterableIterator<ListItem<AppInstallationsList>>;
    /**
     * Tokens for one installation, as a code exchange gives them: store them
     * and use `plaza.api(tokens)`. Each call starts a new refresh-token chain.
     */
    tokens(installationId: string): Promise<PlazaTokens>;
    /** Uninstalls the app from that account (its grant and tokens are revoked at once). */
    uninstall(installationId: string): Promise<SuccessBody<AppInstallationDelete>>;
  };
  /**
   * Where Plaza POSTs the app's webhooks. `create()` answers the endpoint and
   * its `whsec_` secret (verify with `verifyWebhook`); `secret()` reads it again.
   * The rest of `/v1/app/webhook-endpoints` (rotation, replay, attempts, stats)
   * through `post()`/`get()` with the OpenAPI path.
   */
  webhookEndpoints: {
    list(query?: QueryParams<WebhookEndpointsList>): Promise<SuccessBody<WebhookEndpointsList>>;
    all(
      query?: Omit<QueryParams<WebhookEndpointsList>, 'cursor'>,
    ): AsyncIterableIterator<ListItem<WebhookEndpointsList>>;
    create(endpoint: JsonBody<WebhookEndpointCreateOp>): Promise<SuccessBody<WebhookEndpointCreateOp>>;
    get(endpointId: string): Promise<SuccessBody<WebhookEndpointGet>>;
    update(
      endpointId: string,
      patch: JsonBody<WebhookEndpointPatchOp>,
    ): Promise<SuccessBody<WebhookEndpointPatchOp>>;
    delete(endpointId: string): Promise<void>;
    secret(endpointId: string): Promise<SuccessBody<WebhookEndpointSecretGet>>;
    /** Sends the endpoint a `webhook.test` message; answers the message (its id is the `webhook-id`). */
    test(endpointId: string): Promise<SuccessBody<WebhookEndpointTest>>;
  };
}

export interface ApiOptions {
  /** Called with new tokens after an automatic refresh, before the call is retried; overrides the client's. */
  onTokens?: (tokens: PlazaTokens, previous: PlazaTokens) => void | Promise<void>;
}

/** Where a call gets its access token, and a new one after a 401 `invalid_token`. */
interface Credentials {
  /** Tokens to send now (renewed first when known to be expired). */
  ensure(): Promise<PlazaTokens>;
  /** New tokens after `stale` was refused; undefined when they cannot be renewed. */
  renew(stale: PlazaTokens): Promise<PlazaTokens | undefined>;
}

/** Renew this long before the access token's expiry, so it does not expire on the way. */
const EXPIRY_SKEW_MS = 10_000;

type Query = Record<string, string | number | boolean | Array<string | number | boolean> | null | undefined>;

export function buildUrl(
  plazaUrl: string,
  template: string,
  params?: Record<string, unknown>,
  query?: Query,
): string {
  const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null || value === '')
      throw new TypeError(`${template}: the path parameter ${name} is missing`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
  }
  const qs = search.toString();
  return `${plazaUrl}${path}${qs ? `?${qs}` : ''}`;
}

function createFetcher(plazaUrl: string, doFetch: typeof globalThis.fetch, credentials: Credentials) {
  async function send(method: string, url: string, tokens: PlazaTokens, init: any): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(init.headers ?? {}),
      authorization: `Bearer ${tokens.accessToken}`,
    };
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    try {
      return await doFetch(url, { method: method.toUpperCase(), headers, body, signal: init.signal });
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw new PlazaSdkError(
        `could not reach Plaza (${method.toUpperCase()} ${url}): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  async function failure(res: Response, cause?: unknown): Promise<PlazaApiError> {
    const text = await res.text().catch(() => '');
    let problem: any;
    if (/json/i.test(res.headers.get('content-type') ?? ''))
      try {
        problem = JSON.parse(text);
      } catch {}
    return new PlazaApiError(
      res.status,
      problem && typeof problem === 'object' ? problem : undefined,
      res.headers,
      {
        cause,
        text,
      },
    );
  }

  async function request(method: HttpMethod, template: string, init: any = {}): Promise<any> {
    const url = buildUrl(plazaUrl, template, init.params, init.query);
    let tokens = await credentials.ensure();
    let res = await send(method, url, tokens, init);
    if (res.status === 401 && bearerChallengeError(res.headers.get('www-authenticate')) === 'invalid_token') {
      let renewed: PlazaTokens | undefined;
      try {
        renewed = await credentials.renew(tokens);
      } catch (err) {
        // The refresh was refused (an uninstalled app: invalid_grant): the 401 stands, with why.
        throw await failure(res, err);
      }
      if (renewed) {
        await res.body?.cancel().catch(() => {});
        tokens = renewed;
        res = await send(method, url, tokens, init);
      }
    }
    if (!res.ok) throw await failure(res);
    if (res.status === 204) return undefined;
    const text = await res.text();
    if (!text) return undefined;
    return /json/i.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text;
  }

  async function* paginate(template: string, init: any = {}): AsyncIterableIterator<any> {
    let cursor: string | undefined;
    do {
      const page = await request('get', template, {
        ...init,
        query: { ...(init.query ?? {}), ...(cursor ? { cursor } : {}) },
      });
      for (const item of page?.data ?? []) yield item;
      cursor = page?.nextCursor ?? undefined;
    } while (cursor);
  }

  const typed: TypedFetch = {
    get: (path: string, init?: any) => request('get', path, init),
    post: (path: string, init?: any) => request('post', path, init),
    put: (path: string, init?: any) => request('put', path, init),
    patch: (path: string, init?: any) => request('patch', path, init),
    delete: (path: string, init?: any) => request('delete', path, init),
    paginate: (path: string, init?: any) => paginate(path, init),
  } as TypedFetch;
  return typed;
}

/** The API as an installation: refreshes (once per stale token, shared by concurrent calls) and retries. */
export function createInstallationApi(deps: {
  plazaUrl: string;
  fetch: typeof globalThis.fetch;
  tokens: PlazaTokens;
  refresh: (tokens: PlazaTokens) => Promise<PlazaTokens>;
  onTokens?: (tokens: PlazaTokens, previous: PlazaTokens) => void | Promise<void>;
}): PlazaApi {
  if (!deps.tokens?.accessToken) throw new TypeError('api(tokens): tokens.accessToken is required');
  let tokens = deps.tokens;
  let renewing: Promise<PlazaTokens> | undefined;

  const refreshNow = (): Promise<PlazaTokens> => {
    renewing ??= (async () => {
      const previous = tokens;
      const next = await deps.refresh(previous);
      tokens = next;
      await deps.onTokens?.(next, previous);
      return next;
    })().finally(() => {
      renewing = undefined;
    });
    return renewing;
  };

  const credentials: Credentials = {
    async ensure() {
      if (renewing) return renewing;
      if (tokens.refreshToken && tokens.expiresAt - EXPIRY_SKEW_MS <= Date.now()) return refreshNow();
      return tokens;
    },
    async renew(stale) {
      // Another call already renewed while this one was on the way.
      if (tokens.accessToken !== stale.accessToken) return tokens;
      if (!tokens.refreshToken) return undefined;
      return refreshNow();
    },
  };

  const typed = createFetcher(deps.plazaUrl, deps.fetch, credentials);
  return {
    ...typed,
    get tokens() {
      return tokens;
    },
    refresh() {
      if (!tokens.refreshToken) return Promise.reject(new TypeError('these tokens have no refresh token'));
      return refreshNow();
    },
    account: { get: () => typed.get('/v1/account') },
    contacts: {
      list: (query) => typed.get('/v1/contacts', { query }),
      all: (query) => typed.paginate('/v1/contacts', { query }),
      get: (contactId) => typed.get('/v1/contacts/{contactId}', { params: { contactId } }),
      create: (contact) => typed.post('/v1/contacts', { body: contact }),
      update: (contactId, patch) =>
        typed.patch('/v1/contacts/{contactId}', { params: { contactId }, body: patch }),
      delete: async (contactId) => {
        await typed.delete('/v1/contacts/{contactId}', { params: { contactId } });
      },
    },
    users: {
      list: (query) => typed.get('/v1/users', { query }),
      all: (query) => typed.paginate('/v1/users', { query }),
    },
  };
}

/** The API as the app itself: a client-credentials token, fetched when missing or expired, renewed once on 401. */
export function createAppApi(deps: {
  plazaUrl: string;
  fetch: typeof globalThis.fetch;
  obtain: () => Promise<PlazaTokens>;
}): PlazaAppApi {
  let tokens: PlazaTokens | undefined;
  let obtaining: Promise<PlazaTokens> | undefined;
  const obtain = () => {
    obtaining ??= deps
      .obtain()
      .then((t) => {
        tokens = t;
        return t;
      })
      .finally(() => {
        obtaining = undefined;
      });
    return obtaining;
  };
  const credentials: Credentials = {
    async ensure() {
      if (obtaining) return obtaining;
      if (!tokens || tokens.expiresAt - EXPIRY_SKEW_MS <= Date.now()) return obtain();
      return tokens;
    },
    async renew(stale) {
      if (tokens && tokens.accessToken !== stale.accessToken) return tokens;
      return obtain();
    },
  };
  const typed = createFetcher(deps.plazaUrl, deps.fetch, credentials);
  return {
    ...typed,
    app: { get: () => typed.get('/v1/app') },
    installations: {
      list: (query) => typed.get('/v1/app/installations', { query }),
      all: (query) => typed.paginate('/v1/app/installations', { query }),
      async tokens(installationId) {
        const sent = Date.now();
        const body = await typed.post('/v1/app/installations/{installationId}/token', {
          params: { installationId },
        });
        return tokensFromResponse(body, sent);
      },
      uninstall: (installationId) =>
        typed.delete('/v1/app/installations/{installationId}', { params: { installationId } }),
    },
    webhookEndpoints: {
      list: (query) => typed.get('/v1/app/webhook-endpoints', { query }),
      all: (query) => typed.paginate('/v1/app/webhook-endpoints', { query }),
      create: (endpoint) => typed.post('/v1/app/webhook-endpoints', { body: endpoint }),
      get: (endpointId) => typed.get('/v1/app/webhook-endpoints/{endpointId}', { params: { endpointId } }),
      update: (endpointId, patch) =>
        typed.patch('/v1/app/webhook-endpoints/{endpointId}', { params: { endpointId }, body: patch }),
      delete: async (endpointId) => {
        await typed.delete('/v1/app/webhook-endpoints/{endpointId}', { params: { endpointId } });
      },
      secret: (endpointId) =>
        typed.get('/v1/app/webhook-endpoints/{endpointId}/secret', { params: { endpointId } }),
      test: (endpointId) =>
        typed.post('/v1/app/webhook-endpoints/{endpointId}/test', { params: { endpointId } }),
    },
  };
}
