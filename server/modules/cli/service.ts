import { createHash, randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { Db } from '../../db/index.ts';
import { listen } from '../../db/listen.ts';
import { conflict, forbidden, notFound, PlazaError } from '../../errors.ts';
import { newId, newSecret } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import { type Actor, hasRole, type OrgContext, ROLE_RANK, type Role } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { EventsService, PlazaEvent } from '../events/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { OAuthService } from '../oauth/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';

/**
 * What the `plaza` CLI needs from the server besides the public API:
 * - device-style sign-in: the CLI asks for a code pair, the person approves
 *   the user code in the web app for one developer organization, the CLI's
 *   next poll gets a personal API key (made then, never stored here);
 * - a live stream of the webhook messages an app would get (server-sent
 *   events), for `plaza webhooks listen`, with no public URL;
 * - test events and installation tokens for development.
 */
export const DEVICE_CODE_TTL_SECONDS = 600;
export const POLL_INTERVAL_SECONDS = 1;
const STREAM_CHANNEL = 'plaza_cli_stream';
const LISTENER_TTL_SECONDS = 60;
const HEARTBEAT_MS = 20_000;
const LISTENING_CACHE_MS = 5_000;
// pg_notify payloads are at most 8000 bytes.
const NOTIFY_MAX_BYTES = 7900;
// No vowels or look-alikes: codes are read aloud and typed.
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** One message of the stream: what Plaza would POST to an endpoint of the app. */
export interface StreamMessage {
  /** The message id (`webhook-id` when re-signed): the event id, unique per installation. */
  id: string;
  eventId: string;
  type: string;
  accountId: string | null;
  installationId: string | null;
  /** The exact body an endpoint would get (Plaza's envelope around the event's data). */
  body: string | null;
  /** Set when the event was too large to pass through the stream. */
  tooLarge?: boolean;
}

export type DeviceLoginState =
  | { status: 'pending' | 'denied' | 'expired' }
  | {
      status: 'approved';
      apiKey: string;
      keyId: string;
      organization: { id: string; name: string };
      user: { id: string; name: string; email: string };
    };

export type CliService = ReturnType<typeof createCliService>;

export function createCliService(deps: {
  db: Db;
  log: Logger;
  apps: AppsService;
  events: EventsService;
  identity: IdentityService;
  organizations: OrganizationsService;
  oauth: OAuthService;
}) {
  const { db, log, apps, events, identity, organizations, oauth } = deps;
  // Streams open in this process, by app.
  const local = new EventEmitter();
  local.setMaxListeners(0);
  let stopListening: Promise<() => Promise<void>> | undefined;

  function userCode(): string {
    let s = '';
    for (let i = 0; i < 8; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
    return `${s.slice(0, 4)}-${s.slice(4)}`;
  }
  const normalizeCode = (code: string) => {
    const c = code.toUpperCase().replace(/[^A-Z]/g, '');
    return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : code.toUpperCase();
  };

  async function pendingByUserCode(code: string) {
    const row = await db.maybeOne('SELECT * FROM cli_device_codes WHERE user_code = $1', [
      normalizeCode(code),
    ]);
    if (!row) throw notFound('sign-in code');
    if (row.expires_at.getTime() < Date.now())
      throw new PlazaError('PLAZA_GONE', 'this sign-in code has expired: run `plaza login` again');
    if (row.status !== 'pending') throw conflict(`this sign-in code was already ${row.status}`);
    return row;
  }

  /** The developer's own app; 404 for any other. */
  async function ownApp(ctx: OrgContext, appId: string) {
    const app = await apps.get(ctx, appId);
    return app;
  }

  // ---- webhook stream ------------------------------------------------------

  function deliverLocal(appId: string, message: StreamMessage) {
    local.emit(appId, message);
  }

  async function publish(appId: string, message: StreamMessage) {
    if (!db.pool) return deliverLocal(appId, message);
    let payload = JSON.stringify({ appId, message });
    if (Buffer.byteLength(payload) > NOTIFY_MAX_BYTES)
      payload = JSON.stringify({ appId, message: { ...message, body: null, tooLarge: true } });
    // Every API process LISTENs and hands it to the streams it holds.
    await db.query('SELECT pg_notify($1, $2)', [STREAM_CHANNEL, payload]);
  }

  /** Event subscriber: the events apps with an open stream would receive, to those streams. */
  // Apps with an open stream, re-read at most every few seconds: the dispatcher calls every
  // subscriber in turn, so when nobody listens this subscriber must cost nothing. Opening a
  // stream anywhere drops the cached set at once (NOTIFY), so a new stream misses nothing.
  let listening: { appIds: string[]; until: number } | undefined;
  async function listeningApps(): Promise<string[]> {
    if (listening && listening.until > Date.now()) return listening.appIds;
    const rows = await db.query<{ app_id: string }>(
      'SELECT DISTINCT app_id FROM cli_stream_listeners WHERE expires_at > now()',
    );
    listening = { appIds: rows.map((r) => r.app_id), until: Date.now() + LISTENING_CACHE_MS };
    return listening.appIds;
  }
  async function listenersChanged() {
    listening = undefined;
    if (db.pool) await db.query('SELECT pg_notify($1, $2)', [STREAM_CHANNEL, '{"listenersChanged":true}']);
  }

  async function fanOut(list: PlazaEvent[]): Promise<void> {
    const appIds = await listeningApps();
    if (appIds.length === 0) return;
    const scopeOf = new Map(events.types().map((t) => [t.type, t.scope]));
    const scoped = list.filter((e) => e.organizationId && scopeOf.get(e.type));
    if (scoped.length) {
      const rows = await db.query<{ idx: string; installation_id: string; app_id: string }>(
        `SELECT ev.idx, i.id AS installation_id, i.app_id
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS ev(account_id, scope, idx)
         JOIN LATERAL installations_active_with_scope(ev.account_id, ev.scope) i ON true
         WHERE i.app_id = ANY($3)`,
        [scoped.map((e) => e.organizationId), scoped.map((e) => scopeOf.get(e.type)), appIds],
      );
      for (const r of rows) {
        const event = scoped[Number(r.idx) - 1];
        await publish(r.app_id, messageOf(event, r.installation_id));
      }
    }
    // Events about one app (app.installed, privacy requests, endpoint.disabled) go to the app they name.
    for (const event of list) {
      if (scopeOf.get(event.type)) continue;
      const p = event.payload as Record<string, unknown>;
      if (typeof p.appId !== 'string' || !appIds.includes(p.appId)) continue;
      const inst = typeof p.installationId === 'string' ? p.installationId : null;
      await publish(p.appId, messageOf(event, inst));
    }
  }

  function messageOf(event: PlazaEvent, installationId: string | null): StreamMessage {
    const body = JSON.stringify({
      id: event.id,
      type: event.type,
      timestamp: new Date(event.createdAt).toISOString(),
      accountId: event.organizationId,
      installationId,
      data: event.payload,
    });
    return {
      id: installationId ? `${event.id}_${installationId}` : event.id,
      eventId: event.id,
      type: event.type,
      accountId: event.organizationId,
      installationId,
      body,
    };
  }

  events.subscribe({ name: 'cli.stream', types: '*', handler: (e) => fanOut([e]), handleBatch: fanOut });

  return {
    /** The developer's own app (404 for any other). */
    appOf: ownApp,

    // ---- device sign-in ----------------------------------------------------

    /** Starts a sign-in: the CLI keeps `deviceCode` (secret) and shows `userCode`. */
    async startDeviceLogin(input: { clientName: string }) {
      const deviceCode = newSecret('plz_dev');
      for (let attempt = 0; ; attempt++) {
        const code = userCode();
        try {
          await db.query(
            `INSERT INTO cli_device_codes (id, device_code_hash, user_code, client_name, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
            [newId('dvc'), sha256(deviceCode), code, input.clientName, DEVICE_CODE_TTL_SECONDS],
          );
          return {
            deviceCode,
            userCode: code,
            expiresIn: DEVICE_CODE_TTL_SECONDS,
            interval: POLL_INTERVAL_SECONDS,
          };
        } catch (err) {
          // A user code already taken (rare): draw another.
          if (attempt < 3 && (err as { code?: string }).code === '23505') continue;
          throw err;
        }
      }
    },

    /** What the approval page shows: the code, the CLI's name and the developer organizations to choose from. */
    async describeUserCode(actor: Actor, code: string) {
      const row = await pendingByUserCode(code);
      const orgs = await organizations.listForUser(actor.userId!);
      return {
        userCode: row.user_code as string,
        clientName: row.client_name as string,
        expiresAt: row.expires_at.toISOString() as string,
        organizations: orgs
          .filter((o: { kind: string }) => o.kind === 'developer')
          .map((o: { id: string; name: string; role: Role }) => ({ id: o.id, name: o.name, role: o.role })),
      };
    },

    /** The signed-in person approves (for one developer organization) or denies a code. */
    async decide(
      actor: Actor,
      code: string,
      input: { decision: 'approve' | 'deny'; organizationId?: string },
    ): Promise<{ status: 'approved' | 'denied' }> {
      if (!actor.userId || actor.apiKeyId)
        throw forbidden('a sign-in code is approved by a signed-in person, not by an API key');
      const row = await pendingByUserCode(code);
      if (input.decision === 'deny') {
        await db.query(
          "UPDATE cli_device_codes SET status = 'denied', user_id = $2 WHERE id = $1 AND status = 'pending'",
          [row.id, actor.userId],
        );
        return { status: 'denied' };
      }
      if (!input.organizationId)
        throw new PlazaError('PLAZA_VALIDATION', 'choose the developer organization the CLI acts in', {
          fields: [{ field: 'body.organizationId', reason: 'required to approve' }],
        });
      const ctx = await organizations.resolveContext(actor, input.organizationId);
      if (ctx.org.kind !== 'developer') throw forbidden('the CLI signs in to a developer organization');
      const updated = await db.maybeOne(
        `UPDATE cli_device_codes SET status = 'approved', user_id = $2, organization_id = $3
         WHERE id = $1 AND status = 'pending' RETURNING id`,
        [row.id, actor.userId, ctx.org.id],
      );
      if (!updated) throw conflict('this sign-in code was decided meanwhile');
      return { status: 'approved' };
    },

    /**
     * The CLI's poll. Once approved, the first poll makes the API key (with
     * the person's role, at most admin) and the code is used up.
     */
    async pollDeviceLogin(deviceCode: string, meta: { ip: string | null; requestId: string | null }) {
      const row = await db.maybeOne(
        'UPDATE cli_device_codes SET last_polled_at = now() WHERE device_code_hash = $1 RETURNING *',
        [sha256(deviceCode)],
      );
      if (!row) throw notFound('device code');
      if (row.status === 'denied') return { status: 'denied' } as DeviceLoginState;
      if (row.status === 'consumed') throw new PlazaError('PLAZA_GONE', 'this sign-in was already completed');
      if (row.expires_at.getTime() < Date.now()) return { status: 'expired' } as DeviceLoginState;
      if (row.status === 'pending') return { status: 'pending' } as DeviceLoginState;
      const taken = await db.maybeOne(
        "UPDATE cli_device_codes SET status = 'consumed' WHERE id = $1 AND status = 'approved' RETURNING id",
        [row.id],
      );
      if (!taken) throw new PlazaError('PLAZA_GONE', 'this sign-in was already completed');
      const user = await identity.getUser(row.user_id);
      const actor: Actor = {
        userId: user.id,
        email: user.email,
        platformRole: user.platformRole,
        ip: meta.ip,
        requestId: meta.requestId,
      };
      const ctx = await organizations.resolveContext(actor, row.organization_id);
      const role: Role = ROLE_RANK[ctx.role] > ROLE_RANK.admin ? 'admin' : ctx.role;
      const { apiKey, secret } = await identity.createApiKey(ctx, {
        name: `plaza CLI (${row.client_name})`.slice(0, 100),
        role,
      });
      return {
        status: 'approved',
        apiKey: secret,
        keyId: apiKey.id,
        organization: { id: ctx.org.id, name: ctx.org.name },
        user: { id: user.id, name: user.name, email: user.email },
      } as DeviceLoginState;
    },

    // ---- webhook stream ----------------------------------------------------

    /**
     * Opens a stream of the app's messages for `onMessage` until `close()`.
     * The subscriber finds them in whichever process dispatches events.
     */
    async openStream(ctx: OrgContext, appId: string, onMessage: (m: StreamMessage) => void) {
      const app = await ownApp(ctx, appId);
      const id = newId('cls');
      const renew = () =>
        db.query(
          `INSERT INTO cli_stream_listeners (id, app_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`,
          [id, app.id, LISTENER_TTL_SECONDS],
        );
      await renew();
      await listenersChanged();
      local.on(app.id, onMessage);
      const timer = setInterval(() => {
        renew().catch((err) => log.warn({ err }, 'cli stream: renewing the listener failed'));
      }, HEARTBEAT_MS);
      timer.unref();
      return {
        app,
        async close() {
          clearInterval(timer);
          local.off(app.id, onMessage);
          await db.query('DELETE FROM cli_stream_listeners WHERE id = $1 OR expires_at < now()', [id]);
        },
      };
    },

    /**
     * Emits a made-up event of `eventType` in one of the developer's test
     * accounts where the app is installed with the type's scope (or the given
     * installation): endpoints and streams get it like any other.
     */
    async trigger(ctx: OrgContext, appId: string, input: { eventType: string; installationId?: string }) {
      const app = await ownApp(ctx, appId);
      const def = events.types().find((t) => t.type === input.eventType);
      if (!def)
        throw new PlazaError(
          'PLAZA_VALIDATION',
          `${input.eventType} is not an event type (GET /v1/event-types)`,
          {
            fields: [{ field: 'body.eventType', reason: 'unknown event type' }],
          },
        );
      if (!def.scope)
        throw new PlazaError(
          'PLAZA_VALIDATION',
          `${def.type} is sent by Plaza itself when it happens; only account events with a scope can be triggered`,
          { fields: [{ field: 'body.eventType', reason: 'not triggerable' }] },
        );
      const testAccounts = await organizations.listTestAccounts(ctx, { limit: 100 });
      const testIds = testAccounts.data.map((a: { id: string }) => a.id);
      const rows = await db.query<{ id: string; account_id: string }>(
        `SELECT i.id, a.account_id FROM unnest($1::text[]) AS a(account_id)
         JOIN LATERAL installations_active_with_scope(a.account_id, $2) i ON true
         WHERE i.app_id = $3 ORDER BY i.id`,
        [testIds, def.scope, app.id],
      );
      const target = input.installationId ? rows.find((r) => r.id === input.installationId) : rows[0];
      if (!target)
        throw conflict(
          input.installationId
            ? `installation ${input.installationId} is not an active installation of this app in one of your test accounts with ${def.scope}`
            : `install the app in one of your test accounts with ${def.scope} first (plaza app status shows how)`,
        );
      const sample = sampleOf(z.toJSONSchema(def.payload, { io: 'input', unrepresentable: 'any' }) as Schema);
      const parsed = def.payload.safeParse(sample);
      if (!parsed.success)
        throw new PlazaError('PLAZA_CONFLICT', `no sample payload could be made for ${def.type}`);
      const eventId = await db.transaction((tx) =>
        events.emit(tx, target.account_id, def.type, parsed.data as Record<string, unknown>),
      );
      return { eventId, eventType: def.type, accountId: target.account_id, installationId: target.id };
    },

    /** Tokens of one of the app's installations, for quick API calls in development. */
    async mintTokens(ctx: OrgContext, appId: string, installationId: string) {
      if (!hasRole(ctx, 'admin')) throw forbidden('minting tokens needs the admin or owner role');
      const app = await ownApp(ctx, appId);
      return oauth.issueInstallationTokens(
        { appId: app.id, clientId: app.clientId },
        installationId,
        ctx.actor,
      );
    },

    /** Forgets sign-in codes a day after they expired, and listeners of streams that went away. */
    async cleanup(): Promise<void> {
      await db.query("DELETE FROM cli_device_codes WHERE expires_at < now() - interval '1 day'");
      await db.query('DELETE FROM cli_stream_listeners WHERE expires_at < now()');
    },

    /** In every API process: stream messages published anywhere reach this process's streams. */
    start() {
      if (!db.pool) return;
      stopListening = listen(db, STREAM_CHANNEL, (payload) => {
        // Empty after each (re)connect: notifications may have been missed, the cached set too.
        if (!payload) {
          listening = undefined;
          return;
        }
        try {
          const parsed = JSON.parse(payload) as {
            appId: string;
            message: StreamMessage;
            listenersChanged?: true;
          };
          if (parsed.listenersChanged) listening = undefined;
          else deliverLocal(parsed.appId, parsed.message);
        } catch (err) {
          log.warn({ err }, 'cli stream: bad notification');
        }
      });
    },
    async stop() {
      await (await stopListening)?.();
    },
  };
}

type Schema = {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minItems?: number;
  minLength?: number;
  anyOf?: Schema[];
  oneOf?: Schema[];
  default?: unknown;
};

/** A plausible value for a JSON schema (test events): the first choice, the example-like value of each format. */
function sampleOf(s: Schema, key = ''): unknown {
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const alt = s.anyOf ?? s.oneOf;
  if (alt?.length) return sampleOf(alt.find((a) => a.type !== 'null') ?? alt[0], key);
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = sampleOf(v, k);
      return out;
    }
    case 'array':
      return s.items && (s.minItems ?? 0) > 0 ? [sampleOf(s.items, key)] : [];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'string':
      return sampleString(s, key);
    default:
      return null;
  }
}

function sampleString(s: Schema, key: string): string {
  if (s.format === 'email' || /email/i.test(key)) return 'ada.lovelace@example.com';
  if (s.format === 'date-time' || /At$/.test(key)) return new Date().toISOString();
  if (s.format === 'uri' || /url$/i.test(key)) return 'https://example.com/';
  if (/id$/i.test(key)) return `test_${randomBytes(6).toString('hex')}`;
  if (/name$/i.test(key)) return 'Ada Lovelace';
  return 'test'.padEnd(s.minLength ?? 0, 'x');
}
