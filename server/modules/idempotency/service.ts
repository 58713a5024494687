import { createHash } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import { PlazaError } from '../../errors.ts';

/**
 * Idempotency keys for routes declared `idempotent: true`. A caller sends
 * `Idempotency-Key: <key>`; the first request with that key runs, and its
 * successful (2xx) answer is kept 24 hours. Later requests with the same key:
 *
 * - same method, path and body: the kept answer again, not run again;
 * - anything else: 409 PLAZA_IDEMPOTENCY_KEY_REUSED;
 * - while the first still runs: they wait for it, then get its answer.
 *
 * A first request that fails (any 4xx or 5xx) keeps nothing: Plaza writes
 * nothing on an error answer, so a retry with the same key runs again (and a
 * client may fix its body and retry with the same key). That is stricter than
 * replaying errors: an error may not hold later (a 403 before a role was given,
 * a 503 while the database restarted), a success always does.
 *
 * Waiting: requests in one process queue behind each other in memory. Across
 * processes (PostgreSQL), the first holds its row uncommitted while it runs,
 * so a duplicate's INSERT waits on the row lock until the answer is committed;
 * a process that dies mid-request rolls the row back and the duplicate runs.
 * PGlite is one process, so the in-memory queue is all the waiting it needs.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set to `true` on an answer that was kept from an earlier request. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export interface IdempotentRequest {
  /** Whose key it is (`user:…`, `installation:…`, `app:…`): keys of different callers never meet. */
  scope: string;
  key: string;
  method: string;
  path: string;
  /** The parsed JSON body (undefined without one). */
  body: unknown;
}

export interface IdempotentResponse {
  status: number;
  body: unknown;
}

interface KeyRow {
  request_hash: string;
  status: number;
  response: unknown;
}

/** `Idempotency-Key` values: 1 to 255 visible ASCII characters (UUIDs are the usual choice). */
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!KEY_FORMAT.test(value))
    throw new PlazaError('PLAZA_VALIDATION', 'header.idempotency-key: 1 to 255 visible ASCII characters', {
      fields: [{ field: 'header.idempotency-key', reason: '1 to 255 visible ASCII characters' }],
    });
  return value;
}

/** Object keys sorted, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

export function requestHash(req: Pick<IdempotentRequest, 'method' | 'path' | 'body'>): string {
  return createHash('sha256')
    .update(JSON.stringify([req.method.toUpperCase(), req.path, canonical(req.body ?? null)]))
    .digest('hex');
}

const ok = (status: number) => status >= 200 && status < 300;

export function createIdempotencyService(deps: { db: Db; ttlMs?: number }) {
  const { db } = deps;
  const ttlMs = deps.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const running = new Map<string, Promise<unknown>>();
  // Each first request holds a pooled connection while it runs; at most half the pool,
  // so that the handlers themselves always find connections.
  const slots = createSemaphore(Math.max(1, Math.floor((db.pool?.options.max ?? 10) / 2)));

  const cleanup = async () =>
    (await db.query('DELETE FROM idempotency_keys WHERE expires_at < now() RETURNING 1')).length;

  function answer(row: KeyRow, hash: string) {
    if (row.request_hash !== hash)
      throw new PlazaError(
        'PLAZA_IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was already used for another request (another method, path or body); use a new key for a new request',
        { fields: [{ field: 'header.idempotency-key', reason: 'already used for another request' }] },
      );
    return { response: { status: row.status, body: row.response }, replayed: true };
  }

  const insertSql = `INSERT INTO idempotency_keys
      (scope, key, request_hash, method, path, status, response, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond')
    ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash,
      method = excluded.method, path = excluded.path, status = excluded.status,
      response = excluded.response, created_at = now(), expires_at = excluded.expires_at
    WHERE idempotency_keys.expires_at < now()
    RETURNING 1 AS inserted`;

  async function runOnce(
    req: IdempotentRequest,
    hash: string,
    exec: () => Promise<IdempotentResponse>,
  ): Promise<{ response: IdempotentResponse; replayed: boolean }> {
    const params = (status: number, body: unknown) => [
      req.scope,
      req.key,
      hash,
      req.method.toUpperCase(),
      req.path,
      status,
      body === undefined ? null : JSON.stringify(body),
      ttlMs,
    ];
    const existing = `SELECT request_hash, status, response FROM idempotency_keys
      WHERE scope = $1 AND key = $2 AND expires_at >= now()`;

    if (db.kind === 'pglite') {
      const row = await db.maybeOne<KeyRow>(existing, [req.scope, req.key]);
      if (row) return answer(row, hash);
      const response = await exec();
      if (ok(response.status)) await db.query(insertSql, params(response.status, response.body));
      return { response, replayed: false };
    }

    const release = await slots.acquire();
    try {
      let failed: IdempotentResponse | undefined;
      try {
        return await db.transaction(async (tx) => {
          // Waits here while another process's first request with this key holds its row.
          const claimed = await tx.maybeOne(insertSql, params(0, null));
          if (!claimed) return answer(await tx.one<KeyRow>(existing, [req.scope, req.key]), hash);
          const response = await exec();
          if (!ok(response.status)) {
            failed = response;
            throw ROLLBACK;
          }
          await tx.query(
            'UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2',
            [req.scope, req.key, response.status, JSON.stringify(response.body ?? null)],
          );
          return { response, replayed: false };
        });
      } catch (err) {
        if (err === ROLLBACK && failed) return { response: failed, replayed: false };
        throw err;
      }
    } finally {
      release();
    }
  }

  return {
    /**
     * Runs `exec` once per (scope, key): returns its answer, or the answer
     * kept from the first request with this key (`replayed`). Errors `exec`
     * throws pass through and keep nothing.
     */
    async run(req: IdempotentRequest, exec: () => Promise<IdempotentResponse>) {
      const hash = requestHash(req);
      const local = `${req.scope}\u0000${req.key}`;
      const before = running.get(local) ?? Promise.resolve();
      const mine = before.catch(() => {}).then(() => runOnce(req, hash, exec));
      const tail = mine.catch(() => {});
      running.set(local, tail);
      try {
        return await mine;
      } finally {
        if (running.get(local) === tail) running.delete(local);
      }
    },
    /** Deletes expired keys; returns how many (the `idempotency.cleanup` job runs it hourly). */
    cleanup,
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;

const ROLLBACK = Symbol('rollback');

function createSemaphore(size: number) {
  let free = size;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  return {
    async acquire(): Promise<() => void> {
      if (free > 0) free--;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      return release;
    },
  };
}
