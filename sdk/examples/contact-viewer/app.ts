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
 *
 * Every route taking `?account=acct_...` may leave it out while there is one
 * installation. Webhooks (POST /webhooks, verified with the SDK's
 * `verifyWebhook`) come with Plaza issue 5.
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
} from '../../src/index.ts';

export interface ContactViewerOptions {
  plazaUrl: string;
  clientId: string;
  clientSecret: string;
  /** Where this app is reached, e.g. http://127.0.0.1:3005 (the redirect URI is `${appUrl}/callback`). */
  appUrl: string;
  /** Scopes to ask for; default contacts:read. */
  scopes?: string[];
  fetch?: typeof globalThis.fetch;
}

export interface ContactViewer {
  handle(req: IncomingMessage, res: ServerResponse): void;
  plaza: PlazaClient;
  /** Installations by account id: their current tokens. */
  installations: Map<string, PlazaTokens>;
}

/** How long a started installation may take before its state is forgotten. */
const FLOW_TTL_MS = 10 * 60_000;
const FLOW_COOKIE = 'contact_viewer_flow';

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

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', appUrl);
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /') {
      const rows = [...installations]
        .map(
          ([account, t]) => `<tr><td>${html(account)}</td><td>${html(t.scopes.join(' '))}</td>
<td><a href="/contacts?account=${encodeURIComponent(account)}">Contacts</a>
<form method="post" action="/refresh?account=${encodeURIComponent(account)}"><button>Refresh tokens</button></form>
<form method="post" action="/uninstall?account=${encodeURIComponent(account)}"><button>Uninstall</button></form></td></tr>`,
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
          }`,
        ),
      );
    }

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

    // POST /webhooks arrives with Plaza issue 5 (the SDK's verifyWebhook).
    send(res, 404, page('Not found', '<p>No such page.</p>'));
  }

  return {
    plaza,
    installations,
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
