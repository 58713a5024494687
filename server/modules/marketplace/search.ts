import { PlazaError } from '../../errors.ts';
import { decodeCursor, encodeCursor } from '../../http/pagination.ts';
import type { PRICING_TYPES } from './schemas.ts';

/**
 * Marketplace search: the SQL for one page of listings, for every sort order,
 * with keyset pagination on (sort key..., app_id). Cursor values travel as the
 * database's own text form of each key (`::text`), so they compare exactly
 * (no float or microsecond rounding through JavaScript).
 */
export const SORTS = ['relevance', 'popular', 'newest', 'rating'] as const;
export type Sort = (typeof SORTS)[number];
export type PricingType = (typeof PRICING_TYPES)[number];

export interface SearchInput {
  q?: string;
  category?: string;
  pricing?: PricingType;
  sort?: Sort;
  limit: number;
  cursor?: string;
}

type KeyType = 'real' | 'int' | 'numeric' | 'timestamptz' | 'text';
interface SortKey {
  expr: string;
  dir: 'asc' | 'desc';
  type: KeyType;
}

/** Only the relevance order uses the rank, and only with a query, which is then $1. */
const RANK = "ts_rank(l.search, websearch_to_tsquery('english', $1))";
const ID: SortKey = { expr: 'l.app_id', dir: 'asc', type: 'text' };
const POPULAR: SortKey = { expr: 'l.install_count', dir: 'desc', type: 'int' };

const SORT_KEYS: Record<Sort, SortKey[]> = {
  relevance: [{ expr: RANK, dir: 'desc', type: 'real' }, POPULAR, ID],
  popular: [POPULAR, ID],
  newest: [{ expr: 'l.listed_at', dir: 'desc', type: 'timestamptz' }, ID],
  rating: [
    { expr: 'l.rating_average', dir: 'desc', type: 'numeric' },
    { expr: 'l.rating_count', dir: 'desc', type: 'int' },
    ID,
  ],
};

const NUMBER = /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i;

function badCursor(): never {
  throw new PlazaError('PLAZA_VALIDATION', 'query.cursor: not a cursor of this search and sort order', {
    fields: [{ field: 'query.cursor', reason: 'not a cursor of this search and sort order' }],
  });
}

/** Without a query there is nothing to rank by: relevance falls back to popularity. */
export function effectiveSort(input: { q?: string; sort?: Sort }): Sort {
  const sort = input.sort ?? (input.q ? 'relevance' : 'popular');
  return sort === 'relevance' && !input.q ? 'popular' : sort;
}

/**
 * The SELECT for one page (limit + 1 rows, to know whether there is a next
 * one) and how to turn its last row into the next cursor.
 */
export function searchQuery(input: SearchInput, columns: string) {
  const sort = effectiveSort(input);
  const keys = SORT_KEYS[sort];
  const params: unknown[] = [];
  const where = ['l.withdrawn_at IS NULL'];
  if (input.q) {
    params.push(input.q);
    // A query of only stop words ("the") has no lexemes: it filters nothing rather than everything.
    where.push(
      "(numnode(websearch_to_tsquery('english', $1)) = 0 OR l.search @@ websearch_to_tsquery('english', $1))",
    );
  }
  if (input.category) {
    params.push(input.category);
    where.push(`l.category = $${params.length}`);
  }
  if (input.pricing) {
    params.push(input.pricing);
    where.push(`l.pricing_type = $${params.length}`);
  }
  const after = decodeCursor(input.cursor);
  if (after) {
    if (after.length !== keys.length + 1 || after[0] !== sort) badCursor();
    const values = after.slice(1);
    const refs = keys.map((k, i) => {
      const v = values[i];
      if (typeof v !== 'string') badCursor();
      if ((k.type === 'real' || k.type === 'int' || k.type === 'numeric') && !NUMBER.test(v)) badCursor();
      if (k.type === 'timestamptz' && Number.isNaN(Date.parse(v))) badCursor();
      params.push(v);
      return `$${params.length}::${k.type}`;
    });
    // (k1 < v1) OR (k1 = v1 AND ((k2 < v2) OR (k2 = v2 AND ...)))
    const after_ = (i: number): string => {
      const k = keys[i];
      const beyond = `${k.expr} ${k.dir === 'desc' ? '<' : '>'} ${refs[i]}`;
      return i === keys.length - 1 ? beyond : `(${beyond} OR (${k.expr} = ${refs[i]} AND ${after_(i + 1)}))`;
    };
    where.push(after_(0));
  }
  params.push(input.limit + 1);
  // Each key is computed once per row (ts_rank is the costly one) and turned into text only for the page.
  const order = keys.map((k, i) => `sort_key_${i} ${k.dir.toUpperCase()}`).join(', ');
  const sql = `SELECT page.*, ${keys.map((_, i) => `page.sort_key_${i}::text AS cursor_key_${i}`).join(', ')}
    FROM (SELECT ${columns}, ${keys.map((k, i) => `${k.expr} AS sort_key_${i}`).join(', ')}
          FROM marketplace_listings l
          WHERE ${where.join(' AND ')}
          ORDER BY ${order}
          LIMIT $${params.length}) page
    ORDER BY ${order}`;
  const cursorOf = (row: Record<string, unknown>) =>
    encodeCursor([sort, ...keys.map((_, i) => row[`cursor_key_${i}`])]);
  return { sql, params, sort, cursorOf };
}
