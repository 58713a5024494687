import type { MailboxEntry } from '../../server/modules/mail/service.ts';
import type { TestPlaza } from './plaza.ts';
import type { SignedIn } from './world.ts';

/**
 * Emails in tests: read straight from the dev mailbox table through the mail
 * service (the HTTP page is for platform admins), waiting for the send job.
 */
export async function mailTo(
  plaza: Pick<TestPlaza, 'core'>,
  to: string,
  subject?: RegExp,
): Promise<MailboxEntry> {
  for (let i = 0; i < 200; i++) {
    const found = (await plaza.core.mail.mailbox(50, to)).find(
      (m: MailboxEntry) => !subject || subject.test(m.subject),
    );
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no email to ${to}${subject ? ` with a subject like ${subject}` : ''}`);
}

/** The token of the first link to `<baseUrl><path>?token=...` or `<path>/<token>` in an email. */
export function linkToken(mail: MailboxEntry, path: string): string {
  const m = new RegExp(`${path.replaceAll('/', '\\/')}(?:\\?token=|\\/)([A-Za-z0-9_.~-]+)`).exec(mail.text);
  if (!m) throw new Error(`no ${path} link in the email to ${mail.to}:\n${mail.text}`);
  return m[1];
}

/** Follows the verification link Plaza emailed to `who`, as they would. */
export async function verifyEmail(plaza: Pick<TestPlaza, 'core' | 'http'>, who: SignedIn): Promise<void> {
  const mail = await mailTo(plaza, who.user.email, /verify/i);
  await plaza.http
    .post('/v1/auth/verify-email')
    .send({ token: linkToken(mail, '/verify-email') })
    .expect(200);
}
