import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addBusinessDays } from '../../server/modules/reviews/sla.ts';
import {
  appClient,
  COMPLETE_FIELDS,
  completeApp,
  type Developer,
  developer,
  waitForChecks,
} from '../helpers/apps.ts';
import { png } from '../helpers/images.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signInWithPlatformRole, signUp, uniqueSlug } from '../helpers/world.ts';

/**
 * The review pipeline end to end through the API: submission, automated
 * checks, queue, claim, request changes, approval, live and retired versions,
 * fast-tracked listing changes, full reviews for new scopes, suspension.
 * The transitions exercised are counted against the table at the end.
 */
let plaza: TestPlaza;
let reviewer: SignedIn;
let secondReviewer: SignedIn;
let admin: SignedIn;

beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_REVIEW_TARGET_BUSINESS_DAYS: '3' });
  reviewer = await signInWithPlatformRole(plaza, 'reviewer');
  secondReviewer = await signInWithPlatformRole(plaza, 'reviewer');
  admin = await signInWithPlatformRole(plaza, 'admin');
});
afterAll(() => plaza.close());

/** Transitions seen through the API, as `from>action>to`. */
const seen = new Set<string>();
const refused: string[] = [];

const review = (who: SignedIn, versionId: string, action = '') =>
  action
    ? who.agent.post(`/v1/review/versions/${versionId}/${action}`).set('x-csrf-token', who.csrf)
    : who.agent.get(`/v1/review/versions/${versionId}`);

const FULL_CHECKLIST = {
  listing_accurate: true,
  scopes_needed: true,
  redirect_uris_owned: true,
  policies_reachable: true,
  pricing_clear: true,
  content_acceptable: true,
};

async function expectRefused(label: string, req: Promise<{ status: number; body: any }>) {
  const res = await req;
  expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(409);
  expect(res.body.code).toBe('PLAZA_CONFLICT');
  refused.push(label);
}

