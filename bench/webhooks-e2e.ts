/**
 * Webhooks end to end, as an app developer sees them: contacts created with
 * `POST /v1/contacts` by an installed app's access token, `contact.created`
 * received by the app's loopback receiver, which verifies every webhook with
 * the standardwebhooks package. Production layout on PostgreSQL + Redis
 * (BullMQ): one API process (PLAZA_ROLE=api) takes the requests, one worker
 * process (PLAZA_ROLE=worker) dispatches the outbox and delivers, both real
 * `server/main.ts` processes with the production retry schedule and poll
 * intervals. Latency is the contact's `createdAt` (as the API answered it)
 * to the webhook's arrival at the receiver.
 *
 * 1. Light load: BENCH_E2E_LIGHT contacts, one at a time (10 ms apart).
 * 2. BENCH_E2E_RATE creates/s for BENCH_E2E_SECONDS s, open loop over a
 *    keep-alive pool of 64 connections; answer times count from when each
 *    create was due, and "reached" is creates answered per second.
 * The baseline in the same run is the API's own answer time for the same
 * creates (what a webhook can at best add nothing to). For a shared machine,
 * where latencies swing with other load, it also prints the CPU each process
 * spent per create (API, worker, PostgreSQL backends, this client), NOTIFYs
 * per create, and where the loaded latency goes (commit -> webhook message
 * written -> first attempt -> received).
 *
 *   npm run bench -- webhooks-e2e      (also run by `npm run bench -- webhooks`)
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379 BENCH_E2E_LIGHT=150 BENCH_E2E_RATE=300 BENCH_E2E_SECONDS=5
 *   BENCH_E2E_CPU_PROF=/tmp/prof   both Plaza processes write a V8 CPU profile there
 *   PLAZA_TEST_PG_URL=postgres://...   a PostgreSQL server with pg_stat_statements preloaded: the
 *     loaded phase's statements per create are printed too
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { bearer, clientToken } from '../test/helpers/oauth.ts';
import {
  killLeftoverPlazas,
  type PlazaProcess,
  spawnPlaza,
  startPlazaServer,
} from '../test/helpers/plaza.ts';
import { receiver, verifyWith } from '../test/helpers/webhooks.ts';
import { withInstalledApp } from '../test/helpers/world.ts';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LIGHT = Number(process.env.BENCH_E2E_LIGHT ?? 150);
const RATE = Number(process.env.BENCH_E2E_RATE ?? 300);
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 5);
const SECRET = 'bench-secret-bench-secret-bench-secret-0123';
const PREFIX = `bench-e2e-${process.pid}`;
const CPU_PROF = process.env.BENCH_E2E_CPU_PROF;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
/** CPU time (user + system, ms) a process has used so far, from /proc; 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}
const NO_LIMITS = {
  PLAZA_RATE_LIMIT_PER_MINUTE: '1000000',
  PLAZA_APP_RATE_LIMIT_PER_MINUTE: '1000000',
  PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: '10000000',
  PLAZA_OAUTH_TOKEN_RATE_LIMIT_PER_MINUTE: '10000000',
};

const hooks = await receiver();
console.log('setting up Plaza (fresh PostgreSQL database, Redis) ...');
const setup = await startPlazaServer({
  workers: false,
  env: {
    PLAZA_SECRET: SECRET,
    REDIS_URL,
    REDIS_PREFIX: PREFIX,
    WEBHOOKS_ALLOW_PRIVATE: 'true',
    ...NO_LIMITS,
  },
});
const installed = await withInstalledApp(setup, {
  redirectUris: ['https://app.example.com/oauth/callback'],
  scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
});
const appToken = await clientToken(setup, installed.app);
const created = await setup.http
  .post('/v1/app/webhook-endpoints')
  .set(bearer(appToken))
  .send({ url: hooks.url, eventTypes: ['contact.created'] });
if (created.status !== 201) throw new Error(`endpoint: ${created.status} ${JSON.stringify(created.body)}`);
const secret: string = created.body.secret;

const env = (role: string) => ({
  PLAZA_ROLE: role,
  DATABASE_URL: setup.database.url as string,
  REDIS_URL,
  REDIS_PREFIX: PREFIX,
  // Tokens were issued for the setup server's address: the API process answers for the same issuer.
  PLAZA_PUBLIC_URL: setup.baseUrl,
  PLAZA_SECRET: SECRET,
  PLAZA_SEED_DEMO: 'false',
  PLAZA_DATA_DIR: setup.core.config.dataDir,
  WEBHOOKS_ALLOW_PRIVATE: 'true',
  LOG_LEVEL: 'info',
  // Names each process's PostgreSQL connections (node-postgres reads it), so their backends' CPU is told apart.
  PGAPPNAME: `plaza-${role}`,
  ...NO_LIMITS,
  // BENCH_E2E_CPU_PROF=<folder>: both processes write a V8 CPU profile there on exit (--cpu-prof).
  ...(CPU_PROF
    ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${CPU_PROF} --cpu-prof-name=${role}-\${pid}.cpuprofile` }
    : {}),
});
console.log('starting an API process and a worker process ...');
const api = await spawnPlaza(env('api'));
const worker: PlazaProcess = await spawnPlaza(env('worker'), { waitForListen: false });
for (let i = 0; !worker.output().includes('Plaza workers running'); i++) {
  if (i > 1200) throw new Error(`the worker did not start:\n${worker.output()}`);
  await sleep(50);
}

const arrivals = new Map<string, number>();
let forged = 0;
const seen = hooks.received;
let checked = 0;
function collect() {
  for (; checked < seen.length; checked++) {
    const r = seen[checked];
    try {
      const event = verifyWith(secret, r) as { type: string; data: { contact: { id: string } } };
      if (event.type === 'contact.created' && !arrivals.has(event.data.contact.id))
        arrivals.set(event.data.contact.id, r.at);
    } catch {
      forged++;
    }
  }
}

// One keep-alive pool to the API, as an app's HTTP client would hold: a bounded number of
// connections (undici; global fetch opens one per request in flight and, once the API lags,
// spends the shared cores on connection set-up and hits connect timeouts).
const client = new Pool(api.url, { connections: 64, pipelining: 1 });

/**
 * Creates one contact through the API process; returns its id, createdAt (ms) and the answer
 * time, counted from `since` (when the open loop meant to send it), so a late send counts.
 */
