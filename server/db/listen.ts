import pg from 'pg';
import type { Db } from './index.ts';

/**
 * PostgreSQL LISTEN on `channel` over a connection of its own (not one of the
 * pool's), reconnecting after a loss; `onNotify` runs for every notification
 * and once after each (re)connect, since notifications sent while the
 * connection was down are gone. On PGlite (one process) it does nothing:
 * in-process wake-ups cover it. Returns a function that stops listening.
 */
export async function listen(
  db: Db,
  channel: string,
  onNotify: (payload: string) => void,
  onError: (err: Error) => void = () => {},
): Promise<() => Promise<void>> {
  if (!db.pool) return async () => {};
  const options = db.pool.options as pg.ClientConfig;
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  async function connect(): Promise<void> {
    const c = new pg.Client({ ...options });
    c.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    });
    c.on('error', (err) => {
      if (client !== c) return;
      client = undefined;
      c.end().catch(() => {});
      if (stopped) return;
      onError(err);
      retry = setTimeout(() => void connect().catch(reconnectLater), 500);
      retry.unref();
    });
    await c.connect();
    await c.query(`LISTEN "${channel}"`);
    if (stopped) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    onNotify('');
  }

  function reconnectLater(err: Error) {
    if (stopped) return;
    onError(err);
    retry = setTimeout(() => void connect().catch(reconnectLater), 1000);
    retry.unref();
  }

  await connect().catch(reconnectLater);
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
  };
}

/**
 * NOTIFY soon, from outside the caller's transaction: over one connection of
 * its own, with synchronous_commit off, and coalesced (a burst of calls sends
 * one notification per channel and payload per round trip). A NOTIFY inside the writer's
 * transaction would serialise every such commit behind a cluster-wide lock
 * held through its WAL flush. A lost notification only costs a listener its
 * next poll. `Db.notify` on PostgreSQL.
 */
export function createNotifier(options: pg.ClientConfig) {
  let client: Promise<pg.Client> | undefined;
  let sending = false;
  let closed = false;
  // Channel and payload of each notification due, by both.
  const due = new Map<string, [string, string]>();

  function connect(): Promise<pg.Client> {
    client ??= (async () => {
      const c = new pg.Client({ ...options });
      c.on('error', () => {
        client = undefined;
        c.end().catch(() => {});
      });
      await c.connect();
      await c.query('SET synchronous_commit = off');
      // The process may exit while this idles.
      (c as unknown as { connection: { stream: { unref?(): void } } }).connection.stream.unref?.();
      return c;
    })().catch((err) => {
      client = undefined;
      throw err;
    });
    return client;
  }

  async function flush(): Promise<void> {
    sending = true;
    try {
      while (due.size) {
        const notifications = [...due.values()];
        due.clear();
        const c = await connect();
        await c.query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS u(c, p)', [
          notifications.map(([channel]) => channel),
          notifications.map(([, payload]) => payload),
        ]);
      }
    } catch {
      // The listeners' poll covers a lost notification.
      due.clear();
    } finally {
      sending = false;
    }
  }

  return {
    notify(channel: string, payload = ''): void {
      if (closed) return;
      due.set(`${channel}\n${payload}`, [channel, payload]);
      if (!sending) void flush();
    },
    async close(): Promise<void> {
      closed = true;
      const c = client;
      client = undefined;
      await c?.then((x) => x.end()).catch(() => {});
    },
  };
}
