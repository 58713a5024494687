import { z } from 'zod';

/**
 * Every option Plaza reads from the environment: one line each, with its
 * variable, schema, default and one line of documentation. `loadConfig`
 * validates all of them at boot and names every variable that is wrong.
 * The README's configuration table is printed from this list
 * (`npm run config:table`) and a test keeps the two in step.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Durations like `0,5s,5m,2h,1d` (a bare number is milliseconds) -> milliseconds. */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durations = list.pipe(
  z
    .array(
      z
        .string()
        .regex(DURATION, { message: 'must be durations like 0,5s,5m,2h (units ms, s, m, h, d)' })
        .transform((v) => {
          const [, n, unit] = DURATION.exec(v)!;
          return Math.round(Number(n) * UNIT_MS[(unit ?? 'ms') as keyof typeof UNIT_MS]);
        }),
    )
    .min(1, { message: 'must list at least one attempt' })
    .max(50, { message: 'must list at most 50 attempts' }),
);

function option<S extends z.ZodType>(env: string, schema: S, fallback: string | undefined, doc: string) {
  return { env, schema, fallback, doc };
}

export const configOptions = {
  port: option('PORT', int(0, 65535), '3000', 'HTTP port the API listens on (0 picks a free port).'),
  host: option('HOST', z.string().min(1), '127.0.0.1', 'Interface to listen on; use 0.0.0.0 in containers.'),
  publicUrl: option(
    'PLAZA_PUBLIC_URL',
    url(['http:', 'https:']).optional(),
    undefined,
    'URL users reach Plaza at, used in links and emails. Default: http://localhost:PORT.',
  ),
  role: option(
    'PLAZA_ROLE',
    z.enum(['api', 'worker', 'all'], { message: 'must be one of api, worker, all' }),
    'all',
    'What this process runs: the HTTP API, the job workers, or both.',
  ),
  dataDir: option(
    'PLAZA_DATA_DIR',
    z.string().min(1),
    '.plaza',
    'Folder for embedded data: the PGlite database, the generated secret, uploads.',
  ),
  databaseUrl: option(
    'DATABASE_URL',
    url(['postgres:', 'postgresql:']).optional(),
    undefined,
    'PostgreSQL connection string. Unset: embedded PGlite under PLAZA_DATA_DIR.',
  ),
  databasePoolSize: option('DATABASE_POOL_SIZE', int(1, 200), '10', 'Connections per process to PostgreSQL.'),
  redisUrl: option(
    'REDIS_URL',
    url(['redis:', 'rediss:']).optional(),
    undefined,
    'Redis connection string; jobs run on BullMQ. Unset: jobs run on the PostgreSQL-backed runner.',
  ),
  redisPrefix: option(
    'REDIS_PREFIX',
    z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, { message: 'must be 1-40 letters, digits, _ . or -' }),
    'plaza',
    'Prefix of every Redis key, so that several Plaza installations can share one Redis.',
  ),
  secret: option(
    'PLAZA_SECRET',
    z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
    undefined,
    'Key for cookies and encryption at rest (32+ chars). Unset: generated once into PLAZA_DATA_DIR/secret.',
  ),
  logLevel: option(
    'LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'must be one of fatal, error, warn, info, debug, trace, silent',
    }),
    'info',
    'Log level of the JSON logs written to stdout.',
  ),
  trustProxy: option(
    'PLAZA_TRUST_PROXY',
    bool,
    'false',
    'Trust X-Forwarded-* headers (set when behind a reverse proxy).',
  ),
  bodyLimitBytes: option(
    'PLAZA_BODY_LIMIT_BYTES',
    int(1024, 100 * 1024 * 1024),
    '1048576',
    'Largest JSON body accepted.',
  ),
  checkResponses: option(
    'PLAZA_CHECK_RESPONSES',
    bool.optional(),
    undefined,
    "Parse every API answer against its route's response schema (500 PLAZA_RESPONSE_CONTRACT on a mismatch). Default: on under vitest.",
  ),
  rateLimitPerMinute: option(
    'PLAZA_RATE_LIMIT_PER_MINUTE',
    int(1, 1_000_000),
    '600',
    'API requests per minute for one signed-in person or API key (429 past it).',
  ),
  rateLimitAnonymousPerMinute: option(
    'PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE',
    int(1, 1_000_000),
    '120',
    'API requests per minute from one IP address without credentials.',
  ),
  plugins: option('PLAZA_PLUGINS', list, '', 'Comma-separated plugins to load, by folder name.'),
  pluginsDir: option('PLAZA_PLUGINS_DIR', z.string().min(1), 'plugins', 'Folder plugins are loaded from.'),
  seedDemo: option('PLAZA_SEED_DEMO', bool, 'true', 'Seed demo organizations and logins on first start.'),
  seedHistoryDays: option(
    'PLAZA_SEED_HISTORY_DAYS',
    int(0, 366),
    '0',
    'With the demo seed: days of plausible past events (installs, payments, payouts) for the dashboards; 0 = none.',
  ),
  smtpUrl: option(
    'SMTP_URL',
    url(['smtp:', 'smtps:']).optional(),
    undefined,
    'SMTP server for email. Unset: emails go to the log (and the dev mailbox when it is on).',
  ),
  mailFrom: option(
    'MAIL_FROM',
    z.string().min(3),
    'Plaza <no-reply@plaza.localhost>',
    'Sender of Plaza emails.',
  ),
  devMailbox: option(
    'PLAZA_DEV_MAILBOX',
    bool.optional(),
    undefined,
    'Keep a copy of every sent email at /dev/mailbox, readable by platform admins only (a development tool). Default: on only when SMTP_URL is unset, the public URL is a localhost URL and NODE_ENV is not production; the container images turn it off.',
  ),
  sessionTtlHours: option(
    'PLAZA_SESSION_TTL_HOURS',
    int(1, 24 * 365),
    '336',
    'How long a sign-in session lasts.',
  ),
  loginMaxFailures: option(
    'PLAZA_LOGIN_MAX_FAILURES',
    int(1, 1000),
    '5',
    "Failed sign-ins per email within the window before that email's sign-in is locked; past 4x this from one IP, that IP's failed attempts are answered ever slower (up to 5 s), never locked.",
  ),
  loginWindowMinutes: option(
    'PLAZA_LOGIN_WINDOW_MINUTES',
    int(1, 24 * 60),
    '15',
    'Window and lock time for failed sign-ins.',
  ),
  emailVerificationTtlHours: option(
    'PLAZA_EMAIL_VERIFICATION_TTL_HOURS',
    int(1, 24 * 30),
    '48',
    "How long the link that verifies a new account's email is valid.",
  ),
  passwordResetTtlMinutes: option(
    'PLAZA_PASSWORD_RESET_TTL_MINUTES',
    int(5, 24 * 60),
    '30',
    'How long a password reset link is valid (it works once).',
  ),
  invitationTtlHours: option(
    'PLAZA_INVITATION_TTL_HOURS',
    int(1, 24 * 90),
    '168',
    'How long an invitation link is valid.',
  ),
  jobsPollMs: option(
    'PLAZA_JOBS_POLL_MS',
    int(10, 60_000),
    '500',
    'How often the PostgreSQL job runner looks for due jobs.',
  ),
  jobsLeaseMs: option(
    'PLAZA_JOBS_LEASE_MS',
    int(1000, 3_600_000),
    '30000',
    'How long a worker holds a job before another may take it (renewed while it runs).',
  ),
  payoutLeaseMs: option(
    'PLAZA_PAYOUT_LEASE_MS',
    int(1000, 3_600_000),
    '180000',
    'How long a payout run holds a payout it is sending before another run may take it over (renewed while it sends; half of it must outlast the slowest transfer answer).',
  ),
  shutdownTimeoutMs: option(
    'PLAZA_SHUTDOWN_TIMEOUT_MS',
    int(0, 600_000),
    '15000',
    'On SIGTERM, how long to wait for requests and jobs to finish.',
  ),
  // Apps and reviews.
  clientSecretOverlapHours: option(
    'PLAZA_CLIENT_SECRET_OVERLAP_HOURS',
    int(0, 24 * 30),
    '24',
    'After an app client secret is rotated, how long the old one keeps working.',
  ),
  reviewTargetBusinessDays: option(
    'PLAZA_REVIEW_TARGET_BUSINESS_DAYS',
    int(1, 60),
    '5',
    'Published app review target: business days from submission to a decision.',
  ),
  // OAuth provider.
  oauthAccessTokenTtlSeconds: option(
    'PLAZA_OAUTH_ACCESS_TOKEN_TTL_SECONDS',
    int(60, 24 * 3600),
    '900',
    'Lifetime of the access tokens apps get (JWTs for the Plaza API).',
  ),
  oauthRefreshGraceSeconds: option(
    'PLAZA_OAUTH_REFRESH_GRACE_SECONDS',
    int(0, 300),
    '10',
    'After a refresh token is used, how long a retry with it still works (a lost response); 0 turns it off.',
  ),
  oauthRefreshTokenTtlDays: option(
    'PLAZA_OAUTH_REFRESH_TOKEN_TTL_DAYS',
    int(1, 3650),
    '90',
    'How long an unused refresh token stays valid (each refresh issues a new one).',
  ),
  oauthTokenRateLimitPerMinute: option(
    'PLAZA_OAUTH_TOKEN_RATE_LIMIT_PER_MINUTE',
    int(1, 10_000_000),
    '1200',
    'Token and revocation endpoint requests per minute of one app (client); 429 slow_down past it.',
  ),
  // The scoped API apps call, and contacts.
  appRateLimitPerMinute: option(
    'PLAZA_APP_RATE_LIMIT_PER_MINUTE',
    int(1, 1_000_000),
    '600',
    'App API requests per minute of one installation (one app in one account); 429 past it.',
  ),
  appRateLimitPerAppPerMinute: option(
    'PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE',
    int(1, 10_000_000),
    '20000',
    'App API requests per minute of one app across all its installations and client-credentials calls.',
  ),
  contactsMaxPerAccount: option(
    'PLAZA_CONTACTS_MAX_PER_ACCOUNT',
    int(1, 100_000_000),
    '100000',
    'Soft limit of contacts in one account; creating more answers 409.',
  ),
  // Webhooks: signed delivery, retries, dead letters, endpoint health.
  webhooksAllowPrivate: option(
    'WEBHOOKS_ALLOW_PRIVATE',
    bool,
    'false',
    'Deliver webhooks to loopback, private and other non-public addresses, and allow http:// loopback URLs (tests and local development only).',
  ),
  webhooksSecretKey: option(
    'PLAZA_WEBHOOKS_SECRET_KEY',
    z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
    undefined,
    'Key that encrypts endpoint signing secrets at rest (32+ chars). Unset: derived from PLAZA_SECRET.',
  ),
  webhooksTimeoutMs: option(
    'PLAZA_WEBHOOKS_TIMEOUT_MS',
    int(100, 120_000),
    '15000',
    'How long one webhook attempt may take (connect, send, answer) before it counts as failed.',
  ),
  webhooksRetrySchedule: option(
    'PLAZA_WEBHOOKS_RETRY_SCHEDULE',
    durations,
    '0,5s,5m,30m,2h,5h,10h,10h',
    'Delay before each attempt of a message (the first is the first attempt); the length is the number of attempts.',
  ),
  webhooksTimeScale: option(
    'PLAZA_WEBHOOKS_TIME_SCALE',
    z.coerce
      .number({ message: 'must be a number' })
      .gt(0, { message: 'must be above 0' })
      .max(1, { message: 'must be at most 1' }),
    '1',
    'Multiplies the retry schedule and the failing period before an endpoint is disabled (tests: 0.001).',
  ),
  webhooksRetryAfterMaxSeconds: option(
    'PLAZA_WEBHOOKS_RETRY_AFTER_MAX_SECONDS',
    int(0, 7 * 24 * 3600),
    '3600',
    'Longest Retry-After (on 429 and 503) a receiver can ask for; longer answers are cut to this.',
  ),
  webhooksMaxPayloadBytes: option(
    'PLAZA_WEBHOOKS_MAX_PAYLOAD_BYTES',
    int(1024, 16 * 1024 * 1024),
    '262144',
    'Largest event payload; emitting a larger event fails with 413.',
  ),
  webhooksEndpointConcurrency: option(
    'PLAZA_WEBHOOKS_ENDPOINT_CONCURRENCY',
    int(1, 1000),
    '10',
    'Attempts in flight to one endpoint across all workers, so that one slow receiver cannot hold every worker.',
  ),
  webhooksWorkerConcurrency: option(
    'PLAZA_WEBHOOKS_WORKER_CONCURRENCY',
    int(1, 1000),
    '50',
    'Webhook attempts one worker process runs at once.',
  ),
  webhooksSecretOverlapHours: option(
    'PLAZA_WEBHOOKS_SECRET_OVERLAP_HOURS',
    int(0, 24 * 30),
    '24',
    'After an endpoint secret is rotated, how long messages carry a signature with the old one too.',
  ),
  webhooksDisableAfterHours: option(
    'PLAZA_WEBHOOKS_DISABLE_AFTER_HOURS',
    int(1, 24 * 365),
    '120',
    'An endpoint failing every attempt for this long is disabled and its developer notified.',
  ),
  webhooksDisableMinFailures: option(
    'PLAZA_WEBHOOKS_DISABLE_MIN_FAILURES',
    int(1, 100_000),
    '5',
    'Failed attempts in a row an endpoint needs before the failing period can disable it.',
  ),
  webhooksPayloadRetentionDays: option(
    'PLAZA_WEBHOOKS_PAYLOAD_RETENTION_DAYS',
    int(1, 3650),
    '30',
    'How long message payloads are kept (for retries, replay and the log); a job deletes older ones.',
  ),
  webhooksLogRetentionDays: option(
    'PLAZA_WEBHOOKS_LOG_RETENTION_DAYS',
    int(1, 3650),
    '90',
    'How long messages and their attempts stay in the log; a job deletes older ones.',
  ),
  webhooksPollMs: option(
    'PLAZA_WEBHOOKS_POLL_MS',
    int(10, 60_000),
    '1000',
    'Longest a worker waits before looking for due webhook messages when nothing woke it (new messages and finished attempts in the same process wake it at once; the time of the next retry is known).',
  ),
  webhooksMaxEndpointsPerApp: option(
    'PLAZA_WEBHOOKS_MAX_ENDPOINTS_PER_APP',
    int(1, 1000),
    '20',
    'Webhook endpoints one app may have.',
  ),
  stripeSecretKey: option(
    'STRIPE_SECRET_KEY',
    z
      .string()
      .regex(/^(sk|rk)_(test|live)_\w+$/, { message: 'must be a Stripe secret key (sk_test_… or sk_live_…)' })
      .optional(),
    undefined,
    'Stripe secret key of the platform account: payments, Connect payouts and refunds go through Stripe. Unset: the embedded sandbox provider (test mode, labelled "sandbox" in the API and UI).',
  ),
  stripeWebhookSecret: option(
    'STRIPE_WEBHOOK_SECRET',
    list
      .pipe(
        z
          .array(
            z.string().startsWith('whsec_', { message: 'must be Stripe webhook signing secrets (whsec_…)' }),
          )
          .min(1, { message: 'must list at least one whsec_ secret' }),
      )
      .optional(),
    undefined,
    'Signing secrets (whsec_…, comma-separated) of the Stripe webhook endpoints at PLAZA_PUBLIC_URL/v1/payments/stripe/webhook: the platform endpoint (checkout, charge, dispute, transfer events) and the Connect endpoint (account.updated), and an old one while rotating. Required with STRIPE_SECRET_KEY.',
  ),
  stripeApiUrl: option(
    'STRIPE_API_URL',
    url(['http:', 'https:']).optional(),
    undefined,
    "Where the Stripe API is reached. Unset: Stripe's own. Tests point it at a local fake Stripe.",
  ),
} as const;

