import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import supertest from 'supertest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { type Core, createCore } from '../../server/core.ts';
import { createBullmqQueue } from '../../server/jobs/bullmq.ts';
import { createLogger } from '../../server/logger.ts';
import { createOrg, signUp, type TestPlaza } from '../helpers/core.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';
import { FIXTURES, waitFor } from './harness.ts';

/**
 * The same plugin on the distributed job engine: plugin job names
 * (`notes.stamp`) and subscriber names (`plugin:notes:1`, which BullMQ would
 * split on ':' if the adapter did not encode it) must work on Redis too.
 */
const prefix = `plaza-test-${randomBytes(4).toString('hex')}`;
let database: TestDatabase;
let core: Core;
let plaza: TestPlaza;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({
    PLAZA_PLUGIN_NOTES_SIGNATURE: 'signed on redis',
    PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-test-')),
    PLAZA_SECRET: 'test-secret-test-secret-test-secret-0123',
    LOG_LEVEL: 'silent',
    PLAZA_SEED_DEMO: 'false',
    PLAZA_JOBS_POLL_MS: '50',
    PLAZA_PLUGINS: 'notes',
    PLAZA_PLUGINS_DIR: FIXTURES,
  });
  const log = createLogger('silent');
  const jobs = createBullmqQueue({ redisUrl: REDIS_URL, prefix, log, leaseMs: 2000 });
  core = await createCore(config, { db: database.db, log, jobs });
  await core.startWorkers();
  const app = createApp(core);
  plaza = { core, app, http: supertest(app.callback()), close: async () => {} };
});

afterAll(async () => {
  await core?.close(2000);
  await database?.drop();
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

it('runs plugin jobs and delivers events to plugin subscribers on BullMQ', async () => {
  expect(core.jobs.kind).toBe('bullmq');
  const ann = await signUp(plaza);
  const org = await createOrg(ann, 'developer');
  const { body: note } = await ann.agent
    .post(`/v1/notes/organizations/${org.id}/items`)
    .set('x-csrf-token', ann.csrf)
    .send({ title: 'On Redis' })
    .expect(201);
  const stamped = await waitFor('the stamp job', () =>
    core.db.maybeOne('SELECT signature FROM notes_items WHERE id = $1 AND stamped_at IS NOT NULL', [note.id]),
  );
  expect(stamped.signature).toBe('signed on redis');
  const welcome = await waitFor('the welcome row', () =>
    core.db.maybeOne('SELECT greeting FROM notes_welcomes WHERE organization_id = $1', [org.id]),
  );
  expect(welcome.greeting).toBe('Welcome to notes');
});
