import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeApp, developer, waitForChecks } from '../helpers/apps.ts';
import { png } from '../helpers/images.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { signInWithPlatformRole } from '../helpers/world.ts';

/**
 * Versions held in `checking`: this core starts without workers, so the
 * checks job waits until the test starts them.
 */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
});
afterAll(() => plaza.close());

describe('a version in the automated checks', () => {
  it('cannot be edited, resubmitted or claimed, and can be withdrawn; a lost checks job is re-created at start', async () => {
    const dev = await developer(plaza);
    const reviewer = await signInWithPlatformRole(plaza, 'reviewer');
    const { appId, versionId, api } = await completeApp(dev);

    const first = await api.submit(appId, versionId).expect(200);
    expect(first.body).toMatchObject({
      state: 'checking',
      submission: { status: 'checking' },
      checks: [],
      queuePosition: null,
      target: { businessDays: 5, dueAt: expect.any(String) },
    });
    const refused = [
      await api.patch(appId, versionId, { tagline: 'mid-check' }),
      await api.upload(appId, versionId, 'icon', 'image/png', png(128, 128)),
      await api.submit(appId, versionId),
      await api.newVersion(appId),
      await reviewer.agent.post(`/v1/review/versions/${versionId}/claim`).set('x-csrf-token', reviewer.csrf),
    ];
    expect(refused.map((r) => r.status)).toEqual([409, 409, 409, 409, 409]);

    // Withdraw from checking (checking --withdraw--> draft).
    const withdrawn = await api.withdraw(appId, versionId).expect(200);
    expect(withdrawn.body).toMatchObject({ state: 'draft', submission: { status: 'withdrawn' } });

    // Submit again, then lose its checks job (a wiped queue): the database still knows. The
    // withdrawn submission's job stays queued and must do nothing when it runs.
    const second = (await api.submit(appId, versionId).expect(200)).body.submission.id;
    const lost = await plaza.core.db.query(
      `DELETE FROM jobs WHERE name = 'reviews.checks' AND data->>'submissionId' = $1 RETURNING id`,
      [second],
    );
    expect(lost).toHaveLength(1);
    expect(await plaza.core.db.query(`SELECT id FROM jobs WHERE name = 'reviews.checks'`)).toHaveLength(1);
    await plaza.core.startWorkers(); // re-enqueues checks of submissions still in `checking`
    const done = await waitForChecks(api, appId, versionId);
    expect(done).toMatchObject({ state: 'queued', queuePosition: 1 });
    expect(done.checks.every((c: { passed: boolean }) => c.passed)).toBe(true);

    // The withdrawn submission never came back to life.
    const subs = await plaza.core.db.query(
      'SELECT status FROM review_submissions WHERE version_id = $1 ORDER BY submitted_at',
      [versionId],
    );
    expect(subs.map((s) => s.status)).toEqual(['withdrawn', 'queued']);
  });
});
