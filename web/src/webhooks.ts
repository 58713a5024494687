/**
 * Client for webhooks: an app's endpoints, messages and attempts (developer
 * console) and an account's mutes per installation. Same transport as api.ts.
 */
import { fieldErrorsOf, type Page, request, seg, withQuery } from './api.ts';

export interface WebhookEventType {
  type: string;
  description: string;
  scope: string | null;
  owner: string;
}

export interface WebhookEndpoint {
  id: string;
  appId: string;
  url: string;
  description: string;
  eventTypes: string[];
  installationIds: string[];
  enabled: boolean;
  disabledReason: 'manual' | 'gone' | 'failing' | null;
  disabledAt: string | null;
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

export interface WebhookStats {
  windowHours: number;
  attempts: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  latencyMs: { p50: number | null; p95: number | null };
  messages: { pending: number; delivered: number; failed: number };
}

export interface WebhookSecret {
  secret: string;
  createdAt: string;
  /** Older secrets still signing until they expire (rotation overlap). */
  previous: Array<{ secret: string; createdAt: string; expiresAt: string | null }>;
}

export interface EndpointInput {
  url?: string;
  description?: string;
  eventTypes?: string[];
  /** Empty: every installation of the app. */
  installationIds?: string[];
  enabled?: boolean;
  /** Messages per second; null: no limit. */
  rateLimit?: number | null;
}

/** A time range of replays: `until` absent means up to now. */
export interface ReplayRange {
  since: string;
  until?: string;
}

export interface MessageFilter {
  endpointId?: string | null;
  state?: MessageState | null;
  eventType?: string | null;
  since?: string | null;
  until?: string | null;
  cursor?: string | null;
  limit?: number;
}

/** An active installation of the app, as its developer sees it (the endpoint form's checklist). */
export interface DeveloperInstallation {
  id: string;
  accountId: string;
  /** Null when the account has no name to show. */
  accountName: string | null;
  versionId: string;
  grantedScopes: string[];
  status: 'active' | 'uninstalled';
  createdAt: string;
  uninstalledAt: string | null;
}

export interface WebhookMutes {
  installationId: string;
  appId: string;
  muted: string[];
  mutable: Array<{ type: string; description: string; scope: string }>;
}

const base = (orgId: string, appId: string) => `/v1/organizations/${seg(orgId)}/apps/${seg(appId)}`;
const ep = (orgId: string, appId: string, endpointId: string) =>
  `${base(orgId, appId)}/webhook-endpoints/${seg(endpointId)}`;

export const webhooksApi = {
  /** A page of the app's active installations (100 at most), with account names. */
  installations: (orgId: string, appId: string, cursor?: string | null) =>
    request<Page<DeveloperInstallation>>(
      'GET',
      withQuery(`${base(orgId, appId)}/installations`, { limit: 100, cursor }),
    ),
  eventTypes: () => request<{ data: WebhookEventType[] }>('GET', '/v1/event-types').then((r) => r.data),
  endpoints: (orgId: string, appId: string) =>
    request<Page<WebhookEndpoint>>(
      'GET',
      withQuery(`${base(orgId, appId)}/webhook-endpoints`, { limit: 100 }),
    ),
  endpoint: (orgId: string, appId: string, endpointId: string) =>
    request<WebhookEndpoint>('GET', ep(orgId, appId, endpointId)),
  create: (orgId: string, appId: string, body: EndpointInput) =>
    request<{ endpoint: WebhookEndpoint; secret: string }>(
      'POST',
      `${base(orgId, appId)}/webhook-endpoints`,
      body,
    ),
  update: (orgId: string, appId: string, endpointId: string, body: EndpointInput) =>
    request<WebhookEndpoint>('PATCH', ep(orgId, appId, endpointId), body),
  remove: (orgId: string, appId: string, endpointId: string) =>
    request<unknown>('DELETE', ep(orgId, appId, endpointId)),
  rotate: (orgId: string, appId: string, endpointId: string, overlapHours: number) =>
    request<{ secret: string; previousSecretsExpireAt: string | null }>(
      'POST',
      `${ep(orgId, appId, endpointId)}/secret/rotate`,
      { overlapHours },
    ),
  test: (orgId: string, appId: string, endpointId: string) =>
    request<WebhookMessage>('POST', `${ep(orgId, appId, endpointId)}/test`, {}),
  stats: (orgId: string, appId: string, endpointId: string, hours = 24) =>
    request<WebhookStats>('GET', withQuery(`${ep(orgId, appId, endpointId)}/stats`, { hours })),
  attempts: (orgId: string, appId: string, endpointId: string, cursor?: string | null) =>
    request<Page<WebhookAttempt>>(
      'GET',
      withQuery(`${ep(orgId, appId, endpointId)}/attempts`, { cursor, limit: 50 }),
    ),
  secret: (orgId: string, appId: string, endpointId: string) =>
    request<WebhookSecret>('GET', `${ep(orgId, appId, endpointId)}/secret`),
  replayFailed: (orgId: string, appId: string, endpointId: string, range: ReplayRange) =>
    request<{ replayed: number }>('POST', `${ep(orgId, appId, endpointId)}/replay`, range),
  replayMissing: (orgId: string, appId: string, endpointId: string, range: ReplayRange) =>
    request<{ created: number; truncated: boolean }>(
      'POST',
      `${ep(orgId, appId, endpointId)}/replay-missing`,
      range,
    ),
  messages: (orgId: string, appId: string, filter: MessageFilter) =>
    request<Page<WebhookMessage>>(
      'GET',
      withQuery(`${base(orgId, appId)}/webhook-messages`, { limit: 50, ...filter }),
    ),
  message: (orgId: string, appId: string, messageId: string) =>
    request<WebhookMessage & { payload: unknown }>(
      'GET',
      `${base(orgId, appId)}/webhook-messages/${seg(messageId)}`,
    ),
  messageAttempts: (orgId: string, appId: string, messageId: string) =>
    request<Page<WebhookAttempt>>(
      'GET',
      withQuery(`${base(orgId, appId)}/webhook-messages/${seg(messageId)}/attempts`, { limit: 50 }),
    ),
  replayMessage: (orgId: string, appId: string, messageId: string) =>
    request<WebhookMessage>('POST', `${base(orgId, appId)}/webhook-messages/${seg(messageId)}/replay`, {}),
  mutes: (orgId: string, installationId: string) =>
    request<WebhookMutes>(
      'GET',
      `/v1/organizations/${seg(orgId)}/installations/${seg(installationId)}/webhook-mutes`,
    ),
  setMutes: (orgId: string, installationId: string, eventTypes: string[]) =>
    request<WebhookMutes>(
      'PUT',
      `/v1/organizations/${seg(orgId)}/installations/${seg(installationId)}/webhook-mutes`,
      { eventTypes },
    ),
};

/**
 * Server field errors of an endpoint or replay form, one per form field:
 * `eventTypes.2` goes next to the event types, naming the entry. Installation
 * errors need no entry number: the server's reason names the id, and the
 * installations are a checklist, not a numbered list.
 */
export function endpointFieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, reason] of Object.entries(fieldErrorsOf(err))) {
    const [name, index] = field.split('.');
    const numbered = name !== 'installationIds' && index !== undefined && /^\d+$/.test(index);
    out[name] ??= `${numbered ? `Entry ${Number(index) + 1}: ` : ''}${reason}`;
  }
  return out;
}

