/**
 * Client for webhooks: an app's endpoints, messages and attempts (developer
 * console) and an account's mutes per installation. Same transport as api.ts.
 */
import { type FormQuery, fieldErrorsOf, type Page, request, seg, withQuery } from './api.ts';
import type {
  components,
  DeveloperInstallation,
  QueryOf,
  ResponseOf,
  WebhookAttempt,
  WebhookEndpoint,
  WebhookEventType,
  WebhookMessage,
  WebhookMutes,
} from './generated/openapi.ts';

type Schemas = components['schemas'];
type Ep = '/v1/organizations/{orgId}/apps/{appId}/webhook-endpoints/{endpointId}';

export type {
  DeveloperInstallation,
  WebhookAttempt,
  WebhookEndpoint,
  WebhookEventType,
  WebhookMessage,
  WebhookMutes,
} from './generated/openapi.ts';

export type MessageState = WebhookMessage['state'];
export type WebhookStats = Schemas['WebhookEndpointStats'];
export type WebhookSecret = Schemas['WebhookEndpointSecret'];
export type EndpointInput = Schemas['WebhookEndpointPatch'];
/** A time range of replays: `until` absent means up to now. */
export type ReplayRange = Schemas['WebhookReplayRange'];
export type MessageFilter = FormQuery<
  QueryOf<'/v1/organizations/{orgId}/apps/{appId}/webhook-messages', 'get'>
>;

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
    request<ResponseOf<'/v1/organizations/{orgId}/apps/{appId}/webhook-endpoints', 'post'>>(
      'POST',
      `${base(orgId, appId)}/webhook-endpoints`,
      body,
    ),
  update: (orgId: string, appId: string, endpointId: string, body: EndpointInput) =>
    request<WebhookEndpoint>('PATCH', ep(orgId, appId, endpointId), body),
  remove: (orgId: string, appId: string, endpointId: string) =>
    request<unknown>('DELETE', ep(orgId, appId, endpointId)),
  rotate: (orgId: string, appId: string, endpointId: string, overlapHours: number) =>
    request<ResponseOf<`${Ep}/secret/rotate`, 'post'>>(
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
    request<ResponseOf<`${Ep}/replay`, 'post'>>('POST', `${ep(orgId, appId, endpointId)}/replay`, range),
  replayMissing: (orgId: string, appId: string, endpointId: string, range: ReplayRange) =>
    request<ResponseOf<`${Ep}/replay-missing`, 'post'>>(
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
    request<Schemas['WebhookMessageDetail']>(
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
