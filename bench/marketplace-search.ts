/**
 * Marketplace search latency with 10,000 listings. A fresh PostgreSQL
 * database is seeded through marketplace.publish (the path a version going
 * live takes), in batches of one transaction each. Then the same searches run
 * two ways, interleaved, in this one run:
 *   - Plaza: marketplace.search (full text over a weighted tsvector with a GIN
 *     index, ranked by ts_rank, one page with the fields the API returns);
 *   - baseline: plain SQL `ILIKE '%term%'` over name, tagline and description
 *     on the same table, same columns, same page size, by popularity.
 * Prints p50/p99 per query term and the ratio baseline / Plaza.
 *
 *   npm run bench -- marketplace       (or npm run bench:marketplace)
 *   BENCH_LISTINGS=10000 BENCH_QUERIES=300 to change the sizes; BENCH_KEEP_DB=1 keeps the database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../server/config.ts';
import { createCore } from '../server/core.ts';
import { connectPostgres } from '../server/db/index.ts';
import type { ListingInput } from '../server/modules/marketplace/service.ts';

const LISTINGS = Number(process.env.BENCH_LISTINGS ?? 10_000);
const QUERIES = Math.max(200, Number(process.env.BENCH_QUERIES ?? 300));
const BATCH = 500;
const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// Deterministic text: the same seed gives the same 10,000 listings on every run.
let seed = 0x5eed;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
/** Skewed pick: early entries far more often, like real topic popularity. */
const pickSkewed = <T>(xs: readonly T[]): T => xs[Math.floor(rand() ** 2.2 * xs.length)];
const some = <T>(xs: readonly T[], n: number): T[] => [...xs].sort(() => rand() - 0.5).slice(0, n);

interface Topic {
  category: string;
  nouns: string[];
  tasks: string[];
  integrations: string[];
}

// Topics roughly in order of how common such apps are in real marketplaces.
const TOPICS: Topic[] = [
  {
    category: 'marketing',
    nouns: ['Email', 'Newsletter', 'Campaigns', 'Mailer'],
    tasks: [
      'send email campaigns',
      'grow your newsletter list',
      'segment subscribers',
      'A/B test subject lines',
    ],
    integrations: ['Mailchimp', 'Klaviyo', 'Meta Ads'],
  },
  {
    category: 'crm',
    nouns: ['CRM', 'Contacts', 'Pipeline', 'Leads'],
    tasks: [
      'track every lead',
      'move deals through your sales pipeline',
      'log calls and meetings',
      'score leads',
    ],
    integrations: ['Salesforce', 'HubSpot', 'Pipedrive'],
  },
  {
    category: 'payments',
    nouns: ['Invoices', 'Billing', 'Payments', 'Checkout'],
    tasks: ['send invoices', 'collect payments online', 'chase late invoices', 'reconcile payouts'],
    integrations: ['Stripe', 'PayPal', 'QuickBooks', 'Xero'],
  },
  {
    category: 'scheduling',
    nouns: ['Calendar', 'Bookings', 'Appointments', 'Scheduler'],
    tasks: [
      'let customers book appointments',
      'sync your calendar',
      'send reminders by SMS',
      'manage staff rotas',
    ],
    integrations: ['Google Calendar', 'Outlook', 'Zoom'],
  },
  {
    category: 'support',
    nouns: ['Helpdesk', 'Tickets', 'Support', 'Inbox'],
    tasks: ['answer support tickets', 'share one inbox with your team', 'publish a help center', 'set SLAs'],
    integrations: ['Zendesk', 'Intercom', 'Slack'],
  },
  {
    category: 'analytics',
    nouns: ['Analytics', 'Insights', 'Dashboards', 'Metrics'],
    tasks: [
      'build dashboards',
      'track conversion funnels',
      'forecast revenue',
      'export reports to spreadsheets',
    ],
    integrations: ['Google Analytics', 'BigQuery', 'Looker'],
  },
  {
    category: 'communication',
    nouns: ['Chat', 'SMS', 'Messenger', 'Voice'],
    tasks: ['text customers', 'add live chat to your site', 'send WhatsApp messages', 'record calls'],
    integrations: ['Twilio', 'WhatsApp', 'Slack', 'Teams'],
  },
  {
    category: 'productivity',
    nouns: ['Tasks', 'Projects', 'Boards', 'Notes'],
    tasks: ['plan projects on kanban boards', 'assign tasks', 'track time', 'keep meeting notes'],
    integrations: ['Trello', 'Asana', 'Notion', 'Jira'],
  },
  {
    category: 'reporting',
    nouns: ['Reports', 'Exports', 'Statements', 'Audits'],
    tasks: ['schedule PDF reports', 'export to CSV', 'prepare tax statements', 'audit changes'],
    integrations: ['Excel', 'Google Sheets', 'Dropbox'],
  },
  {
    category: 'other',
    nouns: ['Shipping', 'Inventory', 'Loyalty', 'Surveys', 'Forms', 'Reviews'],
    tasks: [
      'print shipping labels',
      'sync inventory across stores',
      'reward loyal customers with points',
      'collect survey answers',
      'build forms without code',
      'ask happy customers for reviews',
    ],
    integrations: ['ShipStation', 'UPS', 'DHL', 'Typeform', 'Trustpilot'],
  },
];

