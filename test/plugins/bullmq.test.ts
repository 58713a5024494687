import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Core } from '../../server/core.ts';
import { REDIS_URL } from '../helpers/db.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { deleteRedisPrefix } from '../helpers/redis.ts';
import { createOrg, signUp } from '../helpers/world.ts';
import { FIXTURES, waitFor } from './harness.ts';

/**
 * The same plugin on the distributed job engine: plugin job names
 * (`notes.stamp`) and subscriber names (`plugin:notes:1`, which BullMQ would
 * split on ':' if the adapter did not encode it) must work on Redis too.
 */
const prefix = `plaza-test-${randomBytes(4).toString('hex')}`;
let core: Core;
let plaza: TestPlaza;

beforeAll(async () => {
  plaza = await startPlaza({
    REDIS_URL,
    REDIS_PREFIX: prefix,
    PLAZA_JOBS_LEASE_MS: '2000',
    PLAZA_PLUGIN_NOTES_SIGNATURE: 'signed on redis',
    PLAZA_PLUGINS: 'notes',
    PLAZA_PLUGINS_DIR: FIXTURES,
  });
  core = plaza.core;
});

afterAll(async () => {
  await plaza?.close();
  await deleteRedisPrefix(prefix);
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
