import { defineModule } from '../module.ts';
import { mailRoutes } from './routes.ts';
import { createMailService, type MailService } from './service.ts';

export type { Email, MailboxEntry, MailService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    mail: MailService;
  }
}

/** Emails from templates, sent by a job; the development mailbox when no SMTP_URL is set. */
export default defineModule({
  name: 'mail',
  tables: ['dev_mailbox'],
  createService: ({ config, db, jobs, log }) => createMailService({ config, db, jobs, log }),
  routes: ({ mail, config }) => mailRoutes({ mail, devMailbox: config.devMailbox ?? false }),
});
