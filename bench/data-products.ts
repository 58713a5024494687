/**
 * Data products: a refresh of the shipped `weekly_new_contacts` product over
 * BENCH_ACCOUNTS opted-in accounts (default 1,000) × BENCH_EVENTS recorded
 * events each (default 1,000: a million input rows over the last four weeks)
 * on PostgreSQL, and the p50/p99 of an app's query of the released figures.
 *
 * Baselines, measured in the same run on the same database:
 * - refresh: the bare GROUP BY that counts each account's events per week,
 *   the least work any refresh of this source must do;
 * - query: the app API's `GET /v1/account` with a token of the same app,
 *   the cheapest authenticated app route (JWT check, rate limits, one read).
 *
 *   npm run bench -- data-products
 */
import { type PlazaServer, startPlazaServer } from '../test/helpers/plaza.ts';
import { signInWithPlatformRole, withInstalledApp } from '../test/helpers/world.ts';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 2000);
const PRODUCT = 'weekly_new_contacts';
const VERTICALS = ['dental-clinic', 'hair-salon', 'restaurant', 'gym'];
const REGIONS = ['europe', 'north-america'];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function main() {
  let plaza: PlazaServer | undefined;
  try {
    plaza = await startPlazaServer({
      workers: false,
      env: {
        PLAZA_PLUGINS: 'data-products',
        LOG_LEVEL: 'warn',
        PLAZA_APP_RATE_LIMIT_PER_MINUTE: '1000000',
        PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: '10000000',
      },
    });
    const { db } = plaza.core;
    const server = await db.one<{ v: string }>("SELECT current_setting('server_version') AS v");
    await db.query(
      `INSERT INTO data_products_profiles (organization_id, vertical, region)
       SELECT 'acct_bench_' || i, ($2::text[])[1 + i % 4], ($3::text[])[1 + (i / 4) % 2] FROM generate_series(1, $1::int) i`,
      [ACCOUNTS, VERTICALS, REGIONS],
    );
    await db.query(
      `INSERT INTO data_products_opt_ins (product, organization_id, opted_in_at)
       SELECT $2, 'acct_bench_' || i, now() - interval '60 days' FROM generate_series(1, $1::int) i`,
      [ACCOUNTS, PRODUCT],
    );
    const seeded = performance.now();
    await db.query(
      `INSERT INTO data_products_inputs (event_id, organization_id, source, occurred_at)
       SELECT 'evt_bench_' || a || '_' || e, 'acct_bench_' || a, 'contacts.created',
              now() - (random() * interval '27 days')
         FROM generate_series(1, $1::int) a, generate_series(1, $2::int) e`,
      [ACCOUNTS, EVENTS],
    );
    await db.query('VACUUM ANALYZE data_products_inputs');
    console.log(
      `PostgreSQL ${server.v}; ${ACCOUNTS.toLocaleString('en')} opted-in accounts × ${EVENTS.toLocaleString('en')} events = ${(ACCOUNTS * EVENTS).toLocaleString('en')} input rows (seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s)\n`,
    );

    const operator = await signInWithPlatformRole(plaza, 'admin');
    const refresh = async () => {
      const res = await operator.agent
        .post(`/v1/data-products/products/${PRODUCT}/refresh`)
        .set('x-csrf-token', operator.csrf);
      if (res.status !== 200) throw new Error(`refresh answered ${res.status}: ${res.text}`);
      return res.body;
    };
    const bare = () =>
      db.query(
        `SELECT organization_id, date_trunc('week', occurred_at AT TIME ZONE 'UTC') AS week, count(*)
           FROM data_products_inputs WHERE source = 'contacts.created' GROUP BY 1, 2`,
      );
    const refreshes: number[] = [];
    const bares: number[] = [];
    let summary: any;
    for (let i = 0; i < 3; i++) {
      bares.push(await timed(bare));
      refreshes.push(await timed(async () => (summary = await refresh())));
    }
    const cells = summary.periods.map(
      (p: any) => `${p.period}: ${p.cells} cells, ${p.suppressed} suppressed`,
    );
    console.log(`refresh (${summary.periods.length} weeks; ${cells.join('; ')})`);
    console.log(
      `  refresh median ${ms(median(refreshes))}   bare GROUP BY median ${ms(median(bares))}   ratio ${(median(refreshes) / median(bares)).toFixed(2)}x\n`,
    );

    const reader = await withInstalledApp(plaza, {
      name: 'Bench Reader',
      scopes: [{ name: `data_${PRODUCT}:read` }, { name: 'account:read' }],
    });
    const headers = { authorization: `Bearer ${reader.accessToken}` };
    const get = async (url: string) => {
      const started = performance.now();
      const res = await fetch(`${plaza!.baseUrl}${url}`, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      return performance.now() - started;
    };
    const lastWeek = summary.periods[summary.periods.length - 2].period;
    const ways = {
      query: () => get(`/v1/data-products/${PRODUCT}/query?period=${lastWeek}`),
      baseline: () => get('/v1/account'),
    };
    // Warm up (the first query pays the release), then interleave rounds of 100.
    for (let i = 0; i < 50; i++) for (const way of Object.values(ways)) await way();
    const times = { query: [] as number[], baseline: [] as number[] };
    for (let done = 0; done < QUERIES; done += 100)
      for (const [name, way] of Object.entries(ways))
        for (let i = 0; i < 100; i++) times[name as keyof typeof times].push(await way());
    const q = times.query.sort((a, b) => a - b);
    const b = times.baseline.sort((a, b) => a - b);
    console.log(`query of a release (${QUERIES} sequential, over HTTP)`);
    console.log(
      `  query    p50 ${ms(percentile(q, 50))}  p99 ${ms(percentile(q, 99))}\n  baseline p50 ${ms(percentile(b, 50))}  p99 ${ms(percentile(b, 99))}  (GET /v1/account)`,
    );
    console.log(
      `  ratio p50 ${(percentile(q, 50) / percentile(b, 50)).toFixed(2)}x  p99 ${(percentile(q, 99) / percentile(b, 99)).toFixed(2)}x   goal: query p99 ≤ 20 ms`,
    );
  } finally {
    await plaza?.close();
  }
}

await main();
