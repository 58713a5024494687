/**
 * @plaza/sdk — for apps on a Plaza marketplace.
 *
 * - OAuth: `createPlazaClient()` → `authorizeUrl()` (PKCE S256 + state),
 *   `exchangeCode()` (state and RFC 9207 `iss` checks), `refresh()` (rotation),
 *   `revoke()`, `clientCredentials()`.
 * - API: `plaza.api(tokens)` for an installation (typed calls, automatic
 *   refresh with `onTokens`), `plaza.appApi()` for the app itself.
 * - Types: generated from Plaza's OpenAPI document (`./generated/openapi.ts`).
 * - Webhooks: `verifyWebhook()` (Standard Webhooks signatures, timestamp
 *   tolerance, several signatures during a secret rotation), `signWebhook()`,
 *   and `koaWebhook()` / `expressWebhook()` middleware.
 */
export type {
  ApiOptions,
  CallOptions,
  HttpMethod,
  ListItem,
  Operation,
  PathsWith,
  PlazaApi,
  PlazaAppApi,
  SuccessBody,
  TypedFetch,
} from './api.ts';
export {
  type CallbackProblem,
  PlazaApiError,
  PlazaCallbackError,
  PlazaOAuthError,
  PlazaSdkError,
} from './errors.ts';
export type {
  AppAccount,
  AppSelf,
  AppUser,
  Contact,
  ContactChangedBy,
  ContactCreate,
  ContactPatch,
  components,
  operations,
  Problem,
  paths,
  Schemas,
  Scope,
  WebhookEndpoint,
  WebhookEndpointCreate,
  WebhookEndpointPatch,
  WebhookEndpointSecret,
  WebhookMessage,
} from './generated/openapi.ts';
export {
  type AuthorizationRequest,
  type AuthorizationServerMetadata,
  createPlazaClient,
  type ExchangeCodeInput,
  type PlazaClient,
  type PlazaClientOptions,
} from './oauth.ts';
export { codeChallengeS256, createCodeVerifier, createState } from './pkce.ts';
export { decodeJwtClaims, type PlazaTokens } from './tokens.ts';
export {
  expressWebhook,
  koaWebhook,
  PlazaWebhookError,
  readRawBody,
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookEvent,
  type WebhookFailure,
  type WebhookHeaders,
  type WebhookMiddlewareOptions,
} from './webhooks.ts';
