import type { KeyObject } from 'node:crypto';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { listen } from '../../db/listen.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import { type Actor, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService, PlazaEvent } from '../events/index.ts';
import type { NotificationsService } from '../notifications/index.ts';
import { ATTEMPT_LATENCY_BOUNDS, ATTEMPT_LATENCY_SQL } from './attempt-days.ts';
import { createMessageWriter, messageBody } from './messages.ts';
import { createRetention } from './retention.ts';
import { nextDelayMs, type RetryPolicy } from './schedule.ts';
import type { AttemptResult } from './sender.ts';
import type { SecretBox } from './signing.ts';
import { secretKey } from './signing.ts';
import type { Lookup } from './ssrf.ts';

export { type MessageEvent, messageBody, type Target } from './messages.ts';
export type { AttemptResult } from './sender.ts';

/**
 * The delivery engine. The database holds every message with its state and
 * the time of its next attempt, and is the only queue of deliveries: each
 * worker process runs a pump that claims due messages in batches straight
 * from `webhook_messages` (one statement, claims serialised across processes
 * by an advisory lock so the per-endpoint cap is exact), POSTs them, and
 * records the results in batches. A claim sets `next_attempt_at` to the end
 * of its lease, so a message whose worker died is simply due again when the
 * lease runs out: nothing depends on a queue entry that Redis could lose.
 * Nothing waits for a poll: committed events wake the outbox dispatcher
 * (NOTIFY plaza_events), whose fan-out wakes this process's pump; processes
 * that do not pump (API processes: tests, replays) wake the pumps with NOTIFY
 * plaza_webhooks_wake (through the job queue on PGlite). The poll is the
 * safety net and the timer for retries.
 *
 * For benchmarks and fault tests (`core.webhooks.engine`): `fanOut(events)`
 * makes events' messages; `wake()` makes the pump look now; `claim(n)`
 * leases up to n due messages (what the pump does); `runRetention()` runs
 * once on demand; `post()` is one signed POST through the SSRF-checked
 * agent. A raw baseline signs with `signatureHeaders()` (signing.ts) and
 * POSTs with undici. Message states and attempts are rows
 * (webhook_messages, webhook_attempts): count delivered/failed there;
 * receivers count duplicates by `webhook-id`.
 */
export const WAKE_JOB = 'webhooks.wake';
/** NOTIFY channel that makes every pumping process look for due messages now. */
const WAKE_CHANNEL = 'plaza_webhooks_wake';
export const RETENTION_JOB = 'webhooks.retention';
export const TEST_EVENT = 'webhook.test';
export const ENDPOINT_DISABLED_EVENT = 'endpoint.disabled';
/** Results written by one statement, at most. */
const RECORD_BATCH = 500;
/** Claims one process has on their way at once (a second one only for new messages). */
const MAX_CLAIMS = 2;

export interface DeliveryOptions {
  policy: RetryPolicy;
  timeoutMs: number;
  endpointConcurrency: number;
  workerConcurrency: number;
  /** Failing for this long (ms, already scaled) with at least `disableMinFailures` failures in a row disables. */
  disableAfterMs: number;
  disableMinFailures: number;
  /** How often an idle pump looks for due messages when nothing woke it. */
  pollMs: number;
  payloadRetentionDays: number;
  logRetentionDays: number;
  allowPrivate: boolean;
  lookup: Lookup;
}

export interface DeliveryDeps {
  db: Db;
  jobs: JobQueue;
  log: Logger;
  events: EventsService;
  audit: AuditService;
  notifications: NotificationsService;
  box: SecretBox;
  /** The app's display name (notifications). */
  appName: (appId: string) => Promise<string>;
  options: DeliveryOptions;
}

export type DisableReason = 'manual' | 'gone' | 'failing';

