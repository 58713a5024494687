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
 * 2. BENCH_E2E_RATE creates/s for BENCH_E2E_SECONDS s, open loop.
 * The baseline in the same run is the API's own answer time for the same
 * creates (what a webhook can at best add nothing to).
 *
 *   npm run bench -- webhooks-e2e      (also run by `npm run bench -- webhooks`)
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379 BENCH_E2E_LIGHT=150 BENCH_E2E_RATE=300 BENCH_E2E_SECONDS=5
 */
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

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
  ...NO_LIMITS,
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

/** Creates one contact through the API process; returns its id, createdAt (ms) and the answer time. */
async function create(n: number) {
  const t0 = performance.now();
  const res = await fetch(`${api.url}/v1/contacts`, {
    method: 'POST',
    headers: { ...installed.as, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `Contact ${n}`, email: `c${n}@example.com` }),
  });
  const body = (await res.json()) as { id: string; createdAt: string };
  if (res.status !== 201) throw new Error(`POST /v1/contacts: ${res.status} ${JSON.stringify(body)}`);
  return { id: body.id, createdAt: Date.parse(body.createdAt), answerMs: performance.now() - t0 };
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

console.log(`2. ${RATE} creates/s for ${SECONDS} s ...`);
const loaded: Array<{ id: string; createdAt: number; answerMs: number }> = [];
const errors: unknown[] = [];
const inflight = new Set<Promise<unknown>>();
const total = RATE * SECONDS;
const t0 = performance.now();
for (let i = 0; i < total; i++) {
  const wait = (i / RATE) * 1000 - (performance.now() - t0);
  if (wait > 1) await sleep(wait);
  const p = create(LIGHT + i).then(
    (c) => loaded.push(c),
    (err) => errors.push(err),
  );
  inflight.add(p);
  p.finally(() => inflight.delete(p));
}
await Promise.all(inflight);
const reached = (total / (performance.now() - t0)) * 1000;
if (errors.length) throw errors[0] as Error;
const loadedLat = await latencies(loaded);

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
  `${RATE} creates/s for ${SECONDS} s, reached ${reached.toFixed(0)}/s (goal p99 ≤ 100 ms)`,
  loadedLat,
  loaded.map((c) => c.answerMs),
);
collect();
console.log(
  `| checks | ${arrivals.size} contacts' webhooks verified (standardwebhooks), ${seen.length - arrivals.size - forged} duplicates or other, ${forged} failed verification |`,
);

api.child.kill('SIGTERM');
worker.child.kill('SIGTERM');
await Promise.all([api.exited, worker.exited]);
killLeftoverPlazas();
await setup.close();
await hooks.close();