async function mailTo(email: string, subject: RegExp) {
  for (let i = 0; i < 200; i++) {
    const mail = (await plaza.core.mail.mailbox(50, email)).find((m) => subject.test(m.subject));
    if (mail) return mail as { subject: string; text: string };
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no email to ${email} matching ${subject}`);
}

async function queued(dev: Developer) {
  const { appId, versionId, api } = await completeApp(dev);
  await api.submit(appId, versionId).expect(200);
  const status = await waitForChecks(api, appId, versionId);
  expect(status.state).toBe('queued');
  return { appId, versionId, api };
}

describe('the review pipeline', () => {
  it('create → upload → edit → submit → checks fail → fix → queue → claim → changes → resubmit → approve → live', async () => {
    const dev = await developer(plaza);
    const api = appClient(dev);
    const slug = uniqueSlug('flow');
    const created = await api.create({ name: 'Flow CRM', slug, category: 'crm' }).expect(201);
    const appId = created.body.app.id;
    const v1 = created.body.version.id;
    await api.upload(appId, v1, 'icon', 'image/png', png(128, 128)).expect(200);
    await api.upload(appId, v1, 'screenshots', 'image/png', png(640, 400)).expect(200);
    // An incomplete edit: short description, http support URL, unjustified personal scope, no privacy webhooks.
    await api
      .patch(appId, v1, {
        description: 'Too short.',
        supportUrl: 'http://example.com/support',
        redirectUris: ['https://example.com/cb'],
        scopes: [{ name: 'contacts:read' }],
      })
      .expect(200);

    // The diff of a first version is all new; it needs a full review.
    const firstDiff = await api.diff(appId, v1).expect(200);
    expect(firstDiff.body).toMatchObject({ firstVersion: true, against: null, reviewKind: 'full' });

    const submitted = await api.submit(appId, v1).expect(200);
    expect(['checking', 'draft']).toContain(submitted.body.state);
    seen.add('draft>submit>checking');
    const failed = await waitForChecks(api, appId, v1);
    seen.add('checking>checks_failed>draft');
    expect(failed).toMatchObject({
      state: 'draft',
      submission: { status: 'checks_failed' },
      queuePosition: null,
    });
    const byCheck = Object.fromEntries(failed.checks.map((c: { check: string }) => [c.check, c]));
    expect(byCheck.urls_https).toMatchObject({ passed: false, reason: 'supportUrl must use https' });
    expect(byCheck.scopes_known.passed).toBe(true);
    expect(byCheck.scopes_justified).toMatchObject({
      passed: false,
      reason: 'no justification for: contacts:read',
    });
    expect(byCheck.listing_complete.reason).toMatch(
      /description has 10 characters; it needs at least 100.*privacy/,
    );
    expect(byCheck.redirect_uris_exact.passed).toBe(true);
    expect(byCheck.privacy_webhooks.reason).toMatch(/subscribe to app\.data_request and app\.data_erasure/);
    // The developer is told in the app.
    const inbox = await dev.agent.get('/v1/notifications').expect(200);
    expect(inbox.body.data[0]).toMatchObject({
      kind: 'version.checks_failed',
      link: `/orgs/${dev.orgId}/apps/${appId}/versions/${v1}`,
    });
    expect(inbox.body.data[0].body).toMatch(/privacy/);

    // Fix and resubmit: the checks pass and the version joins the queue.
    await api.patch(appId, v1, COMPLETE_FIELDS).expect(200);
    await api.submit(appId, v1).expect(200);
    const inQueue = await waitForChecks(api, appId, v1);
    seen.add('checking>checks_passed>queued');
    expect(inQueue).toMatchObject({
      state: 'queued',
      reviewKind: 'full',
      reviewReasons: ['first version of the app'],
      queuePosition: 1,
      queueLength: 1,
      medianReviewSeconds: null,
      reviewsDecidedLast30Days: 0,
      decision: null,
    });
    expect(inQueue.checks.every((c: { passed: boolean }) => c.passed)).toBe(true);
    expect(inQueue.target).toEqual({
      businessDays: 3,
      dueAt: addBusinessDays(new Date(inQueue.submittedAt), 3).toISOString(),
    });
    await expectRefused('edit a queued version', api.patch(appId, v1, { tagline: 'x' }));
    await expectRefused('submit a queued version', api.submit(appId, v1));
    await expectRefused(
      'approve a queued version',
      review(reviewer, v1, 'approve').send({ checklist: FULL_CHECKLIST }),
    );
    await expectRefused('release a queued version', review(reviewer, v1, 'release'));
    await expectRefused(
      'request changes to a queued version',
      review(reviewer, v1, 'request-changes').send({ notes: [{ field: 'general', note: 'x' }] }),
    );

    // The reviewer's queue and review page.
    const queue = await reviewer.agent.get('/v1/review/queue').expect(200);
    expect(queue.body.data).toEqual([
      expect.objectContaining({
        position: 1,
        versionId: v1,
        versionNumber: 1,
        appName: 'Flow CRM',
        slug,
        state: 'queued',
        reviewKind: 'full',
        flag: 'full review',
        developer: { organizationId: dev.orgId, name: dev.orgName },
        claimedBy: null,
      }),
    ]);
    expect(queue.body.data[0].ageSeconds).toBeGreaterThanOrEqual(0);
    const page = await review(reviewer, v1).expect(200);
    expect(page.body.diff.firstVersion).toBe(true);
    expect(page.body.submission.checks).toHaveLength(7);
    expect(page.body.checklist.map((c: { key: string }) => c.key)).toEqual(Object.keys(FULL_CHECKLIST));
    expect(page.body.version.scopes).toEqual(COMPLETE_FIELDS.scopes.map((s) => ({ ...s, optional: false })));

    // One reviewer at a time; the claimer (or an admin) releases.
    await review(reviewer, v1, 'claim').expect(200);
    seen.add('queued>claim>in_review');
    await expectRefused('a second claim', review(secondReviewer, v1, 'claim'));
    await expectRefused(
      'approve by a reviewer who did not claim',
      review(secondReviewer, v1, 'approve').send({ checklist: FULL_CHECKLIST }),
    );
    await expectRefused('release by a reviewer who did not claim', review(secondReviewer, v1, 'release'));
    await expectRefused('withdraw a version in review', api.withdraw(appId, v1));
    await expectRefused('edit a version in review', api.patch(appId, v1, { tagline: 'x' }));
    expect((await api.status(appId, v1).expect(200)).body).toMatchObject({
      state: 'in_review',
      queuePosition: 1,
    });
    await review(reviewer, v1, 'release').expect(200);
    seen.add('in_review>release>queued');
    await review(secondReviewer, v1, 'claim').expect(200);

    // Changes requested, with notes tied to fields.
    const badNotes = await review(secondReviewer, v1, 'request-changes').send({
      notes: [{ field: 'colour', note: 'x' }],
    });
    expect(badNotes.status).toBe(400);
    expect(badNotes.body.fields[0].field).toBe('body.notes.0.field');
    await review(secondReviewer, v1, 'request-changes')
      .send({
        notes: [{ field: 'scopes', note: 'Explain why you need every contact, not just the ones in lists.' }],
        comment: 'Nearly there.',
      })
      .expect(200);
    seen.add('in_review>request_changes>changes_requested');
    const asked = (await api.status(appId, v1).expect(200)).body;
    expect(asked).toMatchObject({
      state: 'changes_requested',
      decision: {
        outcome: 'changes_requested',
        notes: [{ field: 'scopes', note: 'Explain why you need every contact, not just the ones in lists.' }],
        comment: 'Nearly there.',
      },
      medianReviewSeconds: expect.any(Number),
      reviewsDecidedLast30Days: 1,
    });
    const changesMail = await mailTo(dev.user.email, /Changes requested for Flow CRM version 1/);
    expect(changesMail.text).toContain('- scopes: Explain why you need every contact');
    const notes = await dev.agent.get('/v1/notifications?unread=true').expect(200);
    expect(notes.body.data[0]).toMatchObject({ kind: 'version.changes_requested', data: { versionId: v1 } });

    // The developer fixes it and resubmits the same version.
    await api
      .patch(appId, v1, {
        scopes: [{ name: 'contacts:read', justification: 'Only contacts in the lists you pick are copied.' }],
      })
      .expect(200);
    await api.submit(appId, v1).expect(200);
    seen.add('changes_requested>submit>checking');
    expect((await waitForChecks(api, appId, v1)).state).toBe('queued');

    // Approval needs the whole checklist.
    await review(reviewer, v1, 'claim').expect(200);
    const incomplete = await review(reviewer, v1, 'approve')
      .send({ checklist: { ...FULL_CHECKLIST, pricing_clear: false } })
      .expect(400);
    expect(incomplete.body.fields).toEqual([
      { field: 'body.checklist.pricing_clear', reason: expect.stringMatching(/Pricing/) },
    ]);
    const approved = await review(reviewer, v1, 'approve')
      .send({ checklist: FULL_CHECKLIST, comment: 'Welcome!' })
      .expect(200);
    seen.add('in_review>approve>live');
    expect(approved.body.submission).toMatchObject({
      status: 'approved',
      decision: 'approved',
      checklist: FULL_CHECKLIST,
    });

    // Live: the app points at it, the marketplace lists it, the developer is told.
    const app = (await api.get(appId).expect(200)).body;
    expect(app).toMatchObject({
      liveVersionId: v1,
      liveVersion: { id: v1, number: 1, state: 'live' },
      openVersion: null,
    });
    const listing = await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200);
    expect(listing.body).toMatchObject({ name: 'Flow CRM', version: { id: v1, number: 1 } });
    expect(listing.body.scopes[0]).toMatchObject({ name: 'contacts:read' });
    await mailTo(dev.user.email, /Flow CRM version 1 is live on Plaza/);
    const all = await dev.agent.get('/v1/notifications').expect(200);
    expect(all.body.data[0]).toMatchObject({ kind: 'version.approved', title: 'Flow CRM version 1 is live' });

    // The median comes from the two decisions' own records.
    const status = (await api.status(appId, v1).expect(200)).body;
    const detail = (await review(reviewer, v1).expect(200)).body;
    const durations = [detail.submission, ...detail.history].map(
      (s: { submittedAt: string; decidedAt: string }) =>
        (Date.parse(s.decidedAt) - Date.parse(s.submittedAt)) / 1000,
    );
    expect(durations).toHaveLength(2);
    expect(status.reviewsDecidedLast30Days).toBe(2);
    expect(Math.abs(status.medianReviewSeconds - (durations[0] + durations[1]) / 2)).toBeLessThanOrEqual(1);
    expect(status.target.dueAt).toBeNull();

    // An approved version can never be edited or resubmitted.
    await expectRefused('edit a live version', api.patch(appId, v1, { name: 'Changed after review' }));
    await expectRefused(
      'upload to a live version',
      api.upload(appId, v1, 'icon', 'image/png', png(128, 128)),
    );
    await expectRefused(
      'import a manifest into a live version',
      api.send('put', `${api.base}/${appId}/versions/${v1}/manifest`).send({
        manifestVersion: 1,
        slug,
        version: { name: 'Changed after review' },
      }),
    );
    await expectRefused('submit a live version', api.submit(appId, v1));
    await expectRefused('withdraw a live version', api.withdraw(appId, v1));
    await expectRefused('claim a live version', review(reviewer, v1, 'claim'));
    await expectRefused(
      'approve a live version',
      review(reviewer, v1, 'approve').send({ checklist: FULL_CHECKLIST }),
    );

    // Every reviewer action is in the developer org's audit log, by the reviewer.
    const audit = await dev.agent.get(`/v1/organizations/${dev.orgId}/audit-log?limit=100`).expect(200);
    const reviewerActions = audit.body.data
      .filter((e: { action: string }) => e.action.startsWith('review.'))
      .map((e: { action: string; actorEmail: string }) => `${e.action} by ${e.actorEmail}`)
      .reverse();
    expect(reviewerActions).toEqual([
      `review.claimed by ${reviewer.user.email}`,
      `review.released by ${reviewer.user.email}`,
      `review.claimed by ${secondReviewer.user.email}`,
      `review.changes_requested by ${secondReviewer.user.email}`,
      `review.claimed by ${reviewer.user.email}`,
      `review.approved by ${reviewer.user.email}`,
    ]);

    // Version 2 changes only listing text: fast track, and version 1 stays live meanwhile.
    const v2res = await api.newVersion(appId).expect(201);
    const v2 = v2res.body.id;
    expect(v2res.body).toMatchObject({
      number: 2,
      state: 'draft',
      scopes: [
        {
          name: 'contacts:read',
          justification: 'Only contacts in the lists you pick are copied.',
          optional: false,
        },
      ],
    });
    expect(v2res.body.icon.id).toBe(page.body.version.icon.id); // assets are carried over
    await api
      .patch(appId, v2, {
        tagline: 'Now with two-way sync',
        description: `${COMPLETE_FIELDS.description} Faster.`,
      })
      .expect(200);
    const diff2 = (await api.diff(appId, v2).expect(200)).body;
    expect(diff2).toMatchObject({
      against: { id: v1, number: 1, state: 'live' },
      reviewKind: 'fast_track',
      reviewReasons: [],
      scopes: { added: [], removed: [], changed: [] },
      pricing: { changed: false },
    });
    expect(diff2.listing.map((c: { field: string }) => c.field)).toEqual(['tagline', 'description']);
    expect(diff2.listing[0]).toEqual({ field: 'tagline', before: '', after: 'Now with two-way sync' });
    await api.submit(appId, v2).expect(200);
    expect(await waitForChecks(api, appId, v2)).toMatchObject({ state: 'queued', reviewKind: 'fast_track' });
    const q2 = (await reviewer.agent.get('/v1/review/queue').expect(200)).body.data.find(
      (i: { versionId: string }) => i.versionId === v2,
    );
    expect(q2).toMatchObject({ reviewKind: 'fast_track', flag: 'fast track', addsScopes: false });
    await review(reviewer, v2, 'claim').expect(200);
    const reviewerDiff = (await review(reviewer, v2).expect(200)).body.diff;
    // The reviewer sees the same diff (only the version's state moved on since).
    expect({ ...reviewerDiff, version: null }).toEqual({ ...diff2, version: null });
    expect((await api.get(appId).expect(200)).body).toMatchObject({
      liveVersionId: v1,
      openVersion: { id: v2, state: 'in_review' },
    });
    expect((await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body.tagline).toBe('');
    await review(reviewer, v2, 'approve').send({ checklist: FULL_CHECKLIST }).expect(200);
    seen.add('live>superseded>retired');
    expect((await api.version(appId, v1).expect(200)).body.state).toBe('retired');
    expect((await api.version(appId, v2).expect(200)).body.state).toBe('live');
    expect((await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body).toMatchObject({
      tagline: 'Now with two-way sync',
      version: { id: v2, number: 2 },
    });
    await expectRefused('edit a retired version', api.patch(appId, v1, { name: 'Renamed' }));
    await expectRefused('submit a retired version', api.submit(appId, v1));
    await expectRefused('claim a retired version', review(reviewer, v1, 'claim'));

    // Version 3 adds a scope: full review, flagged in the queue; the developer withdraws it.
    const v3 = (await api.newVersion(appId).expect(201)).body.id;
    await expectRefused('a second open version', api.newVersion(appId));
    await expectRefused('withdraw a draft', api.withdraw(appId, v3));
    await expectRefused('claim a draft', review(reviewer, v3, 'claim'));
    await api
      .patch(appId, v3, {
        scopes: [
          ...COMPLETE_FIELDS.scopes,
          { name: 'contacts:write', justification: 'Write unsubscribes back.' },
        ],
      })
      .expect(200);
    await api.submit(appId, v3).expect(200);
    expect(await waitForChecks(api, appId, v3)).toMatchObject({
      state: 'queued',
      reviewKind: 'full',
      reviewReasons: ['adds scopes: contacts:write'],
    });
    const q3 = (await reviewer.agent.get('/v1/review/queue').expect(200)).body.data.find(
      (i: { versionId: string }) => i.versionId === v3,
    );
    expect(q3).toMatchObject({ addsScopes: true, flag: 'adds scopes → full review' });
    const withdrawn = await api.withdraw(appId, v3).expect(200);
    seen.add('queued>withdraw>draft');
    expect(withdrawn.body).toMatchObject({
      state: 'draft',
      submission: { status: 'withdrawn' },
      queuePosition: null,
    });
    expect((await reviewer.agent.get('/v1/review/queue').expect(200)).body.data).toEqual([]);
    expect((await api.get(appId).expect(200)).body.liveVersionId).toBe(v2);
  });

  it('queue positions follow submission time, counting versions in review', async () => {
    const devs = await Promise.all([developer(plaza), developer(plaza), developer(plaza)]);
    const apps: Array<Awaited<ReturnType<typeof queued>>> = [];
    for (const dev of devs) apps.push(await queued(dev)); // one after the other: submission order is known
    const positions = async () =>
      Promise.all(
        apps.map(async (a) => (await a.api.status(a.appId, a.versionId).expect(200)).body.queuePosition),
      );
    expect(await positions()).toEqual([1, 2, 3]);
    await review(reviewer, apps[1].versionId, 'claim').expect(200);
    expect(await positions()).toEqual([1, 2, 3]);
    const list = (await reviewer.agent.get('/v1/review/queue?limit=2').expect(200)).body;
    expect(list.data.map((i: { versionId: string; state: string }) => [i.versionId, i.state])).toEqual([
      [apps[0].versionId, 'queued'],
      [apps[1].versionId, 'in_review'],
    ]);
    const rest = (await reviewer.agent.get(`/v1/review/queue?limit=2&cursor=${list.nextCursor}`).expect(200))
      .body;
    expect(rest.data.map((i: { position: number }) => i.position)).toEqual([3]);
    await review(reviewer, apps[1].versionId, 'approve').send({ checklist: FULL_CHECKLIST }).expect(200);
    expect(await positions()).toEqual([1, null, 2]);
    // Clean up for later tests: approve the others.
    for (const a of [apps[0], apps[2]]) {
      await review(admin, a.versionId, 'claim').expect(200);
      await review(admin, a.versionId, 'approve').send({ checklist: FULL_CHECKLIST }).expect(200);
    }
  });

  it('platform admins suspend and reinstate; developers unpublish and republish; the marketplace follows', async () => {
    const dev = await developer(plaza);
    const { appId, versionId, api } = await queued(dev);
    const slug = (await api.get(appId).expect(200)).body.slug;
    await review(reviewer, versionId, 'claim').expect(200);
    await review(reviewer, versionId, 'approve').send({ checklist: FULL_CHECKLIST }).expect(200);
    await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200);

    // Live and active: installable into any account.
    const customer = await signUp(plaza);
    const account = await createOrg(customer, 'account');
    expect(await plaza.core.apps.assertInstallable(account.id, appId)).toEqual({
      appId,
      versionId,
      development: false,
    });

    const adminPath = (action: string) => `/v1/admin/apps/${appId}/${action}`;
    await reviewer.agent
      .post(adminPath('suspend'))
      .set('x-csrf-token', reviewer.csrf)
      .send({ reason: 'x' })
      .expect(403);
    const noReason = await admin.agent
      .post(adminPath('suspend'))
      .set('x-csrf-token', admin.csrf)
      .send({})
      .expect(400);
    expect(noReason.body.fields[0].field).toBe('body.reason');
    const suspended = await admin.agent
      .post(adminPath('suspend'))
      .set('x-csrf-token', admin.csrf)
      .send({ reason: 'Phishing reports under investigation' })
      .expect(200);
    expect(suspended.body).toMatchObject({
      status: 'suspended',
      statusReason: 'Phishing reports under investigation',
    });
    expect(suspended.body.statusChangedAt).toEqual(expect.any(String));
    await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(404);
    await expect(plaza.core.apps.assertInstallable(account.id, appId)).rejects.toMatchObject({ status: 403 });
    const devRepublish = await api.send('post', `${api.base}/${appId}/republish`).expect(409);
    expect(devRepublish.body.detail).toMatch(/suspended/);
    await api.send('post', `${api.base}/${appId}/unpublish`).send({}).expect(409);
    await admin.agent.post(adminPath('reinstate')).set('x-csrf-token', admin.csrf).expect(200);
    await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200);
    await admin.agent.post(adminPath('reinstate')).set('x-csrf-token', admin.csrf).expect(409);

    const unpublished = await api
      .send('post', `${api.base}/${appId}/unpublish`)
      .send({ reason: 'Rebranding' })
      .expect(200);
    expect(unpublished.body).toMatchObject({ status: 'unpublished', statusReason: 'Rebranding' });
    await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(404);
    await api.send('post', `${api.base}/${appId}/republish`).expect(200);
    await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200);

    const audit = await dev.agent.get(`/v1/organizations/${dev.orgId}/audit-log?limit=100`).expect(200);
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['app.suspended', 'app.reinstated', 'app.unpublished', 'app.republished']),
    );
    const suspendEntry = audit.body.data.find((e: { action: string }) => e.action === 'app.suspended');
    expect(suspendEntry).toMatchObject({
      actorEmail: admin.user.email,
      data: { reason: 'Phishing reports under investigation' },
    });
  });

  it('lists, reads and marks notifications for the signed-in person only', async () => {
    const dev = await developer(plaza);
    const other = await signUp(plaza);
    for (const title of ['One', 'Two']) {
      await plaza.core.db.transaction((tx) =>
        plaza.core.notifications.notifyUsers(tx, dev.orgId, [dev.user.id], { kind: 'test', title }),
      );
      await new Promise((r) => setTimeout(r, 2)); // ids sort by millisecond
    }
    const list = (await dev.agent.get('/v1/notifications').expect(200)).body;
    expect(list.unreadCount).toBe(2);
    expect(list.data.map((n: { title: string }) => n.title)).toEqual(['Two', 'One']);
    const id = list.data[0].id;
    await other.agent.post(`/v1/notifications/${id}/read`).set('x-csrf-token', other.csrf).expect(404);
    expect((await other.agent.get('/v1/notifications').expect(200)).body.data).toEqual([]);
    const read = await dev.agent
      .post(`/v1/notifications/${id}/read`)
      .set('x-csrf-token', dev.csrf)
      .expect(200);
    expect(read.body.readAt).toEqual(expect.any(String));
    const unread = (await dev.agent.get('/v1/notifications?unread=true').expect(200)).body;
    expect(unread.data.map((n: { title: string }) => n.title)).toEqual(['One']);
    expect(
      (await dev.agent.post('/v1/notifications/read-all').set('x-csrf-token', dev.csrf).expect(200)).body,
    ).toEqual({
      marked: 1,
    });
    expect((await dev.agent.get('/v1/notifications').expect(200)).body.unreadCount).toBe(0);
  });

  it('covered every transition of the table through the API', async () => {
    const { TRANSITIONS } = await import('../../server/modules/apps/transitions.ts');
    const table = Object.entries(TRANSITIONS).flatMap(([action, edges]) =>
      Object.entries(edges).map(([from, to]) => `${from}>${action}>${to}`),
    );
    // checking>withdraw>draft is exercised in checking.test.ts (workers held back so the version stays in checking).
    const missing = table.filter((t) => !seen.has(t));
    expect(missing).toEqual(['checking>withdraw>draft']);
    // Illegal moves tried through the API and refused with 409 (5 more in checking.test.ts).
    expect(refused).toHaveLength(23);
  });
});
