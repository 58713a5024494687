/**
 * Webhook delivery, three measurements in one run on a fresh PostgreSQL
 * database, every delivery a real signed HTTP POST to a receiver on loopback
 * (WEBHOOKS_ALLOW_PRIVATE=true) that answers 200.
 *
 * 1. Throughput to one receiver: BENCH_MESSAGES messages of one endpoint
 *    (payloads and messages made with the engine's insertMessages in one
 *    statement, then engine.wake()), timed from the wake
 *    to the last delivery seen by the receiver and every message `delivered`
 *    in the database — versus a raw loop that builds the same body, signs it
 *    with signatureHeaders() and POSTs it with undici to the same receiver,
 *    at the same concurrency (the engine's per-endpoint limit, which this
 *    run sets to the worker concurrency). Both loops first run BENCH_WARMUP
 *    messages untimed (JIT, connections). Prints deliveries/s, the ratio, and
 *    CPU per delivery (this process, and the PostgreSQL backends of the
 *    bench database read from /proc) for each loop.
 * 2. Latency at target rates: each of BENCH_RATE events/s for BENCH_SECONDS, each
 *    emitted through core.events in its own transaction over a connection
 *    pool of its own, as API processes emit (one account, one installation,
 *    one endpoint); the payload carries the time taken just
 *    before COMMIT and the receiver computes committed → delivered. Prints
 *    p50/p99/max and the rate actually reached.
 * 3. Fan-out: one event to 1,000 and to 10,000 installations (set-based SQL
 *    seed: one installation and one endpoint per app, every endpoint on the
 *    same receiver, secrets sealed like the service does), timed from COMMIT
 *    until every message has had its first attempt (webhook_messages), and
 *    the growth 10k/1k.
 *
 *   npm run bench -- webhooks
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379 to run the job queue on BullMQ instead of PostgreSQL.
 *   BENCH_MESSAGES=10000 BENCH_WARMUP=1000 BENCH_CONCURRENCY=50 BENCH_RATE=250,500,1000 BENCH_SECONDS=2 BENCH_FANOUT=1000,10000
 *   BENCH_FANOUT=10000,100000 for the growth to 100,000 installations (minutes).
 *   BENCH_PROFILE=1 lists each phase's statements (count, avg, max) and the slowest latency events by stage;
 *   BENCH_MARK=1 prints the engine and raw runs' starts and ends on the clock of `node --cpu-prof` (µs).
 *
 * The latency phases start after 20 events sent at once through the load generator's pool (its
 * connections open and warm, as an API process's are); each phase also prints where the time goes
 * (message written, first attempt started). The fan-out prints CPU per delivery too.
 */

import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { connectPostgres } from '../server/db/index.ts';
import { newId } from '../server/ids.ts';
import { messageBody } from '../server/modules/webhooks/delivery.ts';
import {
  createSecretBox,
  newEndpointSecret,
  secretKey,
  signatureHeaders,
} from '../server/modules/webhooks/signing.ts';
import { startWebhooksPlaza } from '../test/helpers/webhooks.ts';
import { account, person } from '../test/helpers/world.ts';

