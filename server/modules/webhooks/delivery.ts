import type { KeyObject } from 'node:crypto';
import { type Db, NO_FLUSH, type Queryable, type Tx } from '../../db/index.ts';
import { listen } from '../../db/listen.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import { type Actor, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService, PlazaEvent } from '../events/index.ts';
import type { NotificationsService } from '../notifications/index.ts';
import { ATTEMPT_LATENCY_BOUNDS } from './attempt-days.ts';
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
 * records the results in batches; a batch of successes to a few endpoints
 * claims for the slots it frees in the same round trip (migration 006). A claim sets `next_attempt_at` to the end
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
/**
 * The engine's own writes (claims, results, the fan-out) commit without
 * waiting for their WAL flush (NO_FLUSH; a claim held the advisory lock
 * through it). Nothing is lost if PostgreSQL crashes before the flush: the
 * events are the source of truth (written by their emitters' own, flushed,
 * commits) and are dispatched again until a flushed mark says otherwise; a
 * lost lease or result only makes the message due again, so PostgreSQL
 * crashing can cost a duplicate delivery, never a message.
 */
const NO_FLUSH_CALL = `${NO_FLUSH} CROSS JOIN LATERAL`;
/** NOTIFY channel that makes every pumping process look for due messages now. */
const WAKE_CHANNEL = 'plaza_webhooks_wake';
export const RETENTION_JOB = 'webhooks.retention';
export const TEST_EVENT = 'webhook.test';
export const ENDPOINT_DISABLED_EVENT = 'endpoint.disabled';
/** Results written by one statement, at most. */
const RECORD_BATCH = 500;
/** Claims one process has on their way at once (a second one only for new messages). */
const MAX_CLAIMS = 2;
const LATENCY_BOUNDS = [...ATTEMPT_LATENCY_BOUNDS];
/**
 * A batch of results claims with it when its attempts went to at most this
 * many endpoints: each endpoint adds a health update and a latency counter
 * to the record, which the claim riding along would wait for (a fan-out's
 * batches, one endpoint per attempt, delivered slower that way).
 */
const CLAIM_WITH_ENDPOINTS = 4;
/** How long a batch of results that claims waits for a claim on its way (ms). */
const CLAIM_WAIT_MS = 200;

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

/**
 * A claimed message as the claim statements send it: its fields but the
 * payload in one JSON array (`m`), the payload's data as text beside it
 * (`d`, not escaped into the array). node-postgres made each row of 14
 * columns into an object of 14 properties built one by one (and a Date
 * parsed from text): 10-15 us of CPU per claimed message, against a
 * JSON.parse of the array and an object literal. The time comes as epoch
 * ms rounded down (floor), the Date node-postgres made of the text.
 */
type ClaimRow = {
  m: [
    id: string,
    endpoint_id: string,
    app_id: string,
    event_id: string,
    account_id: string | null,
    installation_id: string | null,
    trigger: ClaimedMessage['trigger'],
    round_attempts: number,
    url: string,
    enabled: boolean,
    secret_ids: string[] | null,
    payload_type: string | null,
    payload_occurred_at: number | null,
  ];
  d: string | null;
};
const CLAIM_COLUMNS = (c: string) =>
  `json_build_array(${c}.id, ${c}.endpoint_id, ${c}.app_id, ${c}.event_id, ${c}.account_id, ${c}.installation_id,
    ${c}.trigger, ${c}.round_attempts, ${c}.url, ${c}.enabled, ${c}.secret_ids, ${c}.payload_type,
    floor(extract(epoch FROM ${c}.payload_occurred_at) * 1000)::float8) AS m, ${c}.payload_data AS d`;

