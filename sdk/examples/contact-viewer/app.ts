/**
 * Contact viewer: the smallest Plaza app worth installing. node:http, no
 * framework, tokens kept in memory (a real app keeps them in its database,
 * keyed by installation).
 *
 *   GET  /            installations and what you can do with them
 *   GET  /install     sends the person to Plaza to install the app (PKCE + state)
 *   GET  /callback    Plaza sends the person back here: checks and exchanges the code
 *   GET  /contacts    the account's contacts through the API (`contacts:read`); JSON with Accept: application/json
 *   POST /refresh     refreshes the installation's tokens now (rotation)
 *   POST /uninstall   revokes the installation's refresh token: Plaza ends the grant
 *   POST /webhooks    Plaza's webhooks: verified (`verifyWebhook`), deduped on webhook-id, acted on
 *   GET  /events      the last webhooks received (JSON)
 *
 * Every route taking `?account=acct_...` may leave it out while there is one
 * installation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
// In your app: import { ... } from '@plaza/sdk';
import {
  createPlazaClient,
  PlazaApiError,
  PlazaCallbackError,
  type PlazaClient,
  PlazaOAuthError,
  type PlazaTokens,
  PlazaWebhookError,
  readRawBody,
  verifyWebhook,
  type WebhookEndpoint,
  type WebhookEvent,
  type WebhookFailure,
} from '../../src/index.ts';

export interface ContactViewerOptions {
  plazaUrl: string;
  clientId: string;
  clientSecret: string;
  /** Where this app is reached, e.g. http://127.0.0.1:3005 (the redirect URI is `${appUrl}/callback`). */
  appUrl: string;
  /** Scopes to ask for; default contacts:read. */
  scopes?: string[];
  /**
   * The webhook endpoint's signing secret (`whsec_...`; several during your own rollover).
   * Without it, POST /webhooks answers 503 until `registerWebhookEndpoint()` loads one.
   */
  webhookSecret?: string | string[];
  fetch?: typeof globalThis.fetch;
}

/** A webhook that verified, and what the app did about it. */
export interface ReceivedWebhook {
  /** The `webhook-id` header: the same on every delivery of this message. */
  webhookId: string;
  eventId: string;
  type: string;
  accountId: string | null;
  installationId: string | null;
  occurredAt: string;
  receivedAt: string;
  outcome: string;
}

export interface ContactViewer {
  handle(req: IncomingMessage, res: ServerResponse): void;
  plaza: PlazaClient;
  /** Installations by account id: their current tokens. */
  installations: Map<string, PlazaTokens>;
  /**
   * Finds this app's endpoint for `${appUrl}/webhooks` with the app's client
   * credentials, or creates it, and verifies webhooks with its secret from now on.
   */
  registerWebhookEndpoint(): Promise<{ endpoint: WebhookEndpoint; created: boolean }>;
}

/** How long a started installation may take before its state is forgotten. */
const FLOW_TTL_MS = 10 * 60_000;
const FLOW_COOKIE = 'contact_viewer_flow';
/** Webhooks kept to show; webhook-ids remembered to drop redeliveries (a real app keeps them in its database). */
const WEBHOOKS_SHOWN = 20;
const WEBHOOK_IDS_KEPT = 1000;

/** A bad request is 400; a signature that does not match or a replayed timestamp is 401; our own bad secret is 500. */
const WEBHOOK_REFUSAL: Record<WebhookFailure, number> = {
  missing_headers: 400,
  bad_timestamp: 400,
  bad_body: 400,
  timestamp_out_of_tolerance: 401,
  no_matching_signature: 401,
  bad_secret: 500,
};

