import {
  type ApiOptions,
  createAppApi,
  createInstallationApi,
  type PlazaApi,
  type PlazaAppApi,
} from './api.ts';
import { PlazaCallbackError, PlazaOAuthError, PlazaSdkError } from './errors.ts';
import type { Scope } from './generated/openapi.ts';
import { codeChallengeS256, constantTimeEqual, createCodeVerifier, createState } from './pkce.ts';
import { type PlazaTokens, tokensFromResponse } from './tokens.ts';

export interface PlazaClientOptions {
  /** Where Plaza runs, e.g. `https://plaza.example.com` (its PLAZA_PUBLIC_URL). */
  plazaUrl: string;
  /** The app's OAuth client id (developer console → Credentials). */
  clientId: string;
  /** The app's client secret. Server side only: never ship it to a browser. */
  clientSecret: string;
  /** One of the redirect URIs of the app's version, exactly as registered. */
  redirectUri: string;
  /** Scopes `authorizeUrl` asks for when the call names none. */
  scopes?: Array<Scope | (string & {})>;
  /**
   * Called with every token set the API client gets by refreshing on its own
   * (after a 401 `invalid_token` or when the access token has expired), before
   * the call is retried: save them, the old refresh token no longer works.
   */
  onTokens?: (tokens: PlazaTokens, previous: PlazaTokens) => void | Promise<void>;
  /** The issuer Plaza announces; default `${plazaUrl}/oauth`. */
  issuer?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** The parts of Plaza's discovery document (RFC 8414) the SDK uses. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint?: string;
  jwks_uri?: string;
  scopes_supported?: string[];
  code_challenge_methods_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
  [key: string]: unknown;
}

export interface AuthorizationRequest {
  /** Send the person's browser here. */
  url: string;
  /** Keep it (bound to the browser, e.g. in a cookie) and pass it as `expectedState` to `exchangeCode`. */
  state: string;
  /** Keep it server side until the callback and pass it to `exchangeCode`. */
  codeVerifier: string;
}

export type ExchangeCodeInput = {
  /** The state stored when the flow started (`authorizeUrl().state`). */
  expectedState: string;
  /** The verifier stored when the flow started (`authorizeUrl().codeVerifier`). */
  codeVerifier: string;
} & (
  | {
      /** The URL the browser came back on, full or just its path and query (`req.url`): `code`, `state`, `iss` and errors are read from it. Recommended. */
      callbackUrl: string | URL;
      code?: never;
    }
  | {
      code: string;
      /** The `state` query parameter of the callback. */
      state: string;
      /** The `iss` query parameter of the callback (RFC 9207); required when Plaza sends one, as it does. */
      iss?: string;
      callbackUrl?: never;
    }
);

export interface PlazaClient {
  readonly plazaUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  /** Plaza's authorization server metadata, fetched once from `/oauth/.well-known/openid-configuration`. */
  metadata(): Promise<AuthorizationServerMetadata>;
  /** Starts an installation: a URL to send the person to, with PKCE (S256) and a random state. */
  authorizeUrl(opts?: {
    scopes?: Array<Scope | (string & {})>;
    state?: string;
  }): Promise<AuthorizationRequest>;
  /** Checks the callback (state, issuer) and exchanges the code for the installation's tokens. */
  exchangeCode(input: ExchangeCodeInput): Promise<PlazaTokens>;
  /**
   * A new token pair for a refresh token (Plaza rotates refresh tokens: store
   * the returned one). Concurrent calls with the same refresh token share one
   * request; a request whose answer was lost is retried once with the same
   * token, which Plaza accepts within its short grace window.
   */
  refresh(refreshToken: string | PlazaTokens): Promise<PlazaTokens>;
  /** Revokes a token (RFC 7009). Revoking the refresh token ends the installation's grant. */
  revoke(token: string, hint?: 'refresh_token' | 'access_token'): Promise<void>;
  /** A token for the app itself (client credentials): app-level routes only, never account data. */
  clientCredentials(): Promise<PlazaTokens>;
  /** The Plaza API as an installation: typed calls with automatic refresh. */
  api(tokens: PlazaTokens, opts?: ApiOptions): PlazaApi;
  /** The Plaza API as the app itself, with a client-credentials token fetched and renewed as needed. */
  appApi(): PlazaAppApi;
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');
/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants the client id and secret encoded before Basic. */
const formEncode = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);

