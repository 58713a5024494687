import { defineModule } from '../module.ts';
import { notificationRoutes } from './routes.ts';
import { createNotificationsService, type NotificationsService } from './service.ts';

export type { Notification, NotificationsService, NotifyInput } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    notifications: NotificationsService;
  }
}

/** In-app notifications (and the email that goes with each). */
export default defineModule({
  name: 'notifications',
  requires: ['identity', 'organizations', 'mail'],
  tables: ['notifications'],
  createService: ({ db, identity, organizations, mail, log }) =>
    createNotificationsService({ db, identity, organizations, mail, log }),
  routes: ({ notifications }) => notificationRoutes({ notifications }),
});
