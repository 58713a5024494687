import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { PlazaError } from '../errors.ts';
import { refuseIllFormed } from './edge.ts';

/**
 * Reads a JSON request body. Routes call it (there is no global body parser,
 * so the OAuth provider's routes see the raw stream). Wrong content type: 415;
 * over the limit: 413; not JSON: 400. The raw bytes stay on ctx.state.rawBody.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const length = Number(ctx.get('content-length') || 0);
  const chunked = /chunked/i.test(ctx.get('transfer-encoding'));
  if (!length && !chunked) return undefined;
  if (!ctx.is('application/json', 'application/*+json'))
    throw new PlazaError(
      'PLAZA_UNSUPPORTED_MEDIA_TYPE',
      `send the body as application/json, not ${ctx.get('content-type') || 'nothing'}`,
    );
  if (length > limitBytes) throw tooLarge(limitBytes);
  const raw = await readAll(ctx.req, limitBytes);
  ctx.state.rawBody = raw;
  if (raw.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new PlazaError('PLAZA_BAD_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
  refuseIllFormed('body', parsed);
  return parsed;
}

const tooLarge = (limit: number) =>
  new PlazaError('PLAZA_PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);

/**
 * The request's bytes, at most `limit` (413 past it, and the request destroyed,
 * as leaving a `for await` over it did). Listeners rather than `for await`: the
 * stream's async iterator cost about 10 us a request (a tenth of a bare
 * Node POST's CPU). A client gone before the end rejects as the iterator did.
 */
function readAll(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err?: Error) => {
      req.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else {
        settle(tooLarge(limit));
        req.destroy();
      }
    };
    const onEnd = () => settle();
    const onClose = () =>
      settle(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}

/**
 * Reads a raw (non-JSON) body for routes declared with `rawBody` (uploads).
 * A type outside `contentTypes`: 415; more than `maxBytes`: 413, before
 * reading on when Content-Length says so; empty: 400.
 */
export async function readRawBody(
  ctx: Context,
  opts: { contentTypes: string[]; maxBytes: number },
): Promise<{ contentType: string; bytes: Buffer }> {
  const contentType = (ctx.get('content-type') || '').split(';')[0].trim().toLowerCase();
  if (!opts.contentTypes.includes(contentType))
    throw new PlazaError(
      'PLAZA_UNSUPPORTED_MEDIA_TYPE',
      `send the body as ${opts.contentTypes.join(', ')}, not ${contentType || 'nothing'}`,
      {
        fields: [{ field: 'header.content-type', reason: `must be one of ${opts.contentTypes.join(', ')}` }],
      },
    );
  const length = Number(ctx.get('content-length') || 0);
  if (length > opts.maxBytes) throw tooLarge(opts.maxBytes);
  const bytes = await readAll(ctx.req, opts.maxBytes);
  if (bytes.length === 0)
    throw new PlazaError('PLAZA_VALIDATION', 'body: the body is empty', {
      fields: [{ field: 'body', reason: 'empty' }],
    });
  return { contentType, bytes };
}
