import path from 'node:path';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { MigrationSource } from '../db/migrate.ts';
import type { Logger } from '../logger.ts';
import { createPostgresQueue } from './postgres.ts';
import type { JobQueue } from './types.ts';

/** The PostgreSQL runner's tables: part of the platform, applied before any module's. */
export const JOBS_MIGRATIONS: MigrationSource = {
  owner: 'jobs',
  dir: path.join(path.dirname(new URL(import.meta.url).pathname), 'migrations'),
};

export type { FailedJob, JobDefinition, JobInfo, JobOptions, JobQueue } from './types.ts';

/**
 * BullMQ when REDIS_URL is set, else the runner on the main database (PostgreSQL or PGlite).
 * BullMQ (and ioredis) load only then: an embedded start does not pay for them.
 */
export async function createJobQueue(deps: {
  config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'jobsPollMs' | 'jobsLeaseMs'>;
  db: Db;
  log: Logger;
}): Promise<JobQueue> {
  const { config, db, log } = deps;
  if (config.redisUrl) {
    const { createBullmqQueue } = await import('./bullmq.ts');
    return createBullmqQueue({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      log,
      leaseMs: config.jobsLeaseMs,
    });
  }
  return createPostgresQueue({ db, log, pollMs: config.jobsPollMs, leaseMs: config.jobsLeaseMs });
}
