import type { Actor } from '../../tenancy.ts';

/** The webhooks module's DTOs and how its rows become them. */
export interface AppRef {
  readonly appId: string;
  readonly appName: string;
  /** The developer organization that owns the app. */
  readonly organizationId: string;
  readonly actor: Actor;
  readonly via: 'developer' | 'app';
}

export interface WebhookEndpoint {
  id: string;
  appId: string;
  url: string;
  description: string;
  /** Empty: every event type the app may receive. */
  eventTypes: string[];
  /** Empty: every installation of the app. */
  installationIds: string[];
  enabled: boolean;
  disabledReason: 'manual' | 'gone' | 'failing' | null;
  disabledAt: string | null;
  /** Messages per second; null: no limit. */
  rateLimit: number | null;
  failingSince: string | null;
  consecutiveFailures: number;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type MessageState = 'pending' | 'delivered' | 'failed';

export interface WebhookMessage {
  id: string;
  endpointId: string;
  appId: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  installationId: string | null;
  state: MessageState;
  trigger: 'scheduled' | 'replay' | 'test';
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  failedAt: string | null;
  failureReason: string | null;
  createdAt: string;
}

export interface WebhookMessageDetail extends WebhookMessage {
  /** The body as sent (parsed); null once the payload retention deleted it. */
  payload: unknown | null;
}

export interface WebhookAttempt {
  id: string;
  messageId: string;
  endpointId: string;
  url: string;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  success: boolean;
  responseBody: string | null;
  error: string | null;
  trigger: 'scheduled' | 'replay' | 'test';
}

export interface EndpointInput {
  url: string;
  description?: string;
  eventTypes?: string[];
  installationIds?: string[];
  enabled?: boolean;
  rateLimit?: number | null;
}

export interface MessageFilters {
  endpointId?: string;
  state?: MessageState;
  eventType?: string;
  since?: string;
  until?: string;
}

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const toEndpoint = (r: any): WebhookEndpoint => ({
  id: r.id,
  appId: r.app_id,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  installationIds: r.installation_ids,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  disabledAt: iso(r.disabled_at),
  rateLimit: r.rate_limit,
  failingSince: iso(r.failing_since),
  consecutiveFailures: r.consecutive_failures,
  lastAttemptAt: iso(r.last_attempt_at),
  lastSuccessAt: iso(r.last_success_at),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export const toMessage = (r: any): WebhookMessage => ({
  id: r.id,
  endpointId: r.endpoint_id,
  appId: r.app_id,
  eventId: r.event_id,
  eventType: r.event_type,
  accountId: r.account_id,
  installationId: r.installation_id,
  state: r.state,
  trigger: r.trigger,
  attempts: r.attempts,
  nextAttemptAt: iso(r.next_attempt_at),
  lastAttemptAt: iso(r.last_attempt_at),
  lastStatus: r.last_status,
  lastError: r.last_error,
  deliveredAt: iso(r.delivered_at),
  failedAt: iso(r.failed_at),
  failureReason: r.failure_reason,
  createdAt: r.created_at.toISOString(),
});

export const toAttempt = (r: any): WebhookAttempt => ({
  id: r.id,
  messageId: r.message_id,
  endpointId: r.endpoint_id,
  url: r.url,
  startedAt: r.started_at.toISOString(),
  durationMs: r.duration_ms,
  statusCode: r.status_code,
  success: r.success,
  responseBody: r.response_body,
  error: r.error,
  trigger: r.trigger,
});

export interface EventTypeInfo {
  type: string;
  description: string;
  scope: string | null;
  owner: string;
  schema: Record<string, unknown>;
}