// 10,000: at 1,500 the raw loop ran 110-200 ms and had not reached its steady rate (1,500: 7,100-11,500/s,
// 10,000: 12,200-13,800/s on this machine), which flattered the ratio about 1.4x (0.50 against 0.30 in one session).
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
/** Messages each loop runs untimed first (JIT, connections); 0: none. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
const RATES = (process.env.BENCH_RATE ?? '250,500,1000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const FANOUT = (process.env.BENCH_FANOUT ?? '1000,10000').split(',').map(Number);
const SECRET = 'bench-secret-bench-secret-bench-secret-0123';
const TYPE = 'bench.ping';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the receiver ----------------------------------------------------------------------------
type OnBody = (json: any, at: number) => void;
const handlers = new Map<string, OnBody>();
let received = 0;
const receiver = createServer(async (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const at = Date.now();
  received++;
  const on = handlers.get(req.url ?? '');
  if (on) on(JSON.parse(Buffer.concat(chunks).toString('utf8')), at);
  res.end('ok');
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

// --- Plaza -----------------------------------------------------------------------------------
console.log('setting up Plaza (fresh database) ...');
const plaza = await startWebhooksPlaza({
  PLAZA_SECRET: SECRET,
  // The production schedule and poll interval; only loopback delivery is test-only.
  PLAZA_WEBHOOKS_TIME_SCALE: '1',
  PLAZA_WEBHOOKS_POLL_MS: '1000',
  PLAZA_WEBHOOKS_WORKER_CONCURRENCY: String(CONCURRENCY),
  PLAZA_WEBHOOKS_ENDPOINT_CONCURRENCY: String(CONCURRENCY),
  // The job queue: PostgreSQL (the default, as tests run) unless BENCH_REDIS_URL asks for BullMQ.
  ...(process.env.BENCH_REDIS_URL
    ? { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_PREFIX: `bench-webhooks-${process.pid}` }
    : {}),
});
const { core } = plaza;
const db = core.db;
const engine = core.webhooks.engine;
const box = createSecretBox(SECRET);
core.events.registerType({
  type: TYPE,
  description: 'benchmark event',
  scope: 'contacts:read',
  owner: 'core',
  payload: z.object({ seq: z.number(), committedAt: z.number(), run: z.string() }),
});

// Statements the worker process sends (db.query on its pool, by prepared name or first words), per phase.
const statements = new Map<string, { n: number; ms: number; max: number }>();
{
  const inner = db.query.bind(db);
  (db as { query: typeof db.query }).query = (async (text: string, params?: unknown[], name?: string) => {
    const key = name ?? text.replace(/\s+/g, ' ').trim().slice(0, 60);
    const t = performance.now();
    try {
      return await inner(text, params, name);
    } finally {
      const s = statements.get(key) ?? { n: 0, ms: 0, max: 0 };
      const ms = performance.now() - t;
      s.n++;
      s.ms += ms;
      s.max = Math.max(s.max, ms);
      statements.set(key, s);
    }
  }) as typeof db.query;
}
async function tableStats() {
  return db.one<{ upd: number; hot: number }>(
    `SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'webhook_messages'`,
  );
}
/** Statements per delivery and HOT updates of a phase (PROFILE=1 also lists the statements). */
async function phaseReport(label: string, deliveries: number, before: { upd: number; hot: number }) {
  await sleep(600); // the statistics collector reports within 500 ms
  const after = await tableStats();
  const total = [...statements.values()].reduce((a, s) => a + s.n, 0);
  const line = `${label}: ${fmt(total / deliveries, 2)} worker statements per delivery; webhook_messages updates ${fmt(after.upd - before.upd)} (${fmt(after.hot - before.hot)} HOT)`;
  profile.push(line);
  if (process.env.BENCH_PROFILE)
    for (const [k, s] of [...statements.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12))
      profile.push(`   ${fmt(s.n)}× ${fmt(s.ms / s.n, 2)} ms avg, max ${fmt(s.max)}  ${k}`);
  statements.clear();
}
const profile: string[] = [];
/** CPU time (ms) of this process and of the PostgreSQL backends serving the bench database (Linux /proc). */
async function cpuNow() {
  const pids = await db.query<{ pid: number; kind: string }>(
    `SELECT pid, coalesce(nullif(backend_type, 'client backend'), left(query, 40)) AS kind
     FROM pg_stat_activity WHERE datname = current_database()`,
  );
  const tick = 10; // ms per clock tick (USER_HZ 100)
  let pg = 0;
  const byPid = new Map<number, { ms: number; kind: string }>();
  for (const { pid, kind } of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * tick;
      pg += ms;
      byPid.set(pid, { ms, kind });
    } catch {
      // not on this machine, or gone
    }
  }
  const u = process.cpuUsage();
  return { node: (u.user + u.system) / 1000, sys: u.system / 1000, pg, byPid };
}
type Cpu = Awaited<ReturnType<typeof cpuNow>>;
const cpuPer = (a: Cpu, b: Cpu, n: number) => {
  // BENCH_PGCPU=1: PostgreSQL CPU per backend (pid, what it ran last or its type), µs per delivery.
  if (process.env.BENCH_PGCPU)
    profile.push(
      `   PostgreSQL CPU per backend (µs per delivery): ${[...b.byPid.entries()]
        .map(([pid, x]) => ({ pid, kind: x.kind, us: ((x.ms - (a.byPid.get(pid)?.ms ?? 0)) / n) * 1000 }))
        .filter((x) => x.us > 0)
        .sort((x, y) => y.us - x.us)
        .map((x) => `${fmt(x.us)} ${x.pid} ${x.kind.replace(/\s+/g, ' ')}`)
        .join('; ')}`,
    );
  return `node ${fmt(((b.node - a.node) / n) * 1000)} µs (${fmt(((b.sys - a.sys) / n) * 1000)} system) + PostgreSQL ${fmt(((b.pg - a.pg) / n) * 1000)} µs`;
};

