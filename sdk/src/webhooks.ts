/**
 * Webhook verification (Standard Webhooks, https://www.standardwebhooks.com),
 * with WebCrypto (`globalThis.crypto.subtle`), so it runs in Node ≥ 20 and
 * in edge runtimes alike.
 *
 * Plaza signs `${webhook-id}.${webhook-timestamp}.${raw body}` with
 * HMAC-SHA256 under the endpoint's `whsec_` secret (base64 after the
 * prefix) and sends `webhook-signature: v1,<base64>` — two space-separated
 * signatures while a rotated secret overlaps with the new one. Verify the
 * RAW body: a re-serialized JSON object does not have the same bytes.
 */
import { PlazaSdkError } from './errors.ts';

/** The body Plaza sends: an envelope around the event's data. */
export interface WebhookEvent<D = unknown> {
  /** The event id (the same for every endpoint that gets it). */
  id: string;
  /** `contact.created`, `app.installed`, ... (see GET /v1/event-types). */
  type: string;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  /** The account it happened in; null for events about the app itself (`endpoint.disabled`, `webhook.test`). */
  accountId: string | null;
  /** The app's installation in that account. */
  installationId: string | null;
  data: D;
}

export type WebhookFailure =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'timestamp_out_of_tolerance'
  | 'bad_secret'
  | 'no_matching_signature'
  | 'bad_body';

/** A webhook that did not verify: answer 4xx and do not act on it. */
export class PlazaWebhookError extends PlazaSdkError {
  override name = 'PlazaWebhookError';
  readonly reason: WebhookFailure;
  constructor(reason: WebhookFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Headers as the Fetch API, Node (`req.headers`) or a plain object give them. */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** Largest difference between the webhook's timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The time to check against (default: now). */
  now?: Date | number;
}

const DEFAULT_TOLERANCE = 300;
const encoder = new TextEncoder();

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const v = (headers as { get(name: string): string | null }).get(name);
    return v ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : record[key];
  return Array.isArray(v) ? v[0] : v;
}

function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

async function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = base64ToBytes(encoded);
  } catch {
    throw new PlazaWebhookError('bad_secret', 'the webhook secret is not whsec_ followed by base64');
  }
  if (raw.length === 0) throw new PlazaWebhookError('bad_secret', 'the webhook secret is empty');
  return globalThis.crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

function signedContent(id: string, timestamp: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/**
 * The `v1,<base64>` signature of a webhook (for tests of your receiver and
 * for tools that replay webhooks to it).
 */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string | Uint8Array | ArrayBuffer,
): Promise<string> {
  const key = await hmacKey(secret, 'sign');
  const mac = await globalThis.crypto.subtle.sign(
    'HMAC',
    key,
    signedContent(id, String(timestamp), toBytes(body)),
  );
  return `v1,${bytesToBase64(new Uint8Array(mac))}`;
}

/**
 * Verifies a webhook and returns its parsed body. Throws PlazaWebhookError
 * when a header is missing, the timestamp is more than `toleranceSeconds`
 * away from now (replays), or no `v1` signature matches any of `secret`
 * (pass several during your own secret rollover). Signatures are compared
 * by WebCrypto's HMAC verify, in constant time.
 */
export async function verifyWebhook<T = WebhookEvent>(
  rawBody: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secret: string | string[],
  options: VerifyWebhookOptions = {},
): Promise<T> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new PlazaWebhookError(
      'missing_headers',
      'a webhook carries webhook-id, webhook-timestamp and webhook-signature headers',
    );
  if (!/^\d+$/.test(timestamp))
    throw new PlazaWebhookError('bad_timestamp', 'webhook-timestamp is not a whole number of seconds');
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE;
  const nowMs = options.now === undefined ? Date.now() : Number(options.now);
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestamp)) > tolerance)
    throw new PlazaWebhookError(
      'timestamp_out_of_tolerance',
      `webhook-timestamp is more than ${tolerance} seconds away from now (a replayed or delayed webhook)`,
    );
  const body = toBytes(rawBody);
  const content = signedContent(id, timestamp, body);
  const candidates: Uint8Array<ArrayBuffer>[] = [];
  for (const part of signatures.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    try {
      candidates.push(base64ToBytes(part.slice(comma + 1)));
    } catch {}
  }
  let matched = false;
  for (const s of Array.isArray(secret) ? secret : [secret]) {
    const key = await hmacKey(s, 'verify');
    for (const candidate of candidates)
      if (await globalThis.crypto.subtle.verify('HMAC', key, candidate, content)) matched = true;
  }
  if (!matched)
    throw new PlazaWebhookError('no_matching_signature', 'no v1 signature of the webhook matches the secret');
  try {
    return JSON.parse(new TextDecoder().decode(body)) as T;
  } catch {
    throw new PlazaWebhookError('bad_body', 'the webhook body is not JSON');
  }
}

