import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { countQueries } from '../helpers/db.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  account,
  createOrg,
  installApp,
  type Person,
  person,
  registerApp,
  type SignedIn,
  signInWithPlatformRole,
  signUp,
  type TestApp,
} from '../helpers/world.ts';

/**
 * The dashboards read rollups that the analytics subscriber keeps from
 * committed events. Every figure checked here is recomputed in the test with
 * SQL over the raw events (the outbox), which the dashboards never read.
 */
let plaza: TestPlaza;
let app: TestApp;
let app2: TestApp;
let dev: SignedIn;
let customer: Person;
const today = new Date().toISOString().slice(0, 10);

async function signIn(p: Person): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent.post('/v1/auth/login').send({ email: p.email, password: p.password }).expect(200);
  return { agent, user: p.user, csrf: res.body.csrfToken };
}

const dashboard = async (query: string, orgId = app.developer.org.id) =>
  (await dev.agent.get(`/v1/organizations/${orgId}/dashboards/developer?${query}`).expect(200)).body;
const chartOf = (d: any, id: string) => d.charts.find((c: any) => c.id === id);
const seriesOf = (d: any, id: string, name: string) =>
  chartOf(d, id).series.find((s: any) => s.name === name).data as number[];

/** Per UTC day (YYYY-MM-DD -> n) from the raw events, for the given apps. */
async function eventsPerDay(type: string, appIds: string[], from: string, value = 'count(*)') {
  const rows = await plaza.core.db.query(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, ${value}::bigint AS n FROM events
     WHERE type = $1 AND payload->>'appId' = ANY($2) AND created_at >= $3::date GROUP BY 1`,
    [type, appIds, from],
  );
  return new Map(rows.map((r) => [r.day as string, Number(r.n)]));
}

beforeAll(async () => {
  plaza = await startPlaza();
  app = await registerApp(plaza, { redirectUris: ['https://example.com/cb'], name: 'Chart Sync' });
  app2 = await registerApp(plaza, {
    redirectUris: ['https://example.com/cb'],
    name: 'Chart Notes',
    sameDeveloperAs: app,
  });
  dev = await signIn(app.developerPerson);
  await plaza.core.analytics.seedHistory({
    days: 40,
    developerOrgId: app.developer.org.id,
    apps: [{ id: app.appId, monthlyPrice: 1900, currency: 'USD' }, { id: app2.appId }],
    installsPerDay: 3,
    seed: 7,
  });
  // And live ones today, through the installations service and the event subscriber.
  customer = await person(plaza, 'Cora Customer');
  for (const name of ['Live One', 'Live Two', 'Live Three']) {
    const acct = await account(plaza, customer, name);
    await installApp(plaza, app, acct.org.id, ['contacts:read']);
  }
  const [first] = await plaza.core.db.query(
    "SELECT account_id FROM installations WHERE app_id = $1 AND status = 'active' LIMIT 1",
    [app.appId],
  );
  await plaza.core.oauth.uninstallInstallation(
    { accountId: first.account_id, appId: app.appId },
    SYSTEM_ACTOR,
    'uninstalled_by_account',
  );
  await waitFor('live events counted', async () => {
    const d = await dashboard('range=7d');
    return (
      seriesOf(d, 'installs', 'Uninstalls').at(-1)! >= 1 && seriesOf(d, 'installs', 'Installs').at(-1)! >= 3
    );
  });
}, 120_000);
afterAll(() => plaza?.close());

describe('developer dashboard', () => {
  it('installs, uninstalls and active installations per day equal SQL over the raw events', async () => {
    const d = await dashboard('range=30d');
    expect(d.from).toBe(new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10));
    expect(d.to).toBe(today);
    expect(d.apps.map((a: any) => a.name).sort()).toEqual(['Chart Notes', 'Chart Sync']);
    const ids = [app.appId, app2.appId];
    const installs = await eventsPerDay('app.installed', ids, d.from);
    const uninstalls = await eventsPerDay('app.uninstalled', ids, d.from);
    const chart = chartOf(d, 'installs');
    expect(chart.x).toHaveLength(30);
    expect(chart.series[0].data).toEqual(chart.x.map((day: string) => installs.get(day) ?? 0));
    expect(chart.series[1].data).toEqual(chart.x.map((day: string) => uninstalls.get(day) ?? 0));
    expect(chart.series[0].data.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(40);

    const [{ n: open }] = await plaza.core.db.query(
      `SELECT (count(*) FILTER (WHERE type = 'app.installed') - count(*) FILTER (WHERE type = 'app.uninstalled'))::int AS n
       FROM events WHERE type IN ('app.installed', 'app.uninstalled') AND payload->>'appId' = ANY($1)`,
      [ids],
    );
    expect(seriesOf(d, 'active_installations', 'Active installations').at(-1)).toBe(open);
    expect(d.stats.find((s: any) => s.id === 'active_installations').value).toBe(open);
  });

  it('one app at a time, uninstall reasons and revenue equal SQL; another org cannot choose its app', async () => {
    const d = await dashboard(`range=90d&appId=${app.appId}`);
    const reasons = await plaza.core.db.query(
      `SELECT coalesce(payload->>'reason', 'unknown') AS reason, count(*)::int AS n FROM events
       WHERE type = 'app.uninstalled' AND payload->>'appId' = $1 GROUP BY 1`,
      [app.appId],
    );
    const pie = chartOf(d, 'uninstall_reasons');
    expect(Object.fromEntries(pie.x.map((r: string, i: number) => [r, pie.series[0].data[i]]))).toEqual(
      Object.fromEntries(reasons.map((r) => [r.reason, r.n])),
    );
    expect(pie.x).toContain('uninstalled_by_account');

    const paid = await eventsPerDay(
      'payment.succeeded',
      [app.appId],
      d.from,
      "sum((payload->>'amount')::bigint)",
    );
    const refunded = await eventsPerDay(
      'payment.refunded',
      [app.appId],
      d.from,
      "sum((payload->>'amount')::bigint)",
    );
    const usd = chartOf(d, 'revenue').series.find((s: any) => s.name === 'USD').data;
    expect(usd).toEqual(d.charts[0].x.map((day: string) => (paid.get(day) ?? 0) - (refunded.get(day) ?? 0)));
    expect(usd.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(0);
    // The free app has no revenue of its own.
    const free = await dashboard(`range=90d&appId=${app2.appId}`);
    expect(chartOf(free, 'revenue').empty).toBe(true);
    expect(chartOf(free, 'revenue').hint).toMatch(/price/);

    const other = await registerApp(plaza, { redirectUris: ['https://example.com/cb'] });
    await dev.agent
      .get(`/v1/organizations/${app.developer.org.id}/dashboards/developer?appId=${other.appId}`)
      .expect(404);
    // Nor another organization's dashboard at all.
    const stranger = await signUp(plaza);
    await stranger.agent.get(`/v1/organizations/${app.developer.org.id}/dashboards/developer`).expect(404);
  });

  it('trial conversion: trials ended, converted and the rate per day equal SQL over the raw trial events', async () => {
    const d = await dashboard(`range=90d&appId=${app.appId}`);
    const ended = await eventsPerDay('trial.ended', [app.appId], d.from);
    const converted = await eventsPerDay(
      'trial.ended',
      [app.appId],
      d.from,
      "count(*) FILTER (WHERE (payload->>'converted')::boolean)",
    );
    const chart = chartOf(d, 'trial_conversion');
    expect(chart.empty).toBe(false);
    expect(seriesOf(d, 'trial_conversion', 'Trials ended')).toEqual(
      chart.x.map((x: string) => ended.get(x) ?? 0),
    );
    expect(seriesOf(d, 'trial_conversion', 'Converted')).toEqual(
      chart.x.map((x: string) => converted.get(x) ?? 0),
    );
    expect(seriesOf(d, 'trial_conversion', 'Conversion %')).toEqual(
      chart.x.map((x: string) => {
        const n = ended.get(x) ?? 0;
        return n > 0 ? Math.round((1000 * (converted.get(x) ?? 0)) / n) / 10 : null;
      }),
    );
    const [total] = await plaza.core.db.query(
      `SELECT count(*)::int AS ended, count(*) FILTER (WHERE (payload->>'converted')::boolean)::int AS converted
       FROM events WHERE type = 'trial.ended' AND payload->>'appId' = $1 AND created_at >= $2::date`,
      [app.appId, d.from],
    );
    expect(total.ended).toBeGreaterThan(5);
    const stat = d.stats.find((x: any) => x.id === 'trial_conversion');
    expect(stat.value).toBe(Math.round((1000 * total.converted) / total.ended) / 10);
    expect(stat.note).toContain(`${total.converted} of ${total.ended}`);
    // The free app has no trials: an empty chart that says what to do.
    const free = await dashboard(`range=90d&appId=${app2.appId}`);
    expect(chartOf(free, 'trial_conversion')).toMatchObject({
      empty: true,
      hint: expect.stringMatching(/trial/),
    });
    // CSV: the same numbers.
    const csv = await dev.agent
      .get(
        `/v1/organizations/${app.developer.org.id}/dashboards/developer/export?range=90d&appId=${app.appId}&chart=trial_conversion`,
      )
      .expect(200);
    const [header, ...rows] = csv.text.trim().split('\r\n');
    expect(header).toBe('label,Trials ended,Converted,Conversion %');
    expect(
      rows.map((r) =>
        r
          .split(',')
          .slice(1)
          .map((v) => (v === '' ? null : Number(v))),
      ),
    ).toEqual(chart.x.map((_: string, i: number) => chart.series.map((s: any) => s.data[i])));
  });

  it('reads all its rollups in one query: five in all for one app or every app', async () => {
    const reads = async (appId?: string) => {
      const { result: d, sql } = await countQueries(plaza.core.db, () =>
        plaza.core.analytics.developer(app.developer.org.id, appId, {
          from: '2026-01-01',
          to: '2026-01-07',
          days: [
            '2026-01-01',
            '2026-01-02',
            '2026-01-03',
            '2026-01-04',
            '2026-01-05',
            '2026-01-06',
            '2026-01-07',
          ],
        }),
      );
      expect(d.charts.length).toBeGreaterThan(10);
      return sql;
    };
    const all = await reads();
    const one = await reads(app.appId);
    // The app list (apps), the rollups (analytics), ratings (marketplace), webhook attempts and latency (webhooks).
    expect(all).toHaveLength(5);
    expect(one).toHaveLength(5);
    expect(all.filter((q) => /\banalytics_/.test(q))).toHaveLength(1);
  });

  it('MRR movement adds up: each month starts where the last ended', async () => {
    const d = await dashboard('range=90d');
    const mrr = chartOf(d, 'mrr');
    const s = (name: string) => mrr.series.find((x: any) => x.name === name).data as number[];
    for (let i = 1; i < mrr.x.length; i++) {
      const moved =
        s('New')[i] + s('Expansion')[i] + s('Contraction')[i] + s('Churn')[i] + s('Reactivation')[i];
      expect(s('MRR')[i - 1] + moved).toBe(s('MRR')[i]);
    }
    expect(s('New').some((v) => v > 0)).toBe(true);
  });

  it('a redelivered batch of events changes nothing (rollups are keyed on event ids)', async () => {
    const before = await dashboard('range=90d');
    const rows = await plaza.core.db.query(
      "SELECT * FROM events WHERE type IN ('app.installed', 'app.uninstalled', 'payment.succeeded') ORDER BY id LIMIT 500",
    );
    const counted = await plaza.core.analytics.ingest(
      rows.map((r) => ({
        id: r.id,
        organizationId: r.organization_id,
        type: r.type,
        payload: r.payload,
        createdAt: r.created_at.toISOString(),
      })),
    );
    expect(counted).toBe(0);
    expect(await dashboard('range=90d')).toEqual(before);
  });

  it('CSV export of a chart holds exactly the numbers the chart shows', async () => {
    const d = await dashboard('range=7d');
    for (const id of ['installs', 'uninstall_reasons', 'revenue', 'cohorts']) {
      const res = await dev.agent
        .get(`/v1/organizations/${app.developer.org.id}/dashboards/developer/export?range=7d&chart=${id}`)
        .expect(200)
        .expect('content-type', /text\/csv/);
      const [header, ...rows] = res.text.trim().split('\r\n');
      const chart = chartOf(d, id);
      expect(header.split(',').slice(1)).toEqual(chart.series.map((s: any) => s.name));
      expect(rows.map((r) => r.split(',')[0])).toEqual(chart.x);
      rows.forEach((r, i) => {
        expect(r.split(',').slice(1)).toEqual(
          chart.series.map((s: any) => (s.data[i] === null ? '' : String(s.data[i]))),
        );
      });
    }
    // Without a chart: every number of every chart, one per row.
    const all = await dev.agent
      .get(`/v1/organizations/${app.developer.org.id}/dashboards/developer/export?range=7d`)
      .expect(200);
    const lines = all.text.trim().split('\r\n');
    expect(lines[0]).toBe('chart,unit,label,series,value');
    expect(lines).toHaveLength(
      1 + d.charts.reduce((n: number, c: any) => n + c.x.length * c.series.length, 0),
    );
    const bad = await dev.agent
      .get(`/v1/organizations/${app.developer.org.id}/dashboards/developer/export?chart=nope`)
      .expect(400);
    expect(bad.body.fields[0].field).toBe('query.chart');
  });

  it('ranges: 7/30/90 days and custom; bad ones are refused naming the field', async () => {
    expect((await dashboard('range=7d')).charts[0].x).toHaveLength(7);
    expect((await dashboard('range=90d')).charts[0].x).toHaveLength(90);
    const custom = await dashboard('range=custom&from=2026-01-05&to=2026-01-11');
    expect(custom.charts[0].x).toEqual([
      '2026-01-05',
      '2026-01-06',
      '2026-01-07',
      '2026-01-08',
      '2026-01-09',
      '2026-01-10',
      '2026-01-11',
    ]);
    const cases: Array<[string, string]> = [
      ['range=custom&to=2026-01-01', 'query.from'],
      ['range=custom&from=2026-02-30&to=2026-03-01', 'query.from'],
      ['range=custom&from=2026-01-10&to=2026-01-01', 'query.from'],
      ['range=custom&from=2026-01-10&to=2999-01-01', 'query.to'],
      ['range=custom&from=2020-01-01&to=2022-01-01', 'query.from'],
      ['range=7d&from=2026-01-01', 'query.from'],
      ['range=12d', 'query.range'],
    ];
    for (const [q, field] of cases) {
      const res = await dev.agent
        .get(`/v1/organizations/${app.developer.org.id}/dashboards/developer?${q}`)
        .expect(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body.fields.map((f: any) => f.field)).toContain(field);
    }
  });
});

describe('operator and agency dashboards', () => {
  it('operator: installs per day across the platform, searches with no result, job queues; admins only', async () => {
    const admin = await signInWithPlatformRole(plaza, 'admin');
    // A job waiting for later shows in the queue depth.
    await plaza.core.jobs.enqueue('analytics.weekly_summary', null, { delayMs: 3_600_000, jobId: 'later' });
    await plaza.http.get('/v1/marketplace/apps?q=quantum%20llama%20scheduler').expect(200);
    await plaza.http.get('/v1/marketplace/apps?q=Quantum  Llama Scheduler').expect(200);
    const d = (await admin.agent.get('/v1/admin/dashboards/operator?range=30d').expect(200)).body;
    const installs = await plaza.core.db.query(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS n FROM events
       WHERE type = 'app.installed' AND created_at >= $1::date GROUP BY 1`,
      [d.from],
    );
    const per = new Map(installs.map((r) => [r.day, r.n]));
    expect(seriesOf(d, 'installs', 'Installs')).toEqual(
      chartOf(d, 'installs').x.map((x: string) => per.get(x) ?? 0),
    );
    const misses = chartOf(d, 'search_misses');
    expect(misses.series[0].data[misses.x.indexOf('quantum llama scheduler')]).toBe(2);
    const jobs = chartOf(d, 'jobs');
    expect(jobs.series[0].data[jobs.x.indexOf('analytics.weekly_summary')]).toBeGreaterThanOrEqual(1);
    expect(chartOf(d, 'review_states').x).toContain('live');
    expect(d.stats.map((s: any) => s.id)).toEqual(
      expect.arrayContaining([
        'review_median',
        'review_p90',
        'sla_breaches',
        'webhook_backlog',
        'failed_jobs',
        'take_rate',
      ]),
    );
    await dev.agent.get('/v1/admin/dashboards/operator').expect(403);
  });

  it('agency: sub-accounts over time and installs per sub-account; developers and accounts are refused', async () => {
    const owner = await signUp(plaza, { name: 'Agnes Agency' });
    const agency = await createOrg(owner, 'agency', 'Bright Agency');
    const subs = [];
    for (const name of ['Dental North', 'Yoga South']) {
      const res = await owner.agent
        .post(`/v1/organizations/${agency.id}/sub-accounts`)
        .set('x-csrf-token', owner.csrf)
        .send({ name })
        .expect(201);
      subs.push(res.body);
    }
    await installApp(plaza, app, subs[0].id, ['contacts:read']);
    await installApp(plaza, app2, subs[0].id, ['contacts:read']);
    await installApp(plaza, app, subs[1].id, ['contacts:read']);
    const d = await waitFor('agency rollups', async () => {
      const body = (
        await owner.agent.get(`/v1/organizations/${agency.id}/dashboards/agency?range=7d`).expect(200)
      ).body;
      return seriesOf(body, 'installs_per_sub_account', 'Active installations').reduce((a, b) => a + b, 0) ===
        3
        ? body
        : null;
    });
    expect(seriesOf(d, 'sub_accounts', 'Sub-accounts').at(-1)).toBe(2);
    // Nothing resold yet: the resale chart says how to start.
    expect(chartOf(d, 'resale_earnings')).toMatchObject({
      empty: true,
      hint: expect.stringMatching(/Resale/),
    });
    const per = chartOf(d, 'installs_per_sub_account');
    expect(Object.fromEntries(per.x.map((x: string, i: number) => [x, per.series[0].data[i]]))).toEqual({
      'Dental North': 2,
      'Yoga South': 1,
    });
    // Not a member: the agency does not exist for them; a member of the wrong kind of organization: 403.
    await dev.agent.get(`/v1/organizations/${agency.id}/dashboards/agency`).expect(404);
    const devOwnAgency = await dev.agent
      .get(`/v1/organizations/${app.developer.org.id}/dashboards/agency`)
      .expect(403);
    expect(devOwnAgency.body.detail).toMatch(/agency/);
  });
});