const SYLLABLES = [
  'ze',
  'ly',
  'tra',
  'no',
  'vi',
  'qu',
  'ka',
  'ro',
  'mi',
  'sa',
  'do',
  'ra',
  'fen',
  'lo',
  'bri',
  'ta',
];
const SUFFIXES = ['ly', 'io', 'ify', 'hub', 'wise', 'flow', 'kit', 'desk', 'ster', 'bee'];
const ADJECTIVES = [
  'Simple',
  'Smart',
  'Fast',
  'Friendly',
  'Powerful',
  'Lightweight',
  'Automated',
  'Beautiful',
];
const AUDIENCES = [
  'small shops',
  'agencies',
  'dentists',
  'restaurants',
  'salons',
  'online stores',
  'gyms',
  'teams',
];
const GENERIC = [
  'Set up takes two minutes and needs no developer.',
  'Every change is saved as you go.',
  'Your data stays yours: export it at any time.',
  'Works on desktop and mobile.',
  'Invite your whole team at no extra cost.',
  'Support answers within one business day.',
  'Built for teams that would rather not read a manual.',
  'GDPR-ready, with data kept in the EU on request.',
];

function brand(): string {
  const word = pick(SYLLABLES) + pick(SYLLABLES) + (rand() < 0.5 ? pick(SUFFIXES) : '');
  return word[0].toUpperCase() + word.slice(1);
}

