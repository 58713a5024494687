import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ContactViewer, createContactViewer } from '../../sdk/examples/contact-viewer/app.ts';
import type { PlazaServer } from './plaza.ts';
import { registerApp, type TestApp } from './world.ts';

export interface RunningViewer {
  viewer: ContactViewer;
  /** Where the example app listens (127.0.0.1, its own port). */
  appUrl: string;
  /** The app registered for it in Plaza (`contacts:read`, redirect URI `<appUrl>/callback`). */
  app: TestApp;
  /** A request to the example app, as a browser would send it (no redirects followed). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The SDK's example app on a port of its own, registered in `plaza` as a live
 * app asking for `contacts:read`; no webhook secret (it registers its endpoint
 * when a test asks it to).
 */
export async function startContactViewer(plaza: PlazaServer): Promise<RunningViewer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const app = await registerApp(plaza, {
    name: 'Contact Viewer',
    redirectUris: [`${appUrl}/callback`],
    scopes: [{ name: 'contacts:read' }],
  });
  const viewer = createContactViewer({
    plazaUrl: plaza.baseUrl,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    appUrl,
    scopes: ['contacts:read'],
  });
  server.on('request', viewer.handle);
  return {
    viewer,
    appUrl,
    app,
    fetch: (path, init = {}) => fetch(`${appUrl}${path}`, { redirect: 'manual', ...init }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
