import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeApp, developer } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

/** The checks run as a job after submit: the answer says where to poll, or waits for them. */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza();
});
afterAll(() => plaza.close());

describe('submitting a version', () => {
  it('answers with the status URL to poll, and with ?wait= only once the checks ran', async () => {
    const dev = await developer(plaza);
    const first = await completeApp(dev, 'Polled Sync');
    const now = await first.api.submit(first.appId, first.versionId).expect(200);
    const statusUrl = `${first.api.base}/${first.appId}/versions/${first.versionId}/status`;
    expect(now.body.statusUrl).toBe(statusUrl);
    expect(now.headers.location).toBe(statusUrl);
    const polled = await dev.agent.get(now.body.statusUrl).expect(200);
    expect(polled.body.versionId).toBe(first.versionId);

    const second = await completeApp(dev, 'Waited Sync');
    const waited = await first.api
      .send('post', `${first.api.base}/${second.appId}/versions/${second.versionId}/submit?wait=20`)
      .expect(200);
    expect(waited.body.state).not.toBe('checking');
    expect(waited.body.submission.status).toBe('queued');
    expect(waited.body.checks.length).toBeGreaterThan(0);
    expect(waited.body.checks.every((c: { passed: boolean }) => c.passed)).toBe(true);
    expect(waited.body.queuePosition).toBeGreaterThanOrEqual(1);

    const bad = await first.api
      .send('post', `${first.api.base}/${second.appId}/versions/${second.versionId}/submit?wait=600`)
      .expect(400);
    expect(bad.body.fields[0].field).toBe('query.wait');
  });
});