function makeListing(i: number): ListingInput {
  const topic = pickSkewed(TOPICS);
  const noun = pick(topic.nouns);
  const name = rand() < 0.6 ? `${brand()} ${noun}` : `${pick(ADJECTIVES)} ${noun} by ${brand()}`;
  const [task, task2, task3] = some(topic.tasks, 3);
  const audience = pick(AUDIENCES);
  const tagline = `${pick(ADJECTIVES)} way to ${task} for ${audience}`.slice(0, 120);
  const integrations = some(topic.integrations, 1 + Math.floor(rand() * 2));
  const description = [
    `## ${name}`,
    `${name} helps ${audience} ${task}${task2 ? ` and ${task2}` : ''}. ${pick(GENERIC)}`,
    '### Features',
    ...some(topic.tasks, 2 + Math.floor(rand() * 2)).map((t) => `- ${t[0].toUpperCase()}${t.slice(1)}`),
    `- Connects to ${integrations.join(' and ')}`,
    `${task3 ? `Teams also use it to ${task3}. ` : ''}${pick(GENERIC)} ${pick(GENERIC)}`,
    rand() < 0.3 ? `Pairs well with ${pick(pick(TOPICS).nouns).toLowerCase()} apps.` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  const pricingRoll = rand();
  const pricing: ListingInput['pricing'] =
    pricingRoll < 0.45
      ? { type: 'free' }
      : pricingRoll < 0.8
        ? {
            type: 'recurring',
            interval: 'month',
            amount: 500 + Math.floor(rand() * 50) * 100,
            currency: 'USD',
            trialDays: 14,
          }
        : pricingRoll < 0.9
          ? { type: 'one_time', amount: 1900 + Math.floor(rand() * 20) * 500, currency: 'USD' }
          : { type: 'usage', unitName: 'message', unitAmount: 2, currency: 'USD', cappedAmount: 5000 };
  const n = String(i).padStart(5, '0');
  return {
    appId: `app_bench${n}`,
    slug: `${name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')}-${n}`.slice(0, 40),
    name: name.slice(0, 60),
    tagline,
    description,
    category: topic.category,
    pricing,
    scopes: [{ name: 'contacts:read', consentText: 'See your contacts', optional: false }],
    developer: { organizationId: `org_bench${n.slice(0, 3)}`, name: `${brand()} Labs` },
    iconUrl: `https://cdn.example/${n}/icon.png`,
    screenshotUrls: [`https://cdn.example/${n}/1.png`],
    supportUrl: 'https://support.example',
    privacyUrl: 'https://privacy.example',
    termsUrl: null,
    versionId: `ver_bench${n}`,
    versionNumber: 1,
    publishedAt: new Date(Date.UTC(2025, 0, 1) + i * 3_600_000).toISOString(),
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const ms = (x: number) => `${x.toFixed(2)} ms`;

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
  const db = connectPostgres(ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`), 4);
  const config = loadConfig({
    PLAZA_DATA_DIR: dataDir,
    PLAZA_SECRET: 'bench-secret-bench-secret-bench-secret-0',
    LOG_LEVEL: 'warn',
    PLAZA_SEED_DEMO: 'false',
  });
  const core = await createCore(config, { db });
  try {
    const server = await db.one<{ v: string }>("SELECT current_setting('server_version') AS v");
    console.log(
      `Seeding ${LISTINGS} listings into a fresh PostgreSQL ${server.v} database through marketplace.publish...`,
    );
    const started = performance.now();
    for (let from = 0; from < LISTINGS; from += BATCH) {
      await db.transaction(async (tx) => {
        for (let i = from; i < Math.min(LISTINGS, from + BATCH); i++)
          await core.marketplace.publish(tx, makeListing(i));
      });
    }
    // Popularity skewed like a real marketplace (a few apps with most installs). Installs are not part of
    // the search text, so they are set in one statement instead of 100,000s of installation rows.
    // That bulk update leaves a dead copy of every row; compact the table as a steadily grown one would be.
    await db.query('UPDATE marketplace_listings SET install_count = floor(1000 * power(random(), 6))::int');
    await db.query('VACUUM FULL ANALYZE marketplace_listings');
    const size = await db.one<{ table: string; gin: string }>(
      `SELECT pg_size_pretty(pg_table_size('marketplace_listings')) AS table,
              pg_size_pretty(pg_relation_size('marketplace_listings_search_idx')) AS gin`,
    );
    console.log(
      `  seeded in ${((performance.now() - started) / 1000).toFixed(1)} s; table ${size.table}, GIN index ${size.gin}\n`,
    );

    // From very common to none at all: the match counts are printed next to the timings.
    const terms = [
      'email',
      'invoice',
      'calendar',
      'whatsapp',
      'kanban',
      'shipping labels',
      'trustpilot',
      'blockchain',
    ];
    const baselineSql = `SELECT l.app_id, l.slug, l.name, l.tagline, l.category, l.pricing, l.icon_url, l.developer_name,
        l.rating_average, l.rating_count, l.install_count, l.published_at, l.listed_at
      FROM marketplace_listings l
      WHERE l.withdrawn_at IS NULL AND (l.name ILIKE $1 OR l.tagline ILIKE $1 OR l.description ILIKE $1)
      ORDER BY l.install_count DESC, l.app_id LIMIT 21`;
    const plaza = (q: string) => core.marketplace.search({ q, sort: 'relevance', limit: 20 });
    const baseline = (q: string) => db.query(baselineSql, [`%${q}%`]);

    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT app_id FROM marketplace_listings WHERE search @@ websearch_to_tsquery('english', 'invoice')`,
    );
    console.log(`Plan of the full-text filter: ${plan.map((r) => r['QUERY PLAN'].trim()).join(' / ')}\n`);

    const rows: string[][] = [];
    const all = { plaza: [] as number[], baseline: [] as number[] };
    for (const term of terms) {
      const [fts, like] = await Promise.all([
        db.one<{ n: number }>(
          "SELECT count(*)::int AS n FROM marketplace_listings WHERE search @@ websearch_to_tsquery('english', $1)",
          [term],
        ),
        db.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM marketplace_listings WHERE name ILIKE $1 OR tagline ILIKE $1 OR description ILIKE $1',
          [`%${term}%`],
        ),
      ]);
      for (let i = 0; i < 20; i++) {
        await plaza(term);
        await baseline(term);
      }
      const t = { plaza: [] as number[], baseline: [] as number[] };
      // Interleaved, so both see the same machine conditions.
      for (let i = 0; i < QUERIES; i++) {
        let s = performance.now();
        const page = await plaza(term);
        t.plaza.push(performance.now() - s);
        if (page.data.length !== Math.min(20, fts.n)) throw new Error(`wrong page for ${term}`);
        s = performance.now();
        await baseline(term);
        t.baseline.push(performance.now() - s);
      }
      all.plaza.push(...t.plaza);
      all.baseline.push(...t.baseline);
      t.plaza.sort((a, b) => a - b);
      t.baseline.sort((a, b) => a - b);
      const p = (xs: number[], q: number) => percentile(xs, q);
      rows.push([
        JSON.stringify(term),
        `${fts.n} / ${like.n}`,
        ms(p(t.plaza, 50)),
        ms(p(t.plaza, 99)),
        ms(p(t.baseline, 50)),
        ms(p(t.baseline, 99)),
        `${(p(t.baseline, 50) / p(t.plaza, 50)).toFixed(1)}x`,
        `${(p(t.baseline, 99) / p(t.plaza, 99)).toFixed(1)}x`,
      ]);
    }
    all.plaza.sort((a, b) => a - b);
    all.baseline.sort((a, b) => a - b);
    rows.push([
      'all terms',
      '',
      ms(percentile(all.plaza, 50)),
      ms(percentile(all.plaza, 99)),
      ms(percentile(all.baseline, 50)),
      ms(percentile(all.baseline, 99)),
      `${(percentile(all.baseline, 50) / percentile(all.plaza, 50)).toFixed(1)}x`,
      `${(percentile(all.baseline, 99) / percentile(all.plaza, 99)).toFixed(1)}x`,
    ]);

    const header = [
      'query',
      'matches fts / ilike',
      'plaza p50',
      'plaza p99',
      'ILIKE p50',
      'ILIKE p99',
      'ratio p50',
      'ratio p99',
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(
      `Marketplace search, ${LISTINGS} listings, ${QUERIES} queries per term and side (first page of 20)`,
    );
    console.log(
      'plaza = marketplace.search (tsvector + GIN, ts_rank); ILIKE = plain SQL over the same table',
    );
    console.log('ratio = ILIKE / plaza (above 1: full-text search is faster)\n');
    console.log(line(header));
    for (const r of rows) console.log(line(r));
  } finally {
    await core.close();
    await db.close();
    if (process.env.BENCH_KEEP_DB) console.log(`\nkept database ${dbName}`);
    else await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
