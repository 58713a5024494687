import { request } from 'undici';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import { type Actor, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AuditService } from '../audit/service.ts';
import type { EventsService, EventType, PlazaEvent } from '../events/service.ts';
import type { NotificationsService } from '../notifications/service.ts';
import { deferralDelayMs, firstDelayMs, nextDelayMs, parseRetryAfter, type RetryPolicy } from './schedule.ts';
import type { SecretBox } from './signing.ts';
import { secretKey, signatureHeaders } from './signing.ts';
import { createDeliveryAgent, DestinationRefused, isLoopbackHost, type Lookup } from './ssrf.ts';

/**
 * The delivery engine. The database holds every message with its state and
 * the time of its next attempt; the job queue only says "look at message X
 * now" (job id `<message id>.<job_seq>`). A worker leases the message, makes
 * one signed POST, records the attempt and schedules the next one. A sweeper
 * queues again whatever is due and not leased, so a lost queue entry (Redis
 * flushed, a worker killed) delays a message, never loses it.
 *
 * For benchmarks and fault tests (`core.webhooks.engine`): `fanOut(event)`
 * makes an event's messages and queues them; `attempt(messageId, endpointId)`
 * is the job; `sweep()` and `runRetention()` run once on demand; `post()`
 * is one signed POST through the SSRF-checked agent. A raw baseline signs
 * with `signatureHeaders()` (signing.ts) and POSTs with undici. Message
 * states and attempts are rows (webhook_messages, webhook_attempts): count
 * delivered/failed there; receivers count duplicates by `webhook-id`.
 */
export const ATTEMPT_JOB = 'webhooks.attempt';
export const SWEEP_JOB = 'webhooks.sweep';
export const RETENTION_JOB = 'webhooks.retention';
export const TEST_EVENT = 'webhook.test';
export const ENDPOINT_DISABLED_EVENT = 'endpoint.disabled';
/** The first 4 KB of a receiver's answer go to the attempt log. */
export const RESPONSE_BODY_BYTES = 4096;

export interface DeliveryOptions {
  policy: RetryPolicy;
  timeoutMs: number;
  endpointConcurrency: number;
  workerConcurrency: number;
  /** Failing for this long (ms, already scaled) with at least `disableMinFailures` failures in a row disables. */
  disableAfterMs: number;
  disableMinFailures: number;
  sweepMs: number;
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

export interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  status: number | null;
  responseBody: string | null;
  error: string | null;
  retryAfterSeconds: number | null;
}

export type DisableReason = 'manual' | 'gone' | 'failing';

export interface QueuedRow {
  id: string;
  endpoint_id: string;
  job_seq: number;
}

