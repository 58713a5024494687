/**
 * The ledger on PostgreSQL, in one run:
 *
 * 1. Postings per second: BENCH_LEDGER_TX balanced transactions (default
 *    20,000; 4 entries each, a charge split between the provider balance,
 *    fees, platform revenue and one of 1,000 partners) through
 *    `ledger.post` (idempotency key, per-statement balance and currency
 *    check, closed-period check, immutable rows, no-overdraft balances
 *    updated in the same transaction), against a bare INSERT of the same
 *    transaction and entry rows into tables without any check, with the same
 *    round trips (BEGIN, one statement, COMMIT) and BENCH_LEDGER_CONCURRENCY
 *    in flight (default 16), interleaved in rounds. Goal: >= 0.5x the bare
 *    INSERT and >= 2,000 balanced transactions/s. Also prints the statements
 *    and the CPU time per transaction of each side (this process, and the
 *    database backends when the server runs on this machine): on a busy
 *    machine their ratio says what the rate ratio would be on a quiet one.
 * 2. A payout run for 1,000 and for 10,000 partners (BENCH_PAYOUT_PARTNERS),
 *    each with two charges past their payout terms, on a fresh database each:
 *    duration and growth ratio (10x partners: ideally 10x time). The provider
 *    is an in-process double that answers at once, so the figure is Plaza's
 *    side of the run (releases, payouts, ledger postings, line states).
 *
 *   npm run bench -- ledger
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { connectPostgres, type Db } from '../server/db/index.ts';
import { runMigrations } from '../server/db/migrate.ts';
import { coreMigrationSources } from '../server/modules/index.ts';
import type { PayoutProviderPort, PostInput } from '../server/modules/ledger/port.ts';
import { createLedgerService } from '../server/modules/ledger/service.ts';

const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TX = Number(process.env.BENCH_LEDGER_TX ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_LEDGER_CONCURRENCY ?? 16);
const PARTNER_SIZES = (process.env.BENCH_PAYOUT_PARTNERS ?? '1000,10000')
  .split(',')
  .filter(Boolean)
  .map(Number);
const ROUNDS = 10;
const DAY = 86_400_000;

// Every statement any pool client sends (BEGIN and COMMIT included): the payout run's statements per partner.
// BENCH_LEDGER_PROFILE=1 also times them by text and prints the payout run's costliest.
let statements = 0;
const PROFILE = process.env.BENCH_LEDGER_PROFILE === '1';
const profile = new Map<string, { calls: number; ms: number }>();
const clientQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  statements++;
  if (!PROFILE) return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  const q = args[0] as string | { text: string };
  const text = (typeof q === 'string' ? q : q.text).replace(/\s+/g, ' ').slice(0, 110);
  const t0 = performance.now();
  const done = () => {
    const p = profile.get(text) ?? { calls: 0, ms: 0 };
    p.calls++;
    p.ms += performance.now() - t0;
    profile.set(text, p);
  };
  // pg-pool passes a callback; a client in a transaction gets a promise.
  const cb = args.at(-1);
  if (typeof cb === 'function')
    args[args.length - 1] = (...r: unknown[]) => {
      done();
      return cb(...r);
    };
  const out = (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (out instanceof Promise) out.then(done, done);
  return out;
} as typeof clientQuery;

async function freshDatabase(): Promise<{ db: Db; drop: () => Promise<void> }> {
  const name = `plaza_bench_ledger_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const db = connectPostgres(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), CONCURRENCY + 4);
  await runMigrations(db, coreMigrationSources());
  return {
    db,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
  return performance.now() - started;
}

/** CPU time (µs) used so far by these server processes, read from /proc; undefined when the server is elsewhere. */
function backendCpu(pids: number[]): number | undefined {
  try {
    let ticks = 0;
    for (const pid of pids) {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    }
    return ticks * 10_000; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Time, statements, this process's CPU and the backends' CPU of one phase. */
interface Cost {
  ms: number;
  statements: number;
  nodeUs: number;
  pgUs: number | undefined;
}

async function measured(pids: number[], run: () => Promise<number>): Promise<Cost> {
  const s0 = statements;
  const c0 = process.cpuUsage();
  const p0 = backendCpu(pids);
  const ms = await run();
  const c = process.cpuUsage(c0);
  const p1 = backendCpu(pids);
  return {
    ms,
    statements: statements - s0,
    nodeUs: c.user + c.system,
    pgUs: p0 === undefined || p1 === undefined ? undefined : p1 - p0,
  };
}

function charge(i: number, round: number): PostInput {
  const amount = 1_000n + BigInt(i % 9_000);
  const fee = amount / 30n;
  const partner = ((amount - fee) * 3n) / 4n;
  return {
    idempotencyKey: `bench:${round}:${i}`,
    currency: 'USD',
    description: 'bench charge',
    sourceRef: { kind: 'charge', id: `inv_${round}_${i}`, providerObjectId: `ch_${round}_${i}` },
    entries: [
      { account: { kind: 'provider_cash', party: 'sandbox' }, direction: 'debit', amount: amount - fee },
      { account: { kind: 'processing_fees' }, direction: 'debit', amount: fee },
      { account: { kind: 'platform_revenue' }, direction: 'credit', amount: amount - partner },
      {
        account: { kind: 'partner_pending', party: `org_${i % 1000}` },
        direction: 'credit',
        amount: partner,
      },
    ],
  };
}

async function postings(): Promise<void> {
  const { db, drop } = await freshDatabase();
  try {
    const ledger = createLedgerService({ db });
    // The same rows with their primary keys, no checks: no idempotency key, trigger, constraint,
    // foreign key, other index or balance.
    await db.exec(`
      CREATE TABLE bare_transactions (id text PRIMARY KEY, idempotency_key text, body_hash text, currency text,
        effective_at timestamptz, posted_at timestamptz DEFAULT now(), description text, source_kind text,
        source_id text, provider_object_id text);
      CREATE TABLE bare_entries (id bigserial PRIMARY KEY, transaction_id text, account_id bigint, direction text, amount bigint);`);
    const bare = async (i: number, round: number) => {
      const p = charge(i, round);
      const id = `ltx_bare_${round}_${i}`;
      await db.transaction((tx) =>
        tx.query(
          `WITH t AS (INSERT INTO bare_transactions (id, idempotency_key, body_hash, currency, effective_at, description,
                        source_kind, source_id, provider_object_id)
                      VALUES ($1, $2, 'x', 'USD', now(), $3, $4, $5, $6))
           INSERT INTO bare_entries (transaction_id, account_id, direction, amount)
           SELECT $1, a, d, m FROM unnest($7::bigint[], $8::text[], $9::bigint[]) AS u(a, d, m)`,
          [
            id,
            p.idempotencyKey,
            p.description,
            p.sourceRef.kind,
            p.sourceRef.id,
            p.sourceRef.providerObjectId,
            [1, 2, 3, 4 + (i % 1000)],
            p.entries.map((e) => e.direction),
            p.entries.map((e) => e.amount.toString()),
          ],
          'bench_bare',
        ),
      );
    };
    const real = async (i: number, round: number) => {
      await db.transaction((tx) => ledger.post(tx, charge(i, round)));
    };
    // Warm-up: accounts created, statements planned, caches filled.
    await pool(2_000, CONCURRENCY, (i) => real(i, -1));
    await pool(2_000, CONCURRENCY, (i) => bare(i, -1));
    // The pool's connections, all open after the warm-up.
    const pids = (
      await db.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      )
    ).map((r) => r.pid);
    const per = Math.ceil(TX / ROUNDS);
    const sum = (a: Cost, b: Cost): Cost => ({
      ms: a.ms + b.ms,
      statements: a.statements + b.statements,
      nodeUs: a.nodeUs + b.nodeUs,
      pgUs: a.pgUs === undefined || b.pgUs === undefined ? undefined : a.pgUs + b.pgUs,
    });
    let bareCost: Cost = { ms: 0, statements: 0, nodeUs: 0, pgUs: 0 };
    let realCost: Cost = { ms: 0, statements: 0, nodeUs: 0, pgUs: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      bareCost = sum(bareCost, await measured(pids, () => pool(per, CONCURRENCY, (i) => bare(i, r))));
      realCost = sum(realCost, await measured(pids, () => pool(per, CONCURRENCY, (i) => real(i, r))));
    }
    const bareMs = bareCost.ms;
    const realMs = realCost.ms;
    const total = per * ROUNDS;
    const bareRate = total / (bareMs / 1000);
    const realRate = total / (realMs / 1000);
    const perTx = (c: Cost) =>
      `${(c.statements / total).toFixed(1)} statements, CPU ${(c.nodeUs / total).toFixed(0)} µs here` +
      (c.pgUs === undefined ? '' : ` + ${(c.pgUs / total).toFixed(0)} µs in PostgreSQL`) +
      ' per tx';
    const cpu = (c: Cost) => c.nodeUs + (c.pgUs ?? 0);
    const check = await ledger.verify();
    console.log(
      `postings: ${total} transactions of 4 entries each way, ${CONCURRENCY} in flight, ${ROUNDS} interleaved rounds`,
    );
    console.log(`  bare INSERT (no checks)   ${bareRate.toFixed(0).padStart(7)} tx/s; ${perTx(bareCost)}`);
    console.log(`  ledger.post (all checks)  ${realRate.toFixed(0).padStart(7)} tx/s; ${perTx(realCost)}`);
    console.log(
      `  ratio ${(realRate / bareRate).toFixed(2)}x (goal >= 0.5x), ${realRate >= 2000 ? 'meets' : 'misses'} 2,000 tx/s; ` +
        `verify: ${check.mismatches.length} balance differences, ${check.unbalanced.length} unbalanced over ${check.accounts} accounts`,
    );
    console.log(
      `  CPU per transaction, bare / ledger: ${(cpu(bareCost) / cpu(realCost)).toFixed(2)}x ` +
        `(${realCost.pgUs === undefined ? 'this process only' : 'this process and the backends'}; the rate ratio when CPU is all that limits)`,
    );
  } finally {
    await drop();
  }
}

async function payoutRun(partners: number): Promise<number> {
  const { db, drop } = await freshDatabase();
  try {
    const ledger = createLedgerService({ db });
    let transfers = 0;
    const provider: PayoutProviderPort = {
      name: 'sandbox',
      accountStatus: async (party) => ({
        canReceive: true,
        providerAccountId: `acct_${party}`,
        providerBalance: [],
      }),
      transfer: async (req) => ({ transferId: `tr_${++transfers}_${req.idempotencyKey.length}` }),
      async *balanceTransactions() {},
    };
    ledger.usePayoutProvider(provider);
    const settled = new Date(Date.now() - 40 * DAY);
    await pool(partners * 2, CONCURRENCY, async (i) => {
      await db.transaction((tx) =>
        ledger.recordCharge(tx, {
          invoiceId: `inv_${i}`,
          providerChargeId: `ch_${i}`,
          provider: 'sandbox',
          customerOrgId: 'org_customer',
          developerOrgId: `org_dev_${i % partners}`,
          appId: 'app_bench',
          amount: 10_000n,
          currency: 'USD',
          processingFee: 320n,
          settlesAt: settled,
        }),
      );
    });
    profile.clear();
    const started = performance.now();
    const before = statements;
    const result = await ledger.runPayouts('bench');
    const ms = performance.now() - started;
    const sent = statements - before;
    const check = await ledger.verify();
    if (result.paid !== partners || transfers !== partners * 2)
      throw new Error(
        `payout run paid ${result.paid} partners with ${transfers} transfers, expected ${partners}`,
      );
    console.log(
      `  ${String(partners).padStart(6)} partners: ${(ms / 1000).toFixed(2)} s, ${result.paid} payouts, ${transfers} transfers, ` +
        `${(partners / (ms / 1000)).toFixed(0)} partners/s, ${(sent / partners).toFixed(1)} statements per partner; ` +
        `verify: ${check.mismatches.length} differences`,
    );
    if (PROFILE)
      for (const [text, p] of [...profile].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12))
        console.log(`    ${(p.ms / 1000).toFixed(2).padStart(7)} s ${String(p.calls).padStart(6)}x  ${text}`);
    return ms;
  } finally {
    await drop();
  }
}

await postings();
console.log('payout run (provider double answering at once; two invoices per partner):');
const times: number[] = [];
for (const n of PARTNER_SIZES) times.push(await payoutRun(n));
if (times.length >= 2)
  console.log(
    `  growth: ${PARTNER_SIZES.at(-1)! / PARTNER_SIZES[0]}x partners took ${(times.at(-1)! / times[0]).toFixed(2)}x the time`,
  );
