import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';
import { killLeftoverPlazas, spawnPlaza } from '../helpers/plaza.ts';

const dbs: TestDatabase[] = [];
afterEach(() => killLeftoverPlazas());
afterAll(async () => {
  for (const d of dbs) await d.drop();
});

async function signIn(url: string, email: string, password: string) {
  return fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

describe('the plaza process', () => {
  it('refuses to start on bad configuration, naming the variable', async () => {
    const proc = await spawnPlaza({ PLAZA_ROLE: 'chef', PORT: 'x' }, { waitForListen: false });
    expect(await proc.exited).toBe(78);
    expect(proc.output()).toMatch(/PLAZA_ROLE: must be one of api, worker, all \(got "chef"\)/);
    expect(proc.output()).toMatch(/PORT: must be a whole number/);
  });

  it('starts on embedded PGlite with demo data, prints the logins once, and drains on SIGTERM', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'plaza-boot-'));
    const proc = await spawnPlaza({ PLAZA_DATA_DIR: dataDir });
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ database: 'pglite', jobs: 'postgres' });
    const m = /admin@plaza\.localhost\s+(\S+)/.exec(proc.output());
    expect(m, proc.output()).not.toBeNull();
    expect((await signIn(proc.url, 'admin@plaza.localhost', m![1])).status).toBe(200);
    expect((await fetch(`${proc.url}/openapi.json`)).status).toBe(200);
    // The demo marketplace is filled (test/boot/seed.test.ts looks at it closely).
    const market = await (await fetch(`${proc.url}/v1/marketplace/apps`)).json();
    expect(market.data.length).toBe(6);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toMatch(/"msg":"stopped"/);

    // Second start on the same folder: same data, no new logins printed.
    const again = await spawnPlaza({ PLAZA_DATA_DIR: dataDir });
    expect(again.output()).not.toMatch(/demo logins/);
    expect((await signIn(again.url, 'admin@plaza.localhost', m![1])).status).toBe(200);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 120_000);

  it('lets an in-flight request finish on SIGTERM, refusing new connections meanwhile', async () => {
    const proc = await spawnPlaza({
      PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-boot-')),
      PLAZA_SEED_DEMO: 'false',
      PLAZA_PLUGINS: 'slow',
      PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
    });
    const inFlight = fetch(`${proc.url}/v1/slow/wait?ms=1500`);
    await new Promise((r) => setTimeout(r, 300)); // the request is now inside its 1.5 s handler
    proc.child.kill('SIGTERM');
    while (!proc.output().includes('"msg":"draining"')) await new Promise((r) => setTimeout(r, 20));
    const newcomer = await fetch(`${proc.url}/healthz`).then(
      () => 'answered',
      () => 'refused',
    );
    expect(newcomer).toBe('refused');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ waited: 1500 });
    expect(await proc.exited).toBe(0);
    expect(proc.output().indexOf('"msg":"draining"')).toBeLessThan(
      proc.output().indexOf('"path":"/v1/slow/wait"'),
    );
  }, 60_000);

  it('runs on PostgreSQL and BullMQ, as separate API and worker processes', async () => {
    const database = await createTestDatabase({ migrate: false });
    dbs.push(database);
    if (!database.url) return; // no PostgreSQL server here: covered by the PGlite test above
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL,
      // Its own Redis keys: no other Plaza sharing this Redis may take its jobs.
      REDIS_PREFIX: `plaza-boot-${randomBytes(4).toString('hex')}`,
      PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-boot-')),
      PLAZA_SECRET: 'a-shared-secret-of-more-than-32-characters',
    };
    const api = await spawnPlaza({ ...env, PLAZA_ROLE: 'api' });
    const worker = await spawnPlaza({ ...env, PLAZA_ROLE: 'worker' }, { waitForListen: false });
    const ready = await (await fetch(`${api.url}/readyz`)).json();
    expect(ready).toMatchObject({ status: 'ready', database: 'postgres', jobs: 'bullmq' });
    // The API process queues the invitation email; only the worker process can send it.
    const m = /admin@plaza\.localhost\s+(\S+)/.exec(api.output());
    const login = await signIn(api.url, 'admin@plaza.localhost', m![1]);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const { csrfToken } = await login.json();
    const headers = { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' };
    const org = await (
      await fetch(`${api.url}/v1/organizations`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'Ops', kind: 'developer' }),
      })
    ).json();
    const invited = await fetch(`${api.url}/v1/organizations/${org.id}/invitations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: 'worker.check@example.test' }),
    });
    expect(invited.status).toBe(201);
    let delivered = false;
    for (let i = 0; i < 200 && !delivered; i++) {
      const box = await (await fetch(`${api.url}/v1/dev/mailbox`, { headers })).json();
      delivered = box.data.some((mail: { to: string }) => mail.to === 'worker.check@example.test');
      if (!delivered) await new Promise((r) => setTimeout(r, 50));
    }
    expect(delivered, `worker output:\n${worker.output()}`).toBe(true);
    // The worker may send the email before its "running" log line reaches this process.
    for (let i = 0; i < 100 && !/Plaza workers running/.test(worker.output()); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(worker.output()).toMatch(/Plaza workers running/);
    expect(worker.output()).not.toMatch(/Plaza API listening/);
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await worker.exited).toBe(0);
  }, 120_000);
});
