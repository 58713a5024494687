import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { type Core, createCore } from '../../server/core.ts';
import { createTestDatabase } from './db.ts';

export interface TestPlaza {
  core: Core;
  app: ReturnType<typeof createApp>;
  /** A client with no cookies. */
  http: ReturnType<typeof supertest>;
  close(): Promise<void>;
}

/** Configuration for a test core: its own data folder, quiet logs, no demo seed, fast polling. */
export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-test-')),
    PLAZA_SECRET: 'test-secret-test-secret-test-secret-0123',
    LOG_LEVEL: process.env.PLAZA_TEST_LOG_LEVEL ?? 'silent',
    PLAZA_SEED_DEMO: 'false',
    PLAZA_JOBS_POLL_MS: '50',
    // Tests call from one address at machine speed; test/http/rate-limit.test.ts checks the limits.
    PLAZA_RATE_LIMIT_PER_MINUTE: '1000000',
    PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
    ...env,
  });
}

/** A Plaza core and app on a database of its own, with workers running. */
export async function startPlaza(
  env: Record<string, string> = {},
  opts: { workers?: boolean } = {},
): Promise<TestPlaza> {
  const database = await createTestDatabase();
  const config = testConfig(env);
  const core = await createCore(config, { db: database.db });
  if (opts.workers !== false) await core.startWorkers();
  const app = createApp(core);
  return {
    core,
    app,
    http: supertest(app.callback()),
    async close() {
      await core.close(2000);
      await database.drop();
    },
  };
}

export interface SignedIn {
  agent: TestAgent;
  user: { id: string; email: string; name: string };
  csrf: string;
}

let counter = 0;
export const uniqueEmail = (label = 'user') =>
  `${label}.${process.pid}.${Date.now()}.${++counter}@example.test`;

/** Signs a new person up; the returned agent keeps the session cookie, `csrf` goes in x-csrf-token. */
export async function signUp(
  plaza: TestPlaza,
  opts: { email?: string; name?: string; password?: string } = {},
): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent
    .post('/v1/auth/signup')
    .send({
      name: opts.name ?? 'Test Person',
      email: opts.email ?? uniqueEmail(),
      password: opts.password ?? 'correct horse battery',
    })
    .expect(201);
  return { agent, user: res.body.user, csrf: res.body.csrfToken };
}

/** Creates an organization as `who` and returns it. */
export async function createOrg(
  who: SignedIn,
  kind: 'developer' | 'agency' | 'account',
  name = `Org ${++counter}`,
) {
  const res = await who.agent
    .post('/v1/organizations')
    .set('x-csrf-token', who.csrf)
    .send({ name, kind })
    .expect(201);
  return res.body as { id: string; name: string; kind: string };
}
