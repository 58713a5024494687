import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, forbidden, invalid, notFound, PlazaError } from '../../errors.ts';
import type { AppClient } from '../../http/app-auth.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { NotificationsService } from '../notifications/index.ts';
import { createDeliveryEngine, ENDPOINT_DISABLED_EVENT, messageBody, TEST_EVENT } from './delivery.ts';
import {
  type AppRef,
  type EndpointInput,
  type EventTypeInfo,
  iso,
  type MessageFilters,
  toAttempt,
  toEndpoint,
  toMessage,
  type WebhookAttempt,
  type WebhookEndpoint,
  type WebhookMessage,
  type WebhookMessageDetail,
} from './model.ts';
import { createSecretBox, newEndpointSecret } from './signing.ts';
import { DestinationRefused, isLoopbackHost, type Lookup, resolveDestination, systemLookup } from './ssrf.ts';

/**
 * Webhooks: endpoints of apps, the messages Plaza sends them, every attempt,
 * replays, endpoint health, and per-installation mutes. Endpoints are managed
 * by the app's developer organization (`forDeveloper`) or by the app itself
 * with its client-credentials token (`forApp`); both give an `AppRef`, and
 * every function below is scoped to that one app, so an app never reaches
 * another app's endpoints, messages or attempts.
 */
export type {
  AppRef,
  EndpointInput,
  EventTypeInfo,
  MessageFilters,
  MessageState,
  WebhookAttempt,
  WebhookEndpoint,
  WebhookMessage,
  WebhookMessageDetail,
} from './model.ts';

/** Largest range "replay missing" creates messages for in one call. */
export const REPLAY_MISSING_MAX = 10_000;

export type WebhooksService = ReturnType<typeof createWebhooksService>;

