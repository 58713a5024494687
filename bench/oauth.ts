/**
 * The OAuth provider, two measurements in one run on a fresh PostgreSQL database.
 *
 * 1. Token grants per second: `client_credentials` and `refresh_token` against
 *    Plaza (PostgreSQL adapter, clients from the app registry, hashed client
 *    secrets, installation claims, rotation with the grace bookkeeping) and
 *    against a bare oidc-provider with its in-memory adapter and one static
 *    client, configured alike (ES256 JWT access tokens for one resource,
 *    client_secret_basic, refresh rotation), same machine, same concurrency,
 *    interleaved. Prints requests/s, the ratio bare / Plaza, and Plaza's
 *    database round trips per grant (statements its pool sent while the
 *    grant ran, BEGIN and COMMIT included).
 * 2. Uninstall → token refused across two API processes: two real
 *    `server/main.ts` processes (PLAZA_ROLE=api) on the database behind one
 *    public URL. For each sample an app is installed through process A (the
 *    browser flow), its access token works on process B, an account admin
 *    uninstalls through A, and B is polled until it answers 401. Prints worst
 *    and median, from sending the DELETE and from A's answer.
 *
 *   npm run bench -- oauth
 *   BENCH_REQUESTS=2000 BENCH_CONCURRENCY=8 BENCH_SAMPLES=30 to change the sizes.
 *   BENCH_PROFILE=<dir> writes a CPU profile of each measured phase of part 1
 *   (Plaza and bare apart, <grant>-<server>-<round>.cpuprofile) into <dir>.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import supertest from 'supertest';
import {
  authorizationUrl,
  browserAgent,
  exchange,
  installByConsent,
  relyingParty,
} from '../test/helpers/oauth.ts';
import { killLeftoverPlazas, type PlazaServer, spawnPlaza, startPlazaServer } from '../test/helpers/plaza.ts';
import { account, person, registerApp } from '../test/helpers/world.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 30);
const PROFILE_DIR = process.env.BENCH_PROFILE;
const SECRET = 'bench-secret-bench-secret-bench-secret-0123';
const CALLBACK = 'http://127.0.0.1:9/callback';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Runs `total` requests, `CONCURRENCY` at a time; each worker may carry state (a refresh token chain). */
async function throughput(total: number, workers: Array<() => Promise<void>>): Promise<number> {
  let left = total;
  const started = performance.now();
  await Promise.all(
    workers.map(async (work) => {
      while (left-- > 0) await work();
    }),
  );
  return (total / (performance.now() - started)) * 1000;
}

/** `run` under the CPU profiler when BENCH_PROFILE is set, its profile saved as `<name>.cpuprofile`. */
const inspector = PROFILE_DIR ? new Session() : undefined;
if (inspector && PROFILE_DIR) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  inspector.connect();
  await inspector.post('Profiler.enable');
}
async function profiled<T>(name: string, run: () => Promise<T>): Promise<T> {
  if (!inspector) return run();
  await inspector.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await inspector.post('Profiler.stop');
    writeFileSync(`${PROFILE_DIR}/${name}.cpuprofile`, JSON.stringify(profile));
  }
}

async function post(url: string, auth: string, body: Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const json = (await res.json()) as Record<string, string>;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// --- Plaza ---------------------------------------------------------------------------------
console.log(`setting up Plaza (fresh database), ${CONCURRENCY} installations ...`);
// The token endpoint's per-client rate limit stays on (its cost is part of the measure) but high enough never to refuse.
const plaza = await startPlazaServer({
  workers: false,
  env: { PLAZA_SECRET: SECRET, PLAZA_OAUTH_TOKEN_RATE_LIMIT_PER_MINUTE: '10000000' },
});
const app = await registerApp(plaza, { redirectUris: [CALLBACK], live: false });
const rp = await relyingParty(plaza, app);
const chains: string[] = [];
for (let i = 0; i < CONCURRENCY; i++) {
  const shop = await plaza.core.organizations.createTestAccount(app.developer, { name: `Bench Shop ${i}` });
  const start = await authorizationUrl(rp, CALLBACK, 'contacts:read');
  const tokens = await exchange(
    rp,
    await installByConsent(plaza, browserAgent(plaza), start, app.developerPerson, shop.id),
    start,
  );
  chains.push(tokens.refresh_token!);
}
// Round trips: every statement Plaza's pool sends (a transaction's BEGIN and COMMIT count too).
let roundTrips = 0;
plaza.core.db.pool!.on('acquire', (client) => {
  if ((client as any).counted) return;
  (client as any).counted = true;
  const query = client.query.bind(client);
  client.query = ((...args: Parameters<typeof query>) => {
    roundTrips++;
    return query(...args);
  }) as typeof client.query;
});
/**
 * CPU time so far of the PostgreSQL backends serving the bench database (ms,
 * from /proc; 0 where /proc cannot be read): with this process's own CPU time,
 * what a grant costs whatever else the machine runs at the same time.
 */
const TICK_MS = 10; // USER_HZ = 100 on Linux
async function postgresCpuMs(): Promise<number> {
  const rows = (await plaza.core.db.query(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  )) as Array<{ pid: number }>;
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {}
  }
  return ticks * TICK_MS;
}
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Rate, database round trips and CPU ms (this process, PostgreSQL) per request while `run` goes. */
async function counted(requests: number, run: () => Promise<number>, database = true) {
  const before = roundTrips;
  const pgBefore = database ? await postgresCpuMs() : 0;
  const cpuBefore = cpuMs();
  const rate = await run();
  const cpu = (cpuMs() - cpuBefore) / requests;
  const pgCpu = database ? ((await postgresCpuMs()) - pgBefore) / requests : 0;
  return { rate, perRequest: (roundTrips - before) / requests, cpu, pgCpu };
}

