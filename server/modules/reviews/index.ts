import { defineModule } from '../module.ts';
import { reviewRoutes } from './routes.ts';
import { CHECKS_JOB, createReviewsService, type ReviewsService } from './service.ts';

export type { ReviewsService, Submission, SubmissionStatus } from './service.ts';
export { CHECKLIST, CHECKLIST_KEYS, type ChecklistKey, NOTE_FIELDS, type NoteField } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    reviews: ReviewsService;
  }
}

/** App review: developers submit versions, automated checks run, reviewers approve or reject. */
export default defineModule({
  name: 'reviews',
  requires: ['audit', 'events', 'apps', 'marketplace', 'notifications', 'organizations'],
  tables: ['review_submissions'],
  createService: (deps) => createReviewsService(deps),
  jobs: (reviews) => [
    {
      name: CHECKS_JOB,
      concurrency: 2,
      attempts: 5,
      backoff: { baseMs: 1000, maxMs: 60_000 },
      handler: ({ submissionId }: { submissionId: string }) => reviews.runChecksNow(submissionId),
    },
  ],
  routes: ({ reviews }) => reviewRoutes({ reviews }),
  startWorkers: async (reviews) => void (await reviews.requeuePendingChecks()),
});
