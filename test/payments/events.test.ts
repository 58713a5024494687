import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, clientToken } from '../helpers/oauth.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { type Receiver, receiver, startWebhooksPlaza, verifyWith } from '../helpers/webhooks.ts';
import { account, installApp, person, registerApp } from '../helpers/world.ts';

/**
 * Payment events reach the app they are about, signed, and no other app
 * installed in the same account (sandbox provider, real webhook delivery).
 */
describe('payment events', () => {
  let plaza: PlazaServer;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    plaza = await startWebhooksPlaza();
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await plaza?.close();
  });

  async function appWithEndpoint(name: string) {
    const app = await registerApp(plaza, {
      name,
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'one_time', amount: 1_200, currency: 'USD' },
    });
    const hooks = await receiver();
    receivers.push(hooks);
    const res = await plaza.http
      .post('/v1/app/webhook-endpoints')
      .set(bearer(await clientToken(plaza, app)))
      .send({ url: hooks.url })
      .expect(201);
    return { app, hooks, secret: res.body.secret as string };
  }

  it('sends payment.succeeded to the paid app only', async () => {
    const paid = await appWithEndpoint('Paid Sync');
    const other = await appWithEndpoint('Other Sync');
    const owner = await person(plaza, 'Olive Owner');
    const acct = await account(plaza, owner, 'Event Shop');
    // The other app is installed in the same account: it still must not see this app's payments.
    await installApp(plaza, other.app, acct.org.id, other.app.scopes);
    const refused = await plaza.core.installations
      .admit({
        accountId: acct.org.id,
        appId: paid.app.appId,
        versionId: paid.app.versionId,
        grantedScopes: paid.app.scopes,
        actor: owner.actor,
        via: 'consent',
      })
      .then(
        () => null,
        (err) => err,
      );
    const sessionId = new URL(refused.extra.checkoutUrl).pathname.split('/').pop();
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);

    const [got] = await waitFor('payment.succeeded at the paid app', async () => {
      const list = paid.hooks.of('payment.succeeded');
      return list.length ? list : null;
    });
    verifyWith(paid.secret, got!);
    expect(got!.json.data).toMatchObject({
      appId: paid.app.appId,
      amount: 1_200,
      currency: 'USD',
      kind: 'initial',
    });
    // Give delivery a moment more: the other app never gets it.
    await new Promise((r) => setTimeout(r, 1000));
    expect(other.hooks.of('payment.succeeded')).toEqual([]);
  });
});