const html = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}form{display:inline}</style>
</head><body><h1>${html(title)}</h1>${body}<p><a href="/">Home</a></p></body></html>`;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export function createContactViewer(options: ContactViewerOptions): ContactViewer {
  const appUrl = options.appUrl.replace(/\/+$/, '');
  const installations = new Map<string, PlazaTokens>();
  const flows = new Map<string, { codeVerifier: string; startedAt: number }>();
  let webhookSecrets = [options.webhookSecret ?? []].flat();
  /** Verified webhooks, newest first. */
  const received: ReceivedWebhook[] = [];
  /** Every webhook-id acted on (insertion order: the oldest go first). */
  const seenWebhookIds = new Set<string>();
  /** Accounts whose contacts changed since their contacts page was last shown: how many changes. */
  const contactChanges = new Map<string, number>();
  const plaza = createPlazaClient({
    plazaUrl: options.plazaUrl,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri: `${appUrl}/callback`,
    scopes: options.scopes ?? ['contacts:read'],
    fetch: options.fetch,
    // Plaza rotates refresh tokens: whenever the SDK refreshes on its own, keep the new pair.
    onTokens: (tokens) => {
      if (tokens.accountId) installations.set(tokens.accountId, tokens);
    },
  });

  const wantsJson = (req: IncomingMessage, url: URL) =>
    url.searchParams.get('format') === 'json' || /application\/json/.test(req.headers.accept ?? '');

  function send(res: ServerResponse, status: number, body: string, type = 'text/html; charset=utf-8') {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    });
    res.end(body);
  }
  const json = (res: ServerResponse, status: number, value: unknown) =>
    send(res, status, JSON.stringify(value), 'application/json');
  const noContent = (res: ServerResponse) => {
    res.writeHead(204).end();
  };
  const seeOther = (res: ServerResponse, location: string, headers: Record<string, string> = {}) => {
    res.writeHead(303, { location, ...headers });
    res.end();
  };

  /** The installation a request is about: `?account=`, or the only one. */
  function installationOf(url: URL): [string, PlazaTokens] | undefined {
    const account = url.searchParams.get('account');
    if (account) {
      const tokens = installations.get(account);
      return tokens ? [account, tokens] : undefined;
    }
    return installations.size === 1 ? [...installations][0] : undefined;
  }

  /** What the app does with a verified event; returns what it did, for the page. */
  function act(event: WebhookEvent): string {
    const account = event.accountId;
    if (event.type === 'app.uninstalled' && account) {
      // Uninstalled on Plaza's side (or by POST /uninstall): its tokens are dead, forget them.
      // Only that installation's: a newer one in the same account keeps its tokens.
      if (installations.get(account)?.installationId !== event.installationId) return 'nothing to forget';
      installations.delete(account);
      return "forgot the installation's tokens";
    }
    if (event.type.startsWith('contact.') && account) {
      // The app does not copy contacts: it notes that the list changed (a caching app would refetch).
      contactChanges.set(account, (contactChanges.get(account) ?? 0) + 1);
      return 'marked the contact list changed';
    }
    return 'noted';
  }

  async function receiveWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (webhookSecrets.length === 0)
      return json(res, 503, {
        error: 'not_configured',
        message: 'no webhook secret: set PLAZA_WEBHOOK_SECRET',
      });
    let event: WebhookEvent;
    try {
      // Verify the raw bytes, before anything else: unverified, the body is anyone's.
      event = await verifyWebhook(await readRawBody(req), req.headers, webhookSecrets);
    } catch (err) {
      if (!(err instanceof PlazaWebhookError)) throw err;
      if (err.reason === 'bad_secret')
        console.error('contact-viewer: the webhook secret is not a whsec_ secret');
      return json(res, WEBHOOK_REFUSAL[err.reason], { error: err.reason, message: err.message });
    }
    // Deduped only once verified, so forged ids cannot shadow real ones. Plaza delivers at least once
    // (a lost 2xx, a replay): a redelivery is acknowledged and not acted on again.
    const webhookId = String(req.headers['webhook-id']);
    if (seenWebhookIds.has(webhookId)) return noContent(res);
    seenWebhookIds.add(webhookId);
    if (seenWebhookIds.size > WEBHOOK_IDS_KEPT) seenWebhookIds.delete(seenWebhookIds.values().next().value!);
    received.unshift({
      webhookId,
      eventId: event.id,
      type: event.type,
      accountId: event.accountId,
      installationId: event.installationId,
      occurredAt: event.timestamp,
      receivedAt: new Date().toISOString(),
      outcome: act(event),
    });
    received.length = Math.min(received.length, WEBHOOKS_SHOWN);
    noContent(res);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', appUrl);
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /') {
      const changes = (account: string) => {
        const n = contactChanges.get(account);
        return n ? ` (${n} new change${n === 1 ? '' : 's'})` : '';
      };
      const rows = [...installations]
        .map(
          ([account, t]) => `<tr><td>${html(account)}</td><td>${html(t.scopes.join(' '))}</td>
