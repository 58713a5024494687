import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { killLeftoverPlazas, type PlazaProcess, type PlazaServer, spawnPlaza } from '../helpers/plaza.ts';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.ts';
import {
  type Received,
  type Receiver,
  receiver,
  startWebhooksPlaza,
  verifyWith,
  WEBHOOK_ENV,
  webhookApp,
} from '../helpers/webhooks.ts';
import { account, installApp, type Person, person } from '../helpers/world.ts';

/**
 * Webhook delivery under faults: 10,000 messages
 * (FAULTS_MESSAGES for quick runs) to receivers that fail 20% of the time at
 * random (500, 503, dropped connections) and sometimes hang past the
 * timeout; the worker process is killed with SIGKILL twice while it
 * delivers, and Redis (a private redis-server, no persistence) is restarted
 * once, losing everything it held. At the end every message is delivered or
 * dead-lettered, none is lost, and duplicates are counted and reported.
 *
 * The API side is an in-test core that runs no workers; the worker is a real
 * `server/main.ts` process with PLAZA_ROLE=worker on the same PostgreSQL
 * database and Redis. Events are emitted through the core's events service,
 * so the worker does the fan-out and the delivery. A small share of messages
 * (chosen by a hash of the message id) is refused on every attempt, so that
 * dead-lettering happens in the run too.
 */
const MESSAGES = Number(process.env.FAULTS_MESSAGES ?? 10_000);
const RECEIVERS = 4;
const EVENTS = Math.ceil(MESSAGES / RECEIVERS);
const EXPECTED = EVENTS * RECEIVERS;
/** How long the run may take to settle once the worker starts. */
const SETTLE_MS = Number(process.env.FAULTS_SETTLE_MS ?? 8 * 60_000);

const EVENT_TYPE = 'contact.created';
/** The default schedule: eight attempts, about a second in all at this time scale. */
const SCHEDULE = '0,5s,5m,30m,2h,5h,10h,10h';
const ATTEMPTS = SCHEDULE.split(',').length;

/** Shared by the in-test API core and every worker process. */
const FAULT_ENV: Record<string, string> = {
  ...WEBHOOK_ENV,
  PLAZA_WEBHOOKS_RETRY_SCHEDULE: SCHEDULE,
  // A hang costs one timeout, not the default 15 s.
  PLAZA_WEBHOOKS_TIMEOUT_MS: '1000',
  // Endpoints fail a fifth of the time on purpose: they must not be disabled for it.
  PLAZA_WEBHOOKS_DISABLE_MIN_FAILURES: '100000',
  PLAZA_WEBHOOKS_DISABLE_AFTER_HOURS: String(24 * 365),
  // Longest a worker waits before looking for due messages (retries after a restart come sooner).
  PLAZA_WEBHOOKS_POLL_MS: '200',
  // A job whose worker was killed runs again after a few seconds, not a minute.
  PLAZA_JOBS_LEASE_MS: '2000',
};

/** What receivers answer, drawn per request: 20% failures, 2% hangs, the rest 200. */
const FAILURE_MIX = { status500: 0.07, status503: 0.07, drop: 0.06, hang: 0.02 };

/** One draw from FAILURE_MIX. */
function draw(): 'ok' | '500' | '503' | 'drop' | 'hang' {
  const roll = Math.random();
  let edge = 0;
  for (const [kind, share] of [
    ['500', FAILURE_MIX.status500],
    ['503', FAILURE_MIX.status503],
    ['drop', FAILURE_MIX.drop],
    ['hang', FAILURE_MIX.hang],
  ] as const) {
    edge += share;
    if (roll < edge) return kind;
  }
  return 'ok';
}

/** Messages the receivers refuse on every attempt (about 0.8%): they must end dead-lettered. */
const doomed = (messageId: string) => createHash('sha256').update(messageId).digest()[0] < 2;

type Answer = 'ok' | '500' | '503' | 'drop' | 'hang' | 'doomed' | 'bad-signature';