/** A message leased by `claim`, with what its attempt needs. */
export interface ClaimedMessage {
  id: string;
  endpoint_id: string;
  app_id: string;
  event_id: string;
  account_id: string | null;
  installation_id: string | null;
  trigger: 'scheduled' | 'replay' | 'test';
  /** Attempts of the current round before this one (a replay starts a new round). */
  round_attempts: number;
  url: string;
  enabled: boolean;
  /** The endpoint's signing secrets now (ids), newest first. */
  secret_ids: string[] | null;
  /** Null when retention deleted the payload. */
  payload_type: string | null;
  payload_data: string | null;
  payload_occurred_at: Date | null;
}

interface Outcome {
  message: ClaimedMessage;
  result: AttemptResult;
  /** Next attempt in ms, or null: delivered, gone, or the schedule is used up. */
  delay: number | null;
  success: boolean;
  gone: boolean;
}

export type DeliveryEngine = ReturnType<typeof createDeliveryEngine>;

type Post = (url: string, msgId: string, body: string, secrets: KeyObject[]) => Promise<AttemptResult>;

export function createDeliveryEngine(deps: DeliveryDeps) {
  const { db, jobs, log, events, audit, notifications, box, options } = deps;
  // Longer than any attempt (the POST's own timeout) plus the wait for its result to be written.
  const leaseMs = options.timeoutMs + Math.max(5_000, options.timeoutMs);
  // The HTTP client (sender.ts, undici) loads when this process first sends or starts pumping:
  // it is not on the server's start-up path (50-60 ms of every restart).
  let sender: { agent: import('undici').Agent; post: Post } | undefined;
  let loadingSender: Promise<NonNullable<typeof sender>> | undefined;
  function loadSender() {
    loadingSender ??= import('./sender.ts').then(({ createDeliveryAgent, createSender }) => {
      const agent = createDeliveryAgent(
        { allowPrivate: options.allowPrivate, lookup: options.lookup },
        // One process never has more than workerConcurrency attempts in flight, to any origin.
        { connectTimeoutMs: options.timeoutMs, connections: options.workerConcurrency },
      );
      sender = {
        agent,
        post: createSender({ agent, timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate }),
      };
      return sender;
    });
    return loadingSender;
  }
  /** One signed POST (never throws: a network failure is a result with `error`). */
  const post: Post = (...args) => (sender ? sender.post(...args) : loadSender().then((s) => s.post(...args)));
  const runRetention = createRetention({ db, log, options });
  const { insertMessages, targetsOf } = createMessageWriter({ db, events, policy: options.policy });
  // Opened secrets by their row id (rows never change; a rotation adds a row).
  const keys = new Map<string, KeyObject>();

  /**
   * The event subscriber (also the dispatcher's batch fast path): the
   * messages of committed events, one per receiving endpoint. Idempotent:
   * the dispatcher may hand the same events again after a crash.
   */
  async function fanOut(list: PlazaEvent[]): Promise<number> {
    const targets = await targetsOf(list);
    const created = await insertMessages(
      db,
      list.map((e) => ({
        id: e.id,
        type: e.type,
        accountId: e.organizationId,
        data: JSON.stringify(e.payload),
        occurredAt: e.createdAt,
      })),
      targets,
    );
    if (created.length) wake(true);
    return created.length;
  }

  async function failPending(q: Queryable, where: string, params: unknown[], reason: string) {
    // A message leaves the queue (webhook_queue) with its pending state.
    return q.query(
      `WITH f AS (
         UPDATE webhook_messages SET state = 'failed', failed_at = now(), failure_reason = $${params.length + 1},
           next_attempt_at = NULL
         WHERE state = 'pending' AND ${where} RETURNING id),
       dequeued AS (DELETE FROM webhook_queue q USING f WHERE q.message_id = f.id)
       SELECT id FROM f`,
      [...params, reason],
    );
  }

  /**
   * Leases up to `limit` due messages (the SQL function `webhooks_claim`,
   * migration 002: one round trip; claims serialised across processes by an
   * advisory lock so the per-endpoint cap is exact). A claim moves
   * `next_attempt_at` to the end of the lease: if this process dies, the
   * message is due again then.
   */
  async function claim(limit: number): Promise<ClaimedMessage[]> {
    return db.query<ClaimedMessage>(
      'SELECT * FROM webhooks_claim($1, $2, $3, $4)',
      [limit, options.endpointConcurrency, leaseMs, [...recording]],
      'webhooks_claim',
    );
  }

  /**
   * The signing keys of claimed messages (current first; a rotated one until
   * it expires), from the opened-key cache; unknown secrets are read and
   * opened once. An endpoint whose secret cannot be opened gets an Error.
   */
  async function keysFor(claimed: ClaimedMessage[]): Promise<Map<string, KeyObject[] | Error>> {
    const unknown = [...new Set(claimed.flatMap((m) => m.secret_ids ?? []))].filter((id) => !keys.has(id));
    const broken = new Map<string, Error>();
    if (unknown.length) {
      const rows = await db.query<{ endpoint_id: string; id: string; sealed: string }>(
        'SELECT endpoint_id, id, sealed FROM webhook_endpoint_secrets WHERE id = ANY($1)',
        [unknown],
      );
      if (keys.size + rows.length > 20_000) keys.clear();
      for (const r of rows) {
        try {
          keys.set(r.id, secretKey(box.open(r.sealed, r.endpoint_id)));
        } catch (err) {
          log.error(
            { err, endpointId: r.endpoint_id },
            'cannot open the signing secret of a webhook endpoint',
          );
          broken.set(r.endpoint_id, err as Error);
        }
      }
    }
    const out = new Map<string, KeyObject[] | Error>();
    for (const m of claimed) {
      if (out.has(m.endpoint_id)) continue;
      const list = (m.secret_ids ?? []).map((id) => keys.get(id));
      const missing = list.some((k) => !k);
      out.set(
        m.endpoint_id,
        broken.get(m.endpoint_id) ??
          (missing || list.length === 0 ? new Error('signing secret missing') : (list as KeyObject[])),
      );
    }
    return out;
  }

  // --- results: written in batches (one statement for every attempt that finished meanwhile) ---

  const results: Array<{ outcome: Outcome; done: () => void; failed: (err: unknown) => void }> = [];
  let writing: Promise<void> | undefined;

  function outcomeOf(message: ClaimedMessage, result: AttemptResult): Outcome {
    const success = result.status !== null && result.status >= 200 && result.status < 300;
    const gone = result.status === 410;
    const delay =
      success || gone
        ? null
        : nextDelayMs(options.policy, Number(message.round_attempts) + 1, {
            status: result.status,
            retryAfterSeconds: result.retryAfterSeconds,
          });
    return { message, result, success, gone, delay };
  }

  /** Resolves once the attempt's result is in the database. */
  function record(message: ClaimedMessage, result: AttemptResult): Promise<void> {
    return new Promise((done, failed) => {
      results.push({ outcome: outcomeOf(message, result), done, failed });
      writing ??= writeResults().finally(() => {
        writing = undefined;
      });
    });
  }

  async function writeResults(): Promise<void> {
    while (results.length) {
      const batch = results.splice(0, RECORD_BATCH);
      try {
        await writeBatch(batch.map((b) => b.outcome));
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.failed(err);
      }
    }
  }

  /**
   * Writes a batch of results in one statement: the attempts, each message
   * moved on (delivered, next attempt, or failed when its schedule is used
   * up), and each endpoint's health. Then disables endpoints that answered
   * 410 Gone or have been failing for too long.
   */
  async function writeBatch(batch: Outcome[]): Promise<void> {
    // Health per endpoint, in the order the attempts finished.
    const health = new Map<
      string,
      { lastAttemptAt: Date; anySuccess: boolean; failuresAfter: number; firstFailureAfter: Date | null }
    >();
    for (const o of batch) {
      const h = health.get(o.message.endpoint_id) ?? {
        lastAttemptAt: o.result.startedAt,
        anySuccess: false,
        failuresAfter: 0,
        firstFailureAfter: null,
      };
      if (o.result.startedAt > h.lastAttemptAt) h.lastAttemptAt = o.result.startedAt;
      if (o.success) {
        h.anySuccess = true;
        h.failuresAfter = 0;
        h.firstFailureAfter = null;
      } else {
        h.failuresAfter++;
        h.firstFailureAfter ??= o.result.startedAt;
      }
      health.set(o.message.endpoint_id, h);
    }
    const endpoints = [...health.entries()];
    const params = [
      batch.map(() => newId('att')),
      batch.map((o) => o.message.id),
      batch.map((o) => o.message.endpoint_id),
      batch.map((o) => o.message.app_id),
      batch.map((o) => o.message.url),
      batch.map((o) => o.result.startedAt),
      batch.map((o) => o.result.durationMs),
      batch.map((o) => o.result.status),
      batch.map((o) => o.success),
      batch.map((o) => o.result.responseBody),
      batch.map((o) => o.result.error),
      batch.map((o) => o.message.trigger),
      batch.map((o) => o.delay),
      batch.map((o) => (o.gone ? 'endpoint_gone' : 'attempts_exhausted')),
      endpoints.map(([id]) => id),
      endpoints.map(([, h]) => h.lastAttemptAt),
      endpoints.map(([, h]) => h.anySuccess),
      endpoints.map(([, h]) => h.failuresAfter),
      endpoints.map(([, h]) => h.firstFailureAfter),
    ];
    const sql = `WITH r AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
           $7::int[], $8::int[], $9::bool[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[])
           AS r(att_id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status, success, body,
             error, trigger, delay, reason)),
       msg AS (
         UPDATE webhook_messages m SET attempts = m.attempts + 1, round_attempts = m.round_attempts + 1,
           last_attempt_at = r.started_at, last_status = r.status, last_error = r.error,
           state = CASE WHEN r.success THEN 'delivered' WHEN m.state = 'pending' AND r.delay IS NULL THEN 'failed'
             ELSE m.state END,
           next_attempt_at = CASE WHEN NOT r.success AND m.state = 'pending' AND r.delay IS NOT NULL
             THEN now() + r.delay * interval '1 millisecond' END,
           delivered_at = CASE WHEN r.success THEN now() ELSE m.delivered_at END,
           failed_at = CASE WHEN r.success THEN NULL WHEN m.state = 'pending' AND r.delay IS NULL THEN now()
             ELSE m.failed_at END,
           failure_reason = CASE WHEN r.success THEN NULL WHEN m.state = 'pending' AND r.delay IS NULL THEN r.reason
             ELSE m.failure_reason END
         FROM r WHERE m.id = r.message_id
         RETURNING m.id, m.state, m.next_attempt_at),
       -- Attempts of the messages still there (updated above): one deleted meanwhile logs none.
       att AS (
         INSERT INTO webhook_attempts (id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status_code,
           success, response_body, error, trigger)
         SELECT att_id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status, success, body, error,
           trigger
         FROM r JOIN msg ON msg.id = r.message_id),
       days AS (
         INSERT INTO webhook_attempt_days AS d (endpoint_id, app_id, day, bucket, attempts, succeeded)
         SELECT endpoint_id, app_id, (started_at AT TIME ZONE 'UTC')::date,
           coalesce(width_bucket(duration_ms, '${ATTEMPT_LATENCY_SQL}'::int[]), ${ATTEMPT_LATENCY_BOUNDS.length}),
           count(*), count(*) FILTER (WHERE success)
         FROM r JOIN msg ON msg.id = r.message_id
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4
         ON CONFLICT (endpoint_id, day, bucket) DO UPDATE
           SET attempts = d.attempts + EXCLUDED.attempts, succeeded = d.succeeded + EXCLUDED.succeeded),
       dequeued AS (
         DELETE FROM webhook_queue q USING msg WHERE q.message_id = msg.id AND msg.state <> 'pending'),
       requeued AS (
         UPDATE webhook_queue q SET due_at = msg.next_attempt_at, lease_until = NULL
         FROM msg WHERE q.message_id = msg.id AND msg.state = 'pending')
       UPDATE webhook_endpoints e SET last_attempt_at = greatest(e.last_attempt_at, h.last_attempt_at),
         last_success_at = CASE WHEN h.any_success THEN now() ELSE e.last_success_at END,
         failing_since = CASE WHEN h.any_success THEN h.first_failure_after
           ELSE coalesce(e.failing_since, h.first_failure_after) END,
         consecutive_failures = CASE WHEN h.any_success THEN h.failures_after
           ELSE e.consecutive_failures + h.failures_after END
       FROM unnest($15::text[], $16::timestamptz[], $17::bool[], $18::int[], $19::timestamptz[])
         AS h(id, last_attempt_at, any_success, failures_after, first_failure_after)
       WHERE e.id = h.id
       RETURNING e.id, e.consecutive_failures, extract(epoch FROM now() - e.failing_since) * 1000 AS failing_ms`;
    let rows: Array<{ id: string; consecutive_failures: number; failing_ms: string | number | null }>;
    try {
      rows = await db.query(sql, params, 'webhooks_record');
    } catch (err) {
      // An endpoint (and its messages) deleted between the check and the insert: once more, without it.
      if ((err as { code?: string }).code !== '23503') throw err;
      rows = await db.query(sql, params, 'webhooks_record');
    }
    const gone = new Set(batch.filter((o) => o.gone).map((o) => o.message.endpoint_id));
    for (const id of gone) await disableEndpoint(id, 'gone', SYSTEM_ACTOR);
    for (const r of rows) {
      if (gone.has(r.id) || health.get(r.id)?.anySuccess) continue;
      if (
        r.consecutive_failures >= options.disableMinFailures &&
        Number(r.failing_ms) >= options.disableAfterMs
      )
        await disableEndpoint(r.id, 'failing', SYSTEM_ACTOR);
    }
  }

  // --- attempts ---

  const NOT_SENT = { status: null, responseBody: null, retryAfterSeconds: null } as const;

  /**
   * One attempt of a claimed message: sign, POST, record. `posted` runs as
   * soon as the POST is over: the slot is free for the next claim while the
   * result is being written (the claim does not count messages in `recording`).
   */
  async function attempt(
    message: ClaimedMessage,
    secrets: KeyObject[] | Error | undefined,
    posted: () => void,
  ): Promise<void> {
    if (!message.enabled) {
      await failPending(db, 'id = $1', [message.id], 'endpoint_disabled');
      return;
    }
    if (message.payload_data === null) {
      await failPending(db, 'id = $1', [message.id], 'payload_deleted');
      return;
    }
    if (!secrets || secrets instanceof Error) {
      // The sealing key changed (PLAZA_WEBHOOKS_SECRET_KEY or PLAZA_SECRET): an attempt that fails, not a stuck message.
      return record(message, {
        ...NOT_SENT,
        startedAt: new Date(),
        durationMs: 0,
        error:
          'not sent: the signing secret cannot be opened (was PLAZA_WEBHOOKS_SECRET_KEY or PLAZA_SECRET changed?)',
      });
    }
    const body = messageBody({
      eventId: message.event_id,
      type: message.payload_type as string,
      occurredAt: message.payload_occurred_at as Date,
      accountId: message.account_id,
      installationId: message.installation_id,
      data: message.payload_data,
    });
    const result = await post(message.url, message.id, body, secrets);
    recording.add(message.id);
    posted();
    try {
      await record(message, result);
    } finally {
      recording.delete(message.id);
    }
  }

  // --- the pump: claim what is due, run it, look again when a slot frees or the next message is due ---

  let started = false;
  let stopped = false;
  /** Attempts running (signing, POST): each holds one of the worker's `workerConcurrency` slots. */
  let inFlight = 0;
  /** Claims on their way, and the slots they asked for (held until they answer). */
  let claiming = 0;
  let reserved = 0;
  /** The last claim got all it asked for: more is due than there was room for. */
  let backlog = false;
  /** Woken while a claim was on its way: look again when it answers. */
  let again = false;
  /** Counts wakes and sleeps: a sleep decided before a wake is not taken. */
  let sleeps = 0;
  /** Messages whose POST is over and whose result is being written: no longer in flight. */
  const recording = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let listening: Promise<() => Promise<void>> | undefined;
  const running = new Set<Promise<void>>();

  /**
   * Looks for due messages now: here when this process pumps, else in a
   * worker process (a job). `fresh`: messages were just made (not a slot
   * freeing), worth a claim even while another is on its way.
   */
  function wake(fresh = false): void {
    if (!started) {
      // PostgreSQL: every pumping process hears it at once; PGlite (one process): through the job runner.
      if (db.notify) db.notify(WAKE_CHANNEL);
      else jobs.enqueue(WAKE_JOB, {}).catch((err) => log.warn({ err }, 'could not wake the webhook workers'));
      return;
    }
    if (stopped) return;
    clearTimeout(timer);
    timer = undefined;
    sleeps++;
    pump(fresh);
  }

  /**
   * Claims for the free slots, one claim at a time, but a wake for new
   * messages claims at once alongside a claim on its way (up to MAX_CLAIMS):
   * their first attempt does not wait for the end of that claim too. Claims
   * stay serialised in the database (the advisory lock), so the per-endpoint
   * cap is as exact as before. A claim that got all it asked for claims
   * again at once for the slots freed meanwhile.
   */
  function pump(fresh = false): void {
    if (stopped) return;
    const room = options.workerConcurrency - inFlight - reserved;
    if (room <= 0) return; // a finishing attempt wakes the pump
    // Alongside a claim on its way: only for new messages, which that claim may not see.
    // (More claims for freed slots made no more deliveries/s and cost more CPU per delivery.)
    if (claiming > 0 && (claiming >= MAX_CLAIMS || !fresh)) {
      again = true;
      return;
    }
    claiming++;
    reserved += room;
    void claimAndRun(room);
  }

  async function claimAndRun(room: number): Promise<void> {
    let idle = false;
    let retryMs: number | null = null;
    try {
      const claimed = await claim(room);
      backlog = claimed.length === room;
      if (claimed.length) {
        const keys = await keysFor(claimed).catch((err) => err as Error);
        for (const message of claimed)
          launch(message, keys instanceof Error ? keys : keys.get(message.endpoint_id));
      } else idle = true;
    } catch (err) {
      log.warn({ err }, 'webhook claim failed; trying again shortly');
      backlog = false;
      retryMs = Math.min(options.pollMs, 1000);
    } finally {
      claiming--;
      reserved -= room;
    }
    if (stopped) return;
    if (again || backlog) {
      again = false;
      pump();
      return;
    }
    if (claiming > 0 || inFlight > 0) return; // their ends wake the pump
    // Nothing due and nothing running: sleep until the next message falls due, unless woken meanwhile.
    const seq = ++sleeps;
    const ms = retryMs ?? (idle ? await untilNextDue().catch(() => options.pollMs) : options.pollMs);
    if (stopped || seq !== sleeps || claiming > 0 || inFlight > 0) return;
    clearTimeout(timer);
    timer = setTimeout(wake, ms);
    timer.unref();
  }

  function launch(message: ClaimedMessage, secrets: KeyObject[] | Error | undefined): void {
    inFlight++;
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      inFlight--;
      wake();
    };
    const run = attempt(message, secrets, free)
      .catch((err) => log.error({ err, messageId: message.id }, 'webhook attempt not recorded'))
      .finally(() => {
        free();
        running.delete(run);
      });
    running.add(run);
  }

  /** Ms until the next message falls due (at most the poll interval). */
  async function untilNextDue(): Promise<number> {
    const [row] = await db.query<{ ms: string | number | null }>(
      `SELECT extract(epoch FROM min(due_at) - now()) * 1000 AS ms FROM webhook_queue WHERE due_at > now()`,
      [],
      'webhooks_next_due',
    );
    const ms = row.ms === null ? options.pollMs : Math.ceil(Number(row.ms));
    return Math.max(1, Math.min(options.pollMs, ms));
  }

  /**
   * Disables an endpoint; its pending messages become failed (replayable
   * once it is enabled again). Automatic disabling (410 Gone, failing for
   * too long) notifies the developer organization (in the app and by email)
   * and sends `endpoint.disabled` to the app's other endpoints.
   */
  async function disableEndpoint(
    endpointId: string,
    reason: DisableReason,
    actor: Actor,
    tx?: Tx,
  ): Promise<boolean> {
    const run = async (t: Tx) => {
      const ep = await t.maybeOne(
        `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
         WHERE id = $1 AND enabled RETURNING *`,
        [endpointId, reason],
      );
      if (!ep) return false;
      const failed = await failPending(t, 'endpoint_id = $1', [endpointId], 'endpoint_disabled');
      await audit.record(t, {
        organizationId: ep.organization_id,
        actor,
        action: 'webhook_endpoint.disabled',
        targetType: 'webhook_endpoint',
        targetId: ep.id,
        data: { appId: ep.app_id, reason, failedMessages: failed.length },
      });
      if (reason !== 'manual') {
        const appName = await deps.appName(ep.app_id);
        const why =
          reason === 'gone'
            ? 'it answered 410 Gone'
            : `every attempt failed since ${ep.failing_since?.toISOString() ?? 'a while'} (${ep.consecutive_failures} in a row)`;
        // The web app's page of the endpoint (developer console).
        const link = `/orgs/${ep.organization_id}/apps/${ep.app_id}/webhooks/${ep.id}`;
        await notifications.notifyOrganization(t, ep.organization_id, {
          kind: 'webhook.endpoint_disabled',
          title: `Webhook endpoint of ${appName} disabled`,
          body: `Plaza stopped sending webhooks to ${ep.url} because ${why}. Fix the receiver, enable the endpoint again and replay the failed messages.`,
          link,
          data: { appId: ep.app_id, endpointId: ep.id, reason },
          email: {
            template: 'webhook-endpoint-disabled',
            data: { appName, url: ep.url, why, link, failedMessages: failed.length },
          },
        });
        await events.emit(t, null, ENDPOINT_DISABLED_EVENT, {
          appId: ep.app_id,
          endpointId: ep.id,
          url: ep.url,
          reason,
          failingSince: ep.failing_since?.toISOString() ?? null,
          disabledAt: ep.disabled_at.toISOString(),
        });
      }
      return true;
    };
    return tx ? run(tx) : db.transaction(run);
  }

  jobs.define({ name: WAKE_JOB, attempts: 1, handler: async () => wake(true) });
  jobs.define({ name: RETENTION_JOB, attempts: 2, handler: async () => void (await runRetention()) });
  jobs.repeat(RETENTION_JOB, 3_600_000);
  events.subscribe({
    name: 'webhooks',
    types: '*',
    handler: async (event) => void (await fanOut([event])),
    handleBatch: async (list) => void (await fanOut(list)),
  });

  return {
    fanOut,
    claim,
    post,
    /** New messages are due: look now (every pumping process, when this one does not pump). */
    wake: () => wake(true),
    runRetention,
    disableEndpoint,
    insertMessages,
    failPending,
    /** Starts the pump (worker processes). */
    start(): void {
      if (started) return;
      started = true;
      stopped = false;
      loadSender().catch((err) => log.error({ err }, 'webhooks: cannot load the HTTP client'));
      listening = listen(
        db,
        WAKE_CHANNEL,
        () => wake(true),
        (err) => log.warn({ err }, 'webhooks: LISTEN connection lost; pumping on the poll until it is back'),
      );
      wake();
    },
    /** Stops claiming; attempts in flight get up to `timeoutMs` to finish and be recorded (else their leases run out). */
    async stop(timeoutMs = options.timeoutMs): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await (await listening)?.();
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...running]),
        new Promise((resolve) => {
          timeout = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
      await writing;
      const closing = sender;
      // A later start() makes a new agent.
      sender = undefined;
      loadingSender = undefined;
      await closing?.agent.destroy().catch(() => {});
    },
  };
}
