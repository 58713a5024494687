import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemFromDatabase } from '../../server/http/problem.ts';
import { appClient, completeApp, type Developer, developer, waitForChecks } from '../helpers/apps.ts';
import { raceHttp } from '../helpers/concurrency.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type SignedIn, signInWithPlatformRole } from '../helpers/world.ts';

/**
 * Every pair of review transitions fired at once on one version: no 5xx,
 * and afterwards the version's state and its active submission agree (a
 * version checking, queued or in review has exactly one submission in that
 * status; any other version has none), and the version can move on.
 */
let plaza: TestPlaza;
let dev: Developer;
let reviewer: SignedIn;
beforeAll(async () => {
  plaza = await startPlaza();
  dev = await developer(plaza);
  reviewer = await signInWithPlatformRole(plaza, 'reviewer');
});
afterAll(() => plaza.close());

const CHECKLIST = {
  listing_accurate: true,
  scopes_needed: true,
  redirect_uris_owned: true,
  policies_reachable: true,
  pricing_clear: true,
  content_acceptable: true,
};

type Action = 'submit' | 'withdraw' | 'claim' | 'release' | 'approve' | 'request-changes';
const START: Record<Action, 'draft' | 'queued' | 'in_review'> = {
  submit: 'draft',
  withdraw: 'queued',
  claim: 'queued',
  release: 'in_review',
  approve: 'in_review',
  'request-changes': 'in_review',
};
const ACTIONS = Object.keys(START) as Action[];

function call(action: Action, appId: string, versionId: string) {
  const api = appClient(dev);
  const review = (path: string) =>
    reviewer.agent.post(`/v1/review/versions/${versionId}/${path}`).set('x-csrf-token', reviewer.csrf);
  switch (action) {
    case 'submit':
      return () => api.submit(appId, versionId);
    case 'withdraw':
      return () => api.withdraw(appId, versionId);
    case 'claim':
    case 'release':
      return () => review(action);
    case 'approve':
      return () => review('approve').send({ checklist: CHECKLIST });
    case 'request-changes':
      return () =>
        review('request-changes').send({ notes: [{ field: 'general', note: 'More detail, please.' }] });
  }
}

async function versionAt(state: 'draft' | 'queued' | 'in_review') {
  const { appId, versionId, api } = await completeApp(dev);
  if (state !== 'draft') {
    await api.submit(appId, versionId).expect(200);
    expect((await waitForChecks(api, appId, versionId)).state).toBe('queued');
  }
  if (state === 'in_review') await call('claim', appId, versionId)().expect(200);
  return { appId, versionId, api };
}

/** One statement, so one snapshot: the version's state and its active submissions. */
async function consistent(versionId: string) {
  const row = await plaza.core.db.one<{ state: string; active: string[] | null }>(
    `SELECT v.state, (SELECT array_agg(s.status) FROM review_submissions s
       WHERE s.version_id = v.id AND s.status IN ('checking', 'queued', 'in_review')) AS active
     FROM app_versions v WHERE v.id = $1`,
    [versionId],
  );
  const open = ['checking', 'queued', 'in_review'].includes(row.state);
  expect(row.active ?? [], `version ${row.state} with active submissions ${row.active}`).toEqual(
    open ? [row.state] : [],
  );
  return row.state;
}

const pairs: Array<[Action, Action]> = [];
for (let i = 0; i < ACTIONS.length; i++)
  for (let j = i; j < ACTIONS.length; j++) pairs.push([ACTIONS[i], ACTIONS[j]]);

describe('review transitions racing on one version', () => {
  it.each(pairs)('%s and %s at once leave it consistent and movable', async (x, y) => {
    const starts = [...new Set([START[x], START[y]])];
    for (const start of starts) {
      const { appId, versionId, api } = await versionAt(start);
      await raceHttp({
        label: `${x} vs ${y} from ${start}`,
        n: 3,
        a: call(x, appId, versionId),
        b: call(y, appId, versionId),
        allowed: [200, 409],
        invariant: () => consistent(versionId).then(() => {}),
      });
      // Wait for the checks job a submit may have queued, then the state must still hold and lead on.
      let state = (await waitForChecks(api, appId, versionId)).state as string;
      expect(await consistent(versionId)).toBe(state);
      if (state === 'in_review') {
        await call('release', appId, versionId)().expect(200);
        state = 'queued';
      }
      if (state === 'queued') await api.withdraw(appId, versionId).expect(200);
      if (state !== 'live') {
        await api.submit(appId, versionId).expect(200);
        await consistent(versionId);
      }
    }
  });
});

describe('a unique violation that slips past the locks', () => {
  it('is answered 409 with a reason by the error middleware, never 500', async () => {
    const err = await plaza.core.db
      .query(
        `INSERT INTO users (id, email, name, password_hash) SELECT id || 'x', email, name, password_hash FROM users LIMIT 1`,
      )
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('23505');
    const problem = problemFromDatabase(err)!;
    expect(problem).toMatchObject({ code: 'PLAZA_CONFLICT', status: 409 });
    expect(problem.message).toMatch(/conflicts/);
  });
});