async function create(n: number, since = performance.now()) {
  const res = await client.request({
    method: 'POST',
    path: '/v1/contacts',
    headers: { ...installed.as, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `Contact ${n}`, email: `c${n}@example.com` }),
  });
  const body = (await res.body.json()) as { id: string; createdAt: string };
  if (res.statusCode !== 201) throw new Error(`POST /v1/contacts: ${res.statusCode} ${JSON.stringify(body)}`);
  return { id: body.id, createdAt: Date.parse(body.createdAt), answerMs: performance.now() - since };
}

async function latencies(list: Array<{ id: string; createdAt: number }>) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    collect();
    if (list.every((c) => arrivals.has(c.id))) break;
    if (Date.now() > deadline) throw new Error('not every contact.created arrived within 120 s');
    await sleep(10);
  }
  return list.map((c) => (arrivals.get(c.id) as number) - c.createdAt);
}

// Warm-up: connections, prepared statements, JIT.
for (let i = 0; i < 20; i++) await create(1_000_000 + i);
await sleep(500);

console.log(`1. light load: ${LIGHT} contacts, one at a time ...`);
const light: Array<{ id: string; createdAt: number; answerMs: number }> = [];
for (let i = 0; i < LIGHT; i++) {
  light.push(await create(i));
  await sleep(10);
}
const lightLat = await latencies(light);

/** PostgreSQL backends serving this benchmark's database (the API's, the worker's, the setup's) and whose they are. */
const backends = async () =>
  await setup.core.db.query<{ pid: number; app: string }>(
    'SELECT pid, application_name AS app FROM pg_stat_activity WHERE datname = current_database()',
  );