const owner = await person(plaza, 'Bench Owner');
/** One fake app per endpoint, installed in `accountId` (set-based). Returns the endpoint ids and their secrets. */
async function seed(accountId: string, n: number, path: string) {
  const apps = Array.from({ length: n }, () => newId('app'));
  const endpoints = apps.map(() => newId('whe'));
  const secrets = endpoints.map(() => newEndpointSecret());
  for (let i = 0; i < n; i += 5000) {
    const a = apps.slice(i, i + 5000);
    const e = endpoints.slice(i, i + 5000);
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO installations (id, account_id, app_id, version_id, granted_scopes)
         SELECT u.id, $2, u.app, 'ver_bench', ARRAY['contacts:read'] FROM unnest($1::text[], $3::text[]) AS u(app, id)`,
        [a, accountId, a.map(() => newId('ins'))],
      );
      await tx.query(
        `INSERT INTO webhook_endpoints (id, app_id, organization_id, url)
         SELECT u.id, u.app, 'org_bench_dev', $3 FROM unnest($1::text[], $2::text[]) AS u(app, id)`,
        [a, e, `${base}${path}`],
      );
      await tx.query(
        `INSERT INTO webhook_endpoint_secrets (id, endpoint_id, sealed)
         SELECT u.id, u.endpoint, u.sealed FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, endpoint, sealed)`,
        [e.map(() => newId('whs')), e, e.map((id, j) => box.seal(secrets[i + j], id))],
      );
    });
  }
  return { endpoints, secrets };
}

// The load: events committed over connections of their own, as API processes commit them, so
// the load generator does not queue for the worker's connection pool (DATABASE_POOL_SIZE).
const emitDb = connectPostgres(plaza.database.url as string, 20);

/** Emits one event in its own transaction; returns its id and the time taken just before COMMIT. */
async function emit(accountId: string, seq: number, run: string) {
  let committedAt = 0;
  const id = await emitDb.transaction(async (tx) => {
    committedAt = Date.now();
    return core.events.emit(tx, accountId, TYPE, { seq, committedAt, run });
  });
  return { id, committedAt };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// --- 1. throughput ---------------------------------------------------------------------------
console.log(`1. throughput: ${fmt(MESSAGES)} messages to one endpoint, concurrency ${CONCURRENCY} ...`);
const tpAccount = await account(plaza, owner, 'Throughput Shop');
const tp = await seed(tpAccount.org.id, 1, '/throughput');
const tpEndpoint = tp.endpoints[0];
const tpApp = (
  await db.one<{ app_id: string }>('SELECT app_id FROM webhook_endpoints WHERE id = $1', [tpEndpoint])
).app_id;
let tpSeen = 0;
handlers.set('/throughput', () => {
  tpSeen++;
});

/** n messages of the endpoint made in one statement, then engine.wake(); resolves once all are delivered. */
async function engineRun(n: number) {
  const events = Array.from({ length: n }, (_, i) => ({
    id: newId('evt'),
    type: TYPE,
    accountId: tpAccount.org.id,
    data: JSON.stringify({ seq: i, committedAt: 0, run: 'throughput' }),
    occurredAt: new Date(),
  }));
  const queued = await engine.insertMessages(
    db,
    events,
    events.map((e) => ({ event_id: e.id, endpoint_id: tpEndpoint, app_id: tpApp, installation_id: null })),
  );
  if (queued.length !== n) throw new Error(`made ${queued.length} of ${n} messages`);
  const seen0 = tpSeen;
  const delivered0 = (
    await db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_messages WHERE endpoint_id = $1 AND state = 'delivered'`,
      [tpEndpoint],
    )
  ).n;
  const cpu0 = await cpuNow();
  const t0 = performance.now();
  if (process.env.BENCH_MARK) console.error(`MARK engine start ${process.hrtime.bigint() / 1000n}`);
  engine.wake();
  await until('throughput deliveries', () => tpSeen - seen0 >= n);
  const receivedMs = performance.now() - t0;
  await until(
    'throughput messages delivered',
    async () =>
      (
        await db.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_messages WHERE endpoint_id = $1 AND state = 'delivered'`,
          [tpEndpoint],
        )
      ).n >=
      delivered0 + n,
  );
  const ms = performance.now() - t0;
  if (process.env.BENCH_MARK) console.error(`MARK engine end ${process.hrtime.bigint() / 1000n}`);
  return { receivedMs, ms, duplicates: tpSeen - seen0 - n, cpu: cpuPer(cpu0, await cpuNow(), n) };
}

// Raw loop: the same bodies, signed, POSTed with undici at the same concurrency.
const raw = new Agent({ connections: CONCURRENCY });
const rawKey = secretKey(tp.secrets[0]);
let rawSeen = 0;
handlers.set('/raw', () => {
  rawSeen++;
});
async function rawRun(n: number) {
  let left = n;
  const seen0 = rawSeen;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) {
        const msgId = newId('msg');
        const body = messageBody({
          eventId: newId('evt'),
          type: TYPE,
          occurredAt: new Date(),
          accountId: tpAccount.org.id,
          installationId: null,
          data: JSON.stringify({ seq: left, committedAt: 0, run: 'raw' }),
        });
        const res = await request(`${base}/raw`, {
          method: 'POST',
          dispatcher: raw,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Plaza-Webhooks/1.0',
            ...signatureHeaders([rawKey], msgId, Math.floor(Date.now() / 1000), body),
          },
          body,
        });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`raw POST: ${res.statusCode}`);
      }
    }),
  );
  const ms = performance.now() - t0;
  if (rawSeen - seen0 !== n) throw new Error(`raw loop: the receiver saw ${rawSeen - seen0} of ${n} POSTs`);
  return ms;
}

// Warm-up of both loops (JIT, connections) before either is timed: the loop timed second
// otherwise runs on code and connections the first one warmed.
if (WARMUP > 0) {
  await rawRun(WARMUP);
  await engineRun(WARMUP);
}
let phaseStats = await tableStats();
statements.clear();
const engineResult = await engineRun(MESSAGES);
const engineCpu = engineResult.cpu;
const engineReceivedMs = engineResult.receivedMs;
const engineMs = engineResult.ms;
const duplicates = engineResult.duplicates;
await phaseReport('1. throughput', MESSAGES, phaseStats);
const engineRate = (MESSAGES / engineMs) * 1000;

const rawCpu0 = await cpuNow();
if (process.env.BENCH_MARK) console.error(`MARK raw start ${process.hrtime.bigint() / 1000n}`);
const rawMs = await rawRun(MESSAGES);
if (process.env.BENCH_MARK) console.error(`MARK raw end ${process.hrtime.bigint() / 1000n}`);
const rawCpu = cpuPer(rawCpu0, await cpuNow(), MESSAGES);
const rawRate = (MESSAGES / rawMs) * 1000;
await raw.close();

// --- 2. latency at target rates -------------------------------------------------------------
// The load generator's connections are opened and used first (one event each, all at once, untimed):
// else the first phase also times 20 backends starting on this machine's 2 cores (the first 30-40
// events of the first phase waited 100-150 ms), which an API process's warm pool does not do.
{
  const warmAccount = await account(plaza, owner, 'Warm-up Shop');
  await seed(warmAccount.org.id, 1, '/warmup');
  let warmSeen = 0;
  handlers.set('/warmup', () => {
    warmSeen++;
  });
  await Promise.all(Array.from({ length: 20 }, (_, i) => emit(warmAccount.org.id, i, 'warmup')));
  await until('warm-up deliveries', () => warmSeen >= 20);
}
// The goal's rate last; lower rates show where the latency bends.
const lat: Array<{
  rate: number;
  total: number;
  reached: number;
  latencies: number[];
  written: number[];
  started: number[];
}> = [];
for (const rate of RATES) {
  const total = rate * SECONDS;
  console.log(`2. latency: ${fmt(rate)} events/s for ${SECONDS} s (${fmt(total)} events) ...`);
  const latAccount = await account(plaza, owner, `Latency Shop ${rate}`);
  await seed(latAccount.org.id, 1, `/latency-${rate}`);
  const latencies: number[] = [];
  const received = new Map<number, number>();
  handlers.set(`/latency-${rate}`, (json, at) => {
    latencies.push(at - json.data.committedAt);
    received.set(json.data.seq, at - json.data.committedAt);
  });
  const emitErrors: unknown[] = [];
  phaseStats = await tableStats();
  statements.clear();
  const inflight = new Set<Promise<unknown>>();
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    // Open loop: event i is due at i / rate seconds, whether or not earlier ones committed.
    const due = (i / rate) * 1000;
    const wait = due - (performance.now() - t0);
    if (wait > 1) await sleep(wait);
    const p = emit(latAccount.org.id, i, 'latency').catch((err) => emitErrors.push(err));
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const emitMs = performance.now() - t0;
  await until('latency deliveries', () => latencies.length >= total);
  if (emitErrors.length) throw emitErrors[0] as Error;
  await until(
    'latency rows recorded',
    async () =>
      (
        await db.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
         WHERE e.url = $1 AND m.state = 'delivered'`,
          [`${base}/latency-${rate}`],
        )
      ).n >= total,
  );
  // Where the time goes, from the commit: message written (its row's created_at), first attempt started.
  const stages = await db.query<{ seq: number; written: number; started: number }>(
    `SELECT (p.data::json->>'seq')::int AS seq,
       extract(epoch FROM m.created_at) * 1000 - (p.data::json->>'committedAt')::float8 AS written,
       extract(epoch FROM a.started_at) * 1000 - (p.data::json->>'committedAt')::float8 AS started
     FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
     JOIN webhook_payloads p ON p.id = m.event_id JOIN webhook_attempts a ON a.message_id = m.id
     WHERE e.url = $1`,
    [`${base}/latency-${rate}`],
  );
  lat.push({
    rate,
    total,
    reached: (total / emitMs) * 1000,
    latencies,
    written: stages.map((r) => Number(r.written)),
    started: stages.map((r) => Number(r.started)),
  });
  if (process.env.BENCH_PROFILE) {
    const bySeq = new Map(stages.map((r) => [r.seq, r]));
    const slow = [...received.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    profile.push(
      `2. slowest at ${fmt(rate)}/s (seq: written / started / received ms): ${slow
        .map(
          ([seq, ms]) =>
            `${seq}: ${fmt(Number(bySeq.get(seq)?.written))} / ${fmt(Number(bySeq.get(seq)?.started))} / ${ms}`,
        )
        .join(', ')}`,
    );
  }
  await phaseReport(`2. latency at ${fmt(rate)}/s`, total, phaseStats);
}

