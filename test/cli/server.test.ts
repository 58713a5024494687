import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeApp, developer } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signUp } from '../helpers/world.ts';

/** The server side of the CLI: device sign-in codes, the stream and test events refuse what they must. */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
});
afterAll(() => plaza.close());

const startLogin = async () =>
  (await plaza.http.post('/v1/cli/device-codes').send({ clientName: 'laptop' }).expect(201)).body;
const poll = (deviceCode: string) => plaza.http.post('/v1/cli/device-codes/poll').send({ deviceCode });

describe('CLI device sign-in', () => {
  it('waits for the person, mints a key once on approval, and says when it was denied', async () => {
    const dev = await developer(plaza);
    const started = await startLogin();
    expect(started.userCode).toMatch(/^[B-Z]{4}-[B-Z]{4}$/);
    expect((await poll(started.deviceCode).expect(200)).body).toEqual({ status: 'pending' });

    // Typed in lower case without the dash, it is the same code.
    const typed = started.userCode.toLowerCase().replace('-', '');
    const shown = await dev.agent.get(`/v1/cli/device-codes/${typed}`).expect(200);
    expect(shown.body).toMatchObject({ clientName: 'laptop', userCode: started.userCode });
    // Only developer organizations can be chosen; an account organization is refused.
    const acct = await createOrg(dev, 'account', 'Not a developer org');
    await dev.agent
      .post(`/v1/cli/device-codes/${typed}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve', organizationId: acct.id })
      .expect(403);
    const missing = await dev.agent
      .post(`/v1/cli/device-codes/${typed}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve' })
      .expect(400);
    expect(missing.body.fields).toEqual([{ field: 'body.organizationId', reason: 'required to approve' }]);
    // Someone else's organization does not exist for this person.
    const other = await developer(plaza);
    await dev.agent
      .post(`/v1/cli/device-codes/${typed}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve', organizationId: other.orgId })
      .expect(404);
    await dev.agent
      .post(`/v1/cli/device-codes/${typed}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve', organizationId: dev.orgId })
      .expect(200);

    const approved = (await poll(started.deviceCode).expect(200)).body;
    expect(approved).toMatchObject({
      status: 'approved',
      organization: { id: dev.orgId },
      user: { id: dev.user.id },
    });
    const me = await plaza.http.get('/v1/me').set('authorization', `Bearer ${approved.apiKey}`).expect(200);
    expect(me.body.organizations.map((o: { id: string }) => o.id)).toEqual([dev.orgId]);
    const keys = await dev.agent.get(`/v1/organizations/${dev.orgId}/api-keys`).expect(200);
    expect(keys.body.data).toEqual([
      expect.objectContaining({ id: approved.keyId, name: 'plaza CLI (laptop)', role: 'admin' }),
    ]);
    // Once: the next poll gets nothing, and the code cannot be decided again.
    expect((await poll(started.deviceCode).expect(410)).body.detail).toContain('already completed');
    await dev.agent.get(`/v1/cli/device-codes/${typed}`).expect(409);

    const denied = await startLogin();
    await dev.agent
      .post(`/v1/cli/device-codes/${denied.userCode}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'deny' })
      .expect(200);
    expect((await poll(denied.deviceCode).expect(200)).body).toEqual({ status: 'denied' });

    // Codes are for signed-in people in the browser: not anonymous callers, not API keys.
    const third = await startLogin();
    await plaza.http.get(`/v1/cli/device-codes/${third.userCode}`).expect(401);
    await plaza.http
      .post(`/v1/cli/device-codes/${third.userCode}/decision`)
      .set('authorization', `Bearer ${approved.apiKey}`)
      .send({ decision: 'approve', organizationId: dev.orgId })
      .expect(403);
    await poll('plz_dev_not_a_code').expect(404);
    // The hourly cleanup keeps codes that have not expired.
    await plaza.core.cli.cleanup();
    expect((await poll(third.deviceCode).expect(200)).body).toEqual({ status: 'pending' });
  });
});

describe('CLI webhook routes', () => {
  it("serve only the developer's own app, and explain themselves without an event-stream Accept", async () => {
    const dev = await developer(plaza);
    const { appId } = await completeApp(dev);
    const base = `/v1/organizations/${dev.orgId}/apps/${appId}/webhooks`;
    const about = await dev.agent.get(`${base}/stream`).expect(200);
    expect(about.body).toMatchObject({ appId, detail: expect.stringContaining('text/event-stream') });
    await plaza.http.get(`${base}/stream`).set('accept', 'text/event-stream').expect(401);

    const stranger = await developer(plaza);
    await stranger.agent
      .get(`/v1/organizations/${stranger.orgId}/apps/${appId}/webhooks/stream`)
      .set('accept', 'text/event-stream')
      .expect(404);

    const unknown = await dev.agent
      .post(`${base}/trigger`)
      .set('x-csrf-token', dev.csrf)
      .send({ eventType: 'contact.exploded' })
      .expect(400);
    expect(unknown.body.fields).toEqual([{ field: 'body.eventType', reason: 'unknown event type' }]);
    const notInstalled = await dev.agent
      .post(`${base}/trigger`)
      .set('x-csrf-token', dev.csrf)
      .send({ eventType: 'contact.created' })
      .expect(409);
    expect(notInstalled.body.detail).toContain('install the app in one of your test accounts');

    const member = await signUp(plaza);
    await member.agent
      .post(`/v1/organizations/${dev.orgId}/apps/${appId}/installations/inst_x/token`)
      .set('x-csrf-token', member.csrf)
      .expect(404);
  });
});