/** The body of a message: an envelope around the event's data, the same bytes on every attempt. */
export function messageBody(p: {
  eventId: string;
  type: string;
  occurredAt: Date;
  accountId: string | null;
  installationId: string | null;
  data: string;
}): string {
  return `{"id":${JSON.stringify(p.eventId)},"type":${JSON.stringify(p.type)},"timestamp":${JSON.stringify(
    p.occurredAt.toISOString(),
  )},"accountId":${JSON.stringify(p.accountId)},"installationId":${JSON.stringify(p.installationId)},"data":${p.data}}`;
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

export type DeliveryEngine = ReturnType<typeof createDeliveryEngine>;

export function createDeliveryEngine(deps: DeliveryDeps) {
  const { db, jobs, log, events, audit, notifications, box, options } = deps;
  const leaseMs = options.timeoutMs + 20_000;
  const agent = createDeliveryAgent(
    { allowPrivate: options.allowPrivate, lookup: options.lookup },
    { connectTimeoutMs: options.timeoutMs },
  );
  // Opened secrets by their row id (rows never change; a rotation adds a row).
  const keys = new Map<string, Buffer>();
  let typeMap = new Map<string, EventType>();

  function typeOf(type: string): EventType | undefined {
    let def = typeMap.get(type);
    if (!def) {
      typeMap = new Map(events.types().map((t) => [t.type, t]));
      def = typeMap.get(type);
    }
    return def;
  }

  function keyOf(endpointId: string, s: { id: string; sealed: string }): Buffer {
    let key = keys.get(s.id);
    if (!key) {
      key = secretKey(box.open(s.sealed, endpointId));
      if (keys.size > 20_000) keys.clear();
      keys.set(s.id, key);
    }
    return key;
  }

  /** Queues the attempt jobs of messages; a failed enqueue is left to the sweeper. */
  async function enqueue(rows: QueuedRow[], delayMs = 0): Promise<void> {
    for (let i = 0; i < rows.length; i += 200) {
      await Promise.all(
        rows
          .slice(i, i + 200)
          .map((r) =>
            jobs
              .enqueue(ATTEMPT_JOB, { m: r.id, e: r.endpoint_id }, { jobId: `${r.id}.${r.job_seq}`, delayMs })
              .catch((err) =>
                log.warn({ err, messageId: r.id }, 'could not queue a webhook attempt; the sweeper will'),
              ),
          ),
      );
    }
  }

  /**
   * Inserts messages for `targets` (batch, idempotent on (event, endpoint));
   * returns the new ones. The payload row must exist.
   */
  async function insertMessages(
    tx: Queryable,
    event: { id: string; type: string; accountId: string | null },
    targets: Array<{ endpoint_id: string; app_id: string; installation_id: string | null }>,
    trigger: 'scheduled' | 'replay' | 'test' = 'scheduled',
  ): Promise<QueuedRow[]> {
    if (targets.length === 0) return [];
    return tx.query<QueuedRow>(
      `INSERT INTO webhook_messages (id, endpoint_id, app_id, installation_id, event_id, event_type, account_id,
         next_attempt_at, trigger)
       SELECT u.id, u.endpoint_id, u.app_id, u.installation_id, $5, $6, $7, now() + $8 * interval '1 millisecond', $9
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, endpoint_id, app_id, installation_id)
       ON CONFLICT (event_id, endpoint_id) DO NOTHING
       RETURNING id, endpoint_id, job_seq`,
      [
        targets.map(() => newId('msg')),
        targets.map((t) => t.endpoint_id),
        targets.map((t) => t.app_id),
        targets.map((t) => t.installation_id),
        event.id,
        event.type,
        event.accountId,
        // Tests and replays go at once; events follow the schedule's first entry.
        trigger === 'scheduled' ? firstDelayMs(options.policy) : 0,
        trigger,
      ],
    );
  }

  async function insertPayload(
    q: Queryable,
    p: { id: string; type: string; accountId: string | null; data: string; occurredAt: string | Date },
  ): Promise<void> {
    await q.query(
      `INSERT INTO webhook_payloads (id, type, account_id, data, occurred_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO NOTHING`,
      [p.id, p.type, p.accountId, p.data, p.occurredAt],
    );
  }

  /**
   * Who receives an event, in one query:
   * - an account event whose type needs a scope: every enabled endpoint of
   *   every app actively installed in the account whose installation was
   *   granted that scope, that takes the type and that installation, and
   *   where the account did not mute the type for that installation;
   * - an account event without a scope (app.installed, privacy requests):
   *   only the app the payload names (`appId`);
   * - an event of no account (endpoint.disabled): the endpoints of the app
   *   the payload names.
   * Installations are read here, set-based, rather than one by one through
   * the installations service: a fan-out to thousands of installations is
   * one statement.
   */
  async function targetsOf(event: PlazaEvent, def: EventType) {
    const p = event.payload as Record<string, unknown>;
    const appId = typeof p.appId === 'string' ? p.appId : null;
    type Target = { endpoint_id: string; app_id: string; installation_id: string | null };
    if (event.organizationId === null) {
      if (!appId) return [];
      return db.query<Target>(
        `SELECT e.id AS endpoint_id, e.app_id, NULL::text AS installation_id FROM webhook_endpoints e
         WHERE e.app_id = $1 AND e.enabled AND (cardinality(e.event_types) = 0 OR $2 = ANY(e.event_types))`,
        [appId, event.type],
      );
    }
    if (def.scope === null) {
      if (!appId) return [];
      const installationId = typeof p.installationId === 'string' ? p.installationId : null;
      return db.query<Target>(
        `WITH inst AS (
           SELECT coalesce($3::text, (SELECT i.id FROM installations i WHERE i.app_id = $1 AND i.account_id = $4
             ORDER BY (i.status = 'active') DESC, i.created_at DESC LIMIT 1)) AS id)
         SELECT e.id AS endpoint_id, e.app_id, inst.id AS installation_id FROM webhook_endpoints e, inst
         WHERE e.app_id = $1 AND e.enabled AND (cardinality(e.event_types) = 0 OR $2 = ANY(e.event_types))
           AND (cardinality(e.installation_ids) = 0 OR inst.id = ANY(e.installation_ids))`,
        [appId, event.type, installationId, event.organizationId],
      );
    }
    return db.query<Target>(
      `SELECT e.id AS endpoint_id, e.app_id, i.id AS installation_id
       FROM installations i JOIN webhook_endpoints e ON e.app_id = i.app_id
       WHERE i.account_id = $1 AND i.status = 'active' AND $3 = ANY(i.granted_scopes)
         AND e.enabled AND (cardinality(e.event_types) = 0 OR $2 = ANY(e.event_types))
         AND (cardinality(e.installation_ids) = 0 OR i.id = ANY(e.installation_ids))
         AND NOT EXISTS (SELECT 1 FROM webhook_mutes m WHERE m.installation_id = i.id AND m.event_type = $2)`,
      [event.organizationId, event.type, def.scope],
    );
  }

  /** The event subscriber: one message per receiving endpoint, then their first attempts. */
  async function fanOut(event: PlazaEvent): Promise<number> {
    const def = typeOf(event.type);
    if (!def) return 0;
    const targets = await targetsOf(event, def);
    if (targets.length === 0) return 0;
    const created = await db.transaction(async (tx) => {
      await insertPayload(tx, {
        id: event.id,
        type: event.type,
        accountId: event.organizationId,
        data: JSON.stringify(event.payload),
        occurredAt: event.createdAt,
      });
      return insertMessages(tx, { id: event.id, type: event.type, accountId: event.organizationId }, targets);
    });
    await enqueue(created, firstDelayMs(options.policy));
    return created.length;
  }

  type Claim =
    | { kind: 'skip' }
    | { kind: 'deferred'; row: QueuedRow; delayMs: number }
    | { kind: 'claimed'; endpoint: any; message: any };

  async function failPending(q: Queryable, where: string, params: unknown[], reason: string) {
    return q.query(
      `UPDATE webhook_messages SET state = 'failed', failed_at = now(), failure_reason = $${params.length + 1},
         next_attempt_at = NULL, lease_until = NULL
       WHERE state = 'pending' AND ${where} RETURNING id`,
      [...params, reason],
    );
  }

  /**
   * Takes the lease of a message that is due, unless its endpoint already has
   * `endpointConcurrency` attempts in flight or used its rate limit for this
   * second: then the message waits (backing off; a finished attempt of the
   * endpoint wakes one waiting message). The endpoint row lock makes the
   * count exact across workers.
   */
  async function claim(messageId: string, endpointId: string): Promise<Claim> {
    return db.transaction(async (tx): Promise<Claim> => {
      const endpoint = await tx.maybeOne(
        `SELECT e.id, e.app_id, e.organization_id, e.url, e.enabled, e.rate_limit, e.rate_count,
           coalesce(e.rate_window = date_trunc('second', now()), false) AS same_window,
           extract(epoch FROM date_trunc('second', now()) + interval '1 second' - now()) * 1000 AS window_left_ms,
           (SELECT coalesce(json_agg(json_build_object('id', s.id, 'sealed', s.sealed) ORDER BY s.created_at DESC), '[]'::json)
              FROM webhook_endpoint_secrets s
              WHERE s.endpoint_id = e.id AND (s.expires_at IS NULL OR s.expires_at > now())) AS secrets
         FROM webhook_endpoints e WHERE e.id = $1 FOR UPDATE OF e`,
        [endpointId],
      );
      if (!endpoint) return { kind: 'skip' };
      if (!endpoint.enabled) {
        await failPending(
          tx,
          'id = $1 AND (lease_until IS NULL OR lease_until < now())',
          [messageId],
          'endpoint_disabled',
        );
        return { kind: 'skip' };
      }
      const rateFull =
        endpoint.rate_limit !== null && endpoint.same_window && endpoint.rate_count >= endpoint.rate_limit;
      if (!rateFull) {
        const message = await tx.maybeOne(
          `UPDATE webhook_messages m SET lease_until = now() + $3 * interval '1 millisecond'
           FROM webhook_payloads p
           WHERE m.id = $1 AND m.endpoint_id = $2 AND p.id = m.event_id AND m.state = 'pending'
             AND m.next_attempt_at <= now() + interval '1 second'
             AND (m.lease_until IS NULL OR m.lease_until < now())
             AND (SELECT count(*) FROM webhook_messages x WHERE x.endpoint_id = $2 AND x.lease_until > now()) < $4
           RETURNING m.id, m.app_id, m.event_id, m.event_type, m.account_id, m.installation_id, m.round_attempts,
             m.trigger, p.type AS payload_type, p.data AS payload_data, p.occurred_at AS payload_occurred_at`,
          [messageId, endpointId, leaseMs, options.endpointConcurrency],
        );
        if (message) {
          if (endpoint.rate_limit !== null)
            await tx.query(
              `UPDATE webhook_endpoints SET rate_count = CASE WHEN rate_window = date_trunc('second', now())
                 THEN rate_count + 1 ELSE 1 END, rate_window = date_trunc('second', now()) WHERE id = $1`,
              [endpointId],
            );
          return { kind: 'claimed', endpoint, message };
        }
      }
      const why = await tx.maybeOne(
        `SELECT m.state, m.deferrals, m.next_attempt_at <= now() + interval '1 second' AS due,
           coalesce(m.lease_until > now(), false) AS leased,
           EXISTS (SELECT 1 FROM webhook_payloads p WHERE p.id = m.event_id) AS has_payload
         FROM webhook_messages m WHERE m.id = $1 AND m.endpoint_id = $2`,
        [messageId, endpointId],
      );
      if (!why) return { kind: 'skip' };
      if (why.state !== 'pending' || !why.due || why.leased) return { kind: 'skip' };
      if (!why.has_payload) {
        await failPending(tx, 'id = $1', [messageId], 'payload_deleted');
        return { kind: 'skip' };
      }
      // The endpoint is busy: wait for a slot.
      const delayMs = deferralDelayMs(why.deferrals, rateFull ? Number(endpoint.window_left_ms) : 250);
      const row = await tx.one<QueuedRow>(
        `UPDATE webhook_messages SET deferrals = deferrals + 1, job_seq = job_seq + 1,
           next_attempt_at = now() + $2 * interval '1 millisecond'
         WHERE id = $1 RETURNING id, endpoint_id, job_seq`,
        [messageId, delayMs],
      );
      return { kind: 'deferred', row, delayMs };
    });
  }

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

  /** One signed POST. Never throws: a network failure is a result with `error`. */
  async function post(url: string, msgId: string, body: string, secrets: Buffer[]): Promise<AttemptResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const done = (r: Omit<AttemptResult, 'startedAt' | 'durationMs'>): AttemptResult => ({
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      ...r,
    });
    const target = new URL(url);
    if (target.protocol !== 'https:' && !(options.allowPrivate && isLoopbackHost(target.hostname)))
      return done({
        status: null,
        responseBody: null,
        retryAfterSeconds: null,
        error:
          'refused: webhooks go to https URLs (plain http only to loopback, when WEBHOOKS_ALLOW_PRIVATE is set)',
      });
    const timestamp = Math.floor(Date.now() / 1000);
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
        signal: AbortSignal.timeout(options.timeoutMs),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const text = await readCapped(res.body as any, RESPONSE_BODY_BYTES).catch(() => '');
      return done({
        status: res.statusCode,
        responseBody: text,
        retryAfterSeconds: parseRetryAfter(res.headers['retry-after']),
        error: null,
      });
    } catch (err) {
      return done({ status: null, responseBody: null, retryAfterSeconds: null, error: describeError(err) });
    }
  }

  /** Writes the attempt, moves the message on, updates the endpoint's health; wakes one waiting message. */
  async function record(endpoint: any, message: any, result: AttemptResult) {
    const success = result.status !== null && result.status >= 200 && result.status < 300;
    const gone = result.status === 410;
    const roundAttempts = Number(message.round_attempts) + 1;
    const delay =
      success || gone
        ? null
        : nextDelayMs(options.policy, roundAttempts, {
            status: result.status,
            retryAfterSeconds: result.retryAfterSeconds,
          });
    const reason = gone ? 'endpoint_gone' : 'attempts_exhausted';
    let row: any;
    try {
      row = await db.one(
        `WITH att AS (
         INSERT INTO webhook_attempts (id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status_code,
           success, response_body, error, trigger)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)),
       msg AS (
         UPDATE webhook_messages SET attempts = attempts + 1, round_attempts = round_attempts + 1,
           lease_until = NULL, deferrals = 0, last_attempt_at = $6, last_status = $8, last_error = $11,
           state = CASE WHEN $9 THEN 'delivered' WHEN state = 'pending' AND $13::integer IS NULL THEN 'failed'
             ELSE state END,
           next_attempt_at = CASE WHEN NOT $9 AND state = 'pending' AND $13::integer IS NOT NULL
             THEN now() + $13::integer * interval '1 millisecond' END,
           job_seq = job_seq + CASE WHEN NOT $9 AND state = 'pending' AND $13::integer IS NOT NULL THEN 1 ELSE 0 END,
           delivered_at = CASE WHEN $9 THEN now() ELSE delivered_at END,
           failed_at = CASE WHEN $9 THEN NULL WHEN state = 'pending' AND $13::integer IS NULL THEN now()
             ELSE failed_at END,
           failure_reason = CASE WHEN $9 THEN NULL WHEN state = 'pending' AND $13::integer IS NULL THEN $14
             ELSE failure_reason END
         WHERE id = $2 RETURNING state, job_seq),
       ep AS (
         UPDATE webhook_endpoints SET last_attempt_at = $6,
           last_success_at = CASE WHEN $9 THEN now() ELSE last_success_at END,
           failing_since = CASE WHEN $9 THEN NULL ELSE coalesce(failing_since, $6) END,
           consecutive_failures = CASE WHEN $9 THEN 0 ELSE consecutive_failures + 1 END
         WHERE id = $3
         RETURNING consecutive_failures, extract(epoch FROM now() - failing_since) * 1000 AS failing_ms),
       nudge AS (
         UPDATE webhook_messages SET next_attempt_at = now(), job_seq = job_seq + 1
         WHERE id = (SELECT w.id FROM webhook_messages w
                     WHERE w.endpoint_id = $3 AND w.state = 'pending' AND w.deferrals > 0 AND w.id <> $2
                       AND (w.lease_until IS NULL OR w.lease_until < now())
                     ORDER BY w.id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, endpoint_id, job_seq)
       SELECT msg.state, msg.job_seq, ep.consecutive_failures, ep.failing_ms,
         (SELECT row_to_json(nudge) FROM nudge) AS nudged
       FROM (SELECT 1) one LEFT JOIN msg ON true LEFT JOIN ep ON true`,
        [
          newId('att'),
          message.id,
          endpoint.id,
          endpoint.app_id,
          endpoint.url,
          result.startedAt,
          result.durationMs,
          result.status,
          success,
          result.responseBody,
          result.error,
          message.trigger,
          delay,
          reason,
        ],
      );
    } catch (err) {
      // The endpoint (and so the message) was deleted while the attempt was in flight.
      if ((err as { code?: string }).code === '23503') return { success, state: null };
      throw err;
    }
    if (row.state === 'pending' && delay !== null)
      await enqueue([{ id: message.id, endpoint_id: endpoint.id, job_seq: row.job_seq }], delay);
    if (row.nudged) await enqueue([row.nudged]);
    if (gone) await disableEndpoint(endpoint.id, 'gone', SYSTEM_ACTOR);
    else if (
      !success &&
      row.consecutive_failures !== null &&
      row.consecutive_failures >= options.disableMinFailures &&
      Number(row.failing_ms) >= options.disableAfterMs
    )
      await disableEndpoint(endpoint.id, 'failing', SYSTEM_ACTOR);
    return { success, state: row.state as string | null };
  }

  /** The job: one attempt of one message (or nothing, when it is not due or someone else has it). */
  async function attempt(messageId: string, endpointId: string): Promise<void> {
    const c = await claim(messageId, endpointId);
    if (c.kind === 'deferred') return enqueue([c.row], c.delayMs);
    if (c.kind !== 'claimed') return;
    const { endpoint, message } = c;
    let secrets: Buffer[];
    try {
      secrets = (endpoint.secrets as Array<{ id: string; sealed: string }>).map((s) => keyOf(endpoint.id, s));
    } catch (err) {
      // The sealing key changed (PLAZA_WEBHOOKS_SECRET_KEY or PLAZA_SECRET): an attempt that fails, not a stuck job.
      log.error({ err, endpointId: endpoint.id }, 'cannot open the signing secret of a webhook endpoint');
      await record(endpoint, message, {
        startedAt: new Date(),
        durationMs: 0,
        status: null,
        responseBody: null,
        retryAfterSeconds: null,
        error:
          'not sent: the signing secret cannot be opened (was PLAZA_WEBHOOKS_SECRET_KEY or PLAZA_SECRET changed?)',
      });
      return;
    }
    const body = messageBody({
      eventId: message.event_id,
      type: message.payload_type,
      occurredAt: message.payload_occurred_at,
      accountId: message.account_id,
      installationId: message.installation_id,
      data: message.payload_data,
    });
    const result = await post(endpoint.url, message.id, body, secrets);
    await record(endpoint, message, result);
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

  /** Queues again every message that is due (by more than one sweep interval) and not leased. */
  async function sweep(limit = 1000): Promise<number> {
    const rows = await db.query<QueuedRow>(
      `SELECT id, endpoint_id, job_seq FROM webhook_messages
       WHERE state = 'pending' AND next_attempt_at <= now() - $1 * interval '1 millisecond'
         AND (lease_until IS NULL OR lease_until < now())
       ORDER BY next_attempt_at LIMIT $2`,
      [options.sweepMs, limit],
    );
    await enqueue(rows);
    return rows.length;
  }

  async function deleteInBatches(sql: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await db.query(sql, params);
      total += rows.length;
      if (rows.length < 5000) return total;
    }
  }

  /** Deletes payloads past their retention, then messages and attempts past theirs. */
  async function runRetention(): Promise<{ payloads: number; messages: number; attempts: number }> {
    const payloads = await deleteInBatches(
      `DELETE FROM webhook_payloads WHERE id IN (SELECT id FROM webhook_payloads
         WHERE created_at < now() - $1 * interval '1 day' LIMIT 5000) RETURNING id`,
      [options.payloadRetentionDays],
    );
    const messages = await deleteInBatches(
      `DELETE FROM webhook_messages WHERE id IN (SELECT id FROM webhook_messages
         WHERE created_at < now() - $1 * interval '1 day' AND state <> 'pending' LIMIT 5000) RETURNING id`,
      [options.logRetentionDays],
    );
    const attempts = await deleteInBatches(
      `DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts
         WHERE started_at < now() - $1 * interval '1 day' LIMIT 5000) RETURNING id`,
      [options.logRetentionDays],
    );
    if (payloads || messages || attempts)
      log.info({ payloads, messages, attempts }, 'webhook retention deleted old rows');
    return { payloads, messages, attempts };
  }

  jobs.define<{ m: string; e: string }>({
    name: ATTEMPT_JOB,
    concurrency: options.workerConcurrency,
    attempts: 3,
    backoff: { baseMs: 1000, maxMs: 30_000 },
    handler: ({ m, e }) => attempt(m, e),
  });
  jobs.define({ name: SWEEP_JOB, attempts: 1, handler: async () => void (await sweep()) });
  jobs.define({ name: RETENTION_JOB, attempts: 2, handler: async () => void (await runRetention()) });
  jobs.repeat(SWEEP_JOB, options.sweepMs);
  jobs.repeat(RETENTION_JOB, 3_600_000);
  events.subscribe({ name: 'webhooks', types: '*', handler: async (event) => void (await fanOut(event)) });

  // The sweep also runs on a timer in worker processes: a recurring job lives
  // in the queue, and a queue that lost its data has lost that schedule too.
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> | undefined;

  return {
    fanOut,
    attempt,
    post,
    sweep,
    runRetention,
    disableEndpoint,
    enqueue,
    insertMessages,
    insertPayload,
    failPending,
    start(): void {
      if (timer) return;
      timer = setInterval(() => {
        if (sweeping) return;
        sweeping = sweep()
          .catch((err) => log.warn({ err }, 'webhook sweep failed'))
          .finally(() => {
            sweeping = undefined;
          });
      }, options.sweepMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await sweeping;
      await agent.destroy().catch(() => {});
    },
  };
}
