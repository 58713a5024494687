import supertest from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from '../fake-stripe/server.ts';
import { killLeftoverPlazas, type PlazaServer, spawnPlaza, startPlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  account,
  type Person,
  person,
  registerApp,
  signInWithPlatformRole,
  type TestApp,
} from '../helpers/world.ts';

/**
 * Fault tests. 1: the worker process running a payout run is SIGKILLed while the
 * Stripe adapter waits on transfer answers (the fake Stripe has made the
 * transfer but answers late), then a fresh worker process finishes the run.
 * No transfer is made twice (per idempotency key, per invoice and payee), none
 * is lost (every partner paid exactly its lines), and the ledger balances and
 * reconciles with the fake's balance transactions. 2: the operator's button
 * (this process) and the payout job (a worker process) run at once while
 * Stripe is slow: each transfer key is sent once, no payout is marked failed.
 *
 * This process only serves the API (no workers): the payout run happens in
 * `server/main.ts` processes with PLAZA_ROLE=worker on the same PostgreSQL.
 */
let fake: FakeStripe;
let plaza: PlazaServer;
const LEASE_MS = 2000;

beforeAll(async () => {
  fake = await startFakeStripe();
  plaza = await startPlazaServer({ env: fake.env(), workers: false });
  fake.setWebhookUrl(`${plaza.baseUrl}/v1/payments/stripe/webhook`);
});
afterEach(() => killLeftoverPlazas());
afterAll(async () => {
  await fake?.close();
  await plaza?.close();
});

/** A worker process on the test's database and fake Stripe; resolves once its workers run. */
async function startWorker() {
  const proc = await spawnPlaza(
    {
      ...fake.env(),
      PLAZA_ROLE: 'worker',
      DATABASE_URL: plaza.database.url!,
      PLAZA_SECRET: 'test-secret-test-secret-test-secret-0123',
      PLAZA_DATA_DIR: plaza.core.config.dataDir,
      PLAZA_SEED_DEMO: 'false',
      PLAZA_JOBS_POLL_MS: '50',
      PLAZA_JOBS_LEASE_MS: String(LEASE_MS),
      // Half of it (renewed then) outlasts a transfer answered 800 ms late.
      PLAZA_PAYOUT_LEASE_MS: String(LEASE_MS),
    },
    { waitForListen: false },
  );
  await waitFor(
    'the worker to run its jobs',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`the worker exited:\n${proc.output()}`);
      return proc.output().includes('Plaza workers running');
    },
    60_000,
  );
  return proc;
}

/** The developer of `app` connects a payout account and finishes Stripe onboarding. */
async function connect(app: TestApp): Promise<string> {
  const agent = supertest.agent(plaza.app.callback());
  const { email, password } = app.developerPerson;
  const csrf = (await agent.post('/v1/auth/login').send({ email, password }).expect(200)).body.csrfToken;
  const { accountId } = (
    await agent
      .post(`/v1/organizations/${app.developer.org.id}/payouts/account`)
      .set('x-csrf-token', csrf)
      .send({})
      .expect(200)
  ).body;
  fake.completeOnboarding(accountId);
  await fake.flush();
  return accountId;
}

/** A customer account installs `app` and pays the checkout: an invoice paid through the fake. */
async function buys(app: TestApp, customer: Awaited<ReturnType<typeof account>>, who: Person) {
  let url = '';
  try {
    await plaza.core.installations.admit({
      accountId: customer.org.id,
      appId: app.appId,
      versionId: app.versionId,
      grantedScopes: app.scopes,
      actor: who.actor,
      via: 'consent',
    });
  } catch (err) {
    url = (err as { extra: { checkoutUrl: string } }).extra.checkoutUrl;
  }
  expect(url).toMatch(/^http/);
  await fetch(`${url}/pay`, {
    method: 'POST',
    body: 'card=4242',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    redirect: 'manual',
  });
  await fake.flush();
}