/** What the receivers saw, keyed by `webhook-id` (the message id). */
const tally = {
  posts: 0,
  answers: { ok: 0, '500': 0, '503': 0, drop: 0, hang: 0, doomed: 0, 'bad-signature': 0 } as Record<
    Answer,
    number
  >,
  /** Message ids answered 2xx, with how many 2xx answers each got. */
  acked: new Map<string, number>(),
  /** POSTs of a message id that had already been answered 2xx. */
  duplicates: 0,
  /** POSTs per message id. */
  postsOf: new Map<string, number>(),
  /** sha256 of the first body per message id: every attempt must carry the same bytes. */
  bodyOf: new Map<string, string>(),
  changedBodies: 0,
};

/** Answers one request per FAILURE_MIX after checking its signature; records everything in `tally`. */
async function answer(secret: string, req: Received, res: ServerResponse) {
  const id = req.headers['webhook-id'];
  tally.posts++;
  tally.postsOf.set(id, (tally.postsOf.get(id) ?? 0) + 1);
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const firstBody = tally.bodyOf.get(id);
  if (firstBody === undefined) tally.bodyOf.set(id, bodyHash);
  else if (firstBody !== bodyHash) tally.changedBodies++;
  if (tally.acked.has(id)) tally.duplicates++;
  const reply = (kind: Answer, status: number) => {
    tally.answers[kind]++;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(kind);
  };
  try {
    verifyWith(secret, req);
  } catch {
    return reply('bad-signature', 401);
  }
  if (doomed(id)) return reply('doomed', 500);
  const drawn = draw();
  if (drawn === '500' || drawn === '503') return reply(drawn, Number(drawn));
  if (drawn === 'drop') {
    tally.answers.drop++;
    res.destroy();
    return;
  }
  if (drawn === 'hang') {
    // Never answers: the engine's timeout ends the request.
    tally.answers.hang++;
    await new Promise<void>((resolve) => res.on('close', () => resolve()));
    return;
  }
  tally.acked.set(id, (tally.acked.get(id) ?? 0) + 1);
  reply('ok', 200);
}

let redis: RedisServer;
let plaza: PlazaServer;
let owner: Person;
let shop: OrgContext;
const receivers: Receiver[] = [];
const workers: PlazaProcess[] = [];
let workerEnv: Record<string, string>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startWorker(): Promise<PlazaProcess> {
  const worker = await spawnPlaza(workerEnv, { waitForListen: false });
  workers.push(worker);
  const deadline = Date.now() + 60_000;
  while (!worker.output().includes('Plaza workers running')) {
    if (worker.child.exitCode !== null)
      throw new Error(`worker exited (${worker.child.exitCode}) before running:\n${worker.output()}`);
    if (Date.now() > deadline) throw new Error(`worker did not start within 60 s:\n${worker.output()}`);
    await sleep(50);
  }
  return worker;
}

async function killWorker(worker: PlazaProcess): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
  expect(worker.child.signalCode).toBe('SIGKILL');
}

interface Progress {
  total: number;
  pending: number;
  delivered: number;
  failed: number;
  /** Events the dispatcher has not handed to the webhooks yet. */
  undispatched: number;
}

async function progress(): Promise<Progress> {
  return plaza.core.db.one<Progress>(
    `SELECT count(*)::int AS total, count(*) FILTER (WHERE state = 'pending')::int AS pending,
       count(*) FILTER (WHERE state = 'delivered')::int AS delivered,
       count(*) FILTER (WHERE state = 'failed')::int AS failed,
       (SELECT count(*)::int FROM events WHERE dispatched_at IS NULL) AS undispatched
     FROM webhook_messages`,
  );
}

/** Nothing pending, nothing left to dispatch and no new message for this long: the run is over. */
const IDLE_MS = 15_000;

/**
 * Polls the message counts until `done` says so. A run that went idle short
 * of it (messages never made) ends the wait at once rather than at the
 * deadline: `stalled` throws, or returns where it stopped for the assertions.
 */
