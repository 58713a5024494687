/**
 * Runs the contact viewer:
 *
 *   PLAZA_URL=http://localhost:3000 PLAZA_CLIENT_ID=... PLAZA_CLIENT_SECRET=... \
 *     npx node sdk/examples/contact-viewer/main.ts
 *
 * PORT (default 3005), APP_URL (default http://127.0.0.1:PORT), SCOPES
 * (default contacts:read; space or comma separated), PLAZA_WEBHOOK_SECRET
 * (the whsec_ secret of the endpoint $APP_URL/webhooks; when unset, the app
 * finds or creates that endpoint with its client credentials at start).
 */
import { createServer } from 'node:http';
import { createContactViewer } from './app.ts';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`contact-viewer: set ${name} (see sdk/examples/contact-viewer/README.md)`);
    process.exit(1);
  }
  return value;
};

const port = Number(process.env.PORT ?? 3005);
const appUrl = process.env.APP_URL ?? `http://127.0.0.1:${port}`;
const viewer = createContactViewer({
  plazaUrl: process.env.PLAZA_URL ?? 'http://localhost:3000',
  clientId: required('PLAZA_CLIENT_ID'),
  clientSecret: required('PLAZA_CLIENT_SECRET'),
  appUrl,
  scopes: (process.env.SCOPES ?? 'contacts:read').split(/[\s,]+/).filter(Boolean),
  webhookSecret: process.env.PLAZA_WEBHOOK_SECRET || undefined,
});

createServer(viewer.handle).listen(port, '127.0.0.1', async () => {
  console.log(`contact viewer on ${appUrl} (redirect URI ${appUrl}/callback)`);
  if (process.env.PLAZA_WEBHOOK_SECRET) return;
  try {
    const { endpoint, created } = await viewer.registerWebhookEndpoint();
    console.log(`webhooks: ${created ? 'created' : 'found'} endpoint ${endpoint.id} for ${endpoint.url}`);
  } catch (err) {
    // Plaza refuses http:// endpoints unless it runs with WEBHOOKS_ALLOW_PRIVATE=true (local development).
    console.error(`webhooks: off, could not register ${appUrl}/webhooks: ${(err as Error).message}`);
  }
});