describe('a payout run whose worker is SIGKILLed mid-run', () => {
  it('is finished by a fresh worker: every partner paid once, no transfer twice, the ledger balanced', async () => {
    // Three developers with 1, 2 and 3 paid invoices: six transfers in one run.
    const apps: TestApp[] = [];
    const destination = new Map<string, string>();
    for (let i = 0; i < 3; i++) {
      const app = await registerApp(plaza, {
        redirectUris: ['https://app.example.com/cb'],
        pricing: { type: 'one_time', amount: 10_000 + i * 1_000, currency: 'USD' },
      });
      destination.set(app.developer.org.id, await connect(app));
      apps.push(app);
    }
    for (let c = 0; c < 3; c++) {
      const owner = await person(plaza, `Customer ${c}`);
      const shop = await account(plaza, owner, `Shop ${c}`);
      for (const app of apps.slice(c)) await buys(app, shop, owner);
    }
    const partners = apps.map((a) => a.developer.org.id);
    // The lines' payout terms ran out.
    await plaza.core.db.query(
      "UPDATE ledger_partner_lines SET available_at = now() - interval '1 day' WHERE party = ANY($1::text[])",
      [partners],
    );
    const lines = await plaza.core.db.query<{ invoice_id: string; party: string; amount: string }>(
      `SELECT invoice_id, party, (amount - refunded)::text AS amount FROM ledger_partner_lines
       WHERE party = ANY($1::text[]) ORDER BY party, invoice_id`,
      [partners],
    );
    expect(lines).toHaveLength(6);
    const due = new Map<string, bigint>();
    for (const l of lines) due.set(l.party, (due.get(l.party) ?? 0n) + BigInt(l.amount));

    // Worker 1 takes the run; every transfer answer takes 800 ms, so it dies waiting on one.
    fake.answerLate('/v1/transfers', 800);
    const from = new Date(Date.now() - 60_000);
    const first = await startWorker();
    await plaza.core.jobs.enqueue('ledger.run_payouts', { by: 'test' });
    const made = () =>
      fake.objectsOf('transfer').filter((t) => lines.some((l) => l.invoice_id === t.transfer_group));
    await waitFor('four transfers made at the fake', () => made().length >= 4, 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    // The kill landed mid-run: payouts still processing, transfers made the ledger has not recorded.
    const processing = await plaza.core.db.query(
      "SELECT id FROM ledger_payouts WHERE party = ANY($1::text[]) AND state = 'processing'",
      [partners],
    );
    expect(processing.length).toBeGreaterThanOrEqual(1);
    const recorded = await plaza.core.db.query(
      "SELECT count(*)::int AS n FROM ledger_partner_lines WHERE party = ANY($1::text[]) AND state = 'paid'",
      [partners],
    );
    expect(recorded[0].n).toBeLessThan(made().length);
    const madeBeforeKill = made().length;
    expect(madeBeforeKill).toBeLessThan(6);

    // A fresh worker takes the run again once the dead one's lease has run out.
    const second = await startWorker();
    await waitFor(
      'every partner paid',
      async () =>
        (
          await plaza.core.db.query(
            "SELECT 1 FROM ledger_partner_lines WHERE party = ANY($1::text[]) AND state <> 'paid'",
            [partners],
          )
        ).length === 0,
      40_000,
    );

    // No double transfer: one transfer per invoice and payee, one per idempotency key.
    const all = made();
    expect(all).toHaveLength(6);
    for (const l of lines) {
      const ts = all.filter(
        (t) => t.transfer_group === l.invoice_id && t.destination === destination.get(l.party),
      );
      expect(ts).toHaveLength(1);
      expect(ts[0].amount).toBe(Number(l.amount));
    }
    const keys = lines.map((l) => `xfer:${l.invoice_id}:${l.party}`);
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/transfers');
    expect(new Set(posts.map((r) => r.idempotencyKey))).toEqual(new Set(keys));
    // At least one key was sent by both workers (the answer the first never heard): the fake replayed it.
    expect(posts.length).toBeGreaterThan(6);

    // No lost transfer: each partner has exactly one payout, paid, of everything it was due.
    for (const party of partners) {
      const payouts = await plaza.core.ledger.payoutsOf(party);
      expect(payouts).toHaveLength(1);
      expect(payouts[0]).toMatchObject({ state: 'paid', amount: due.get(party) });
      const b = (await plaza.core.ledger.balances(party)).find((x) => x.currency === 'USD');
      expect(b).toMatchObject({ pending: 0n, available: 0n, inTransit: 0n, paid: due.get(party) });
      const paidTo = all
        .filter((t) => t.destination === destination.get(party))
        .reduce((s, t) => s + t.amount, 0);
      expect(BigInt(paidTo)).toBe(due.get(party));
    }

    // The ledger balances and matches the fake's balance transactions.
    const v = await plaza.core.ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
    const r = await plaza.core.ledger.reconcile({ from, to: new Date(Date.now() + 60_000) });
    expect(r.differences).toEqual([]);

    second.child.kill('SIGTERM');
    await second.exited;
  }, 90_000);
});

describe('the operator button and the payout job running at once, in two processes', () => {
  it('send each transfer once: the run that holds a payout sends it, the other waits for it to settle', async () => {
    const apps: TestApp[] = [];
    const destination = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const app = await registerApp(plaza, {
        redirectUris: ['https://app.example.com/cb'],
        pricing: { type: 'one_time', amount: 20_000 + i * 1_000, currency: 'USD' },
      });
      destination.set(app.developer.org.id, await connect(app));
      apps.push(app);
    }
    for (let c = 0; c < 2; c++) {
      const owner = await person(plaza, `Buyer ${c}`);
      const shop = await account(plaza, owner, `Store ${c}`);
      for (const app of apps) await buys(app, shop, owner);
    }
    const partners = apps.map((a) => a.developer.org.id);
    await plaza.core.db.query(
      "UPDATE ledger_partner_lines SET available_at = now() - interval '1 day' WHERE party = ANY($1::text[])",
      [partners],
    );
    const lines = await plaza.core.db.query<{ invoice_id: string; party: string; amount: string }>(
      `SELECT invoice_id, party, (amount - refunded)::text AS amount FROM ledger_partner_lines
       WHERE party = ANY($1::text[]) ORDER BY party, invoice_id`,
      [partners],
    );
    expect(lines).toHaveLength(4);
    const from = new Date(Date.now() - 60_000);
    const worker = await startWorker();

    // Stripe takes 2.5 s over each transfer: its key is in use meanwhile (a second request with it gets 409).
    fake.answerSlow('/v1/transfers', 2500);
    const posts = () =>
      fake.requests.filter(
        (r) =>
          r.method === 'POST' &&
          r.path === '/v1/transfers' &&
          lines.some((l) => r.idempotencyKey?.includes(l.invoice_id)),
      );
    const admin = await signInWithPlatformRole(plaza, 'admin');
    const button = admin.agent
      .post('/v1/admin/finance/payout-runs')
      .set('x-csrf-token', admin.csrf)
      .then((r) => r);
    await waitFor('the button run sending its first transfers', () => posts().length >= 2, 30_000);
    // Meanwhile the payout job runs in the worker process, on the same database and Stripe.
    await plaza.core.jobs.enqueue('ledger.run_payouts', { by: 'race-job' });
    const clicked = await button;
    expect(clicked.status).toBe(200);
    await waitFor(
      'the job run finished',
      async () =>
        (
          await plaza.core.db.query(
            "SELECT 1 FROM ledger_payout_runs WHERE triggered_by = 'race-job' AND finished_at IS NOT NULL",
          )
        ).length === 1,
      60_000,
    );
    fake.answerSlow('/v1/transfers', 0);

    // Each key reached Stripe once (no concurrent duplicate, so no 409), each transfer made once.
    const keys = lines.map((l) => `xfer:${l.invoice_id}:${l.party}`);
    expect(
      posts()
        .map((r) => r.idempotencyKey)
        .sort(),
    ).toEqual([...keys].sort());
    const made = fake
      .objectsOf('transfer')
      .filter((t) => lines.some((l) => l.invoice_id === t.transfer_group));
    expect(made).toHaveLength(4);
    for (const l of lines)
      expect(
        made.filter((t) => t.transfer_group === l.invoice_id && t.destination === destination.get(l.party)),
      ).toHaveLength(1);
    // No payout marked failed: one paid payout per partner, made by the button's run.
    const payouts = await plaza.core.db.query(
      'SELECT party, state, run_id, amount::text AS amount FROM ledger_payouts WHERE party = ANY($1::text[])',
      [partners],
    );
    expect(payouts).toHaveLength(2);
    for (const p of payouts) {
      expect(p).toMatchObject({ state: 'paid', run_id: clicked.body.runId });
      const due = lines.filter((l) => l.party === p.party).reduce((s, l) => s + BigInt(l.amount), 0n);
      expect(BigInt(p.amount)).toBe(due);
    }
    const failed = await plaza.core.db.query(
      "SELECT 1 FROM events WHERE type = 'payout.failed' AND organization_id = ANY($1::text[])",
      [partners],
    );
    expect(failed).toEqual([]);
    const v = await plaza.core.ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
    const r = await plaza.core.ledger.reconcile({ from, to: new Date(Date.now() + 60_000) });
    expect(r.differences).toEqual([]);

    worker.child.kill('SIGTERM');
    await worker.exited;
  }, 120_000);
});
