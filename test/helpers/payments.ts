import { type FakeStripe, startFakeStripe } from '../fake-stripe/server.ts';
import { type PlazaServer, startPlazaServer } from './plaza.ts';

export interface PlazaOnFakeStripe {
  fake: FakeStripe;
  plaza: PlazaServer;
  close(): Promise<void>;
}

/**
 * Plaza on a real port with its payments on the Stripe adapter (the real
 * stripe SDK), pointed at a fresh fake Stripe that sends its signed webhooks
 * back to Plaza's `/v1/payments/stripe/webhook`.
 */
export async function startPlazaOnFakeStripe(): Promise<PlazaOnFakeStripe> {
  const fake = await startFakeStripe();
  const plaza = await startPlazaServer({ env: fake.env() });
  fake.setWebhookUrl(`${plaza.baseUrl}/v1/payments/stripe/webhook`);
  return {
    fake,
    plaza,
    async close() {
      await fake.close();
      await plaza.close();
    },
  };
}
