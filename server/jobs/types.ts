/**
 * The job queue port. Two adapters implement it: BullMQ on Redis
 * (`bullmq.ts`) and a PostgreSQL runner (`postgres.ts`). Both pass the one
 * contract suite in test/jobs/. Handlers must be idempotent: delivery is
 * at least once (a worker killed mid-job means the job runs again).
 */
export interface JobOptions {
  /** Run no earlier than this many ms from now. */
  delayMs?: number;
  /** Total tries including the first (default from the definition, else 3). */
  attempts?: number;
  /** Deduplication key: enqueueing an id that is waiting, delayed or active is a no-op. */
  jobId?: string;
}

export interface JobDefinition<T = any> {
  name: string;
  handler: (data: T, job: JobInfo) => Promise<void>;
  /** Jobs of this name running at once in one process (default 1). */
  concurrency?: number;
  /** Default total tries (default 3). */
  attempts?: number;
  /** Backoff between tries: delay = baseMs * 2^(attempt-1), capped at maxMs (defaults 1000 / 1 h). */
  backoff?: { baseMs: number; maxMs?: number };
}

export interface JobInfo {
  id: string;
  name: string;
  /** 1 on the first try. */
  attempt: number;
  maxAttempts: number;
}

export interface FailedJob {
  id: string;
  name: string;
  data: unknown;
  attempts: number;
  error: string;
  failedAt: Date;
}

export interface JobCounts {
  name: string;
  /** Due or delayed, not yet taken. */
  waiting: number;
  active: number;
  failed: number;
}

export interface JobQueue {
  readonly kind: 'bullmq' | 'postgres';
  /** Declare a job type. Must be called before `start`; enqueueing works in any process. */
  define<T>(def: JobDefinition<T>): void;
  enqueue<T>(name: string, data: T, opts?: JobOptions): Promise<string>;
  /**
   * Runs the defined job `name` every `everyMs` (with `null` data) while workers
   * run, once per interval across all worker processes. Call before `start`.
   */
  repeat(name: string, everyMs: number): void;
  /** Starts workers for every defined job (only in processes that run workers). */
  start(): Promise<void>;
  /**
   * Stops taking jobs, waits up to `timeoutMs` for running ones to finish;
   * those still running go back to the queue. Closes connections.
   */
  stop(timeoutMs?: number): Promise<void>;
  /** Jobs that used all their tries, newest first. */
  failed(name?: string, limit?: number): Promise<FailedJob[]>;
  /** Puts a failed job back to run again with fresh tries. */
  retryFailed(id: string): Promise<void>;
  /** Jobs per name and state right now (queue depth and failed jobs on the operator's dashboard). */
  counts(): Promise<JobCounts[]>;
  /** Answers when the backing store answers (readiness). */
  ping(): Promise<void>;
}
