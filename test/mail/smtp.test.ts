import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signInWithPlatformRole, signUp } from '../helpers/world.ts';

/** A real SMTP server on loopback that keeps what it receives. */
const received: Array<{ to: string[]; raw: string }> = [];
let smtp: SMTPServer;
let plaza: TestPlaza;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, done) {
      let raw = '';
      stream.on('data', (c) => (raw += c));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const port = (smtp.server.address() as { port: number }).port;
  plaza = await startPlaza({
    SMTP_URL: `smtp://127.0.0.1:${port}`,
    MAIL_FROM: 'Plaza Test <plaza@example.test>',
  });
});
afterAll(async () => {
  await plaza.close();
  await new Promise<void>((r) => smtp.close(() => r()));
});

describe('email over SMTP', () => {
  it('sends the invitation through the configured SMTP server, and keeps no dev mailbox', async () => {
    const owner = await signUp(plaza, { name: 'Sam Sender' });
    const org = await createOrg(owner, 'agency', 'Mail Agency');
    const to = `smtp.invitee.${Date.now()}@example.test`;
    await owner.agent
      .post(`/v1/organizations/${org.id}/invitations`)
      .set('x-csrf-token', owner.csrf)
      .send({ email: to })
      .expect(201);
    for (let i = 0; i < 200 && !received.some((m) => m.to.includes(to)); i++)
      await new Promise((r) => setTimeout(r, 25));
    const mail = received.find((m) => m.to.includes(to));
    expect(mail).toBeDefined();
    expect(mail!.raw).toMatch(/^From: Plaza Test <plaza@example\.test>/m);
    expect(mail!.raw).toMatch(/Subject: .*Mail Agency/);
    expect(mail!.raw).toMatch(/\/invitations\/inv_/);
    // With SMTP the dev mailbox is off: even a platform admin finds nothing there.
    const admin = await signInWithPlatformRole(plaza, 'admin');
    await admin.agent.get('/v1/dev/mailbox').expect(404);
  });
});
