import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { invalid, notFound } from '../../errors.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { DeliveryEngine } from './delivery.ts';
import type { AppRef } from './model.ts';
import type { SecretBox } from './signing.ts';
import type { Lookup } from './ssrf.ts';

/** What the service's parts (endpoints, message log, replay, mutes) share; the service factory builds it once. */
export interface WebhooksParts {
  db: Db;
  config: Config;
  events: EventsService;
  audit: AuditService;
  installations: InstallationsService;
  engine: DeliveryEngine;
  box: SecretBox;
  allowPrivate: boolean;
  lookup: Lookup;
}

export const knownType = (events: EventsService, type: string) => events.types().find((t) => t.type === type);

// Lookups scoped to one app ----------------------------------------------------

export async function endpointRow(q: Queryable, ref: AppRef, id: string, lock = false) {
  const row = await q.maybeOne(
    `SELECT * FROM webhook_endpoints WHERE id = $1 AND app_id = $2${lock ? ' FOR UPDATE' : ''}`,
    [id, ref.appId],
  );
  if (!row) throw notFound('webhook endpoint');
  return row;
}

export async function messageRow(q: Queryable, ref: AppRef, id: string, lock = false) {
  const row = await q.maybeOne(
    `SELECT * FROM webhook_messages WHERE id = $1 AND app_id = $2${lock ? ' FOR UPDATE' : ''}`,
    [id, ref.appId],
  );
  if (!row) throw notFound('webhook message');
  return row;
}

/** An audit entry about one of the app's endpoints, saying who acted and how (developer or app). */
export const endpointAudit =
  (audit: AuditService) =>
  (tx: Tx, ref: AppRef, action: string, targetId: string, data: Record<string, unknown> = {}) =>
    audit.record(tx, {
      organizationId: ref.organizationId,
      actor: ref.actor,
      action,
      targetType: 'webhook_endpoint',
      targetId,
      data: { appId: ref.appId, via: ref.via, ...data },
    });

export function assertRange(since: string, until: string | undefined) {
  if (until && Date.parse(until) <= Date.parse(since)) throw invalid('body.until', 'must be after since');
}