/** What the endpoint form edits: the checked installation ids, the rate limit as typed. */
export interface EndpointForm {
  url: string;
  description: string;
  eventTypes: string[];
  /** Empty: every installation of the app. */
  installations: string[];
  rateLimit: string | number;
}

export function endpointForm(e?: WebhookEndpoint): EndpointForm {
  return {
    url: e?.url ?? '',
    description: e?.description ?? '',
    eventTypes: [...(e?.eventTypes ?? [])],
    installations: [...(e?.installationIds ?? [])],
    rateLimit: e?.rateLimit ? String(e.rateLimit) : '',
  };
}

/** The API body of the form: empty lists and an empty rate limit clear them. */
export function endpointInput(f: EndpointForm): EndpointInput {
  // v-model on a number input hands over a number once something is typed.
  const rate = String(f.rateLimit).trim();
  return {
    url: f.url.trim(),
    description: f.description.trim(),
    eventTypes: f.eventTypes,
    installationIds: [...new Set(f.installations)],
    rateLimit: rate ? Number(rate) : null,
  };
}

/** "2 installations · 10 messages/s", or '' for an app-wide endpoint without a limit. */
export function endpointLimits(e: WebhookEndpoint): string {
  const n = e.installationIds.length;
  return [
    n ? `${n === 1 ? '1 installation' : `${n} installations`} only` : '',
    e.rateLimit ? `${e.rateLimit} messages/s at most` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

/** A datetime-local input's value as an ISO timestamp ('' when empty). */
export const localToIso = (local: string): string => (local ? new Date(local).toISOString() : '');

/** "98.5%", or a dash without attempts. */
export function formatRate(rate: number | null): string {
  return rate === null ? '—' : `${Math.round(rate * 1000) / 10}%`;
}

/** Health in words: disabled (and why), failing since, or healthy. */
export function endpointHealth(e: WebhookEndpoint): { label: string; tone: string } {
  if (!e.enabled) {
    const why =
      e.disabledReason === 'failing' ? ' (kept failing)' : e.disabledReason === 'gone' ? ' (410 Gone)' : '';
    return { label: `Disabled${why}`, tone: 'badge-danger' };
  }
  if (e.consecutiveFailures > 0)
    return { label: `Failing (${e.consecutiveFailures} in a row)`, tone: 'badge-warn' };
  if (e.lastSuccessAt) return { label: 'Healthy', tone: 'badge-ok' };
  return { label: 'No deliveries yet', tone: '' };
}

export const messageStateLabels: Record<MessageState, string> = {
  pending: 'Pending',
  delivered: 'Delivered',
  failed: 'Failed',
};
