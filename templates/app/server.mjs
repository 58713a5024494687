/**
 * {{name}}: a Plaza app. node:http and @plaza/sdk, tokens in memory (keep them
 * in your database, keyed by installation, in a real app).
 *
 *   GET  /install    starts the install: sends the person to Plaza (PKCE + state)
 *   GET  /callback   Plaza sends them back here: the code becomes tokens
 *   GET  /contacts   the account's contacts through the API (contacts:read)
 *   POST /webhooks   Plaza's webhooks, verified (Standard Webhooks) before anything is done
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createPlazaClient, PlazaWebhookError, readRawBody, verifyWebhook } from '@plaza/sdk';

const port = Number(process.env.PORT ?? '{{port}}');
const appUrl = process.env.APP_URL ?? `http://localhost:${port}`;
const plaza = createPlazaClient({
  plazaUrl: process.env.PLAZA_URL,
  clientId: process.env.PLAZA_CLIENT_ID,
  clientSecret: process.env.PLAZA_CLIENT_SECRET,
  redirectUri: `${appUrl}/callback`,
  scopes: ['contacts:read'],
});
const flows = new Map(); // flow id -> { state, codeVerifier }
const installations = new Map(); // account id -> tokens
const seen = new Set(); // webhook-ids acted on (Plaza retries: act once)

const cookie = (req, name) =>
  (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === name)?.[1];

async function handle(req, res) {
  const url = new URL(req.url, appUrl);
  if (req.method === 'GET' && url.pathname === '/install') {
    const { url: to, state, codeVerifier } = await plaza.authorizeUrl();
    const flow = randomUUID();
    flows.set(flow, { state, codeVerifier });
    res.writeHead(302, { location: to, 'set-cookie': `flow=${flow}; HttpOnly; SameSite=Lax; Path=/` });
    return res.end();
  }
  if (req.method === 'GET' && url.pathname === '/callback') {
    const flow = flows.get(cookie(req, 'flow'));
    if (!flow) return send(res, 400, 'Start from /install');
    if (url.searchParams.get('error'))
      return send(
        res,
        400,
        `Not installed: ${url.searchParams.get('error_description') ?? url.searchParams.get('error')}`,
      );
    const tokens = await plaza.exchangeCode({
      callbackUrl: url.href,
      expectedState: flow.state,
      codeVerifier: flow.codeVerifier,
    });
    installations.set(tokens.accountId, tokens);
    return send(res, 200, `Installed in ${tokens.accountId} with ${tokens.scopes.join(', ')}`);
  }
  if (req.method === 'GET' && url.pathname === '/contacts') {
    const tokens = installations.get(url.searchParams.get('account')) ?? [...installations.values()][0];
    if (!tokens) return send(res, 404, 'Install the app first: /install');
    const api = plaza.api(tokens, { onTokens: (next) => installations.set(next.accountId, next) });
    return json(res, 200, await api.contacts.list({ limit: 50 }));
  }
  if (req.method === 'POST' && url.pathname === '/webhooks') {
    const body = await readRawBody(req);
    let event;
    try {
      event = await verifyWebhook(body, req.headers, process.env.PLAZA_WEBHOOK_SECRET ?? '');
    } catch (err) {
      if (err instanceof PlazaWebhookError) return json(res, 401, { error: err.reason });
      throw err;
    }
    const id = req.headers['webhook-id'];
    if (!seen.has(id)) {
      seen.add(id);
      console.log(`webhook ${event.type} for ${event.accountId}:`, JSON.stringify(event.data));
    }
    return json(res, 200, { received: event.type });
  }
  send(res, 404, 'Not found');
}

function send(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

createServer((req, res) =>
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, 'Something went wrong');
  }),
).listen(port, () => console.log(`{{name}} on ${appUrl} (install: ${appUrl}/install)`));
