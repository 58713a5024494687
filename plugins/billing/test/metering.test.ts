import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import { createOrg, type InstalledApp, type SignedIn, signUp } from '../../../test/helpers/world.ts';
import { billingApp, post, startBilling } from './world.ts';

/**
 * Metering on a real core and PostgreSQL: meters of each aggregation, the
 * batch form, idempotency per transactionId, late events, events from apps
 * and from core events.
 */
let plaza: PlazaServer;
let operator: SignedIn;
let app: InstalledApp;
let owner: SignedIn;
const newAccount = async () => (await createOrg(owner, 'account')).id;
const HOUR = 3_600_000;

beforeAll(async () => {
  ({ plaza, operator } = await startBilling());
  for (const [key, aggregation] of [
    ['api_calls', 'count'],
    ['tokens', 'sum'],
    ['peak_seats', 'max'],
    ['active_users', 'unique_count'],
    ['storage_gb', 'latest'],
  ])
    await post(operator, '/v1/billing/meters', { key, name: key, aggregation }).expect(201);
  await post(operator, '/v1/billing/meters', {
    key: 'contacts_added',
    name: 'Contacts added',
    aggregation: 'count',
    coreEvent: 'contact.created',
  }).expect(201);
  app = await billingApp(plaza);
  owner = await signUp(plaza, { name: 'Mia Metered' });
}, 60_000);
afterAll(() => plaza?.close());

const usageOf = async (accountId: string, at?: Date) => {
  const res = await operator.agent
    .get(`/v1/billing/accounts/${accountId}/usage`)
    .query(at ? { at: at.toISOString() } : {})
    .expect(200);
  return Object.fromEntries(
    (res.body.meters as Array<{ meter: string; value: number }>).map((m) => [m.meter, m.value]),
  ) as Record<string, number>;
};
const batch = (accountId: string, events: object[]) =>
  post(operator, `/v1/billing/accounts/${accountId}/events/batch`, { events });

