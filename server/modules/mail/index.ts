import { defineModule } from '../module.ts';
import { mailRoutes } from './routes.ts';
import { createMailService, type Email, type MailService, SEND_JOB } from './service.ts';

export type { Email, MailBrand, MailBrandResolver, MailboxEntry, MailService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    mail: MailService;
  }
}

/** Emails from templates, sent by a job; the development mailbox when no SMTP_URL is set. */
export default defineModule({
  name: 'mail',
  tables: ['dev_mailbox'],
  createService: ({ config, db, jobs, log, extensions }) =>
    createMailService({ config, db, jobs, log, extensions }),
  // Retried with backoff, so a hiccup of the SMTP server delays an email rather than losing it.
  jobs: (mail) => [
    {
      name: SEND_JOB,
      attempts: 6,
      backoff: { baseMs: 2000, maxMs: 15 * 60_000 },
      handler: (email: Email) => mail.deliver(email),
    },
  ],
  routes: ({ mail, config }) => mailRoutes({ mail, devMailbox: config.devMailbox ?? false }),
});
