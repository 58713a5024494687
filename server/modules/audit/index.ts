import { defineModule } from '../module.ts';
import { auditRoutes } from './routes.ts';
import { type AuditService, createAuditService } from './service.ts';

export type { AuditEntry, AuditService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    audit: AuditService;
  }
}

/** The audit log: who did what, written in the same transaction as the change. */
export default defineModule({
  name: 'audit',
  tables: ['audit_events'],
  createService: ({ db }) => createAuditService({ db }),
  routes: ({ audit }) => auditRoutes({ audit }),
});