/** Reads a request body stream (Node's IncomingMessage, Koa's ctx.req) into bytes, up to `limit`. */
export async function readRawBody(
  stream: AsyncIterable<Uint8Array | string>,
  limit = 1024 * 1024,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    size += bytes.length;
    if (size > limit)
      throw new PlazaWebhookError('bad_body', `the webhook body is larger than ${limit} bytes`);
    chunks.push(bytes);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface WebhookMiddlewareOptions extends VerifyWebhookOptions {
  /** Largest body read (default 1 MB). */
  limit?: number;
}

/** What the Koa middleware uses of Koa's context. */
interface KoaLikeContext {
  req: AsyncIterable<Uint8Array | string>;
  request: { headers: Record<string, string | string[] | undefined>; rawBody?: string };
  state: Record<string, unknown>;
  status: number;
  body: unknown;
}

/**
 * Koa middleware: verifies the webhook (reading the raw body itself, or
 * `ctx.request.rawBody` when a body parser kept it), puts the event in
 * `ctx.state.webhook` and calls the next middleware; answers 401 when it
 * does not verify (Plaza then retries; fix the secret and replay).
 */
export function koaWebhook(secret: string | string[], options: WebhookMiddlewareOptions = {}) {
  return async (ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> => {
    let event: WebhookEvent;
    try {
      const raw = ctx.request.rawBody ?? (await readRawBody(ctx.req, options.limit));
      event = await verifyWebhook(raw, ctx.request.headers, secret, options);
    } catch (err) {
      if (!(err instanceof PlazaWebhookError)) throw err;
      ctx.status = 401;
      ctx.body = { error: err.reason, message: err.message };
      return;
    }
    ctx.state.webhook = event;
    await next();
  };
}

/** What the Express / node:http middleware uses of the request and response. */
interface NodeLikeRequest extends AsyncIterable<Uint8Array | string> {
  headers: Record<string, string | string[] | undefined>;
  /** Set by `express.raw()` (bytes) or `express.text()`; a parsed object means the raw body is gone. */
  body?: unknown;
  webhook?: WebhookEvent;
}
interface NodeLikeResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

/**
 * Express (or plain node:http) middleware: verifies the webhook from
 * `req.body` when `express.raw({ type: 'application/json' })` ran first,
 * else from the request stream; sets `req.webhook` and calls `next()`;
 * answers 401 when it does not verify.
 */
export function expressWebhook(secret: string | string[], options: WebhookMiddlewareOptions = {}) {
  return async (
    req: NodeLikeRequest,
    res: NodeLikeResponse,
    next: (err?: unknown) => void,
  ): Promise<void> => {
    try {
      let raw: string | Uint8Array;
      if (req.body instanceof Uint8Array || typeof req.body === 'string') raw = req.body;
      else if (req.body !== undefined && req.body !== null && Object.keys(req.body as object).length > 0)
        throw new PlazaSdkError(
          'the webhook body was already parsed as JSON: mount express.raw({ type: "application/json" }) on the webhook route instead of express.json()',
        );
      else raw = await readRawBody(req, options.limit);
      req.webhook = await verifyWebhook(raw, req.headers, secret, options);
    } catch (err) {
      if (!(err instanceof PlazaWebhookError)) return next(err);
      res.statusCode = 401;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: err.reason, message: err.message }));
      return;
    }
    next();
  };
}