// --- 3. fan-out ------------------------------------------------------------------------------
const fan: Array<{ n: number; firstAttemptsMs: number; receivedMs: number; seedMs: number; cpu: string }> =
  [];
for (const n of FANOUT) {
  console.log(`3. fan-out: seeding ${fmt(n)} installations and endpoints ...`);
  const acct = await account(plaza, owner, `Fan-out Shop ${n}`);
  const s0 = performance.now();
  await seed(acct.org.id, n, `/fan-${n}`);
  const seedMs = performance.now() - s0;
  let seen = 0;
  let lastAt = 0;
  handlers.set(`/fan-${n}`, (_json, at) => {
    seen++;
    lastAt = at;
  });
  phaseStats = await tableStats();
  statements.clear();
  const cpu0 = await cpuNow();
  const { id, committedAt } = await emit(acct.org.id, 0, `fan-${n}`);
  // A big fan-out takes minutes on a busy machine: the wait grows with n.
  await until(`fan-out ${n} received`, () => seen >= n, Math.max(120_000, n * 10));
  await until(
    `fan-out ${n} first attempts`,
    async () =>
      (
        await db.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM webhook_messages WHERE event_id = $1 AND attempts >= 1',
          [id],
        )
      ).n >= n,
  );
  const cpu = cpuPer(cpu0, await cpuNow(), n);
  await phaseReport(`3. fan-out to ${fmt(n)}`, n, phaseStats);
  const done = await db.one<{ last: Date }>(
    'SELECT max(last_attempt_at) AS last FROM webhook_messages WHERE event_id = $1',
    [id],
  );
  fan.push({
    n,
    // The last first attempt's start as recorded by the engine, and the last POST seen by the receiver.
    firstAttemptsMs: done.last.getTime() - committedAt,
    receivedMs: lastAt - committedAt,
    seedMs,
    cpu,
  });
}