function claimedOf(row: ClaimRow): ClaimedMessage {
  const m = row.m;
  return {
    id: m[0],
    endpoint_id: m[1],
    app_id: m[2],
    event_id: m[3],
    account_id: m[4],
    installation_id: m[5],
    trigger: m[6],
    round_attempts: m[7],
    url: m[8],
    enabled: m[9],
    secret_ids: m[10],
    payload_type: m[11],
    payload_data: row.d,
    payload_occurred_at: m[12] === null ? null : new Date(m[12]),
  };
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
  const { insertMessages, fanOutMessages } = createMessageWriter({ db, events, policy: options.policy });
  // Opened secrets by their row id (rows never change; a rotation adds a row).
  const keys = new Map<string, KeyObject>();

  /**
   * The event subscriber (also the dispatcher's batch fast path): the
   * messages of committed events, one per receiving endpoint. Idempotent:
   * the dispatcher may hand the same events again after a crash.
   */
  async function fanOut(list: PlazaEvent[]): Promise<number> {
    const created = await fanOutMessages(list);
    if (created) wake(true);
    return created;
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
    const rows = await db.query<ClaimRow>(
      `SELECT ${CLAIM_COLUMNS('c')} FROM ${NO_FLUSH_CALL} webhooks_claim($1, $2, $3, $4) c`,
      [limit, options.endpointConcurrency, leaseMs, [...recording]],
      'webhooks_claim',
    );
    return rows.map(claimedOf);
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
  /** The writer is on its way (set and cleared synchronously, unlike `writing`). */
  let writerActive = false;
  /** Its batch on the way claims too (or the batch it is about to take will, likely). */
  let writerClaims = false;

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

  /**
   * Resolves once the attempt's result is in the database. The writer starts
   * on a microtask: the attempt frees its slot first (attempt()), so the
   * batch's claim has room for it.
   */
  function record(message: ClaimedMessage, result: AttemptResult): Promise<void> {
    return new Promise((done, failed) => {
      results.push({ outcome: outcomeOf(message, result), done, failed });
      if (writerActive) return;
      writerActive = true;
      writerClaims = true;
      writing = Promise.resolve()
        .then(writeResults)
        .finally(() => {
          writing = undefined;
        });
    });
  }

  /**
   * Writes the results waiting, a batch per statement. A batch of successes
   * to a few endpoints also claims for the free slots (webhooks_record_claim):
   * one round trip where a claim of its own followed each batch. Such a
   * batch that finds a claim on its way waits for it to answer (at most
   * CLAIM_WAIT_MS; the pump leaves the slots freed meanwhile to the batch),
   * then records and claims in one statement: written alone, it was a second
   * statement beside each claim (0.12 statements per delivery at full speed,
   * most of them a record and a claim side by side). Other batches are
   * written alone (failures: their endpoints' health is checked) and the
   * pump claims meanwhile.
   */
  async function writeResults(): Promise<void> {
    try {
      while (results.length) {
        if (claiming > 0 && started && !stopped && claimable(results)) {
          writerClaims = true;
          await claimsSettled();
        }
        const batch = results.splice(0, RECORD_BATCH);
        const outcomes = batch.map((b) => b.outcome);
        const withClaim = claimable(batch);
        const room = withClaim ? reserveRoom() : 0;
        writerClaims = room > 0;
        if (room === 0 && deferred) {
          deferred = false;
          pump(false, true);
        }
        let claimed: ClaimedMessage[] | null = null;
        try {
          claimed = await writeBatch(outcomes, room);
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.failed(err);
          if (room) log.warn({ err }, 'webhook results and claim failed; trying again shortly');
        }
        if (room) void afterClaim(room, claimed);
      }
    } finally {
      writerActive = false;
      writerClaims = false;
    }
    if (deferred) {
      deferred = false;
      pump();
    }
  }

  /** The next batch of results (successes to a few endpoints) would claim with it. */
  function claimable(list: Array<{ outcome: Outcome }>): boolean {
    const endpoints = new Set<string>();
    for (let i = 0; i < list.length && i < RECORD_BATCH; i++) {
      const o = list[i].outcome;
      if (!o.success) return false;
      endpoints.add(o.message.endpoint_id);
      if (endpoints.size > CLAIM_WITH_ENDPOINTS) return false;
    }
    return true;
  }

  /** Resolves when no claim is on its way, or after CLAIM_WAIT_MS (a claim that hangs does not hold results back). */
  function claimsSettled(): Promise<void> {
    return new Promise((resolve) => {
      const timeout = setTimeout(done, CLAIM_WAIT_MS);
      function done() {
        clearTimeout(timeout);
        const i = settledWaiters.indexOf(done);
        if (i >= 0) settledWaiters.splice(i, 1);
        resolve();
      }
      settledWaiters.push(done);
    });
  }

  /**
   * Writes a batch of results in one statement: the attempts, each message
   * moved on (delivered, next attempt, or failed when its schedule is used
   * up), and each endpoint's health. Then disables endpoints that answered
   * 410 Gone or have been failing for too long.
   */
  async function writeBatch(batch: Outcome[], room: number): Promise<ClaimedMessage[]> {
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
    // Times as ISO text: node-postgres formats a Date in local time by hand, several µs per value.
    const params: unknown[] = [
      batch.map(() => newId('att')),
      batch.map((o) => o.message.id),
      batch.map((o) => o.message.endpoint_id),
      batch.map((o) => o.message.app_id),
      batch.map((o) => o.message.url),
      batch.map((o) => o.result.startedAt.toISOString()),
      batch.map((o) => o.result.durationMs),
      batch.map((o) => o.result.status),
      batch.map((o) => o.success),
      batch.map((o) => o.result.responseBody),
      batch.map((o) => o.result.error),
      batch.map((o) => o.message.trigger),
      batch.map((o) => o.delay),
      batch.map((o) => (o.gone ? 'endpoint_gone' : 'attempts_exhausted')),
      endpoints.map(([id]) => id),
      endpoints.map(([, h]) => h.lastAttemptAt.toISOString()),
      endpoints.map(([, h]) => h.anySuccess),
      endpoints.map(([, h]) => h.failuresAfter),
      endpoints.map(([, h]) => h.firstFailureAfter?.toISOString() ?? null),
      LATENCY_BOUNDS,
    ];
    // With room, the same record and then a claim (successes only: no endpoint to disable, so
    // its rows are the messages claimed, not the endpoints' health).
    const fn = room ? 'webhooks_record_claim' : 'webhooks_record';
    if (room) params.push(room, options.endpointConcurrency, leaseMs, [...recording]);
    const sql = `SELECT ${room ? CLAIM_COLUMNS('r') : 'r.*'} FROM ${NO_FLUSH_CALL} ${fn}(${params.map((_, i) => `$${i + 1}`).join(', ')}) r`;
    // An endpoint (and its messages) deleted between the check and the insert: once more, without it.
    const rows = await db.query(sql, params, fn).catch((err) => {
      if ((err as { code?: string }).code !== '23503') throw err;
      return db.query(sql, params, fn);
    });
    if (room) return (rows as ClaimRow[]).map(claimedOf);
    const gone = new Set(batch.filter((o) => o.gone).map((o) => o.message.endpoint_id));
    for (const id of gone) await disableEndpoint(id, 'gone', SYSTEM_ACTOR);
    for (const r of rows as Array<{ id: string; consecutive_failures: number; failing_ms: number | null }>) {
      if (gone.has(r.id) || health.get(r.id)?.anySuccess) continue;
      if (
        r.consecutive_failures >= options.disableMinFailures &&
        Number(r.failing_ms) >= options.disableAfterMs
      )
        await disableEndpoint(r.id, 'failing', SYSTEM_ACTOR);
    }
    return [];
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
    const recorded = record(message, result);
    posted();
    try {
      await recorded;
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
  /** Slots freed while results were being written: the writer's next batch claims them (or it pumps when done). */
  let deferred = false;
  /** Counts wakes and sleeps: a sleep decided before a wake is not taken. */
  let sleeps = 0;
  /** The result writer waiting for the claims on their way to answer (claimsSettled). */
  const settledWaiters: Array<() => void> = [];
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
  function pump(fresh = false, force = false): void {
    if (stopped) return;
    const room = options.workerConcurrency - inFlight - reserved;
    if (room <= 0) {
      // New messages while claims on their way hold every free slot: they may not see them (a claim
      // riding with results is the longest), so look again when they answer, or the poll finds them.
      if (fresh && claiming > 0) again = true;
      return; // else a finishing attempt wakes the pump
    }
    // A slot freed while results are being written: claimed with them (writeResults).
    if (!fresh && !force && writerActive && writerClaims) {
      deferred = true;
      return;
    }
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

  /** Slots for a claim riding with a batch of results (0: none free, or a claim on its way, which looks again). */
  function reserveRoom(): number {
    if (!started || stopped || claiming > 0) return 0;
    const room = options.workerConcurrency - inFlight - reserved;
    if (room <= 0) return 0;
    claiming++;
    reserved += room;
    deferred = false;
    return room;
  }

  async function claimAndRun(room: number): Promise<void> {
    let claimed: ClaimedMessage[] | null = null;
    try {
      claimed = await claim(room);
    } catch (err) {
      log.warn({ err }, 'webhook claim failed; trying again shortly');
    }
    await afterClaim(room, claimed);
  }

  /**
   * Runs what a claim of `room` slots leased (null: the claim failed), gives
   * the slots back, and decides what the pump does next.
   */
  async function afterClaim(room: number, claimed: ClaimedMessage[] | null): Promise<void> {
    let idle = false;
    let retryMs: number | null = null;
    try {
      if (claimed === null) {
        backlog = false;
        retryMs = Math.min(options.pollMs, 1000);
      } else {
        backlog = claimed.length === room;
        if (claimed.length) {
          const keys = await keysFor(claimed).catch((err) => err as Error);
          for (const message of claimed)
            launch(message, keys instanceof Error ? keys : keys.get(message.endpoint_id));
        } else idle = true;
      }
    } finally {
      claiming--;
      reserved -= room;
      if (claiming === 0) for (const done of [...settledWaiters]) done();
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