async function until(
  what: string,
  done: (p: Progress) => boolean,
  deadline: number,
  stalled: 'throw' | 'return' = 'throw',
): Promise<Progress> {
  let last = -1;
  let idleSince = Date.now();
  for (;;) {
    const p = await progress();
    if (done(p)) return p;
    if (p.pending > 0 || p.undispatched > 0 || p.total !== last) idleSince = Date.now();
    last = p.total;
    const idle = Date.now() - idleSince > IDLE_MS;
    if (idle && stalled === 'return') return p;
    if (idle || Date.now() > deadline) {
      const tail = workers.at(-1)?.output().slice(-4000) ?? '';
      throw new Error(
        `${idle ? 'the run went idle' : 'timed out'} waiting for ${what}: ${JSON.stringify(p)} of ${EXPECTED} ` +
          `expected, ${tally.posts} POSTs received\nlast worker output:\n${tail}`,
      );
    }
    await sleep(100);
  }
}

/** Emits the events in transactions of 250, as contacts created in the shop (payloads as the contacts service makes them). */
async function emitEvents(): Promise<void> {
  const { db, events } = plaza.core;
  for (let from = 0; from < EVENTS; from += 250) {
    await db.transaction(async (tx) => {
      for (let i = from; i < Math.min(EVENTS, from + 250); i++) {
        const at = new Date().toISOString();
        await events.emit(tx, shop.org.id, EVENT_TYPE, {
          accountId: shop.org.id,
          contact: {
            id: `con_fault_${i}`,
            accountId: shop.org.id,
            name: `Contact ${i}`,
            email: `contact.${i}@example.com`,
            phone: null,
            tags: ['faults'],
            customFields: {},
            createdAt: at,
            updatedAt: at,
          },
          source: { type: 'user', userId: owner.user.id },
        });
      }
    });
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
  const prefix = `plaza-faults-${randomBytes(4).toString('hex')}`;
  plaza = await startWebhooksPlaza(
    { ...FAULT_ENV, REDIS_URL: redis.url, REDIS_PREFIX: prefix },
    { workers: false },
  );
  if (!plaza.database.url)
    throw new Error('the fault test needs PostgreSQL (a worker process shares the database)');
  workerEnv = {
    ...FAULT_ENV,
    PLAZA_ROLE: 'worker',
    DATABASE_URL: plaza.database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    PLAZA_SECRET: plaza.core.secret,
    PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-faults-')),
    PLAZA_SEED_DEMO: 'false',
    LOG_LEVEL: 'info',
  };
  owner = await person(plaza, 'Faye Faults');
  shop = await account(plaza, owner, 'Fault Line Shop');
  const app = await webhookApp(plaza, 'Fault Finder', ['contacts:read']);
  await installApp(plaza, app, shop.org.id, ['contacts:read']);
  for (let i = 0; i < RECEIVERS; i++) {
    const r = await receiver();
    receivers.push(r);
    const res = await plaza.http
      .post('/v1/app/webhook-endpoints')
      .set(app.as)
      .send({ url: r.url, description: `fault receiver ${i + 1}`, eventTypes: [EVENT_TYPE] })
      .expect(201);
    const secret: string = res.body.secret;
    r.respond((req, out) => answer(secret, req, out));
  }
}, 120_000);

afterAll(async () => {
  killLeftoverPlazas();
  await plaza?.close();
  for (const r of receivers) await r.close();
  await redis?.stop();
});