<td><a href="/contacts?account=${encodeURIComponent(account)}">Contacts${changes(account)}</a>
<form method="post" action="/refresh?account=${encodeURIComponent(account)}"><button>Refresh tokens</button></form>
<form method="post" action="/uninstall?account=${encodeURIComponent(account)}"><button>Uninstall</button></form></td></tr>`,
        )
        .join('');
      const webhookRows = received
        .map(
          (w) => `<tr><td>${html(w.receivedAt)}</td><td>${html(w.type)}</td><td>${html(w.accountId)}</td>
<td>${html(w.webhookId)}</td><td>${html(w.outcome)}</td></tr>`,
        )
        .join('');
      return send(
        res,
        200,
        page(
          'Contact viewer',
          `<p><a href="/install">Install into a Plaza account</a></p>${
            rows
              ? `<table><tr><th>Account</th><th>Scopes</th><th></th></tr>${rows}</table>`
              : '<p>No installations yet.</p>'
          }<h2>Webhooks</h2>${
            webhookSecrets.length
              ? ''
              : '<p>Not receiving webhooks: no PLAZA_WEBHOOK_SECRET (see the README).</p>'
          }${
            webhookRows
              ? `<table><tr><th>Received</th><th>Type</th><th>Account</th><th>webhook-id</th><th>What the app did</th></tr>${webhookRows}</table>`
              : '<p>No webhooks yet.</p>'
          }`,
        ),
      );
    }

    if (route === 'GET /events') return json(res, 200, { events: received });

    if (route === 'POST /webhooks') return receiveWebhook(req, res);

    if (route === 'GET /install') {
      const now = Date.now();
      for (const [state, flow] of flows) if (now - flow.startedAt > FLOW_TTL_MS) flows.delete(state);
      const { url: authorizeUrl, state, codeVerifier } = await plaza.authorizeUrl();
      flows.set(state, { codeVerifier, startedAt: now });
      // The state is bound to this browser: a callback from another browser fails the state check.
      return seeOther(res, authorizeUrl, {
        'set-cookie': `${FLOW_COOKIE}=${encodeURIComponent(state)}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=600`,
      });
    }

    if (route === 'GET /callback') {
      const expectedState = cookie(req, FLOW_COOKIE);
      const flow = expectedState ? flows.get(expectedState) : undefined;
      if (!expectedState || !flow || Date.now() - flow.startedAt > FLOW_TTL_MS)
        return send(
          res,
          400,
          page('Installation expired', '<p>Start again from <a href="/install">Install</a>.</p>'),
        );
      flows.delete(expectedState);
      const clear = `${FLOW_COOKIE}=; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=0`;
      try {
        const tokens = await plaza.exchangeCode({
          callbackUrl: req.url ?? '/',
          expectedState,
          codeVerifier: flow.codeVerifier,
        });
        if (!tokens.accountId) throw new Error('the access token names no account');
        installations.set(tokens.accountId, tokens);
        return seeOther(res, `/contacts?account=${encodeURIComponent(tokens.accountId)}`, {
          'set-cookie': clear,
        });
      } catch (err) {
        if (err instanceof PlazaOAuthError && err.error === 'access_denied')
          return send(
            res,
            200,
            page('Not installed', `<p>${html(err.errorDescription ?? 'The installation was declined.')}</p>`),
          );
        if (err instanceof PlazaCallbackError || err instanceof PlazaOAuthError)
          return send(res, 400, page('Installation failed', `<p>${html(err.message)}</p>`));
        throw err;
      }
    }

    if (route === 'GET /contacts') {
      const found = installationOf(url);
      if (!found) return send(res, 404, page('Not installed', '<p>No such installation.</p>'));
      const [account, tokens] = found;
      const api = plaza.api(tokens);
      const q = url.searchParams.get('q') ?? undefined;
      try {
        const list = await api.contacts.list({ limit: 100, ...(q ? { q } : {}) });
        contactChanges.delete(account);
        if (wantsJson(req, url))
          return json(res, 200, { account, contacts: list.data, nextCursor: list.nextCursor });
        const rows = list.data
          .map(
            (c) =>
              `<tr><td>${html(c.name)}</td><td>${html(c.email)}</td><td>${html(c.phone)}</td><td>${html(c.tags.join(', '))}</td></tr>`,
          )
          .join('');
        return send(
          res,
          200,
          page(
            `Contacts of ${account}`,
            rows
              ? `<table><tr><th>Name</th><th>Email</th><th>Phone</th><th>Tags</th></tr>${rows}</table>`
              : '<p>No contacts yet.</p>',
          ),
        );
      } catch (err) {
        if (!(err instanceof PlazaApiError)) throw err;
        // 401 after the SDK tried to refresh: the app was uninstalled from Plaza.
        if (err.status === 401) installations.delete(account);
        const problem = { status: err.status, code: err.code, detail: err.problem?.detail ?? err.message };
        if (wantsJson(req, url)) return json(res, err.status, problem);
        return send(
          res,
          err.status,
          page('Plaza said no', `<p>${html(problem.code)}: ${html(problem.detail)}</p>`),
        );
      }
    }

    if (route === 'POST /refresh') {
      const found = installationOf(url);
      if (!found) return send(res, 404, page('Not installed', '<p>No such installation.</p>'));
      const tokens = await plaza.api(found[1]).refresh(); // onTokens stores the new pair
      if (wantsJson(req, url))
        return json(res, 200, {
          account: found[0],
          expiresAt: new Date(tokens.expiresAt).toISOString(),
          scopes: tokens.scopes,
        });
      return seeOther(res, '/');
    }

    if (route === 'POST /uninstall') {
      const found = installationOf(url);
      if (!found) return send(res, 404, page('Not installed', '<p>No such installation.</p>'));
      const [account, tokens] = found;
      // Revoking the refresh token uninstalls the app: Plaza ends the grant with every token of it.
      if (!tokens.refreshToken) throw new Error('this installation has no refresh token to revoke');
      await plaza.revoke(tokens.refreshToken, 'refresh_token');
      installations.delete(account);
      if (wantsJson(req, url)) return json(res, 200, { account, uninstalled: true });
      return seeOther(res, '/');
    }

    send(res, 404, page('Not found', '<p>No such page.</p>'));
  }

  return {
    plaza,
    installations,
    async registerWebhookEndpoint() {
      const url = `${appUrl}/webhooks`;
      // As the app itself (client credentials): endpoints belong to the app, not to an installation.
      const endpoints = plaza.appApi().webhookEndpoints;
      for await (const endpoint of endpoints.all())
        if (endpoint.url === url) {
          webhookSecrets = [(await endpoints.secret(endpoint.id)).secret];
          return { endpoint, created: false };
        }
      // No eventTypes: every type the app may receive (contact.* with contacts:read, app.* always).
      const { endpoint, secret } = await endpoints.create({ url, description: 'Contact viewer (example)' });
      webhookSecrets = [secret];
      return { endpoint, created: true };
    },
    handle(req, res) {
      route(req, res).catch((err: unknown) => {
        console.error('contact-viewer:', err);
        if (!res.headersSent)
          send(res, 500, page('Something went wrong', `<p>${html((err as Error).message)}</p>`));
        else res.end();
      });
    },
  };
}
