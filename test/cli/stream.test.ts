import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { type InstalledApp, type Person, withInstalledApp } from '../helpers/world.ts';

/**
 * The stream behind `plaza webhooks listen` carries what the app's endpoints
 * would get and nothing else: events of accounts where this app is installed
 * with the event type's scope.
 */
let plaza: PlazaServer;
beforeAll(async () => {
  plaza = await startPlazaServer();
});
afterAll(() => plaza?.close());

/** Opens the developer's stream of an app; collects its messages until `close()`. */
async function openStream(dev: Person, installed: InstalledApp) {
  const agent = supertest.agent(plaza.app.callback());
  await agent.post('/v1/auth/login').send({ email: dev.email, password: dev.password }).expect(200);
  const cookie = (agent as any).jar.getCookies({
    domain: '127.0.0.1',
    path: '/',
    secure: false,
    script: false,
  });
  const abort = new AbortController();
  const res = await fetch(
    `${plaza.baseUrl}/v1/organizations/${installed.app.developer.org.id}/apps/${installed.app.appId}/webhooks/stream`,
    {
      headers: {
        accept: 'text/event-stream',
        cookie: cookie.map((c: any) => `${c.name}=${c.value}`).join('; '),
      },
      signal: abort.signal,
    },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: Array<{ event: string; data: any }> = [];
  void (async () => {
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {}
  })();
  await waitFor('the ready event', () => events.some((e) => e.event === 'ready'));
  return {
    events,
    messages: () => events.filter((e) => e.event === 'message').map((e) => e.data),
    close: () => abort.abort(),
  };
}

async function addContact(installed: InstalledApp, name: string) {
  const ctx = await plaza.core.organizations.resolveContext(installed.owner.actor, installed.accountId);
  return plaza.core.contacts.create(ctx, { name, email: `${name.split(' ')[0].toLowerCase()}@example.com` });
}

describe('the CLI webhook stream', () => {
  it("carries the app's own installations' events with the scope, as an endpoint would get them", async () => {
    const mine = await withInstalledApp(plaza, { scopes: [{ name: 'contacts:read' }] });
    // Another app in the same account without contacts:read, and another app in another account.
    const noScope = await withInstalledApp(plaza, {
      scopes: [{ name: 'account:read' }],
      owner: mine.owner,
      account: { id: mine.accountId },
    });
    const other = await withInstalledApp(plaza, { scopes: [{ name: 'contacts:read' }] });

    const stream = await openStream(mine.app.developerPerson, mine);
    const quiet = await openStream(noScope.app.developerPerson, noScope);
    await addContact(other, 'Otto Other');
    const contact = await addContact(mine, 'Ada Mine');
    await waitFor('the contact.created message', () =>
      stream.messages().find((m) => m.type === 'contact.created'),
    );
    // Give the other account's event time to arrive if it were wrongly sent.
    await addContact(mine, 'Bea Mine');
    await waitFor('the second message', () => stream.messages().length >= 2);

    const [first] = stream.messages();
    expect(first).toMatchObject({
      type: 'contact.created',
      accountId: mine.accountId,
      installationId: mine.installationId,
    });
    expect(JSON.parse(first.body)).toMatchObject({
      type: 'contact.created',
      accountId: mine.accountId,
      installationId: mine.installationId,
      data: { contact: { id: contact.id, name: 'Ada Mine' } },
    });
    expect(stream.messages().map((m) => JSON.parse(m.body).data.contact.name)).toEqual([
      'Ada Mine',
      'Bea Mine',
    ]);
    expect(quiet.messages()).toEqual([]);
    stream.close();
    quiet.close();
  });
});