// --- report ----------------------------------------------------------------------------------
const stats = await db.one<{ failed: number; attempts: number; messages: number }>(
  `SELECT count(*) FILTER (WHERE state <> 'delivered')::int AS failed, sum(attempts)::int AS attempts,
     count(*)::int AS messages FROM webhook_messages`,
);
console.log('');
console.log('| measure | value |');
console.log('| --- | --- |');
console.log(
  `| 1. engine → receiver, ${fmt(MESSAGES)} msgs, 1 endpoint, concurrency ${CONCURRENCY} | ${fmt(engineRate)} deliveries/s (last POST received after ${fmt(engineReceivedMs)} ms, all rows delivered after ${fmt(engineMs)} ms) |`,
);
console.log(
  `| 1. raw sign + undici POST, same receiver, concurrency ${CONCURRENCY} | ${fmt(rawRate)} deliveries/s |`,
);
console.log(`| 1. ratio engine / raw (goal ≥ 0.7×) | ${fmt(engineRate / rawRate, 2)}× |`);
console.log(`| 1. CPU per delivery (engine; raw) | ${engineCpu}; ${rawCpu} |`);
for (const l of lat)
  console.log(
    `| 2. committed → delivered at ${fmt(l.rate)}/s target (${fmt(l.total)} events, reached ${fmt(l.reached)}/s) | p50 ${fmt(pct(l.latencies, 50))} ms, p99 ${fmt(pct(l.latencies, 99))} ms, max ${fmt(Math.max(...l.latencies))} ms (goal at 1,000/s: p50 ≤ 15 ms, p99 ≤ 50 ms) |`,
  );
