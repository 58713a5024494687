import { type Db, NO_FLUSH, type Queryable } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type { EventsService, EventType, PlazaEvent } from '../events/index.ts';
import { firstDelayMs, type RetryPolicy } from './schedule.ts';

/** An event as its messages carry it: `data` is the payload's JSON. */
export interface MessageEvent {
  id: string;
  type: string;
  accountId: string | null;
  data: string;
  occurredAt: string | Date;
}

/** One message to make: an event for an endpoint (and the installation it concerns). */
export interface Target {
  event_id: string;
  endpoint_id: string;
  app_id: string;
  installation_id: string | null;
}

/** An event as its messages carry it. */
export function messageEvent(e: PlazaEvent): MessageEvent {
  return {
    id: e.id,
    type: e.type,
    accountId: e.organizationId,
    data: JSON.stringify(e.payload),
    occurredAt: e.createdAt,
  };
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

/** Messages: who receives an event (targets) and writing them with their payloads. */
export function createMessageWriter(deps: { db: Db; events: EventsService; policy: RetryPolicy }) {
  const { db, events, policy } = deps;
  let typeMap = new Map<string, EventType>();

  function typeOf(type: string): EventType | undefined {
    let def = typeMap.get(type);
    if (!def) {
      typeMap = new Map(events.types().map((t) => [t.type, t]));
      def = typeMap.get(type);
    }
    return def;
  }

  /**
   * Writes messages for `targets` (each with its queue row) and the payloads
   * of their events, in one statement (webhooks_insert_messages, migration
   * 006; a claim sees all or nothing); idempotent on (event, endpoint)
   * and on the payload. Returns the new messages. Tests and replays go at
   * once; events follow the schedule's first entry. The caller wakes the pump
   * (`wake()`) once its transaction has committed.
   */
  async function insertMessages(
    q: Queryable,
    list: MessageEvent[],
    targets: Target[],
    trigger: 'scheduled' | 'replay' | 'test' = 'scheduled',
  ): Promise<Array<{ id: string }>> {
    if (targets.length === 0) return [];
    const byId = new Map(list.map((e) => [e.id, e]));
    const receiving = [...new Set(targets.map((t) => t.event_id))].map((id) => byId.get(id) as MessageEvent);
    return q.query<{ id: string }>(
      'SELECT * FROM webhooks_insert_messages($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
      [
        receiving.map((e) => e.id),
        receiving.map((e) => e.type),
        receiving.map((e) => e.accountId),
        receiving.map((e) => e.data),
        receiving.map((e) => e.occurredAt),
        targets.map(() => newId('msg')),
        targets.map((t) => t.endpoint_id),
        targets.map((t) => t.app_id),
        targets.map((t) => t.installation_id),
        trigger === 'scheduled' ? firstDelayMs(policy) : 0,
        targets.map((t) => t.event_id),
        trigger,
      ],
      'webhooks_insert_messages',
    );
  }

  /**
   * The messages of committed events, one per receiving endpoint, with their
   * payloads and queue rows; idempotent (a redispatched event makes nothing
   * new). Returns how many were made. Who receives what:
   * - an account event whose type needs a scope: every enabled endpoint of
   *   every app actively installed in the account whose installation was
   *   granted that scope, that takes the type and that installation, and
   *   where the account did not mute the type for that installation. All such
   *   events of a batch are one statement (webhooks_fan_out, migration 009:
   *   the targets through the installations module's inlined SQL function,
   *   and the rows), so a fan-out to thousands of installations is one round
   *   trip;
   * - an account event without a scope (app.installed, privacy requests):
   *   only the app the payload names (`appId`);
   * - an event of no account (endpoint.disabled): the endpoints of the app
   *   the payload names.
   */
  async function fanOutMessages(list: PlazaEvent[]): Promise<number> {
    const scoped: Array<{ event: PlazaEvent; scope: string }> = [];
    const unscoped: PlazaEvent[] = [];
    for (const event of list) {
      const def = typeOf(event.type);
      if (!def) continue;
      if (event.organizationId !== null && def.scope !== null) scoped.push({ event, scope: def.scope });
      else unscoped.push(event);
    }
    let created = 0;
    if (scoped.length) {
      const rows = await db.query<{ id: string }>(
        // Not waiting for the WAL flush (see delivery.ts): the events dispatcher marks the batch later.
        `SELECT f.* FROM ${NO_FLUSH} CROSS JOIN LATERAL webhooks_fan_out($1, $2, $3, $4, $5, $6, $7) f`,
        [
          scoped.map((s) => s.event.id),
          scoped.map((s) => s.event.organizationId),
          scoped.map((s) => s.event.type),
          scoped.map((s) => s.scope),
          scoped.map((s) => JSON.stringify(s.event.payload)),
          scoped.map((s) => s.event.createdAt),
          firstDelayMs(policy),
        ],
        'webhooks_fan_out',
      );
      created += rows.length;
    }
    if (unscoped.length) {
      const targets: Target[] = [];
      for (const event of unscoped) targets.push(...(await unscopedTargetsOf(event)));
      created += (await insertMessages(db, unscoped.map(messageEvent), targets)).length;
    }
    return created;
  }

  async function unscopedTargetsOf(event: PlazaEvent): Promise<Target[]> {
    const p = event.payload as Record<string, unknown>;
    const appId = typeof p.appId === 'string' ? p.appId : null;
    if (!appId) return [];
    if (event.organizationId === null)
      return db.query<Target>(
        `SELECT $3::text AS event_id, e.id AS endpoint_id, e.app_id, NULL::text AS installation_id
         FROM webhook_endpoints e
         WHERE e.app_id = $1 AND e.enabled AND (cardinality(e.event_types) = 0 OR $2 = ANY(e.event_types))`,
        [appId, event.type, event.id],
      );
    const installationId = typeof p.installationId === 'string' ? p.installationId : null;
    return db.query<Target>(
      `WITH inst AS (
         SELECT coalesce($3::text, (SELECT c.id FROM installations_current($1, $4) c)) AS id)
       SELECT $5::text AS event_id, e.id AS endpoint_id, e.app_id, inst.id AS installation_id
       FROM webhook_endpoints e, inst
       WHERE e.app_id = $1 AND e.enabled AND (cardinality(e.event_types) = 0 OR $2 = ANY(e.event_types))
         AND (cardinality(e.installation_ids) = 0 OR inst.id = ANY(e.installation_ids))`,
      [appId, event.type, installationId, event.organizationId, event.id],
    );
  }

  return { insertMessages, fanOutMessages };
}
