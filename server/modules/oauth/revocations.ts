import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Db, Tx } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';

/**
 * The revocation set: what every API process must refuse although the JWT
 * still verifies. Two kinds of entries: an uninstalled installation (all its
 * access tokens) and a single access token (by jti). The hot path is one
 * `Map.has` per kind.
 *
 * A process learns a revocation
 * - at once when it made it (after its transaction committed);
 * - from the other processes through PostgreSQL LISTEN/NOTIFY (the NOTIFY is
 *   sent in the revoking transaction, so it is delivered at commit), and
 *   through Redis pub/sub when Redis is configured;
 * - from a periodic re-read of recent rows (every `pollMs`), the safety net
 *   when a notification is lost (a listener reconnecting, a pooler in between);
 * - at start, from every row still able to matter (newer than the access token
 *   lifetime; token entries until they expire).
 */
export type RevocationKind = 'installation' | 'token';
export type LearnedVia = 'local' | 'start' | 'notify' | 'redis' | 'poll';

const CHANNEL = 'plaza_oauth_revocations';
// Re-read window: rows committed this recently are read again by every poll,
// so a row whose sequence number was taken before an earlier poll but
// committed after it is still seen.
const POLL_WINDOW_SECONDS = 60;

export interface RevocationSetOptions {
  db: Db;
  log: Logger;
  /** Longest access token lifetime: installation entries are kept this long (plus a margin). */
  accessTokenTtlSeconds: number;
  pollMs: number;
  redis?: Redis;
  redisChannel?: string;
}

export type RevocationSet = ReturnType<typeof createRevocationSet>;

export function createRevocationSet(opts: RevocationSetOptions) {
  const { db, log } = opts;
  const keepMs = (opts.accessTokenTtlSeconds + 120) * 1000;
  // subject -> when the entry may be forgotten (epoch ms)
  const installations = new Map<string, number>();
  const tokens = new Map<string, number>();
  const via = new Map<string, LearnedVia>();
  let listener: pg.PoolClient | undefined;
  let subscriber: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let polls = 0;

  const mapOf = (kind: RevocationKind) => (kind === 'installation' ? installations : tokens);

  function learn(kind: RevocationKind, subject: string, forgetAt: number, how: LearnedVia) {
    const map = mapOf(kind);
    if (map.has(subject)) return;
    map.set(subject, forgetAt);
    via.set(`${kind}:${subject}`, how);
  }

  const forgetAtOf = (kind: RevocationKind, revokedAt: Date | number, expiresAt?: Date | null) =>
    kind === 'token' && expiresAt
      ? new Date(expiresAt).getTime() + 60_000
      : new Date(revokedAt).getTime() + keepMs;

  function onMessage(raw: string, how: LearnedVia) {
    const [kind, subject, expires] = raw.split('|');
    if ((kind !== 'installation' && kind !== 'token') || !subject) return;
    learn(kind, subject, forgetAtOf(kind, Date.now(), expires ? new Date(Number(expires)) : null), how);
  }

  async function readRows(where: string, params: unknown[], how: LearnedVia) {
    const rows = await db.query<{
      kind: RevocationKind;
      subject: string;
      revoked_at: Date;
      expires_at: Date | null;
    }>(`SELECT kind, subject, revoked_at, expires_at FROM oauth_revocations WHERE ${where}`, params);
    for (const r of rows) learn(r.kind, r.subject, forgetAtOf(r.kind, r.revoked_at, r.expires_at), how);
  }

  async function poll() {
    try {
      await readRows('revoked_at > now() - make_interval(secs => $1)', [POLL_WINDOW_SECONDS], 'poll');
      if (++polls % 120 === 0) prune();
    } catch (err) {
      if (!stopped) log.warn({ err }, 'oauth revocations: re-read failed');
    }
  }

  function prune() {
    const now = Date.now();
    for (const [kind, map] of [
      ['installation', installations],
      ['token', tokens],
    ] as const)
      for (const [subject, forgetAt] of map)
        if (forgetAt < now) {
          map.delete(subject);
          via.delete(`${kind}:${subject}`);
        }
  }

  async function listen() {
    if (!db.pool || stopped) return;
    try {
      const client = await db.pool.connect();
      client.on('notification', (msg) => {
        if (msg.channel === CHANNEL && msg.payload) onMessage(msg.payload, 'notify');
      });
      const onError = (err: Error) => {
        if (listener !== client) return; // already released (stop)
        listener = undefined;
        client.removeListener('error', onError);
        client.release(err);
        if (stopped) return;
        log.warn({ err }, 'oauth revocations: listener connection lost; reconnecting');
        setTimeout(() => void listen(), 500).unref();
      };
      client.on('error', onError);
      await client.query(`LISTEN ${CHANNEL}`);
      listener = client;
    } catch (err) {
      log.warn({ err }, 'oauth revocations: LISTEN failed; relying on the re-read');
      if (!stopped) setTimeout(() => void listen(), 1000).unref();
    }
  }

  return {
    /** Is every access token of this installation refused? O(1). */
    hasInstallation: (installationId: string) => installations.has(installationId),
    /** Is this one access token refused? O(1). */
    hasToken: (jti: string) => tokens.has(jti),
    /** How this process first learned of a revocation (tests and diagnostics). */
    learnedVia: (kind: RevocationKind, subject: string) => via.get(`${kind}:${subject}`),
    size: () => installations.size + tokens.size,

    /**
     * Records a revocation inside the revoking transaction: the row, a NOTIFY
     * (sent at commit), and after commit this process's own set and Redis.
     */
    async record(
      tx: Tx,
      input: { kind: RevocationKind; subject: string; reason: string; expiresAt?: Date | null },
    ): Promise<void> {
      const expires = input.expiresAt ?? null;
      await tx.query(
        'INSERT INTO oauth_revocations (kind, subject, reason, expires_at) VALUES ($1, $2, $3, $4)',
        [input.kind, input.subject, input.reason, expires],
      );
      const message = [input.kind, input.subject, expires ? String(expires.getTime()) : ''].join('|');
      await tx.query('SELECT pg_notify($1, $2)', [CHANNEL, message]);
      tx.afterCommit(async () => {
        learn(input.kind, input.subject, forgetAtOf(input.kind, Date.now(), expires), 'local');
        if (opts.redis && opts.redisChannel) await opts.redis.publish(opts.redisChannel, message);
      });
    },

    /** Loads what still matters, then listens and re-reads every `pollMs`. */
    async start(): Promise<void> {
      await readRows(
        `(kind = 'installation' AND revoked_at > now() - make_interval(secs => $1))
           OR (kind = 'token' AND expires_at > now())`,
        [opts.accessTokenTtlSeconds + 120],
        'start',
      );
      await listen();
      if (opts.redis && opts.redisChannel) {
        subscriber = opts.redis.duplicate();
        subscriber.on('error', (err) => log.warn({ err }, 'oauth revocations: redis subscriber error'));
        subscriber.on('message', (channel, message) => {
          if (channel === opts.redisChannel) onMessage(message, 'redis');
        });
        await subscriber.subscribe(opts.redisChannel).catch((err) => {
          log.warn({ err }, 'oauth revocations: redis subscribe failed; relying on PostgreSQL');
        });
      }
      timer = setInterval(() => void poll(), opts.pollMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      if (listener) {
        const client = listener;
        listener = undefined;
        await client.query(`UNLISTEN ${CHANNEL}`).catch(() => {});
        client.removeAllListeners('notification');
        client.removeAllListeners('error');
        client.release();
      }
      if (subscriber) await subscriber.quit().catch(() => {});
    },
  };
}
