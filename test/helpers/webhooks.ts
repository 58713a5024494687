import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { bearer, clientToken } from './oauth.ts';
import { type PlazaServer, type PlazaServerOptions, startPlazaServer } from './plaza.ts';
import { registerApp, type TestApp } from './world.ts';

/**
 * Helpers for webhook tests: a Plaza that may deliver to loopback with the
 * retry schedule shrunk by a time scale, real HTTP receivers on 127.0.0.1,
 * and apps with client-credentials tokens.
 */
export const WEBHOOK_ENV = {
  WEBHOOKS_ALLOW_PRIVATE: 'true',
  // The default schedule (0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) in about one second.
  PLAZA_WEBHOOKS_TIME_SCALE: '0.00001',
  PLAZA_WEBHOOKS_POLL_MS: '200',
  PLAZA_WEBHOOKS_TIMEOUT_MS: '3000',
};

export function startWebhooksPlaza(env: Record<string, string> = {}, opts: PlazaServerOptions = {}) {
  return startPlazaServer({ ...opts, env: { ...WEBHOOK_ENV, ...env } });
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
    // A request stops being in flight when its connection closes: answered, or given up by Plaza
    // after its timeout (a held answer would otherwise count a closed request for ever).
    let open = true;
    const leave = () => {
      if (open) inFlight--;
      open = false;
    };
    res.on('close', leave);
    try {
      await responder(entry, res);
    } finally {
      leave();
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
    /**
     * Holds every answer from now on: the list it returns gets one function per
     * request held, in arrival order, that answers it 200.
     */
    hold(): Array<() => void> {
      const held: Array<() => void> = [];
      responder = (_req, res) =>
        new Promise<void>((resolve) => {
          held.push(() => {
            res.end('ok');
            resolve();
          });
        });
      return held;
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

export interface WebhookApp extends TestApp {
  token: string;
  as: { authorization: string };
}

/** A live app with its client-credentials token. */
export async function webhookApp(
  plaza: PlazaServer,
  name: string,
  scopes: string[] = ['contacts:read'],
): Promise<WebhookApp> {
  const app = await registerApp(plaza, {
    name,
    redirectUris: ['https://app.example.com/callback'],
    scopes: scopes.map((s) => ({ name: s })),
  });
  const token = await clientToken(plaza, app);
  return { ...app, token, as: bearer(token) };
}