/** CPU used so far by each part: the two Plaza processes, this process, PostgreSQL's backends. */
async function cpuNow() {
  const rows = await backends();
  const pgByPid = new Map(rows.map((r) => [r.pid, { ms: cpuMs(r.pid), app: r.app }]));
  const self = process.cpuUsage();
  return {
    api: cpuMs(api.child.pid as number),
    worker: cpuMs(worker.child.pid as number),
    bench: (self.user + self.system) / 1000,
    pgByPid,
  };
}

/**
 * Statements of the loaded phase when the server has pg_stat_statements loaded
 * (shared_preload_libraries; with pg_stat_statements.track = all, statements in
 * triggers and functions too): calls and time executing (waits included) per
 * create of the busiest ones, all processes.
 */
const statements = await setup.core.db
  .query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
  .then(() => setup.core.db.query('SELECT pg_stat_statements_reset()'))
  .then(
    () => true,
    () => false,
  );

console.log(`2. ${RATE} creates/s for ${SECONDS} s ...`);
const cpuBefore = await cpuNow();
// Wake-ups the API process sends the worker's outbox dispatcher (NOTIFY plaza_events), counted here.
const listener = await (setup.core.db.pool as NonNullable<typeof setup.core.db.pool>).connect();
let notifies = 0;
listener.on('notification', (n) => {
  if (n.channel === 'plaza_events') notifies++;
});
await listener.query('LISTEN plaza_events');
const loaded: Array<{ id: string; createdAt: number; answerMs: number }> = [];
const errors: unknown[] = [];
const inflight = new Set<Promise<unknown>>();
const total = RATE * SECONDS;
let lateMax = 0;
const t0 = performance.now();
for (let i = 0; i < total; i++) {
  const due = t0 + (i / RATE) * 1000;
  const wait = due - performance.now();
  if (wait > 1) await sleep(wait);
  lateMax = Math.max(lateMax, performance.now() - due);
  // Answer times count from when the request was due: a client that falls behind still shows it.
  const p = create(LIGHT + i, due).then(
    (c) => loaded.push(c),
    (err) => errors.push(err),
  );
  inflight.add(p);
  p.finally(() => inflight.delete(p));
}
const sentMs = performance.now() - t0;
await Promise.all(inflight);
// Reached: creates answered per second, from the first send to the last answer.
const reached = (loaded.length / (performance.now() - t0)) * 1000;
if (errors.length) throw errors[0] as Error;
const loadedLat = await latencies(loaded);
const cpuAfter = await cpuNow();
await listener.query('UNLISTEN plaza_events');
listener.release();
let pgCpu = 0;
const pgCpuOf = { 'plaza-api': 0, 'plaza-worker': 0, other: 0 };
for (const [pid, { ms, app }] of cpuAfter.pgByPid) {
  const spent = ms - (cpuBefore.pgByPid.get(pid)?.ms ?? 0);
  pgCpu += spent;
  pgCpuOf[app in pgCpuOf ? (app as keyof typeof pgCpuOf) : 'other'] += spent;
}
const perCreate = (ms: number) => (ms / loaded.length).toFixed(2);

/**
 * Where the loaded phase's latency goes, from the rows' own timestamps (one PostgreSQL clock,
 * except the first attempt's start and the arrival, taken by the worker and this process):
 * commit -> webhook message written (outbox wake-up, lease, fan-out), -> first attempt started
 * (the delivery pump), -> received.
 */
