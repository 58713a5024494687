import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for a remote Plaza in the SDK's unit tests: discovery, token and
 * revocation endpoints and API routes answered by the test's handlers, every
 * request recorded. The end-to-end test (sdk-e2e.test.ts) runs the SDK
 * against a real Plaza instead.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  form: URLSearchParams;
}

export type Handler = (
  req: RecordedRequest,
  res: ServerResponse,
) => undefined | { status?: number; json?: unknown; headers?: Record<string, string> };

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  /** Requests to one path. */
  to(path: string): RecordedRequest[];
  /** `METHOD /path` → handler; replaces a previous one. */
  on(route: string, handler: Handler): void;
  metadata: Record<string, unknown>;
  close(): Promise<void>;
}

/** A JWT-shaped token with these claims (unsigned: the SDK only reads them). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'at+jwt' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export async function startFakeServer(): Promise<FakeServer> {
  const handlers = new Map<string, Handler>();
  const requests: RecordedRequest[] = [];
  let url = '';
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', url);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body,
      form: new URLSearchParams(body),
    };
    requests.push(recorded);
    const handler = handlers.get(`${req.method} ${u.pathname}`);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Not found',
          status: 404,
          code: 'PLAZA_ROUTE_NOT_FOUND',
        }),
      );
      return;
    }
    const out = handler(recorded, res);
    if (out && !res.headersSent) {
      res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...(out.headers ?? {}) });
      res.end(out.json === undefined ? '' : JSON.stringify(out.json));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${url}/oauth`;
  const metadata: Record<string, unknown> = {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/token/revocation`,
    jwks_uri: `${issuer}/jwks`,
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
  };
  handlers.set('GET /oauth/.well-known/openid-configuration', () => ({ json: metadata }));
  return {
    url,
    requests,
    metadata,
    to: (path) => requests.filter((r) => r.path === path),
    on: (route, handler) => handlers.set(route, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