it(
  `${EXPECTED} messages through failing and hanging receivers, two worker SIGKILLs and a Redis restart: ` +
    'each delivered or dead-lettered, none lost, duplicates counted',
  async ({ annotate }) => {
    const deadline = Date.now() + SETTLE_MS;
    const settled = (p: Progress) => p.delivered + p.failed;
    let worker = await startWorker();
    await emitEvents();
    const faults: string[] = [];
    const fault = async (name: string, atShare: number, act: () => Promise<void>) => {
      const p = await until(`${atShare * 100}% settled`, (x) => settled(x) >= atShare * EXPECTED, deadline);
      // The fault must hit a run in progress, or it proves nothing.
      expect(settled(p), `messages left to settle when ${name}`).toBeLessThan(EXPECTED);
      await act();
      faults.push(`${name} at ${settled(p)}/${EXPECTED} settled`);
      console.log(`faults: ${faults.at(-1)} (${p.pending} pending, ${tally.posts} POSTs so far)`);
    };

    await fault('worker SIGKILL 1', 0.2, async () => {
      await killWorker(worker);
      worker = await startWorker();
    });
    await fault('Redis restart', 0.45, () => redis.restart());
    await fault('worker SIGKILL 2', 0.7, async () => {
      await killWorker(worker);
      worker = await startWorker();
    });

    const end = await until(
      'every message delivered or dead-lettered',
      (p) => p.total >= EXPECTED && p.pending === 0,
      deadline,
      'return',
    );
    worker.child.kill('SIGTERM');
    await worker.exited;

    const { db } = plaza.core;
    const rows = await db.query<{
      id: string;
      state: string;
      attempts: number;
      failure_reason: string | null;
    }>('SELECT id, state, attempts, failure_reason FROM webhook_messages');
    const events = await db.one<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE type = $1', [
      EVENT_TYPE,
    ]);
    const endpoints = await db.query<{ enabled: boolean }>('SELECT enabled FROM webhook_endpoints');
    const delivered = rows.filter((r) => r.state === 'delivered');
    const failed = rows.filter((r) => r.state === 'failed');
    const attempts = rows.reduce((sum, r) => sum + r.attempts, 0);
    const stateOf = new Map(rows.map((r) => [r.id, r.state]));

    const report =
      `faults: ${EXPECTED} messages (${EVENTS} events x ${RECEIVERS} endpoints): ${delivered.length} delivered, ` +
      `${failed.length} dead-lettered, ${tally.duplicates} duplicates ` +
      `(${[...tally.acked.values()].filter((n) => n > 1).length} messages answered 2xx more than once), ` +
      `${attempts} attempts recorded, ${tally.posts} POSTs received ` +
      `(${Object.entries(tally.answers)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}); ${faults.join('; ')}`;
    console.log(report);
    await annotate(report);

    // Every event fanned out to every endpoint, and every message ended.
    expect(events.n).toBe(EVENTS);
    expect(end.total).toBe(EXPECTED);
    expect(rows).toHaveLength(EXPECTED);
    expect(rows.filter((r) => r.state === 'pending')).toEqual([]);
    expect(delivered.length + failed.length).toBe(EXPECTED);
    // None lost: each message marked delivered was answered 2xx by its receiver at least once ...
    expect(delivered.filter((r) => !tally.acked.has(r.id)).map((r) => r.id)).toEqual([]);
    // ... and each message a receiver answered 2xx is marked delivered.
    expect([...tally.acked.keys()].filter((id) => stateOf.get(id) !== 'delivered')).toEqual([]);
    // Dead letters used up the schedule (the refused messages among them); no endpoint was disabled.
    expect(failed.filter((r) => r.failure_reason !== 'attempts_exhausted' || r.attempts < ATTEMPTS)).toEqual(
      [],
    );
    expect(rows.filter((r) => doomed(r.id) && r.state !== 'failed').map((r) => r.id)).toEqual([]);
    expect(endpoints.every((e) => e.enabled)).toBe(true);
    // Every request was signed with its endpoint's secret, and every attempt of a message carried the same body.
    expect(tally.answers['bad-signature']).toBe(0);
    expect(tally.changedBodies).toBe(0);
    // Only the run's messages arrived; duplicates are counted (at least once: not asserted away).
    expect([...tally.postsOf.keys()].filter((id) => !stateOf.has(id))).toEqual([]);
    const extraOks = [...tally.acked.values()].reduce((sum, n) => sum + n - 1, 0);
    expect(tally.duplicates).toBeGreaterThanOrEqual(extraOks);
  },
  SETTLE_MS + 2 * 60_000,
);
