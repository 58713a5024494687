import supertest from 'supertest';
import { type PlazaServer, startPlazaServer } from '../../../test/helpers/plaza.ts';
import {
  type InstalledApp,
  type SignedIn,
  signInWithPlatformRole,
  withInstalledApp,
} from '../../../test/helpers/world.ts';

/** A Plaza on a real port (apps need URLs) with the billing plugin, and an operator signed in. */
export async function startBilling(
  env: Record<string, string> = {},
): Promise<{ plaza: PlazaServer; operator: SignedIn }> {
  const plaza = await startPlazaServer({
    env: {
      PLAZA_PLUGINS: 'billing',
      PLAZA_PLUGINS_DIR: 'plugins',
      PLAZA_DEV_MAILBOX: 'true',
      // Renewals, dunning and expired reservations looked at every second.
      PLAZA_PLUGIN_BILLING_CYCLE_INTERVAL_MS: '1000',
      ...env,
    },
  });
  const operator = await signInWithPlatformRole(plaza, 'admin');
  return { plaza, operator };
}

/** An app installed in a new account with billing scopes, through the consent pages. */
export function billingApp(
  plaza: PlazaServer,
  scopes = ['billing:usage', 'billing:credits'],
): Promise<InstalledApp> {
  return withInstalledApp(plaza, { scopes: scopes.map((name) => ({ name })) });
}

export const post = (who: SignedIn, path: string, body: object) =>
  who.agent.post(path).set('x-csrf-token', who.csrf).send(body);

/** Signs a person made by the services (an installed app's owner) in to the web API. */
export async function signIn(
  plaza: PlazaServer,
  who: { email: string; password: string },
): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  return { agent, user: res.body.user, csrf: res.body.csrfToken };
}

/** Pays a sandbox payment page (its URL) with a card that succeeds; the card is saved. */
export async function payOnPage(plaza: PlazaServer, url: string): Promise<void> {
  const sessionId = new URL(url).pathname.split('/').pop();
  await plaza.http
    .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
    .send({ card: '4242424242424242' })
    .expect(200);
}