export function createPlazaClient(options: PlazaClientOptions): PlazaClient {
  for (const key of ['plazaUrl', 'clientId', 'clientSecret', 'redirectUri'] as const)
    if (typeof options[key] !== 'string' || !options[key])
      throw new TypeError(`createPlazaClient: ${key} is required`);
  const plazaUrl = trimSlash(new URL(options.plazaUrl).href);
  const issuer = options.issuer ?? `${plazaUrl}/oauth`;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const basic = `Basic ${btoa(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`)}`;

  let metadataPromise: Promise<AuthorizationServerMetadata> | undefined;
  function metadata(): Promise<AuthorizationServerMetadata> {
    metadataPromise ??= (async () => {
      const url = `${issuer}/.well-known/openid-configuration`;
      let res: Response;
      try {
        res = await doFetch(url, { headers: { accept: 'application/json' } });
      } catch (err) {
        throw new PlazaSdkError(`could not reach Plaza at ${url}: ${(err as Error).message}`, { cause: err });
      }
      if (!res.ok) throw new PlazaSdkError(`Plaza's discovery document ${url} answered HTTP ${res.status}`);
      const doc = (await res.json()) as AuthorizationServerMetadata;
      // RFC 8414 §3.3: the document must be the issuer's own.
      if (doc.issuer !== issuer)
        throw new PlazaSdkError(
          `Plaza's discovery document names the issuer ${doc.issuer}, expected ${issuer}`,
        );
      for (const key of ['authorization_endpoint', 'token_endpoint'] as const)
        if (typeof doc[key] !== 'string') throw new PlazaSdkError(`Plaza's discovery document has no ${key}`);
      return doc;
    })();
    // A failed discovery is tried again next time.
    metadataPromise.catch(() => {
      metadataPromise = undefined;
    });
    return metadataPromise;
  }

  /** POSTs a form to one of the provider's endpoints with the client's Basic credentials. */
  async function postForm(endpoint: string, form: Record<string, string>): Promise<unknown> {
    const res = await doFetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(form).toString(),
    });
    const raw = await res.text();
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    if (res.ok) return body;
    if (body && typeof body.error === 'string') {
      const retry = Number(res.headers.get('retry-after'));
      throw new PlazaOAuthError(body.error, body.error_description, res.status, {
        retryAfter: res.headers.has('retry-after') && Number.isFinite(retry) ? retry : undefined,
      });
    }
    throw new PlazaOAuthError(
      res.status >= 500 ? 'server_error' : 'invalid_request',
      `HTTP ${res.status} from ${endpoint}${raw ? `: ${raw.slice(0, 200)}` : ''}`,
      res.status,
    );
  }

  async function tokenRequest(form: Record<string, string>, previous?: PlazaTokens): Promise<PlazaTokens> {
    const { token_endpoint } = await metadata();
    const sent = Date.now();
    return tokensFromResponse(await postForm(token_endpoint, form), sent, previous);
  }

  const inflightRefresh = new Map<string, Promise<PlazaTokens>>();

  const client: PlazaClient = {
    plazaUrl,
    clientId: options.clientId,
    redirectUri: options.redirectUri,
    metadata,

    async authorizeUrl(opts = {}) {
      const meta = await metadata();
      const state = opts.state ?? createState();
      if (state.length < 16)
        throw new TypeError('authorizeUrl: a state needs at least 16 characters of randomness');
      const codeVerifier = createCodeVerifier();
      const url = new URL(meta.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('redirect_uri', options.redirectUri);
      const scopes = opts.scopes ?? options.scopes;
      if (scopes?.length) url.searchParams.set('scope', [...new Set(scopes)].join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('code_challenge', await codeChallengeS256(codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return { url: url.href, state, codeVerifier };
    },

    async exchangeCode(input) {
      const meta = await metadata();
      let code: string | null | undefined;
      let state: string | null | undefined;
      let iss: string | null | undefined;
      let error: string | null = null;
      let errorDescription: string | null = null;
      if (input.callbackUrl !== undefined) {
        // A path (`req.url` in node:http) is read against the redirect URI.
        const params = new URL(input.callbackUrl, options.redirectUri).searchParams;
        code = params.get('code');
        state = params.get('state');
        iss = params.get('iss');
        error = params.get('error');
        errorDescription = params.get('error_description');
      } else {
        ({ code, state, iss } = input);
      }
      // The state first: an answer (even an error) for another flow is not this flow's.
      if (!state || !input.expectedState || !constantTimeEqual(state, input.expectedState))
        throw new PlazaCallbackError(
          'state_mismatch',
          'the callback state does not match the one this flow started with (a forged or stale callback)',
        );
      // RFC 9207: the answer must come from the server the flow went to.
      if (iss) {
        if (iss !== meta.issuer)
          throw new PlazaCallbackError(
            'issuer_mismatch',
            `the callback comes from issuer ${iss}, expected ${meta.issuer}`,
          );
      } else if (meta.authorization_response_iss_parameter_supported)
        throw new PlazaCallbackError(
          'issuer_missing',
          'the callback has no iss parameter, which Plaza always sends (RFC 9207)',
        );
      if (error) throw new PlazaOAuthError(error, errorDescription ?? undefined);
      if (!code)
        throw new PlazaCallbackError('code_missing', 'the callback carries neither a code nor an error');
      return tokenRequest({
        grant_type: 'authorization_code',
        code,
        redirect_uri: options.redirectUri,
        code_verifier: input.codeVerifier,
      });
    },

    refresh(refreshToken) {
      const previous = typeof refreshToken === 'string' ? undefined : refreshToken;
      const token = typeof refreshToken === 'string' ? refreshToken : refreshToken.refreshToken;
      if (!token) return Promise.reject(new TypeError('refresh: these tokens have no refresh token'));
      let pending = inflightRefresh.get(token);
      if (!pending) {
        const form = { grant_type: 'refresh_token', refresh_token: token };
        pending = (async () => {
          try {
            return await tokenRequest(form, previous);
          } catch (err) {
            // The request or its answer was lost (network, a 5xx): Plaza still
            // accepts the same refresh token for a few seconds, so try once more.
            const lost =
              !(err instanceof PlazaSdkError) || (err instanceof PlazaOAuthError && (err.status ?? 0) >= 500);
            if (!lost) throw err;
            return tokenRequest(form, previous);
          }
        })().finally(() => inflightRefresh.delete(token));
        inflightRefresh.set(token, pending);
      }
      return pending;
    },

    async revoke(token, hint) {
      const meta = await metadata();
      if (!meta.revocation_endpoint) throw new PlazaSdkError('Plaza announces no revocation endpoint');
      await postForm(meta.revocation_endpoint, { token, ...(hint ? { token_type_hint: hint } : {}) });
    },

    clientCredentials() {
      return tokenRequest({ grant_type: 'client_credentials' });
    },

    api(tokens, opts = {}) {
      return createInstallationApi({
        plazaUrl,
        fetch: doFetch,
        tokens,
        refresh: (current) => client.refresh(current),
        onTokens: opts.onTokens ?? options.onTokens,
      });
    },

    appApi() {
      return createAppApi({ plazaUrl, fetch: doFetch, obtain: () => client.clientCredentials() });
    },
  };
  return client;
}