type Options = typeof configOptions;
export type Config = { [K in keyof Options]: z.output<Options[K]['schema']> } & {
  /** Resolved public URL (publicUrl or http://localhost:PORT), without trailing slash. */
  baseUrl: string;
  /** Every `PLAZA_PLUGIN_<NAME>_<KEY>` variable; the plugin host validates them against each plugin's schema. */
  pluginEnv: Record<string, string>;
};

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads and validates every option; throws one ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, opt] of Object.entries(configOptions)) {
    const raw = env[opt.env];
    const value = raw === undefined || raw === '' ? opt.fallback : raw;
    if (value === undefined) {
      out[key] = undefined;
      continue;
    }
    const parsed = (opt.schema as z.ZodType).safeParse(value);
    if (parsed.success) out[key] = parsed.data;
    else
      problems.push(
        `${opt.env}: ${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(raw)})`,
      );
  }
  // Tests run with the response contract checked, so a handler that drifts from its schema fails the test that called it.
  out.checkResponses ??= process.env.VITEST === 'true';
  if (out.stripeSecretKey && !out.stripeWebhookSecret)
    problems.push(
      'STRIPE_WEBHOOK_SECRET: must be set with STRIPE_SECRET_KEY (Stripe events are how payments settle)',
    );
  if (problems.length) throw new ConfigError(problems);
  out.baseUrl = String(out.publicUrl ?? `http://localhost:${out.port}`).replace(/\/+$/, '');
  // The dev mailbox shows every email sent, so it is only on by itself for a person trying Plaza on their own machine.
  out.devMailbox ??= !out.smtpUrl && isLocalhostUrl(out.baseUrl as string) && env.NODE_ENV !== 'production';
  out.pluginEnv = Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] => e[0].startsWith('PLAZA_PLUGIN_') && e[1] !== undefined,
    ),
  );
  return out as Config;
}

function isLocalhostUrl(u: string): boolean {
  const host = new URL(u).hostname;
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

/** The README's configuration table, in Markdown. */
export function configTable(): string {
  const rows = Object.values(configOptions).map(
    (o) =>
      `| \`${o.env}\` | ${o.fallback === undefined || o.fallback === '' ? '—' : `\`${o.fallback}\``} | ${o.doc} |`,
  );
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
