import type { KeyObject } from 'node:crypto';
import { Agent, buildConnector, request } from 'undici';
import { parseRetryAfter } from './schedule.ts';
import { signatureHeaders } from './signing.ts';
import { type DestinationPolicy, DestinationRefused, isLoopbackHost, resolveDestination } from './ssrf.ts';

/*
 * undici is loaded with this file, which the delivery engine imports when it
 * first sends or starts pumping, not when the server's modules load.
 */

/** The first 4 KB of a receiver's answer go to the attempt log. */
export const RESPONSE_BODY_BYTES = 4096;

export interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  status: number | null;
  responseBody: string | null;
  error: string | null;
  retryAfterSeconds: number | null;
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= max) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/**
 * Signed POSTs of webhook messages through the SSRF-checked agent: https
 * only (plain http to loopback when private destinations are allowed), no
 * redirects, one timeout for connect, headers and body.
 */
export function createSender(options: { agent: Agent; timeoutMs: number; allowPrivate: boolean }) {
  const { agent } = options;
  const timeoutError = new DOMException(`timed out after ${options.timeoutMs} ms`, 'TimeoutError');

  function describeError(err: unknown): string {
    if (err instanceof DestinationRefused) return `refused: ${err.message}`;
    const e = err as {
      name?: string;
      code?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT')
      return `timed out after ${options.timeoutMs} ms`;
    if (e?.cause instanceof DestinationRefused) return `refused: ${e.cause.message}`;
    const code = e?.cause?.code ?? e?.code;
    const message = e?.cause?.message ?? e?.message ?? String(err);
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }

  // Parsed URLs and their scheme check, by URL string: parsing and the loopback check (BlockList)
  // at every attempt were ~5% of the engine's CPU at full speed. null: the URL is refused.
  const destinations = new Map<string, URL | null>();
  function destinationOf(url: string): URL | null {
    let target = destinations.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target =
        parsed.protocol === 'https:' || (options.allowPrivate && isLoopbackHost(parsed.hostname))
          ? parsed
          : null;
      if (destinations.size >= 10_000) destinations.clear();
      destinations.set(url, target);
    }
    return target;
  }

  /** One signed POST. Never throws: a network failure is a result with `error`. */
  async function post(
    url: string,
    msgId: string,
    body: string,
    secrets: KeyObject[],
  ): Promise<AttemptResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const done = (r: Omit<AttemptResult, 'startedAt' | 'durationMs'>): AttemptResult => ({
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      ...r,
    });
    const target = destinationOf(url);
    if (!target)
      return done({
        status: null,
        responseBody: null,
        retryAfterSeconds: null,
        error:
          'refused: webhooks go to https URLs (plain http only to loopback, when WEBHOOKS_ALLOW_PRIVATE is set)',
      });
    const timestamp = Math.floor(Date.now() / 1000);
    // One timer for the whole attempt, cleared when it ends: AbortSignal.timeout's timer stayed
    // behind every attempt and fired later (a DOMException each, 2-3% of the engine's CPU).
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(timeoutError), options.timeoutMs);
    try {
      const res = await request(target, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Plaza-Webhooks/1.0',
          ...signatureHeaders(secrets, msgId, timestamp, body),
        },
        body,
        signal: abort.signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      // A short answer of known length is read whole (undici holds it to that length); else the first 4 KB.
      const length = Number(res.headers['content-length']);
      const text = await (Number.isInteger(length) && length <= RESPONSE_BODY_BYTES
        ? res.body.text()
        : readCapped(res.body as any, RESPONSE_BODY_BYTES)
      ).catch(() => '');
      return done({
        status: res.statusCode,
        responseBody: text,
        retryAfterSeconds: parseRetryAfter(res.headers['retry-after']),
        error: null,
      });
    } catch (err) {
      return done({ status: null, responseBody: null, retryAfterSeconds: null, error: describeError(err) });
    } finally {
      clearTimeout(timer);
    }
  }

  return post;
}

/**
 * The HTTP agent webhook attempts go through: each new connection resolves
 * and checks its host, then connects to that very address. Redirects are
 * never followed (undici's request does not follow them).
 */
export function createDeliveryAgent(
  policy: DestinationPolicy,
  opts: { connectTimeoutMs: number; connections?: number },
): Agent {
  const connector = buildConnector({ timeout: opts.connectTimeoutMs });
  return new Agent({
    keepAliveTimeout: 10_000,
    // Keep-alive connections per origin: as many as attempts can run at once.
    connections: opts.connections ?? 64,
    connect(options, callback) {
      resolveDestination(options.hostname, policy).then(
        (dest) => connector({ ...options, hostname: dest.address }, callback),
        (err) => callback(err, null),
      );
    },
  });
}
