import { existsSync } from 'node:fs';
import path from 'node:path';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { createCore } from '../../server/core.ts';
import { coreMigrationSources } from '../../server/modules/index.ts';
import { copyDemoTemplate, ensureDemoTemplate, finishDemoCopy } from '../../server/seed/template.ts';
import { testConfig } from '../helpers/plaza.ts';

/**
 * A first start on embedded PGlite with the demo on copies a template that
 * already holds the demo data (server/seed/template.ts). Each copy must still
 * be an installation of its own: its own passwords, signing keys and
 * timestamps, and the pictures the seed uploaded.
 */
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers) await close();
});

async function firstStart() {
  // testConfig turns the seed off for other tests; a first start has it on.
  const config = testConfig({ PLAZA_SEED_DEMO: 'true', PLAZA_PUBLIC_URL: 'http://plaza.test:4321' });
  expect(await copyDemoTemplate(config, coreMigrationSources())).toBe(true);
  const core = await createCore(config);
  closers.push(() => core.close(2000));
  const logins = await finishDemoCopy(core);
  return { config, core, logins, http: supertest(createApp(core).callback()) };
}

describe('a first start from the demo template', () => {
  it('gives each copy its own logins, keys and times, with the demo marketplace and its pictures', async () => {
    const a = await firstStart();
    const b = await firstStart();
    const login = (p: typeof a, email: string, password: string) =>
      p.http.post('/v1/auth/login').send({ email, password });

    expect(a.logins.map((l) => l.email)).toEqual(b.logins.map((l) => l.email));
    for (const [i, l] of a.logins.entries()) {
      expect(l.password).not.toBe(b.logins[i].password);
      expect((await login(a, l.email, l.password)).status).toBe(200);
      // One copy's password does not open the other.
      const refused = await login(b, l.email, l.password);
      expect(refused.status, refused.text).toBeGreaterThanOrEqual(400);
      expect(refused.status).toBeLessThan(500);
    }

    const market = (await a.http.get('/v1/marketplace/apps').expect(200)).body.data;
    expect(market).toHaveLength(6);
    // Picture URLs are this installation's.
    expect(market[0].iconUrl).toMatch(/^http:\/\/plaza\.test:4321\//);
    const icon = await a.http.get(new URL(market[0].iconUrl).pathname).buffer(true).expect(200);
    expect(icon.headers['content-type']).toBe('image/png');
    expect(existsSync(path.join(a.config.dataDir, 'uploads'))).toBe(true);

    for (const p of [a, b]) {
      // Signing keys made by this installation (under its secret), the template's marker gone,
      // the seed's times moved to this start, and queued emails link to this installation.
      expect(await p.core.db.query('SELECT count(*)::int AS n FROM oauth_signing_keys')).toEqual([{ n: 1 }]);
      expect(await p.core.db.maybeOne("SELECT to_regclass('plaza_demo_template') AS t")).toEqual({ t: null });
      const [times] = await p.core.db.query(
        `SELECT min(created_at) > now() - interval '1 minute' AS users_recent,
                max(created_at) <= now() AS not_future FROM users`,
      );
      expect(times).toEqual({ users_recent: true, not_future: true });
      const mails = await p.core.db.query("SELECT data::text AS d FROM jobs WHERE data::text LIKE '%http%'");
      expect(mails.some((m) => m.d.includes('http://plaza.test:4321'))).toBe(true);
      expect(mails.some((m) => m.d.includes('plaza-demo-template.invalid'))).toBe(false);
    }
    // Both installations (other data folders, other URLs) were copied from one template.
    expect(await ensureDemoTemplate(a.config, coreMigrationSources())).toBe(
      await ensureDemoTemplate(b.config, coreMigrationSources()),
    );
  }, 120_000);
});