const plazaToken = `${plaza.baseUrl}/oauth/token`;
const plazaAuth = basic(app.clientId, app.clientSecret);

// --- bare oidc-provider, in memory ------------------------------------------------------------
const bareServer = createServer();
await new Promise<void>((resolve) => bareServer.listen(0, '127.0.0.1', resolve));
const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`;
const barePrivate = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  alg: 'ES256',
  use: 'sig',
  kid: 'bare',
};
const bareResource = `${bareUrl}/v1`;
const bare = new Provider(bareUrl, {
  clients: [
    {
      client_id: 'bare',
      client_secret: 'bare-secret',
      grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [barePrivate as any] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => bareResource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'contacts:read',
        audience: bareResource,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  rotateRefreshToken: true,
  expiresWithSession: async () => false,
});
bareServer.on('request', bare.callback());
const bareClient = await bare.Client.find('bare');
const bareChains: string[] = [];
for (let i = 0; i < CONCURRENCY; i++) {
  const grant = new bare.Grant({ accountId: `acct_${i}`, clientId: 'bare' });
  grant.addResourceScope(bareResource, 'contacts:read');
  const grantId = await grant.save();
  const rt = new bare.RefreshToken({
    client: bareClient,
    accountId: `acct_${i}`,
    grantId,
    scope: 'contacts:read',
    resource: bareResource,
    gty: 'authorization_code',
  } as any);
  bareChains.push(await rt.save());
}
const bareToken = `${bareUrl}/token`;
const bareAuth = basic('bare', 'bare-secret');

const cc = (url: string, auth: string) => () =>
  post(url, auth, { grant_type: 'client_credentials' }).then(() => {});
const refreshWorkers = (url: string, auth: string, tokens: string[]) =>
  tokens.map((_, i) => async () => {
    const json = await post(url, auth, { grant_type: 'refresh_token', refresh_token: tokens[i] });
    tokens[i] = json.refresh_token;
  });
const many = (f: () => Promise<void>) => Array.from({ length: CONCURRENCY }, () => f);

// Warm up both, then measure interleaved.
await throughput(100, many(cc(plazaToken, plazaAuth)));
await throughput(100, many(cc(bareToken, bareAuth)));
type Measure = { rate: number; cpu: number; pgCpu: number };
const results: Record<string, { plaza: Measure[]; bare: Measure[]; trips: number[] }> = {
  client_credentials: { plaza: [], bare: [], trips: [] },
  refresh_token: { plaza: [], bare: [], trips: [] },
};
for (let round = 0; round < 2; round++) {
  const c = await profiled(`client_credentials-plaza-${round}`, () =>
    counted(REQUESTS / 2, () => throughput(REQUESTS / 2, many(cc(plazaToken, plazaAuth)))),
  );
  results.client_credentials.plaza.push(c);
  results.client_credentials.trips.push(c.perRequest);
  results.client_credentials.bare.push(
    await profiled(`client_credentials-bare-${round}`, () =>
      counted(REQUESTS / 2, () => throughput(REQUESTS / 2, many(cc(bareToken, bareAuth))), false),
    ),
  );
  const r = await profiled(`refresh_token-plaza-${round}`, () =>
    counted(REQUESTS / 2, () => throughput(REQUESTS / 2, refreshWorkers(plazaToken, plazaAuth, chains))),
  );
  results.refresh_token.plaza.push(r);
  results.refresh_token.trips.push(r.perRequest);
  results.refresh_token.bare.push(
    await profiled(`refresh_token-bare-${round}`, () =>
      counted(
        REQUESTS / 2,
        () => throughput(REQUESTS / 2, refreshWorkers(bareToken, bareAuth, bareChains)),
        false,
      ),
    ),
  );
}
inspector?.disconnect();
console.log(
  `\ntoken grants per second (${REQUESTS} requests each, concurrency ${CONCURRENCY}, mean of 2 rounds)`,
);
const mean = (ms: Measure[], k: keyof Measure) => (ms[0][k] + ms[1][k]) / 2;
for (const [grant, r] of Object.entries(results)) {
  const p = mean(r.plaza, 'rate');
  const b = mean(r.bare, 'rate');
  console.log(
    `  ${grant.padEnd(20)} Plaza ${p.toFixed(0).padStart(6)}/s   bare oidc-provider (memory) ${b
      .toFixed(0)
      .padStart(6)}/s   ratio bare/Plaza ${(b / p).toFixed(2)}   database round trips per grant ${(
      (r.trips[0] + r.trips[1]) / 2
    ).toFixed(1)}`,
  );
}
// CPU per grant does not depend on what else the machine runs (the load generator's own share is in both).
console.log('\nCPU ms per grant: this process (both servers and the load generator), PostgreSQL backends');
for (const [grant, r] of Object.entries(results)) {
  const pc = mean(r.plaza, 'cpu');
  const pg = mean(r.plaza, 'pgCpu');
  const bc = mean(r.bare, 'cpu');
  console.log(
    `  ${grant.padEnd(20)} Plaza ${pc.toFixed(3)} + PostgreSQL ${pg.toFixed(3)}   bare ${bc.toFixed(3)}   ratio ${((pc + pg) / bc).toFixed(2)} (process alone ${(pc / bc).toFixed(2)})`,
  );
}
bareServer.close();

// --- uninstall → refused, two API processes ---------------------------------------------------
const freePort = async () => {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
};
const [portA, portB] = [await freePort(), await freePort()];
const publicUrl = `http://127.0.0.1:${portA}`;
const env = (port: number) => ({
  PORT: String(port),
  PLAZA_ROLE: 'api',
  DATABASE_URL: plaza.database.url!,
  PLAZA_PUBLIC_URL: publicUrl,
  PLAZA_SECRET: SECRET,
  PLAZA_SEED_DEMO: 'false',
  PLAZA_DATA_DIR: plaza.core.config.dataDir,
  LOG_LEVEL: 'info',
  PLAZA_RATE_LIMIT_PER_MINUTE: '1000000',
  PLAZA_APP_RATE_LIMIT_PER_MINUTE: '1000000',
  PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: '1000000',
  PLAZA_OAUTH_TOKEN_RATE_LIMIT_PER_MINUTE: '10000000',
});
console.log('\nstarting two API processes on the database ...');
const [procA, procB] = await Promise.all([spawnPlaza(env(portA)), spawnPlaza(env(portB))]);
try {
  // Process A serves the browser flow and the uninstall; B only checks tokens.
  const viaA = {
    ...plaza,
    baseUrl: procA.url,
    issuer: `${publicUrl}/oauth`,
    http: supertest(procA.url),
  } as PlazaServer;
  const live = await registerApp(plaza, { redirectUris: [CALLBACK] });
  const config = await relyingParty(viaA, live);
  const who = await person(plaza);
  const admin = supertest.agent(procA.url);
  const login = await admin
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  const fromSend: number[] = [];
  const fromAnswer: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const shop = await account(plaza, who, `Uninstall Shop ${i}`);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const tokens = await exchange(
      config,
      await installByConsent(viaA, browserAgent(viaA), start, who, shop.org.id),
      start,
    );
    const installationId = (await plaza.core.installations.findActive(shop.org.id, live.appId))!.id;
    const onB = () =>
      fetch(`${procB.url}/v1/contacts?limit=1`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      }).then((r) => r.status);
    if ((await onB()) !== 200) throw new Error('process B does not accept the fresh token');
    const sent = performance.now();
    const answered = admin
      .delete(`/v1/organizations/${shop.org.id}/installations/${installationId}`)
      .set('x-csrf-token', login.body.csrfToken)
      .then((r) => {
        if (r.status !== 200) throw new Error(`uninstall answered ${r.status}`);
        return performance.now();
      });
    let refusedAt = 0;
    while (!refusedAt) if ((await onB()) === 401) refusedAt = performance.now();
    const answeredAt = await answered;
    fromSend.push(refusedAt - sent);
    fromAnswer.push(Math.max(0, refusedAt - answeredAt));
  }
  console.log(`\nuninstall -> access token refused by the other API process (${SAMPLES} samples)`);
  console.log(
    `  from sending DELETE: worst ${Math.max(...fromSend).toFixed(1)} ms, median ${median(fromSend).toFixed(1)} ms`,
  );
  console.log(
    `  after A answered:    worst ${Math.max(...fromAnswer).toFixed(1)} ms, median ${median(fromAnswer).toFixed(1)} ms`,
  );
} finally {
  procA.child.kill('SIGTERM');
  procB.child.kill('SIGTERM');
  await Promise.all([procA.exited, procB.exited]);
  killLeftoverPlazas();
  await plaza.close();
}