export function createWebhooksService(deps: {
  db: Db;
  config: Config;
  /** PLAZA_SECRET (or the generated one): the default key material for sealing endpoint secrets. */
  secret: string;
  jobs: JobQueue;
  log: Logger;
  events: EventsService;
  audit: AuditService;
  apps: AppsService;
  installations: InstallationsService;
  notifications: NotificationsService;
  /** DNS for the SSRF guard (tests simulate answers). */
  lookup?: Lookup;
}) {
  const { db, config, events, audit, apps, installations, notifications } = deps;
  const lookup = deps.lookup ?? systemLookup;
  const box = createSecretBox(config.webhooksSecretKey ?? deps.secret);
  const allowPrivate = config.webhooksAllowPrivate;

  events.registerType({
    type: TEST_EVENT,
    description: 'A test message sent from the console or the API to check an endpoint.',
    scope: null,
    owner: 'core',
    payload: z.object({ appId: z.string(), endpointId: z.string(), message: z.string() }),
  });
  events.registerType({
    type: ENDPOINT_DISABLED_EVENT,
    description:
      "One of the app's webhook endpoints was disabled by Plaza (it answered 410 Gone or kept failing); sent to the app's other endpoints.",
    scope: null,
    owner: 'core',
    payload: z.object({
      appId: z.string(),
      endpointId: z.string(),
      url: z.string(),
      reason: z.enum(['gone', 'failing']),
      failingSince: z.string().nullable(),
      disabledAt: z.string(),
    }),
  });

  const engine = createDeliveryEngine({
    db,
    jobs: deps.jobs,
    log: deps.log.child({ module: 'webhooks' }),
    events,
    audit,
    notifications,
    box,
    appName: async (appId) => (await apps.namesByIds([appId])).get(appId) ?? appId,
    options: {
      policy: {
        schedule: config.webhooksRetrySchedule,
        timeScale: config.webhooksTimeScale,
        retryAfterMaxSeconds: config.webhooksRetryAfterMaxSeconds,
      },
      timeoutMs: config.webhooksTimeoutMs,
      endpointConcurrency: config.webhooksEndpointConcurrency,
      workerConcurrency: config.webhooksWorkerConcurrency,
      disableAfterMs: config.webhooksDisableAfterHours * 3_600_000 * config.webhooksTimeScale,
      disableMinFailures: config.webhooksDisableMinFailures,
      pollMs: config.webhooksPollMs,
      payloadRetentionDays: config.webhooksPayloadRetentionDays,
      logRetentionDays: config.webhooksLogRetentionDays,
      allowPrivate,
      lookup,
    },
  });

  // Event catalog -------------------------------------------------------------

  let catalog: { size: number; list: EventTypeInfo[] } | undefined;
  function eventTypes(): EventTypeInfo[] {
    const types = events.types();
    if (catalog?.size !== types.length)
      catalog = {
        size: types.length,
        list: types.map((t) => ({
          type: t.type,
          description: t.description,
          scope: t.scope,
          owner: t.owner,
          schema: z.toJSONSchema(t.payload, { io: 'output', unrepresentable: 'any' }) as Record<
            string,
            unknown
          >,
        })),
      };
    return catalog.list;
  }
  const knownType = (type: string) => events.types().find((t) => t.type === type);

  // Validation ----------------------------------------------------------------

  /** Checks an endpoint URL: https (http only to loopback in development), and a public destination. */
  async function checkUrl(raw: string, field = 'body.url'): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalid(field, 'must be an absolute URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(field, 'must be an https URL');
    if (url.protocol === 'http:' && !(allowPrivate && isLoopbackHost(url.hostname)))
      throw invalid(
        field,
        allowPrivate
          ? 'must be an https URL (plain http is allowed for loopback addresses only)'
          : 'must be an https URL',
      );
    if (url.username || url.password) throw invalid(field, 'must not carry a user name or password');
    if (url.hash) throw invalid(field, 'must not have a #fragment');
    if (!allowPrivate) {
      try {
        await resolveDestination(url.hostname, { allowPrivate, lookup });
      } catch (err) {
        if (err instanceof DestinationRefused) throw invalid(field, err.message);
        throw err;
      }
    }
    return url.toString();
  }

  function checkEventTypes(types: string[] | undefined, field = 'body.eventTypes'): string[] {
    const list = types ?? [];
    list.forEach((t, i) => {
      if (!knownType(t)) throw invalid(`${field}.${i}`, `unknown event type ${t} (see GET /v1/event-types)`);
    });
    return [...new Set(list)];
  }

  async function checkInstallations(ref: AppRef, ids: string[] | undefined): Promise<string[]> {
    const list = [...new Set(ids ?? [])];
    for (const [i, id] of list.entries()) {
      const inst = await installations.findById(id);
      if (!inst || inst.appId !== ref.appId)
        throw invalid(`body.installationIds.${i}`, `${id} is not an installation of this app`);
    }
    return list;
  }

  // Lookups scoped to one app ----------------------------------------------------

  async function endpointRow(q: Queryable, ref: AppRef, id: string, lock = false) {
    const row = await q.maybeOne(
      `SELECT * FROM webhook_endpoints WHERE id = $1 AND app_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, ref.appId],
    );
    if (!row) throw notFound('webhook endpoint');
    return row;
  }

  async function messageRow(q: Queryable, ref: AppRef, id: string, lock = false) {
    const row = await q.maybeOne(
      `SELECT * FROM webhook_messages WHERE id = $1 AND app_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, ref.appId],
    );
    if (!row) throw notFound('webhook message');
    return row;
  }

  async function sealSecret(tx: Tx, endpointId: string, secret: string): Promise<void> {
    await tx.query('INSERT INTO webhook_endpoint_secrets (id, endpoint_id, sealed) VALUES ($1, $2, $3)', [
      newId('whs'),
      endpointId,
      box.seal(secret, endpointId),
    ]);
  }

  const auditFor = (
    tx: Tx,
    ref: AppRef,
    action: string,
    targetId: string,
    data: Record<string, unknown> = {},
  ) =>
    audit.record(tx, {
      organizationId: ref.organizationId,
      actor: ref.actor,
      action,
      targetType: 'webhook_endpoint',
      targetId,
      data: { appId: ref.appId, via: ref.via, ...data },
    });

  function assertRange(since: string, until: string | undefined) {
    if (until && Date.parse(until) <= Date.parse(since)) throw invalid('body.until', 'must be after since');
  }

  /** Event types muted for one installation of the account, and those that could be. */
  async function listMutes(ctx: OrgContext, installationId: string) {
    if (ctx.org.kind !== 'account') throw forbidden('only accounts have installations');
    const inst = await installations.findById(installationId);
    if (!inst || inst.accountId !== ctx.org.id) throw notFound('installation');
    const rows = await db.query<{ event_type: string }>(
      'SELECT event_type FROM webhook_mutes WHERE installation_id = $1 ORDER BY event_type',
      [installationId],
    );
    return {
      installationId,
      appId: inst.appId,
      muted: rows.map((r) => r.event_type),
      mutable: events
        .types()
        .filter((t) => t.scope !== null && inst.grantedScopes.includes(t.scope))
        .map((t) => ({ type: t.type, description: t.description, scope: t.scope as string })),
    };
  }

  return {
    engine,

    /** The app of a developer organization (404 when it is not theirs). */
    async forDeveloper(ctx: OrgContext, appId: string): Promise<AppRef> {
      const app = await apps.get(ctx, appId);
      return {
        appId: app.id,
        appName: app.name,
        organizationId: app.organizationId,
        actor: ctx.actor,
        via: 'developer',
      };
    },

    /** The app calling with its client-credentials token. */
    async forApp(client: AppClient, actor: Actor): Promise<AppRef> {
      const app = await apps.oauthClient(client.clientId);
      if (!app || app.appId !== client.appId) throw notFound('app');
      return {
        appId: app.appId,
        appName: app.live?.name ?? app.name,
        organizationId: app.organizationId,
        actor,
        via: 'app',
      };
    },

    /** Every event type with its description, scope and payload JSON schema. */
    eventTypes,

    // Endpoints --------------------------------------------------------------------

    async listEndpoints(
      ref: AppRef,
      page: { limit: number; cursor?: string },
    ): Promise<Page<WebhookEndpoint>> {
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_endpoints WHERE app_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
        [ref.appId, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toEndpoint);
    },

    async getEndpoint(ref: AppRef, id: string): Promise<WebhookEndpoint> {
      return toEndpoint(await endpointRow(db, ref, id));
    },

    /** Creates an endpoint; its `whsec_` secret is in the answer (and later from `getSecret`). */
    async createEndpoint(
      ref: AppRef,
      input: EndpointInput,
    ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      const url = await checkUrl(input.url);
      const eventTypes = checkEventTypes(input.eventTypes);
      const installationIds = await checkInstallations(ref, input.installationIds);
      return db.transaction(async (tx) => {
        // Serializes endpoint creation per app, so the count below holds.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`webhook-endpoints:${ref.appId}`]);
        const { n } = await tx.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM webhook_endpoints WHERE app_id = $1',
          [ref.appId],
        );
        if (n >= config.webhooksMaxEndpointsPerApp)
          throw conflict(`an app may have at most ${config.webhooksMaxEndpointsPerApp} webhook endpoints`);
        const id = newId('ep');
        const enabled = input.enabled ?? true;
        const row = await tx.one(
          `INSERT INTO webhook_endpoints (id, app_id, organization_id, url, description, event_types, installation_ids,
             enabled, disabled_reason, disabled_at, rate_limit)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [
            id,
            ref.appId,
            ref.organizationId,
            url,
            input.description ?? '',
            eventTypes,
            installationIds,
            enabled,
            enabled ? null : 'manual',
            enabled ? null : new Date(),
            input.rateLimit ?? null,
          ],
        );
        const secret = newEndpointSecret();
        await sealSecret(tx, id, secret);
        await auditFor(tx, ref, 'webhook_endpoint.created', id, { url, eventTypes });
        return { endpoint: toEndpoint(row), secret };
      });
    },

    /**
     * Changes an endpoint. `enabled: false` disables it (pending messages
     * become failed, replayable later); `enabled: true` enables it again and
     * clears its failure record.
     */
    async updateEndpoint(ref: AppRef, id: string, patch: Partial<EndpointInput>): Promise<WebhookEndpoint> {
      const url = patch.url === undefined ? undefined : await checkUrl(patch.url);
      const eventTypes = patch.eventTypes === undefined ? undefined : checkEventTypes(patch.eventTypes);
      const installationIds =
        patch.installationIds === undefined
          ? undefined
          : await checkInstallations(ref, patch.installationIds);
      return db.transaction(async (tx) => {
        const before = await endpointRow(tx, ref, id, true);
        const row = await tx.one(
          `UPDATE webhook_endpoints SET url = coalesce($2, url), description = coalesce($3, description),
             event_types = coalesce($4, event_types), installation_ids = coalesce($5, installation_ids),
             rate_limit = CASE WHEN $6 THEN $7::integer ELSE rate_limit END, updated_at = now()
           WHERE id = $1 RETURNING *`,
          [
            id,
            url ?? null,
            patch.description ?? null,
            eventTypes ?? null,
            installationIds ?? null,
            patch.rateLimit !== undefined,
            patch.rateLimit ?? null,
          ],
        );
        const changed = Object.keys(patch).filter((k) => k !== 'enabled');
        if (changed.length) await auditFor(tx, ref, 'webhook_endpoint.updated', id, { changed });
        if (patch.enabled === false && before.enabled) {
          await engine.disableEndpoint(id, 'manual', ref.actor, tx);
        } else if (patch.enabled === true && !before.enabled) {
          await tx.query(
            `UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL,
               failing_since = NULL, consecutive_failures = 0, updated_at = now() WHERE id = $1`,
            [id],
          );
          await auditFor(tx, ref, 'webhook_endpoint.enabled', id, { wasDisabledFor: before.disabled_reason });
        }
        return toEndpoint(
          patch.enabled === undefined
            ? row
            : await tx.one('SELECT * FROM webhook_endpoints WHERE id = $1', [id]),
        );
      });
    },

    /** Deletes an endpoint with its messages and attempts. */
    async deleteEndpoint(ref: AppRef, id: string): Promise<void> {
      await db.transaction(async (tx) => {
        const row = await endpointRow(tx, ref, id, true);
        await tx.query('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
        await auditFor(tx, ref, 'webhook_endpoint.deleted', id, { url: row.url });
      });
    },

    /** The endpoint's current secret, and older ones still signing during a rotation overlap. */
    async getSecret(ref: AppRef, id: string) {
      await endpointRow(db, ref, id);
      const rows = await db.query(
        `SELECT * FROM webhook_endpoint_secrets WHERE endpoint_id = $1
           AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC, id DESC`,
        [id],
      );
      const [current, ...previous] = rows.map((r) => ({
        secret: box.open(r.sealed, id),
        createdAt: r.created_at.toISOString() as string,
        expiresAt: iso(r.expires_at),
      }));
      if (!current) throw new PlazaError('PLAZA_INTERNAL', 'the endpoint has no signing secret');
      return { secret: current.secret, createdAt: current.createdAt, previous };
    },

    /**
     * A new secret. For `overlapHours` (default PLAZA_WEBHOOKS_SECRET_OVERLAP_HOURS)
     * every message carries a signature with the old secret too.
     */
    async rotateSecret(ref: AppRef, id: string, overlapHours = config.webhooksSecretOverlapHours) {
      return db.transaction(async (tx) => {
        await endpointRow(tx, ref, id, true);
        const expired = await tx.query(
          `UPDATE webhook_endpoint_secrets SET expires_at = CASE
             WHEN expires_at IS NULL OR expires_at > now() + $2 * interval '1 hour' THEN now() + $2 * interval '1 hour'
             ELSE expires_at END
           WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING expires_at`,
          [id, overlapHours],
        );
        const secret = newEndpointSecret();
        await sealSecret(tx, id, secret);
        await auditFor(tx, ref, 'webhook_endpoint.secret_rotated', id, { overlapHours });
        const until = expired.map((r) => r.expires_at as Date).sort((a, b) => b.getTime() - a.getTime())[0];
        return { secret, previousSecretsExpireAt: overlapHours > 0 ? iso(until) : null };
      });
    },

    /** Sends a `webhook.test` message to the endpoint (whatever its event filter). */
    async sendTest(ref: AppRef, id: string): Promise<WebhookMessage> {
      const created = await db.transaction(async (tx) => {
        const ep = await endpointRow(tx, ref, id);
        if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
        const eventId = newId('evt');
        const data = { appId: ref.appId, endpointId: id, message: 'This is a test message from Plaza.' };
        const [row] = await engine.insertMessages(
          tx,
          [
            {
              id: eventId,
              type: TEST_EVENT,
              accountId: null,
              data: JSON.stringify(data),
              occurredAt: new Date(),
            },
          ],
          [{ event_id: eventId, endpoint_id: id, app_id: ref.appId, installation_id: null }],
          'test',
        );
        await auditFor(tx, ref, 'webhook_endpoint.test_sent', id, { messageId: row.id });
        return row;
      });
      engine.wake();
      return toMessage(await db.one('SELECT * FROM webhook_messages WHERE id = $1', [created.id]));
    },

    /** Attempts in the last `hours`: success rate and latency (p50, p95); messages by state. */
    async endpointStats(ref: AppRef, id: string, hours = 24) {
      await endpointRow(db, ref, id);
      const a = await db.one(
        `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE success)::int AS succeeded,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
         FROM webhook_attempts WHERE endpoint_id = $1 AND started_at >= now() - $2 * interval '1 hour'`,
        [id, hours],
      );
      const m = await db.one(
        `SELECT count(*) FILTER (WHERE state = 'pending')::int AS pending,
           count(*) FILTER (WHERE state = 'delivered')::int AS delivered,
           count(*) FILTER (WHERE state = 'failed')::int AS failed
         FROM webhook_messages WHERE endpoint_id = $1 AND created_at >= now() - $2 * interval '1 hour'`,
        [id, hours],
      );
      return {
        windowHours: hours,
        attempts: a.attempts as number,
        succeeded: a.succeeded as number,
        failed: (a.attempts - a.succeeded) as number,
        successRate: a.attempts ? a.succeeded / a.attempts : null,
        latencyMs: {
          p50: a.p50 === null ? null : Math.round(Number(a.p50)),
          p95: a.p95 === null ? null : Math.round(Number(a.p95)),
        },
        messages: {
          pending: m.pending as number,
          delivered: m.delivered as number,
          failed: m.failed as number,
        },
      };
    },

    /** Every failed message of the endpoint created since `since` (and before `until`) is sent again. */
    async replayFailed(ref: AppRef, id: string, range: { since: string; until?: string }) {
      assertRange(range.since, range.until);
      const rows = await db.transaction(async (tx) => {
        const ep = await endpointRow(tx, ref, id);
        if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
        const replayed = await tx.query<{ id: string }>(
          `UPDATE webhook_messages m SET state = 'pending', round_attempts = 0, next_attempt_at = now(),
             failed_at = NULL, failure_reason = NULL, trigger = 'replay'
           WHERE m.endpoint_id = $1 AND m.state = 'failed' AND m.created_at >= $2
             AND ($3::timestamptz IS NULL OR m.created_at < $3)
             AND EXISTS (SELECT 1 FROM webhook_payloads p WHERE p.id = m.event_id)
           RETURNING id`,
          [id, range.since, range.until ?? null],
        );
        await auditFor(tx, ref, 'webhook_endpoint.replayed_failed', id, {
          ...range,
          messages: replayed.length,
        });
        return replayed;
      });
      if (rows.length) engine.wake();
      return { replayed: rows.length };
    },

    /**
     * "Replay missing": messages for the events in the range that this
     * endpoint would receive now (its filters, the app's installations at the
     * time of each event with their current scopes, current mutes) and never
     * got, at most REPLAY_MISSING_MAX per call (`truncated` says there are more).
     */
    async replayMissing(ref: AppRef, id: string, range: { since: string; until?: string }) {
      assertRange(range.since, range.until);
      const ep = await endpointRow(db, ref, id);
      if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
      const types = events.types();
      const candidates = await db.query(
        // One statement over the range, through the owners' set-based functions
        // (events_between, installations_open_at: inlined by PostgreSQL).
        `SELECT ev.id, ev.type, ev.organization_id, ev.payload, ev.created_at, inst.id AS installation_id
         FROM events_between($5, $6, $3) ev
         JOIN unnest($3::text[], $4::text[]) AS t(type, scope) ON t.type = ev.type
         LEFT JOIN LATERAL (
           SELECT o.id, o.granted_scopes FROM installations_open_at($2, ev.organization_id, ev.created_at) o
           WHERE ev.organization_id IS NOT NULL) inst ON true
         WHERE ev.type <> ALL($7::text[])
           AND (cardinality($8::text[]) = 0 OR ev.type = ANY($8))
           AND CASE
             WHEN ev.organization_id IS NULL THEN ev.payload->>'appId' = $2
             WHEN t.scope IS NULL THEN ev.payload->>'appId' = $2
             ELSE inst.id IS NOT NULL AND t.scope = ANY(inst.granted_scopes)
               AND NOT EXISTS (SELECT 1 FROM webhook_mutes mu WHERE mu.installation_id = inst.id AND mu.event_type = ev.type)
           END
           AND (cardinality($9::text[]) = 0 OR coalesce(ev.payload->>'installationId', inst.id) = ANY($9))
           AND NOT EXISTS (SELECT 1 FROM webhook_messages m WHERE m.event_id = ev.id AND m.endpoint_id = $1)
         ORDER BY ev.id LIMIT $10`,
        [
          id,
          ref.appId,
          types.map((t) => t.type),
          types.map((t) => t.scope),
          range.since,
          range.until ?? null,
          [TEST_EVENT],
          ep.event_types,
          ep.installation_ids,
          REPLAY_MISSING_MAX + 1,
        ],
      );
      const truncated = candidates.length > REPLAY_MISSING_MAX;
      const chosen = candidates.slice(0, REPLAY_MISSING_MAX);
      const created = await db.transaction(async (tx) => {
        const out = await engine.insertMessages(
          tx,
          chosen.map((ev) => ({
            id: ev.id,
            type: ev.type,
            accountId: ev.organization_id,
            data: JSON.stringify(ev.payload),
            occurredAt: ev.created_at,
          })),
          chosen.map((ev) => ({
            event_id: ev.id,
            endpoint_id: id,
            app_id: ref.appId,
            installation_id: ev.organization_id
              ? typeof ev.payload?.installationId === 'string'
                ? ev.payload.installationId
                : ev.installation_id
              : null,
          })),
          'replay',
        );
        await auditFor(tx, ref, 'webhook_endpoint.replayed_missing', id, { ...range, messages: out.length });
        return out;
      });
      if (created.length) engine.wake();
      return { created: created.length, truncated };
    },

    /** Attempts of an endpoint, newest first. */
    async listEndpointAttempts(
      ref: AppRef,
      id: string,
      q: { success?: boolean; since?: string; until?: string; limit: number; cursor?: string },
    ): Promise<Page<WebhookAttempt>> {
      await endpointRow(db, ref, id);
      const after = decodeCursor(q.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_attempts WHERE endpoint_id = $1 AND app_id = $2
           AND ($3::boolean IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR started_at >= $4)
           AND ($5::timestamptz IS NULL OR started_at < $5) AND ($6::text IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7`,
        [
          id,
          ref.appId,
          q.success ?? null,
          q.since ?? null,
          q.until ?? null,
          after ? String(after[0]) : null,
          q.limit + 1,
        ],
      );
      return toPage(rows, q.limit, (r) => [r.id], toAttempt);
    },

    // Messages ---------------------------------------------------------------------

    /** The app's messages, newest first; `state: 'failed'` is the dead-letter list. */
    async listMessages(
      ref: AppRef,
      q: MessageFilters & { limit: number; cursor?: string },
    ): Promise<Page<WebhookMessage>> {
      const after = decodeCursor(q.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_messages WHERE app_id = $1
           AND ($2::text IS NULL OR endpoint_id = $2) AND ($3::text IS NULL OR state = $3)
           AND ($4::text IS NULL OR event_type = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
           AND ($6::timestamptz IS NULL OR created_at < $6) AND ($7::text IS NULL OR id < $7)
         ORDER BY id DESC LIMIT $8`,
        [
          ref.appId,
          q.endpointId ?? null,
          q.state ?? null,
          q.eventType ?? null,
          q.since ?? null,
          q.until ?? null,
          after ? String(after[0]) : null,
          q.limit + 1,
        ],
      );
      return toPage(rows, q.limit, (r) => [r.id], toMessage);
    },

    /** One message with its body as sent. */
    async getMessage(ref: AppRef, id: string): Promise<WebhookMessageDetail> {
      const row = await messageRow(db, ref, id);
      const p = await db.maybeOne('SELECT * FROM webhook_payloads WHERE id = $1', [row.event_id]);
      const payload = p
        ? JSON.parse(
            messageBody({
              eventId: row.event_id,
              type: p.type,
              occurredAt: p.occurred_at,
              accountId: row.account_id,
              installationId: row.installation_id,
              data: p.data,
            }),
          )
        : null;
      return { ...toMessage(row), payload };
    },

    /** Attempts of a message, oldest first. */
    async listAttempts(
      ref: AppRef,
      messageId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<WebhookAttempt>> {
      await messageRow(db, ref, messageId);
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_attempts WHERE message_id = $1 AND app_id = $2 AND ($3::text IS NULL OR id > $3)
         ORDER BY id LIMIT $4`,
        [messageId, ref.appId, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toAttempt);
    },

    /** Sends a message again (a new round of attempts, same webhook-id). 409 while it is pending. */
    async replayMessage(ref: AppRef, id: string): Promise<WebhookMessage> {
      const row = await db.transaction(async (tx) => {
        const m = await messageRow(tx, ref, id, true);
        if (m.state === 'pending') throw conflict('the message is still being delivered');
        const ep = await tx.one('SELECT enabled FROM webhook_endpoints WHERE id = $1', [m.endpoint_id]);
        if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
        const payload = await tx.maybeOne('SELECT 1 FROM webhook_payloads WHERE id = $1', [m.event_id]);
        if (!payload)
          throw new PlazaError('PLAZA_GONE', 'the payload of this message was deleted (retention)');
        const updated = await tx.one(
          `UPDATE webhook_messages SET state = 'pending', round_attempts = 0, next_attempt_at = now(),
             failed_at = NULL, failure_reason = NULL, trigger = 'replay'
           WHERE id = $1 RETURNING *`,
          [id],
        );
        await auditFor(tx, ref, 'webhook_message.replayed', m.endpoint_id, { messageId: id });
        return updated;
      });
      engine.wake();
      return toMessage(row);
    },

    // Mutes (account side) -----------------------------------------------------------

    listMutes,

    /** Replaces the muted event types of an installation (types that need a scope only). */
    async setMutes(ctx: OrgContext, installationId: string, eventTypes: string[]) {
      if (ctx.org.kind !== 'account') throw forbidden('only accounts have installations');
      const inst = await installations.findById(installationId);
      if (!inst || inst.accountId !== ctx.org.id) throw notFound('installation');
      const list = [...new Set(eventTypes)];
      list.forEach((t, i) => {
        const def = knownType(t);
        if (!def) throw invalid(`body.eventTypes.${i}`, `unknown event type ${t}`);
        if (def.scope === null)
          throw invalid(
            `body.eventTypes.${i}`,
            `${t} is part of how apps work (privacy, installs) and cannot be muted`,
          );
      });
      await db.transaction(async (tx) => {
        const before = await tx.query<{ event_type: string }>(
          'SELECT event_type FROM webhook_mutes WHERE installation_id = $1 FOR UPDATE',
          [installationId],
        );
        await tx.query(
          'DELETE FROM webhook_mutes WHERE installation_id = $1 AND event_type <> ALL($2::text[])',
          [installationId, list],
        );
        await tx.query(
          `INSERT INTO webhook_mutes (installation_id, event_type, account_id, created_by)
           SELECT $1, t, $2, $3 FROM unnest($4::text[]) AS t ON CONFLICT DO NOTHING`,
          [installationId, ctx.org.id, ctx.actor.userId, list],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'webhook_mutes.changed',
          targetType: 'installation',
          targetId: installationId,
          data: { appId: inst.appId, from: before.map((r) => r.event_type).sort(), to: list.sort() },
        });
      });
      return listMutes(ctx, installationId);
    },

    /** Starts the delivery pump (worker processes). */
    start: () => engine.start(),
    stop: (timeoutMs?: number) => engine.stop(timeoutMs),
  };
}
