import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { type Db, NO_FLUSH, type Tx } from '../../db/index.ts';
import { listen } from '../../db/listen.ts';
import { PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';

/**
 * Events with an outbox. `emit` writes the event in the caller's transaction;
 * the dispatcher later hands each committed event to every subscriber as a
 * job of its own (`events.deliver`), so a slow or failing subscriber retries
 * alone and a crash between commit and dispatch loses nothing.
 */
export interface PlazaEvent<P = Record<string, unknown>> {
  id: string;
  organizationId: string | null;
  type: string;
  payload: P;
  createdAt: string;
}

export interface EventType {
  type: string;
  description: string;
  /** The scope an app needs to receive it (webhooks); null for platform-internal events. */
  scope: string | null;
  payload: z.ZodType;
  /** Who registered it: `core` or `plugin:<name>`. */
  owner: string;
}

export interface Subscriber {
  /** Unique and stable: it is part of the delivery job id. */
  name: string;
  /** Event types it wants, or '*' for all. */
  types: string[] | '*';
  handler: (event: PlazaEvent) => Promise<void>;
  /**
   * Optional fast path: the dispatcher hands it each batch of committed
   * events before marking them dispatched, skipping a job per event. It must
   * be idempotent (after a crash the same events come again). When it
   * throws, each of those events goes to `handler` as a job instead.
   */
  handleBatch?: (events: PlazaEvent[]) => Promise<void>;
}

/** An event to write in the writer's own statement (`EventsService.prepare`). */
export interface PreparedEvent {
  id: string;
  /** The insert's parameters, in order from `$first`. */
  params: unknown[];
  sql(first: number, from: string, payloadSql?: (param: string) => string): string;
  /** Wakes the dispatchers; call once the statement has committed. */
  committed(): void;
}

// Every committed event is announced here (PostgreSQL), waking the dispatchers.
const NOTIFY_CHANNEL = 'plaza_events';
export const DELIVER_JOB = 'events.deliver';
const LEASE_SECONDS = 30;
const BATCH = 200;
/**
 * Dispatch passes one process runs at once. An event committed while a pass is in its round
 * trips (lease, then the subscribers' batch handlers) starts a second pass at once instead of
 * waiting for the first to end: the two lease disjoint events (SKIP LOCKED, then the lease).
 */
const PASSES = 2;
/** The least time between two NOTIFYs of one process (wakeOthers). */
export const NOTIFY_GAP_MS = 10;

export type EventsService = ReturnType<typeof createEventsService>;

export function createEventsService({
  db,
  jobs,
  log,
  pollMs,
  maxPayloadBytes = Number.POSITIVE_INFINITY,
}: {
  db: Db;
  jobs: JobQueue;
  log: Logger;
  pollMs: number;
  /** Largest payload (JSON bytes) an event may carry; emit throws 413 past it (webhooks deliver payloads). */
  maxPayloadBytes?: number;
}) {
  const types = new Map<string, EventType>();
  const subscribers = new Map<string, Subscriber>();
  let timer: NodeJS.Timeout | undefined;
  /** Dispatch passes in flight (at most PASSES). */
  const running = new Set<Promise<void>>();
  let stopped = true;
  let again = false;
  let listening: Promise<() => Promise<void>> | undefined;

  /** The payload as stored: checked against its type's schema and the size limit. */
  function checked(type: string, payload: Record<string, unknown>): string {
    const def = types.get(type);
    if (!def) throw new Error(`unknown event type ${type}: register it first`);
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success)
      throw new PlazaError('PLAZA_INTERNAL', `event ${type} payload does not match its schema`, {
        cause: parsed.error,
      });
    const json = JSON.stringify(parsed.data);
    const bytes = Buffer.byteLength(json);
    if (bytes > maxPayloadBytes)
      throw new PlazaError(
        'PLAZA_PAYLOAD_TOO_LARGE',
        `the ${type} event this change makes would carry ${bytes} bytes; the limit is ${maxPayloadBytes}`,
        { extra: { eventType: type, bytes, limit: maxPayloadBytes } },
      );
    return json;
  }

  /** After a commit with events: this process's dispatcher, and on PostgreSQL every worker process's (NOTIFY), so none waits for its poll. */
  function announce(): void {
    loop();
    wakeOthers();
  }

  // NOTIFY at once after a quiet spell; commits within NOTIFY_GAP_MS of the last one share one
  // sent at the end of the gap (a dispatcher woken by the first takes every event committed by
  // then in its batch). At 300 commits/s that is a third of the NOTIFYs, each a statement here
  // and in PostgreSQL.
  let lastNotify = Number.NEGATIVE_INFINITY;
  // The payload of this dispatcher's NOTIFYs, so that it skips its own.
  const notifierId = randomUUID();
  let notifyTimer: NodeJS.Timeout | undefined;
  function wakeOthers(): void {
    if (!db.notify || notifyTimer) return;
    const send = () => {
      notifyTimer = undefined;
      lastNotify = Date.now();
      db.notify?.(NOTIFY_CHANNEL, notifierId);
    };
    const wait = lastNotify + NOTIFY_GAP_MS - Date.now();
    if (wait <= 0) send();
    else notifyTimer = setTimeout(send, wait);
  }

  /** The `events.deliver` job: one committed event to one subscriber. */
  async function deliver({ eventId, subscriber }: { eventId: string; subscriber: string }): Promise<void> {
    const sub = subscribers.get(subscriber);
    if (!sub) throw new Error(`no subscriber named ${subscriber} in this process`);
    const row = await db.maybeOne('SELECT * FROM events WHERE id = $1', [eventId]);
    if (!row) return; // deleted by retention: nothing left to deliver
    await sub.handler(toEvent(row));
  }

  /** Hands a leased batch to one subscriber: its batch handler, else (or when that throws) a job per event. */
  async function handOver(sub: Subscriber, list: PlazaEvent[]): Promise<void> {
    const wanted = sub.types === '*' ? list : list.filter((e) => (sub.types as string[]).includes(e.type));
    if (wanted.length === 0) return;
    if (sub.handleBatch) {
      try {
        await sub.handleBatch(wanted);
        return;
      } catch (err) {
        log.warn({ err, subscriber: sub.name }, 'batch event handler failed; queuing its events one by one');
      }
    }
    // The job id makes a re-dispatch after a crash a no-op while the first job exists.
    for (const event of wanted)
      await jobs.enqueue(
        DELIVER_JOB,
        { eventId: event.id, subscriber: sub.name },
        { jobId: `${event.id}.${sub.name}` },
      );
  }

  // Marks still being written by the loop (stop waits for them).
  const marking = new Set<Promise<void>>();

  /**
   * One pass: lease a batch of undispatched events, hand them to every
   * subscriber (side by side), mark them dispatched. `markLater` (the loop)
   * returns once they are handed over and marks them meanwhile, so the next
   * batch's lease does not wait for it: the batch stays leased until then,
   * and if the mark fails its lease runs out and the batch comes again
   * (subscribers are idempotent, as after a crash).
   */
  async function dispatchPending(batch = BATCH, opts: { markLater?: boolean } = {}): Promise<number> {
    // The lease and the mark commit without waiting for their WAL flush (synchronous_commit off for
    // their transaction only): the event itself was flushed by its emitter's commit, and a lease or mark
    // lost in a PostgreSQL crash only makes the event come again (subscribers are idempotent).
    const rows = await db.query(
      `UPDATE events SET dispatch_lease_until = now() + interval '${LEASE_SECONDS} seconds'
       FROM ${NO_FLUSH}
       WHERE id IN (SELECT id FROM events WHERE dispatched_at IS NULL
                      AND (dispatch_lease_until IS NULL OR dispatch_lease_until < now())
                    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id, organization_id, type, payload, created_at`,
      [batch],
      'events.lease',
    );
    if (rows.length === 0) return 0;
    const list = rows.map(toEvent).sort((a, b) => (a.id < b.id ? -1 : 1));
    await Promise.all([...subscribers.values()].map((sub) => handOver(sub, list)));
    const mark = db
      .query(
        `UPDATE events SET dispatched_at = now(), dispatch_lease_until = NULL
         FROM ${NO_FLUSH} WHERE id = ANY($1)`,
        [list.map((e) => e.id)],
        'events.dispatched',
      )
      .then(() => {});
    if (!opts.markLater) await mark;
    else {
      const tracked = mark
        .catch((err) =>
          log.warn(
            { err },
            'events: marking a batch dispatched failed; it comes again when its lease runs out',
          ),
        )
        .finally(() => marking.delete(tracked));
      marking.add(tracked);
    }
    return rows.length;
  }

  function loop() {
    if (stopped) return;
    if (running.size >= PASSES) {
      again = true;
      return;
    }
    clearTimeout(timer);
    const pass: Promise<void> = (async () => {
      try {
        // A part batch leaves nothing behind: what commits later announces itself (`again`), so
        // no empty pass follows each batch.
        while ((await dispatchPending(BATCH, { markLater: true })) === BATCH && !stopped) {}
      } catch (err) {
        log.error({ err }, 'event dispatch failed; will retry');
      }
    })().finally(() => {
      running.delete(pass);
      if (stopped) return;
      if (again) {
        again = false;
        setImmediate(loop);
      } else if (running.size === 0) timer = setTimeout(loop, pollMs);
    });
    running.add(pass);
  }

  return {
    registerType(def: EventType): void {
      const existing = types.get(def.type);
      if (existing) throw new Error(`event type ${def.type} is already registered by ${existing.owner}`);
      types.set(def.type, def);
    },
    types: (): EventType[] => [...types.values()].sort((a, b) => a.type.localeCompare(b.type)),

    subscribe(sub: Subscriber): void {
      if (subscribers.has(sub.name)) throw new Error(`event subscriber ${sub.name} is already registered`);
      subscribers.set(sub.name, sub);
    },

    /** Writes the event in `tx`; it exists only if `tx` commits. Returns the event id. */
    async emit(
      tx: Tx,
      organizationId: string | null,
      type: string,
      payload: Record<string, unknown>,
    ): Promise<string> {
      const id = newId('evt');
      await tx.query('INSERT INTO events (id, organization_id, type, payload) VALUES ($1, $2, $3, $4)', [
        id,
        organizationId,
        type,
        checked(type, payload),
      ]);
      tx.afterCommit(announce);
      return id;
    },

    /**
     * An event written by the same statement as the change it describes: the
     * writer's data-modifying CTE and this outbox insert commit together in one
     * autocommitted statement, without the BEGIN and COMMIT round trips of a
     * transaction. The payload is checked as `emit` checks it. `sql` is the
     * insert (parameters from `$first`), one event per row of the CTE `from`
     * (none when the change wrote no row); `payloadSql` may rewrite the
     * payload parameter with values only the statement knows (`jsonb_set`,
     * same types). Call `committed()` once the statement has returned.
     */
    prepare(organizationId: string | null, type: string, payload: Record<string, unknown>): PreparedEvent {
      const id = newId('evt');
      const json = checked(type, payload);
      return {
        id,
        params: [id, organizationId, type, json],
        sql: (first, from, payloadSql = (p) => p) =>
          `INSERT INTO events (id, organization_id, type, payload)
           SELECT $${first}::text, $${first + 1}::text, $${first + 2}::text, ${payloadSql(`$${first + 3}::jsonb`)} FROM ${from}`,
        committed: announce,
      };
    },

    dispatchPending,
    deliver,

    /**
     * Writes events that happened in the past (demo history, benchmarks) as
     * already dispatched: no subscriber or webhook receives them, so the caller
     * hands them to the subscribers that should count them. Payloads are
     * checked against their types like `emit`'s.
     */
    async recordHistory(
      list: Array<{
        organizationId: string | null;
        type: string;
        payload: Record<string, unknown>;
        createdAt: Date;
      }>,
    ): Promise<PlazaEvent[]> {
      const out: PlazaEvent[] = list.map((e) => {
        const def = types.get(e.type);
        if (!def) throw new Error(`unknown event type ${e.type}: register it first`);
        const parsed = def.payload.safeParse(e.payload);
        if (!parsed.success) throw new Error(`history event ${e.type} payload does not match its schema`);
        return {
          id: newId('evt'),
          organizationId: e.organizationId,
          type: e.type,
          payload: parsed.data as Record<string, unknown>,
          createdAt: e.createdAt.toISOString(),
        };
      });
      for (let i = 0; i < out.length; i += 5000) {
        const part = out.slice(i, i + 5000);
        await db.query(
          `INSERT INTO events (id, organization_id, type, payload, created_at, dispatched_at)
           SELECT id, org, type, payload, at, at FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
             AS e(id, org, type, payload, at)`,
          [
            part.map((e) => e.id),
            part.map((e) => e.organizationId),
            part.map((e) => e.type),
            part.map((e) => JSON.stringify(e.payload)),
            part.map((e) => e.createdAt),
          ],
        );
      }
      return out;
    },

    /** Starts the dispatcher loop (in processes that run workers): on commits anywhere (NOTIFY), else every `pollMs`. */
    start(): void {
      stopped = false;
      listening = listen(
        db,
        NOTIFY_CHANNEL,
        // Our own NOTIFY follows a commit whose announce() already woke this loop.
        (payload) => {
          if (payload !== notifierId) loop();
        },
        (err) =>
          log.warn({ err }, 'events: LISTEN connection lost; dispatching on the poll until it is back'),
      );
      loop();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await (await listening)?.();
      await Promise.all(running);
      await Promise.all(marking);
    },
  };
}

function toEvent(r: any): PlazaEvent {
  return {
    id: r.id,
    organizationId: r.organization_id,
    type: r.type,
    payload: r.payload,
    createdAt: r.created_at.toISOString(),
  };
}
