import type { Tx } from '../../db/index.ts';
import { conflict, invalid, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import { TEST_EVENT } from './delivery.ts';
import {
  type AppRef,
  type EndpointInput,
  iso,
  toEndpoint,
  toMessage,
  type WebhookEndpoint,
  type WebhookMessage,
} from './model.ts';
import { endpointAudit, endpointRow, knownType, type WebhooksParts } from './scoped.ts';
import { newEndpointSecret } from './signing.ts';
import { DestinationRefused, isLoopbackHost, resolveDestination } from './ssrf.ts';

/** An app's endpoints: create, change, delete, their secrets and rotation, test messages, health. */
export function createEndpoints(parts: WebhooksParts) {
  const { db, config, events, audit, installations, engine, box, allowPrivate, lookup } = parts;
  const auditFor = endpointAudit(audit);

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
      if (!knownType(events, t))
        throw invalid(`${field}.${i}`, `unknown event type ${t} (see GET /v1/event-types)`);
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

  async function sealSecret(tx: Tx, endpointId: string, secret: string): Promise<void> {
    await tx.query('INSERT INTO webhook_endpoint_secrets (id, endpoint_id, sealed) VALUES ($1, $2, $3)', [
      newId('whs'),
      endpointId,
      box.seal(secret, endpointId),
    ]);
  }

  return {
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
        // Attempts have no foreign key to their messages (migration 009): they go with the endpoint here.
        await tx.query('DELETE FROM webhook_attempts WHERE endpoint_id = $1', [id]);
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
  };
}