describe('weekly developer summary', () => {
  it('lands in the dev mailbox with charts drawn as SVG on the server, once per week', async () => {
    // A developer of its own: the hourly job may already have sent the others theirs when workers started.
    const weekly = await registerApp(plaza, {
      redirectUris: ['https://example.com/cb'],
      name: 'Weekly Sync',
    });
    await plaza.core.analytics.seedHistory({
      days: 14,
      developerOrgId: weekly.developer.org.id,
      apps: [{ id: weekly.appId }],
      seed: 3,
    });
    const sent = await plaza.core.analytics.sendWeeklySummaries();
    expect(sent).toBeGreaterThanOrEqual(1);
    const mail = await waitFor('the weekly summary', async () =>
      (await plaza.core.mail.mailbox(20, weekly.developerPerson.email)).find((m) =>
        /week of/.test(m.subject),
      ),
    );
    expect(mail.text).toMatch(/Installs: \d+/);
    expect(mail.html, mail.html ?? '').toContain('<svg');
    expect(mail.html).toMatch(/Installs and uninstalls/);

    // Clients that strip inline SVG still get the numbers: an HTML table per chart, and the text part.
    const from = /week of (\d{4}-\d{2}-\d{2})/.exec(mail.subject)![1];
    const days = Array.from({ length: 7 }, (_, i) =>
      new Date(Date.parse(`${from}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10),
    );
    const perDay = async (type: string) => {
      const m = await eventsPerDay(type, [weekly.appId], from);
      return days.map((d) => m.get(d) ?? 0);
    };
    const installs = await perDay('app.installed');
    const uninstalls = await perDay('app.uninstalled');
    expect(installs.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const table = /<table data-chart="installs"[\s\S]*?<\/table>/.exec(mail.html!)?.[0];
    expect(table, mail.html!).toBeDefined();
    const rows = [...table!.matchAll(/<tr><th scope="row"[^>]*>([^<]+)<\/th>(.*?)<\/tr>/g)].map((m) => [
      m[1],
      ...[...m[2].matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((c) => Number(c[1])),
    ]);
    expect(rows).toEqual(days.map((d, i) => [d, installs[i], uninstalls[i]]));
    for (const id of ['active_installations', 'api_calls'])
      expect(mail.html).toContain(`<table data-chart="${id}"`);
    const sum = (l: number[]) => l.reduce((a, b) => a + b, 0);
    expect(mail.text).toContain(
      `Installs and uninstalls (week: Installs: ${sum(installs)}, Uninstalls: ${sum(uninstalls)})`,
    );
    // Per day in the text too, one line per day with both numbers.
    for (const [i, d] of days.entries())
      expect(mail.text).toMatch(new RegExp(`^${d}\\s+${installs[i]}\\s+${uninstalls[i]}$`, 'm'));
    const [{ n: openEnd }] = await plaza.core.db.query(
      `SELECT (count(*) FILTER (WHERE type = 'app.installed') - count(*) FILTER (WHERE type = 'app.uninstalled'))::int AS n
       FROM events WHERE type IN ('app.installed', 'app.uninstalled') AND payload->>'appId' = $1
         AND created_at < $2::date + 1`,
      [weekly.appId, days[6]],
    );
    expect(mail.text).toContain(`Active installations (week: Active installations: ${openEnd})`);
    // Again: nothing more for the same week.
    await plaza.core.analytics.sendWeeklySummaries();
    await new Promise((r) => setTimeout(r, 300));
    const all = (await plaza.core.mail.mailbox(50, weekly.developerPerson.email)).filter((m) =>
      /week of/.test(m.subject),
    );
    expect(all).toHaveLength(1);
  });

  it('sends nothing to a developer whose week had nothing to show', async () => {
    const quiet = await registerApp(plaza, { redirectUris: ['https://example.com/cb'], name: 'Quiet Sync' });
    await plaza.core.analytics.sendWeeklySummaries();
    await new Promise((r) => setTimeout(r, 300));
    const mails = await plaza.core.mail.mailbox(50, quiet.developerPerson.email);
    expect(mails.filter((m) => /week of/.test(m.subject))).toEqual([]);
  });
});

describe('retention of counted event ids', () => {
  it('forgets ids older than the redelivery window, keeps recent ones, and a recent redelivery still counts once', async () => {
    const { seenRetentionMs } = await import('../../server/modules/analytics/index.ts');
    const { redeliveryHorizonMs } = await import('../../server/modules/events/index.ts');
    const retention = seenRetentionMs(plaza.core.config.jobsLeaseMs);
    // The window outlasts every retry of the events dispatcher many times over (and a week at least).
    expect(retention).toBeGreaterThanOrEqual(10 * redeliveryHorizonMs(plaza.core.config.jobsLeaseMs));
    expect(retention).toBeGreaterThanOrEqual(7 * 86_400_000);

    // Half of the ids were counted just past the window (set back in time), half just inside it.
    const ids = (
      await plaza.core.db.query('SELECT event_id FROM analytics_seen ORDER BY event_id LIMIT 400')
    ).map((r) => r.event_id as string);
    const [old, recent] = [ids.slice(0, 200), ids.slice(200)];
    await plaza.core.db.query(
      `UPDATE analytics_seen SET seen_at = now() - ($2::double precision + 60000) * interval '1 millisecond'
       WHERE event_id = ANY($1)`,
      [old, retention],
    );
    await plaza.core.db.query(
      `UPDATE analytics_seen SET seen_at = now() - ($2::double precision - 60000) * interval '1 millisecond'
       WHERE event_id = ANY($1)`,
      [recent, retention],
    );
    const before = await dashboard('range=90d');
    const deleted = await plaza.core.analytics.pruneSeen(undefined, 50);
    expect(deleted).toBe(200);
    const left = await plaza.core.db.query('SELECT event_id FROM analytics_seen WHERE event_id = ANY($1)', [
      ids,
    ]);
    expect(left.map((r) => r.event_id).sort()).toEqual([...recent].sort());
    // Rollups are untouched, and the recent events, delivered again, are not counted twice.
    expect(await dashboard('range=90d')).toEqual(before);
    const rows = await plaza.core.db.query('SELECT * FROM events WHERE id = ANY($1)', [recent]);
    const again = await plaza.core.analytics.ingest(
      rows.map((r) => ({
        id: r.id,
        organizationId: r.organization_id,
        type: r.type,
        payload: r.payload,
        createdAt: r.created_at.toISOString(),
      })),
    );
    expect(again).toBe(0);
    expect(await dashboard('range=90d')).toEqual(before);
  });
});
