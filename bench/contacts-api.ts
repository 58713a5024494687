/**
 * What the app API costs on top of its query: an app's authenticated
 * `GET /v1/contacts` (JWT verification against the local keys, revocation
 * check, rate limits per installation and per app, input validation, the
 * contact shaping) against the same SQL query behind a bare Koa route with
 * no auth, both over HTTP on this machine, in this one run.
 *
 * A fresh PostgreSQL database; an account with BENCH_CONTACTS contacts (default
 * 5,000); an app registered, reviewed and installed through the consent pages
 * (openid-client exchanges the code). Then BENCH_REQUESTS requests (default
 * 3,000) each way, interleaved in rounds, one at a time (latency p50/p99), and
 * the same again with 16 in flight (throughput). Prints the ratios.
 *
 *   npm run bench -- contacts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import pg from 'pg';
import { createApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createCore } from '../server/core.ts';
import { connectPostgres } from '../server/db/index.ts';
import {
  authorizationUrl,
  browserAgent,
  exchange,
  installByConsent,
  relyingParty,
} from '../test/helpers/oauth.ts';
import type { PlazaServer } from '../test/helpers/plaza.ts';
import { account, person, registerApp } from '../test/helpers/world.ts';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 5000);
const REQUESTS = Math.max(500, Number(process.env.BENCH_REQUESTS ?? 3000));
const ROUND = 100;
const CONCURRENCY = 16;
const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CALLBACK = 'https://bench.example.com/callback';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function get(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${body.slice(0, 200)}`);
  return performance.now() - started;
}

async function main() {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (err) {
    console.error(
      `This benchmark needs PostgreSQL at ${ADMIN_URL} (PLAZA_TEST_PG_URL): ${(err as Error).message}`,
    );
    process.exit(1);
  }
  const dbName = `plaza_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'plaza-bench-'));
  const db = connectPostgres(ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`), 10);

  // Plaza listens first, so its public URL (the OAuth issuer) carries the real port.
  let plazaHandler: http.RequestListener = (_req, res) => res.end();
  const plazaServer = await listen((req, res) => plazaHandler(req, res));
  const config = loadConfig({
    PLAZA_DATA_DIR: dataDir,
    PLAZA_SECRET: 'bench-secret-bench-secret-bench-secret-0',
    PLAZA_PUBLIC_URL: plazaServer.url,
    LOG_LEVEL: 'warn',
    PLAZA_SEED_DEMO: 'false',
    PLAZA_APP_RATE_LIMIT_PER_MINUTE: '1000000',
    PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: '10000000',
  });
  const core = await createCore(config, { db });
  plazaHandler = createApp(core).callback();
  let bareServer: http.Server | undefined;
  try {
    const server = await db.one<{ v: string }>("SELECT current_setting('server_version') AS v");
    const plaza = {
      core,
      baseUrl: plazaServer.url,
      issuer: `${config.baseUrl}/oauth`,
    } as unknown as PlazaServer;
    const owner = await person(plaza, 'Bench Owner');
    const shop = await account(plaza, owner, 'Bench Bakery');
    await db.query(
      `INSERT INTO contacts (id, organization_id, name, email, phone, tags, custom_fields, created_by, updated_by)
       SELECT 'ct_bench' || lpad(i::text, 7, '0'), $1, 'Contact ' || i, 'contact' || i || '@example.test',
              '+1555' || lpad(i::text, 7, '0'), ARRAY['lead', 'tag' || (i % 10)],
              jsonb_build_object('orders', i % 7, 'source', 'import'),
              jsonb_build_object('type', 'user', 'userId', $2::text),
              jsonb_build_object('type', 'user', 'userId', $2::text)
       FROM generate_series(1, $3::int) i`,
      [shop.org.id, owner.user.id, CONTACTS],
    );
    await db.query('VACUUM ANALYZE contacts');
    const app = await registerApp(plaza, { redirectUris: [CALLBACK], scopes: [{ name: 'contacts:read' }] });
    const rp = await relyingParty(plaza, app);
    const start = await authorizationUrl(rp, CALLBACK, 'contacts:read');
    const tokens = await exchange(
      rp,
      await installByConsent(plaza, browserAgent(plaza), start, owner, shop.org.id),
      start,
    );
    console.log(
      `PostgreSQL ${server.v}; ${CONTACTS} contacts in one account; an installed app's token (ES256 JWT, contacts:read).\n`,
    );

    // The baseline: the same query, the same page size, no auth, no validation, rows as they come.
    const bareSql = `SELECT *, lower(name) AS name_key, updated_at::text AS updated_key FROM contacts
      WHERE organization_id = $1 ORDER BY id DESC LIMIT 21`;
    const bare = new Koa();
    bare.use(async (ctx) => {
      const rows = await db.query(bareSql, [shop.org.id]);
      ctx.body = { data: rows.slice(0, 20), nextCursor: rows.length > 20 ? rows[19].id : null };
    });
    const b = await listen(bare.callback());
    bareServer = b.server;

    const ways = {
      plaza: () =>
        get(`${plazaServer.url}/v1/contacts?limit=20`, { authorization: `Bearer ${tokens.access_token}` }),
      baseline: () => get(`${b.url}/contacts`, {}),
    };
    for (let i = 0; i < 300; i++) {
      await ways.plaza();
      await ways.baseline();
    }

    // Latency, one request at a time, interleaved in rounds so drift hits both.
    const samples = { plaza: [] as number[], baseline: [] as number[] };
    for (let done = 0; done < REQUESTS; done += ROUND) {
      for (const way of ['plaza', 'baseline'] as const)
        for (let i = 0; i < ROUND; i++) samples[way].push(await ways[way]());
    }
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((x, y) => x - y);
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    };
    const p = stats(samples.plaza);
    const base = stats(samples.baseline);

    // Throughput with CONCURRENCY requests in flight.
    const throughput = async (fn: () => Promise<number>) => {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next++ < REQUESTS) await fn();
        }),
      );
      return REQUESTS / ((performance.now() - started) / 1000);
    };
    const rps = { plaza: 0, baseline: 0 };
    for (let round = 0; round < 2; round++) {
      rps.baseline = Math.max(rps.baseline, await throughput(ways.baseline));
      rps.plaza = Math.max(rps.plaza, await throughput(ways.plaza));
    }

    const pad = (s: string, n: number) => s.padEnd(n);
    console.log(`${pad('', 44)}${pad('p50', 12)}${pad('p99', 12)}req/s (${CONCURRENCY} in flight)`);
    console.log(
      `${pad('Plaza GET /v1/contacts (app token)', 44)}${pad(ms(p.p50), 12)}${pad(ms(p.p99), 12)}${rps.plaza.toFixed(0)}`,
    );
    console.log(
      `${pad('bare Koa route, same query, no auth', 44)}${pad(ms(base.p50), 12)}${pad(ms(base.p99), 12)}${rps.baseline.toFixed(0)}`,
    );
    console.log(
      `\nPlaza / bare: p50 ${(p.p50 / base.p50).toFixed(2)}x, p99 ${(p.p99 / base.p99).toFixed(2)}x, throughput ${(rps.plaza / rps.baseline).toFixed(2)}x`,
    );
    console.log(
      `(${REQUESTS} requests each way, one at a time, interleaved in rounds of ${ROUND}; then ${REQUESTS} each with ${CONCURRENCY} in flight, best of two)`,
    );
  } finally {
    await new Promise((resolve) => (bareServer ? bareServer.close(resolve) : resolve(undefined)));
    plazaServer.server.closeAllConnections();
    await new Promise((resolve) => plazaServer.server.close(resolve));
    await core.close(1000);
    await db.close();
    if (!process.env.BENCH_KEEP_DB) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } else console.log(`kept database ${dbName}`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
