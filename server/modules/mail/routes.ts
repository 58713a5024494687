import { z } from 'zod';
import { notFound } from '../../errors.ts';
import { defineRoute, Timestamp } from '../../http/route.ts';
import type { MailService } from './service.ts';

export function mailRoutes({ mail, devMailbox }: { mail: MailService; devMailbox: boolean }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/dev/mailbox',
      summary: 'Dev mailbox',
      tag: 'Development',
      // A development tool showing every email sent (links included): platform admins only, and
      // only when PLAZA_DEV_MAILBOX is on (see config.ts for when it is on by itself).
      access: { kind: 'platform', roles: ['admin'] },
      apiKeys: false,
      response: z.object({
        data: z.array(
          z.object({
            id: z.string(),
            to: z.string(),
            subject: z.string(),
            text: z.string(),
            html: z.string().nullable(),
            from: z.string().nullable(),
            replyTo: z.string().nullable(),
            createdAt: Timestamp,
          }),
        ),
      }),
      async handler() {
        if (!devMailbox) throw notFound('dev mailbox (PLAZA_DEV_MAILBOX is off)');
        return { data: await mail.mailbox() };
      },
    }),
  ];
}
