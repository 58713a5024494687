import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { type OAuthPlaza, registerApp, startOAuthPlaza, type TestApp } from '../oauth/helpers.ts';

/**
 * Helpers for webhook tests: a Plaza that may deliver to loopback with the
 * retry schedule shrunk by a time scale, real HTTP receivers on 127.0.0.1,
 * apps with client-credentials tokens, and installations made through the
 * installations service.
 */
export const WEBHOOK_ENV = {
  WEBHOOKS_ALLOW_PRIVATE: 'true',
  // The default schedule (0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) in about one second.
  PLAZA_WEBHOOKS_TIME_SCALE: '0.00001',
  PLAZA_WEBHOOKS_POLL_MS: '200',
  PLAZA_WEBHOOKS_TIMEOUT_MS: '3000',
};

export function startWebhooksPlaza(
  env: Record<string, string> = {},
  opts: Parameters<typeof startOAuthPlaza>[0] = {},
) {
  return startOAuthPlaza({ ...opts, env: { ...WEBHOOK_ENV, ...env } });
}

export interface Received {
  headers: Record<string, string>;
  body: string;
  json: any;
  at: number;
}

type Responder = (req: Received, res: ServerResponse) => void | Promise<void>;

/** An HTTP receiver on loopback: records every request; answers 200 unless told otherwise. */
export async function receiver() {
  const received: Received[] = [];
  let responder: Responder = (_req, res) => {
    res.end('ok');
  };
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const entry: Received = {
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body,
      json: body ? JSON.parse(body) : null,
      at: Date.now(),
    };
    received.push(entry);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await responder(entry, res);
    } finally {
      inFlight--;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    received,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Sets how the next requests are answered. */
    respond(fn: Responder) {
      responder = fn;
    },
    /** Answers with these statuses in turn, then 200. */
    statuses(list: Array<number | { status: number; headers?: Record<string, string>; body?: string }>) {
      let i = 0;
      responder = (_req, res) => {
        const next = list[i++] ?? 200;
        const spec = typeof next === 'number' ? { status: next } : next;
        res.writeHead(spec.status, spec.headers ?? {});
        res.end(spec.body ?? `answer ${i}`);
      };
    },
    of(type: string) {
      return received.filter((r) => r.json?.type === type);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof receiver>>;

/** Verifies a received webhook with the standardwebhooks package (an independent implementation). */
export function verifyWith(secret: string, r: Received) {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': r.headers['webhook-id'],
    'webhook-timestamp': r.headers['webhook-timestamp'],
    'webhook-signature': r.headers['webhook-signature'],
  });
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client-credentials access token of an app (the app acting for itself). */
export async function clientToken(plaza: OAuthPlaza, app: TestApp): Promise<string> {
  const res = await plaza.http
    .post('/oauth/token')
    .set('authorization', basic(app.clientId, app.clientSecret))
    .type('form')
    .send({ grant_type: 'client_credentials' })
    .expect(200);
  return res.body.access_token;
}

export interface WebhookApp extends TestApp {
  token: string;
  as: { authorization: string };
}

/** A live app with its client-credentials token. */
export async function webhookApp(
  plaza: OAuthPlaza,
  name: string,
  scopes: string[] = ['contacts:read'],
): Promise<WebhookApp> {
  const app = await registerApp(plaza, {
    name,
    redirectUris: ['https://app.example.com/callback'],
    scopes: scopes.map((s) => ({ name: s })),
  });
  const token = await clientToken(plaza, app);
  return { ...app, token, as: { authorization: `Bearer ${token}` } };
}

/** Installs an app in an account with the given scopes (the installations service, as OAuth consent does). */
export async function installApp(plaza: OAuthPlaza, app: TestApp, accountId: string, scopes: string[]) {
  return plaza.core.installations.create({
    accountId,
    appId: app.appId,
    versionId: app.versionId,
    grantedScopes: scopes,
    actor: SYSTEM_ACTOR,
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