async function stages(list: Array<{ id: string }>) {
  const rows = await setup.core.db.query<{ contact: string; message: number; attempt: number }>(
    `SELECT e.payload->'contact'->>'id' AS contact,
            extract(epoch FROM m.created_at - e.created_at) * 1000 AS message,
            extract(epoch FROM a.started_at - e.created_at) * 1000 AS attempt
     FROM events e
     JOIN webhook_messages m ON m.event_id = e.id
     JOIN LATERAL (SELECT min(started_at) AS started_at FROM webhook_attempts WHERE message_id = m.id) a ON true
     WHERE e.type = 'contact.created' AND e.payload->'contact'->>'id' = ANY($1)`,
    [list.map((c) => c.id)],
  );
  const createdAt = new Map(loaded.map((c) => [c.id, c.createdAt]));
  const at = (k: 'message' | 'attempt') => rows.map((r) => Number(r[k]));
  const received = rows.map(
    (r) => (arrivals.get(r.contact) as number) - (createdAt.get(r.contact) as number),
  );
  const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)}, p99 ${pct(xs, 99).toFixed(0)}`;
  return `message written ${fmt(at('message'))} ms; first attempt started ${fmt(at('attempt'))} ms; received ${fmt(received)} ms`;
}
const loadedStages = await stages(loaded);

const line = (label: string, lat: number[], answers: number[]) =>
  console.log(
    `| ${label} | p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms | p50 ${pct(answers, 50).toFixed(0)} ms, p99 ${pct(answers, 99).toFixed(0)} ms |`,
  );
console.log('');
console.log(
  '| contact createdAt → webhook received (API + worker processes, PostgreSQL + Redis) | latency | POST /v1/contacts answered in |',
);
console.log('| --- | --- | --- |');
line(
  `light load, ${LIGHT} contacts one at a time (goal p50 ≤ 20 ms, p99 ≤ 50 ms)`,
  lightLat,
  light.map((c) => c.answerMs),
);
line(
  `${RATE} creates/s for ${SECONDS} s, reached ${reached.toFixed(0)}/s (client sent them in ${(sentMs / 1000).toFixed(2)} s, at most ${lateMax.toFixed(0)} ms late) (goal p99 ≤ 100 ms)`,
  loadedLat,
  loaded.map((c) => c.answerMs),
);
console.log(
  `| CPU per create at ${RATE}/s (ms, until every webhook arrived) | API process ${perCreate(cpuAfter.api - cpuBefore.api)}, worker ${perCreate(cpuAfter.worker - cpuBefore.worker)}, PostgreSQL backends ${perCreate(pgCpu)} (the API's ${perCreate(pgCpuOf['plaza-api'])}, the worker's ${perCreate(pgCpuOf['plaza-worker'])}, others ${perCreate(pgCpuOf.other)}), this process (client, receiver) ${perCreate(cpuAfter.bench - cpuBefore.bench)} | |`,
);
console.log(`| where it goes at ${RATE}/s (from the commit) | ${loadedStages} | |`);
console.log(
  `| round trips at ${RATE}/s | ${(notifies / loaded.length).toFixed(2)} NOTIFY plaza_events per create | |`,
);
if (statements) {
  const top = await setup.core.db.query<{ calls: number; ms: number; query: string }>(
    `SELECT calls::int, total_exec_time AS ms, query FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY total_exec_time DESC LIMIT 12`,
  );
  const calls = await setup.core.db.one<{ n: number; ms: number }>(
    `SELECT sum(calls)::int AS n, sum(total_exec_time) AS ms FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  console.log(
    `statements at ${RATE}/s (pg_stat_statements): ${(calls.n / loaded.length).toFixed(2)} per create, executing ${(calls.ms / loaded.length).toFixed(3)} ms per create; busiest (calls per create, ms per create):`,
  );
  for (const r of top)
    console.log(
      `  ${(r.calls / loaded.length).toFixed(2)}  ${(r.ms / loaded.length).toFixed(3)}  ${r.query.replace(/\s+/g, ' ').slice(0, 150)}`,
    );
}
collect();
console.log(
  `| checks | ${arrivals.size} contacts' webhooks verified (standardwebhooks), ${seen.length - arrivals.size - forged} duplicates or other, ${forged} failed verification |`,
);

api.child.kill('SIGTERM');
worker.child.kill('SIGTERM');
await Promise.all([api.exited, worker.exited]);
await client.close();
killLeftoverPlazas();
await setup.close();
await hooks.close();
