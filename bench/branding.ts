/**
 * Theme resolution per request (white-label): the same pages requested on an
 * agency's verified domain (host -> agency -> published theme, cached per
 * process and invalidated on publish) and on the platform host (no agency),
 * interleaved in one run against one listening Plaza on PostgreSQL.
 *
 * - the OAuth error page (server-rendered with the resolved theme);
 * - GET /v1/branding/current (what the web app's shell asks on load);
 * - the resolution alone, in process: `branding.themeForHost(host)`.
 *
 * Prints p50 / p99 per variant and the ratio branded / unbranded (goal <= 1.1x).
 *
 *   npm run bench -- branding          BENCH_REQUESTS=3000 to change the size.
 */
import { Agent, request } from 'node:http';
import { ThemeInput } from '../server/modules/branding/index.ts';
import { png } from '../test/helpers/images.ts';
import { startPlazaServer } from '../test/helpers/plaza.ts';
import { person } from '../test/helpers/world.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const HOST = 'app.bench-agency.test';
const records = new Map<string, string[]>();

const plaza = await startPlazaServer({
  workers: false,
  modules: {
    branding: {
      resolver: {
        resolveTxt: async (name) => (records.get(`TXT ${name}`) ?? []).map((v) => [v]),
        resolveCname: async (name) => records.get(`CNAME ${name}`) ?? [],
      },
    },
  },
});
const { organizations, branding } = plaza.core;
const ana = await person(plaza, 'Ana Bench');
const org = await organizations.create(ana.actor, { name: 'Bench Agency', kind: 'agency' });
const agency = await organizations.resolveContext(ana.actor, org.id);
const logo = await branding.uploadAsset(agency, 'logo', { contentType: 'image/png', bytes: png(200, 50) });
await branding.saveDraft(
  agency,
  ThemeInput.parse({
    brandName: 'Bench Apps',
    logoAssetId: logo.id,
    colours: { primary: '#0b5d1e', accent: '#c2410c', background: '#ffffff', text: '#111827' },
    font: 'serif',
  }),
);
await branding.publish(agency);
const domain = await branding.domains.add(agency, HOST);
for (const r of domain.records) records.set(`${r.type} ${r.name}`, [r.value]);
if ((await branding.domains.check(domain.id))?.state !== 'active')
  throw new Error('the domain did not verify');

const port = Number(new URL(plaza.baseUrl).port);
const platformHost = new URL(plaza.baseUrl).host;
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

function get(path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: keepAlive }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];

async function compare(label: string, path: string, check: (branded: boolean, body: string) => boolean) {
  const times = { branded: [] as number[], unbranded: [] as number[] };
  // Warm up both (providers, templates, caches), then interleave.
  for (let i = 0; i < 50; i++) {
    await get(path, `${HOST}:${port}`);
    await get(path, platformHost);
  }
  for (let i = 0; i < REQUESTS; i++) {
    for (const branded of i % 2 ? [true, false] : [false, true]) {
      const started = performance.now();
      const res = await get(path, branded ? `${HOST}:${port}` : platformHost);
      times[branded ? 'branded' : 'unbranded'].push(performance.now() - started);
      if (!check(branded, res.body))
        throw new Error(`${label}: unexpected answer ${res.status} ${res.body.slice(0, 200)}`);
    }
  }
  const row = (k: 'branded' | 'unbranded') =>
    `${k.padEnd(10)} p50 ${pct(times[k], 0.5).toFixed(3)} ms  p99 ${pct(times[k], 0.99).toFixed(3)} ms`;
  console.log(`\n${label} (${REQUESTS} each, interleaved)`);
  console.log(`  ${row('unbranded')}`);
  console.log(`  ${row('branded')}`);
  console.log(
    `  ratio branded/unbranded: p50 ${(pct(times.branded, 0.5) / pct(times.unbranded, 0.5)).toFixed(2)}x, p99 ${(pct(times.branded, 0.99) / pct(times.unbranded, 0.99)).toFixed(2)}x (goal <= 1.1x)`,
  );
}

await compare(
  'OAuth error page (server-rendered with the theme)',
  '/oauth/auth?client_id=nobody',
  (b, body) => body.includes(b ? 'Bench Apps' : 'Plaza'),
);
await compare('GET /v1/branding/current', '/v1/branding/current', (b, body) =>
  body.includes(b ? '"Bench Apps"' : '"Plaza"'),
);

// The resolution alone: host -> agency -> theme, from the per-process caches.
const N = 200_000;
for (const [label, host] of [
  ['platform host', platformHost],
  ['agency host', `${HOST}:${port}`],
] as const) {
  await branding.themeForHost(host);
  const started = performance.now();
  for (let i = 0; i < N; i++) await branding.themeForHost(host);
  console.log(
    `themeForHost(${label}): ${(((performance.now() - started) / N) * 1e6).toFixed(0)} ns per call`,
  );
}

keepAlive.destroy();
await plaza.close();
