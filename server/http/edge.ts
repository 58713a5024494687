import type { Context, Next } from 'koa';
import { type FieldError, PlazaError } from '../errors.ts';

/** Deeper JSON than this is refused: no form needs it, and walking it must stay cheap. */
export const MAX_DEPTH = 64;

/** Why a string cannot be taken in, or null when it is fine. */
function badString(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (!s.isWellFormed()) return 'is not well-formed Unicode (it has a lone UTF-16 surrogate)';
  return null;
}

/**
 * Every string (and object key) inside `value` that PostgreSQL could not
 * store as text or jsonb, with its dotted field path (`body.tags.1`); a
 * value nested deeper than MAX_DEPTH is reported where it gets too deep.
 * Iterative, so that no input can exhaust the stack.
 */
export function illFormedFields(where: string, value: unknown): FieldError[] {
  const out: FieldError[] = [];
  const stack: Array<{ path: string; value: unknown; depth: number }> = [{ path: where, value, depth: 0 }];
  while (stack.length && out.length < 20) {
    const { path, value: v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const reason = badString(v);
      if (reason) out.push({ field: path, reason });
    } else if (v && typeof v === 'object') {
      if (depth >= MAX_DEPTH) {
        out.push({ field: path, reason: `is nested more than ${MAX_DEPTH} levels deep` });
        continue;
      }
      for (const [k, child] of Object.entries(v)) {
        const reason = badString(k);
        if (reason) out.push({ field: path, reason: `has a key that ${reason}` });
        else stack.push({ path: `${path}.${k}`, value: child, depth: depth + 1 });
      }
    }
  }
  return out;
}

/** Throws PLAZA_VALIDATION naming every field of `value` that holds a NUL, a lone surrogate or is too deep. */
export function refuseIllFormed(where: string, value: unknown): void {
  const fields = illFormedFields(where, value);
  if (fields.length)
    throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), {
      fields,
    });
}

/**
 * Early in the middleware chain, for every route (the OAuth provider's
 * included): query strings, and the path outside /v1 (whose parameters the
 * router checks by name). JSON bodies are checked where they are read.
 */
export function refuseIllFormedInput() {
  return async (ctx: Context, next: Next) => {
    if (ctx.querystring) refuseIllFormed('query', ctx.query);
    if (!ctx.path.startsWith('/v1/')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(ctx.path);
      } catch {
        throw new PlazaError('PLAZA_VALIDATION', 'path: malformed percent-encoding', {
          fields: [{ field: 'path', reason: 'has malformed percent-encoding' }],
        });
      }
      refuseIllFormed('path', decoded);
    }
    await next();
  };
}
