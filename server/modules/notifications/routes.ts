import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { NotificationsService } from './service.ts';

export const NotificationSchema = z
  .object({
    id: z.string(),
    organizationId: z.string().nullable(),
    kind: z.string().describe('version.approved, version.changes_requested, version.checks_failed ...'),
    title: z.string(),
    body: z.string(),
    link: z.string().nullable().describe('Where in the web app to look'),
    data: z.record(z.string(), z.unknown()),
    createdAt: Timestamp,
    readAt: Timestamp.nullable(),
  })
  .meta({ id: 'Notification' });

export function notificationRoutes({ notifications }: { notifications: NotificationsService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/notifications',
      summary: 'List my notifications',
      tag: 'Notifications',
      access: { kind: 'user' },
      query: Pagination.extend({
        unread: z
          .enum(['true', 'false'])
          .optional()
          .transform((v) => v === 'true')
          .describe('Only unread ones'),
      }),
      response: page(NotificationSchema).extend({ unreadCount: z.number().int() }),
      handler: ({ actor, query }) => notifications.list(actor.userId!, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/notifications/:notificationId/read',
      summary: 'Mark a notification read',
      tag: 'Notifications',
      access: { kind: 'user' },
      params: z.object({ notificationId: z.string().max(64) }),
      response: NotificationSchema,
      handler: ({ actor, params }) => notifications.markRead(actor.userId!, params.notificationId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/notifications/read-all',
      summary: 'Mark all my notifications read',
      tag: 'Notifications',
      access: { kind: 'user' },
      response: z.object({ marked: z.number().int() }),
      handler: ({ actor }) => notifications.markAllRead(actor.userId!),
    }),
  ];
}
