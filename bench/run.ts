/**
 * Runs benchmarks by name, one process each, in order:
 *   npm run bench                      cold start (the default)
 *   npm run bench -- marketplace       marketplace search
 *   npm run bench -- contacts          the app API's contacts list vs a bare route
 *   npm run bench -- oauth             token grants vs bare oidc-provider, uninstall -> refused
 *   npm run bench -- webhooks          webhook deliveries/s vs raw undici, latency, fan-out,
 *                                      then webhooks-e2e: contact created via the API -> webhook received
 *   npm run bench -- ledger            ledger postings/s vs bare INSERT, payout run for 1,000 and 10,000 partners
 *   npm run bench -- dashboards        dashboard API p50/p99 over 1M events of history vs GET /v1/me
 *   npm run bench -- metering          billing usage events/s (batch, idempotent) vs bare INSERT, usage read p99
 *   npm run bench -- data-products     data product refresh (1,000 accounts x 1,000 events) vs bare GROUP BY, query p99 vs GET /v1/account
 *   npm run bench -- verticals         applying the largest vertical template vs the same core writes one request each
 *   npm run bench -- branding          theme resolution: branded vs unbranded pages (p50/p99, ratio)
 *   npm run bench -- cold-start marketplace
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const BENCHMARKS: Record<string, string> = {
  'cold-start': 'cold-start.ts',
  marketplace: 'marketplace-search.ts',
  contacts: 'contacts-api.ts',
  oauth: 'oauth.ts',
  webhooks: 'webhooks.ts',
  'webhooks-e2e': 'webhooks-e2e.ts',
  ledger: 'ledger.ts',
  metering: 'metering.ts',
  'data-products': 'data-products.ts',
  branding: 'branding.ts',
  verticals: 'verticals.ts',
  dashboards: 'dashboards.ts',
};

// The webhooks benchmark includes its end-to-end measure through the API.
const names = process.argv.slice(2).flatMap((n) => (n === 'webhooks' ? ['webhooks', 'webhooks-e2e'] : [n]));
for (const name of names.length ? names : ['cold-start']) {
  const file = BENCHMARKS[name];
  if (!file) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== ${name} ==`);
  const run = spawnSync(process.execPath, [path.join(here, file)], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