describe('meters', () => {
  it('refuses a bad meter with the field and the reason, and a second meter of the same key', async () => {
    const bad = await post(operator, '/v1/billing/meters', { key: 'Bad Key', name: 'x', aggregation: 'avg' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(bad.body.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'body.aggregation',
      'body.key',
    ]);
    const again = await post(operator, '/v1/billing/meters', {
      key: 'tokens',
      name: 'x',
      aggregation: 'sum',
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('PLAZA_BILLING_DUPLICATE');
  });
});

describe('ingestion', () => {
  it('totals equal the sum of accepted events exactly once, whatever the order, duplication and batching', async () => {
    const now = Date.now();
    // Inside the current calendar month (the period of an account without a subscription), at most 48 h back.
    const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    const from = Math.max(monthStart, now - 48 * HOUR);
    const Event = fc.record({
      meter: fc.constantFrom('api_calls', 'tokens', 'peak_seats', 'active_users', 'storage_gb'),
      value: fc.integer({ min: 0, max: 1_000_000 }),
      user: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'),
      at: fc.integer({ min: from, max: now }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.uuid(), Event), { minLength: 1, maxLength: 60, selector: (e) => e[0] }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 1, max: 25 }),
        fc.infiniteStream(fc.nat()),
        async (unique, dupPicks, batchSize, shuffle) => {
          const accountId = await newAccount();
          const events = unique.map(([tid, e]) => ({
            transactionId: tid,
            meter: e.meter,
            value: e.value,
            uniqueKey: e.user,
            timestamp: new Date(e.at).toISOString(),
          }));
          // Every event once, some again (identical), in a random order, in batches sent concurrently.
          const sent = [...events, ...dupPicks.map((i) => events[i % events.length])];
          const order = sent.map((e) => ({ e, k: shuffle.next().value }));
          order.sort((a, b) => a.k - b.k);
          const batches: object[][] = [];
          for (let i = 0; i < order.length; i += batchSize)
            batches.push(order.slice(i, i + batchSize).map((o) => o.e));
          const results = await Promise.all(batches.map((b) => batch(accountId, b).expect(200)));
          const accepted = results.reduce((s, r) => s + r.body.accepted, 0);
          const duplicates = results.reduce((s, r) => s + r.body.duplicates, 0);
          expect(accepted).toBe(events.length);
          expect(duplicates).toBe(dupPicks.length);

          const of = (m: string) => unique.map((u) => u[1]).filter((e) => e.meter === m);
          const latest = of('storage_gb')
            .map((e, i) => ({ ...e, tid: unique.filter((u) => u[1].meter === 'storage_gb')[i][0] }))
            .sort((a, b) => b.at - a.at || (b.tid > a.tid ? 1 : -1))[0];
          expect(await usageOf(accountId)).toMatchObject({
            api_calls: of('api_calls').length,
            tokens: of('tokens').reduce((s, e) => s + e.value, 0),
            peak_seats: Math.max(0, ...of('peak_seats').map((e) => e.value)),
            active_users: new Set(of('active_users').map((e) => e.user)).size,
            storage_gb: latest?.value ?? 0,
          });
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('tells a duplicate from a conflicting reuse of a transactionId, and refuses per event with its reason', async () => {
    const accountId = await newAccount();
    const at = new Date().toISOString();
    const first = await batch(accountId, [{ transactionId: 't1', meter: 'tokens', value: 5, timestamp: at }]);
    expect(first.body).toEqual({ accepted: 1, duplicates: 0, refused: [] });
    const res = await batch(accountId, [
      { transactionId: 't1', meter: 'tokens', value: 5, timestamp: at },
      { transactionId: 't1', meter: 'tokens', value: 6, timestamp: at },
      { transactionId: 't2', meter: 'nope', value: 1 },
      { transactionId: 't3', meter: 'active_users' },
      { transactionId: 't4', meter: 'tokens', value: 7 },
    ]).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.duplicates).toBe(1);
    expect(res.body.refused).toEqual([
      expect.objectContaining({ index: 1, transactionId: 't1', status: 'conflict' }),
      expect.objectContaining({
        index: 2,
        status: 'rejected',
        field: 'events.2.meter',
        reason: 'no meter "nope"',
      }),
      expect.objectContaining({ index: 3, status: 'rejected', field: 'events.3.uniqueKey' }),
    ]);
    expect((await usageOf(accountId)).tokens).toBe(12);
  });

  it('refuses events for an organization that does not exist', async () => {
    const res = await batch('acct_not_there', [{ transactionId: 'x', meter: 'api_calls' }]);
    expect(res.status).toBe(404);
  });

  it('refuses a malformed batch as a whole with the field, and more than 1,000 events', async () => {
    const accountId = await newAccount();
    const bad = await batch(accountId, [{ transactionId: 'x', meter: 'tokens', value: 1.5 }]);
    expect(bad.status).toBe(400);
    expect(bad.body.fields[0].field).toBe('body.events.0.value');
    const many = Array.from({ length: 1001 }, (_, i) => ({ transactionId: `e${i}`, meter: 'api_calls' }));
    const tooMany = await batch(accountId, many);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.fields[0].field).toBe('body.events');
    expect(await usageOf(accountId)).toMatchObject({ api_calls: 0, tokens: 0 });
  });

  it('counts a late event in the period it happened in, up to the lateness window (72 h by default)', async () => {
    const accountId = await newAccount();
    const late = new Date(Date.now() - 71 * HOUR);
    const tooLate = new Date(Date.now() - 73 * HOUR);
    const res = await batch(accountId, [
      { transactionId: 'late', meter: 'tokens', value: 40, timestamp: late.toISOString() },
      { transactionId: 'too-late', meter: 'tokens', value: 1000, timestamp: tooLate.toISOString() },
    ]).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.refused).toEqual([
      expect.objectContaining({ transactionId: 'too-late', field: 'events.1.timestamp' }),
    ]);
    // The event's own period has it; the current one has it only when it is the same month.
    expect((await usageOf(accountId, late)).tokens).toBe(40);
    const sameMonth = late.getUTCMonth() === new Date().getUTCMonth();
    expect((await usageOf(accountId)).tokens).toBe(sameMonth ? 40 : 0);
  });
});

describe('access', () => {
  it('an app with billing:usage reports for the account it is installed in, once per transactionId', async () => {
    const send = () =>
      plaza.http
        .post('/v1/billing/events')
        .set(app.as)
        .send({ transactionId: 'call-1', meter: 'tokens', value: 250 });
    expect((await send().expect(200)).body).toEqual({ transactionId: 'call-1', status: 'accepted' });
    expect((await send().expect(200)).body).toEqual({ transactionId: 'call-1', status: 'duplicate' });
    const conflict = await plaza.http
      .post('/v1/billing/events')
      .set(app.as)
      .send({ transactionId: 'call-1', meter: 'tokens', value: 1 });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('PLAZA_BILLING_EVENT_CONFLICT');
    const usage = await plaza.http.get('/v1/billing/usage').set(app.as).expect(200);
    expect(usage.body.accountId).toBe(app.accountId);
    expect(usage.body.meters.find((m: { meter: string }) => m.meter === 'tokens').value).toBe(250);
    // The account's people see the same figure.
    expect((await usageOf(app.accountId)).tokens).toBe(250);
  });

  it('refuses people and apps without the scope', async () => {
    const noScope = await billingApp(plaza, ['contacts:read']);
    const res = await plaza.http
      .post('/v1/billing/events')
      .set(noScope.as)
      .send({ transactionId: 'x', meter: 'tokens', value: 1 });
    expect(res.status).toBe(403);
    const person = await post(operator, '/v1/billing/events', { transactionId: 'x', meter: 'tokens' });
    expect(person.status).toBeGreaterThanOrEqual(401);
    expect(person.status).toBeLessThan(404);
  }, 30_000);

  it('a core event feeds the meter that names it (contact.created), once per event', async () => {
    const { core } = plaza;
    const ctx = await core.organizations.resolveContext(app.owner.actor, app.accountId);
    await core.contacts.create(ctx, { name: 'Carla Contact', email: 'carla@example.test' });
    await waitFor(
      'the contact to be metered',
      async () => (await usageOf(app.accountId)).contacts_added === 1,
    );
  });
});
