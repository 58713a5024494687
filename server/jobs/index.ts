import path from 'node:path';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { MigrationSource } from '../db/migrate.ts';
import type { Logger } from '../logger.ts';
import { createBullmqQueue } from './bullmq.ts';
import { createPostgresQueue } from './postgres.ts';
import type { JobQueue } from './types.ts';

/** The PostgreSQL runner's tables: part of the platform, applied before any module's. */
export const JOBS_MIGRATIONS: MigrationSource = {
  owner: 'jobs',
  dir: path.join(path.dirname(new URL(import.meta.url).pathname), 'migrations'),
};

export type { FailedJob, JobDefinition, JobInfo, JobOptions, JobQueue } from './types.ts';

/** BullMQ when REDIS_URL is set, else the runner on the main database (PostgreSQL or PGlite). */
export function createJobQueue(deps: {
  config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'jobsPollMs' | 'jobsLeaseMs'>;
  db: Db;
  log: Logger;
}): JobQueue {
  const { config, db, log } = deps;
  if (config.redisUrl)
    return createBullmqQueue({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      log,
      leaseMs: config.jobsLeaseMs,
    });
  return createPostgresQueue({ db, log, pollMs: config.jobsPollMs, leaseMs: config.jobsLeaseMs });
}
