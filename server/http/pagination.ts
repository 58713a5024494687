import { PlazaError } from '../errors.ts';

/**
 * Cursor pagination over a sort key that is unique (usually `(created_at, id)` or just `id`,
 * since ids sort by time). The cursor is opaque to clients: base64url JSON of the last key.
 */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): unknown[] | undefined {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key)) return key;
  } catch {}
  throw new PlazaError('PLAZA_VALIDATION', 'query.cursor: not a cursor this API gave out', {
    fields: [{ field: 'query.cursor', reason: 'not a cursor this API gave out' }],
  });
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Given `limit + 1` rows fetched in order, returns one page and the cursor after it. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  key: (row: R) => unknown[],
  map: (row: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  return {
    data: pageRows.map(map),
    nextCursor: more ? encodeCursor(key(pageRows[pageRows.length - 1])) : null,
  };
}