for (const l of lat)
  console.log(
    `| 2. where it goes at ${fmt(l.rate)}/s (from the commit) | message written p50 ${fmt(pct(l.written, 50))}, p99 ${fmt(pct(l.written, 99))} ms; first attempt started p50 ${fmt(pct(l.started, 50))}, p99 ${fmt(pct(l.started, 99))} ms |`,
  );
for (const f of fan)
  console.log(
    `| 3. fan-out to ${fmt(f.n)} installations: commit → all first attempts | ${fmt(f.firstAttemptsMs)} ms (last POST received ${fmt(f.receivedMs)} ms; ${fmt((f.n / f.receivedMs) * 1000)} deliveries/s; seed ${fmt(f.seedMs)} ms; CPU per delivery ${f.cpu}) |`,
  );
for (let i = 1; i < fan.length; i++)
  console.log(
    `| 3. growth ${fmt(fan[i].n)} / ${fmt(fan[i - 1].n)} (${fmt(fan[i].n / fan[i - 1].n)}× the installations) | ${fmt(fan[i].firstAttemptsMs / fan[i - 1].firstAttemptsMs, 2)}× |`,
  );
for (const line of profile) console.log(line);
console.log(
  `| checks | ${fmt(stats.messages)} messages, ${fmt(stats.attempts)} attempts, ${stats.failed} not delivered; ${duplicates} duplicate POSTs in 1; ${fmt(received)} POSTs received in all |`,
);

await emitDb.close();
await plaza.close();
receiver.closeAllConnections();
receiver.close();
