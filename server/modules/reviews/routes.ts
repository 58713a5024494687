import { z } from 'zod';
import { type Access, defineRoute, Pagination, Timestamp } from '../../http/route.ts';
import {
  AppSchema,
  AppVersionSchema,
  ReviewKind,
  VersionDiffSchema,
  VersionParams,
  VersionState,
} from '../apps/index.ts';
import { CHECKLIST_KEYS, NOTE_FIELDS, type ReviewsService } from './service.ts';

const DEVELOPER: Access = { kind: 'org', orgKinds: ['developer'] };
/** Sending a version to review (it goes live once approved) and taking it back is for admins and owners. */
const DEVELOPER_ADMIN: Access = { ...DEVELOPER, minRole: 'admin' };
const REVIEWER: Access = { kind: 'platform', roles: ['reviewer'] };
const ReviewParams = z.object({ versionId: z.string().max(64) });

const CheckResultSchema = z
  .object({ check: z.string(), title: z.string(), passed: z.boolean(), reason: z.string() })
  .meta({ id: 'ReviewCheckResult' });
const Note = z.object({
  field: z.enum(NOTE_FIELDS).describe('The version field the note is about, or "general"'),
  note: z.string().trim().min(1, { message: 'must not be empty' }).max(2000),
});
const SubmissionStatus = z.enum([
  'checking',
  'checks_failed',
  'withdrawn',
  'queued',
  'in_review',
  'approved',
  'changes_requested',
]);

export const VersionStatusSchema = z
  .object({
    versionId: z.string(),
    appId: z.string(),
    number: z.number().int(),
    state: VersionState,
    reviewKind: ReviewKind.nullable(),
    reviewReasons: z.array(z.string()),
    submittedAt: Timestamp.nullable(),
    submission: z.object({ id: z.string(), status: SubmissionStatus }).nullable(),
    checks: z.array(CheckResultSchema).describe('Results of the automated checks of the latest submission'),
    checksCompletedAt: Timestamp.nullable(),
    queuePosition: z
      .number()
      .int()
      .nullable()
      .describe('1-based among queued and in-review versions, by submission time'),
    queueLength: z.number().int(),
    target: z.object({
      businessDays: z.number().int().describe('The published review target'),
      dueAt: Timestamp.nullable().describe(
        'Submission time plus the target in business days, while under review',
      ),
    }),
    medianReviewSeconds: z
      .number()
      .int()
      .nullable()
      .describe('Median time from submission to decision over the last 30 days (null: no decisions)'),
    reviewsDecidedLast30Days: z.number().int(),
    decision: z
      .object({
        outcome: z.enum(['approved', 'changes_requested']),
        decidedAt: Timestamp,
        notes: z.array(Note),
        comment: z.string().nullable(),
      })
      .nullable(),
  })
  .meta({ id: 'VersionReviewStatus' });

const SubmissionSchema = z.object({
  id: z.string(),
  appId: z.string(),
  versionId: z.string(),
  organizationId: z.string(),
  status: SubmissionStatus,
  reviewKind: ReviewKind,
  reviewReasons: z.array(z.string()),
  submittedAt: Timestamp,
  checks: z.array(CheckResultSchema),
  checksCompletedAt: Timestamp.nullable(),
  claimedBy: z.object({ userId: z.string(), email: z.string().nullable() }).nullable(),
  claimedAt: Timestamp.nullable(),
  decision: z.enum(['approved', 'changes_requested']).nullable(),
  decidedAt: Timestamp.nullable(),
  checklist: z.record(z.string(), z.boolean()).nullable(),
  notes: z.array(Note),
  comment: z.string().nullable(),
});

const ReviewDetailSchema = z
  .object({
    submission: SubmissionSchema.extend({ queuePosition: z.number().int().nullable() }),
    app: AppSchema.omit({ liveVersion: true, openVersion: true, clientSecrets: true }),
    developer: z.object({ organizationId: z.string(), name: z.string() }),
    version: AppVersionSchema,
    diff: VersionDiffSchema,
    checklist: z.array(z.object({ key: z.string(), label: z.string() })),
    noteFields: z.array(z.string()),
    history: z.array(SubmissionSchema).describe('Earlier decided submissions of the app'),
  })
  .meta({ id: 'ReviewDetail' });

const QueueItem = z
  .object({
    position: z.number().int(),
    versionId: z.string(),
    versionNumber: z.number().int(),
    appId: z.string(),
    appName: z.string(),
    slug: z.string(),
    developer: z.object({ organizationId: z.string(), name: z.string() }),
    state: z.enum(['queued', 'in_review']),
    reviewKind: ReviewKind,
    reviewReasons: z.array(z.string()),
    addsScopes: z.boolean(),
    flag: z.string().describe('"adds scopes → full review", "full review" or "fast track"'),
    submittedAt: Timestamp,
    ageSeconds: z.number().int(),
    claimedBy: z.object({ userId: z.string(), email: z.string().nullable() }).nullable(),
    claimedAt: Timestamp.nullable(),
  })
  .meta({ id: 'ReviewQueueItem' });

const Checklist = z
  .object(Object.fromEntries(CHECKLIST_KEYS.map((k) => [k, z.boolean().optional()])))
  .describe('The review checklist; approving needs every item true');

export function reviewRoutes({ reviews }: { reviews: ReviewsService }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/submit',
      summary: 'Submit a version for review',
      tag: 'Reviews',
      access: DEVELOPER_ADMIN,
      params: VersionParams,
      query: z.object({
        wait: z.coerce
          .number()
          .int()
          .min(0)
          .max(60)
          .default(0)
          .describe('Seconds to wait for the automated checks (they run as a job) before answering'),
      }),
      response: VersionStatusSchema.extend({
        statusUrl: z.string().describe('Poll it (GET) for the checks, the queue position and the decision'),
      }),
      async handler({ org, params, query, ctx }) {
        let status = await reviews.submit(org, params.appId, params.versionId);
        const deadline = Date.now() + query.wait * 1000;
        while (status.state === 'checking' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          status = await reviews.status(org, params.appId, params.versionId);
        }
        const statusUrl = `${ctx.path.replace(/\/submit$/, '')}/status`;
        ctx.set('Location', statusUrl);
        return { ...status, statusUrl };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/withdraw',
      summary: 'Withdraw a version from review',
      tag: 'Reviews',
      access: DEVELOPER_ADMIN,
      params: VersionParams,
      response: VersionStatusSchema,
      handler: ({ org, params }) => reviews.withdraw(org, params.appId, params.versionId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/versions/:versionId/status',
      summary: 'Get the review status of a version',
      tag: 'Reviews',
      access: DEVELOPER,
      params: VersionParams,
      response: VersionStatusSchema,
      handler: ({ org, params }) => reviews.status(org, params.appId, params.versionId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/review/queue',
      summary: 'List the review queue',
      tag: 'Reviews',
      access: REVIEWER,
      query: Pagination,
      response: z.object({ data: z.array(QueueItem), nextCursor: z.string().nullable() }),
      handler: ({ query }) => reviews.queue(query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/review/versions/:versionId',
      summary: 'Get a version to review',
      tag: 'Reviews',
      access: REVIEWER,
      params: ReviewParams,
      response: ReviewDetailSchema,
      handler: ({ params }) => reviews.reviewDetail(params.versionId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/review/versions/:versionId/claim',
      summary: 'Claim a version for review',
      tag: 'Reviews',
      access: REVIEWER,
      params: ReviewParams,
      response: ReviewDetailSchema,
      handler: ({ actor, params }) => reviews.claim(actor, params.versionId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/review/versions/:versionId/release',
      summary: 'Release a claimed version',
      tag: 'Reviews',
      access: REVIEWER,
      params: ReviewParams,
      response: ReviewDetailSchema,
      handler: ({ actor, params }) => reviews.release(actor, params.versionId),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/review/versions/:versionId/approve',
      summary: 'Approve a version',
      tag: 'Reviews',
      access: REVIEWER,
      params: ReviewParams,
      body: z.object({ checklist: Checklist, comment: z.string().trim().max(2000).optional() }),
      response: ReviewDetailSchema,
      handler: ({ actor, params, body }) => reviews.approve(actor, params.versionId, body),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/review/versions/:versionId/request-changes',
      summary: 'Request changes to a version',
      tag: 'Reviews',
      access: REVIEWER,
      params: ReviewParams,
      body: z.object({
        notes: z.array(Note).min(1, { message: 'say what needs to change' }).max(50),
        checklist: Checklist.optional(),
        comment: z.string().trim().max(2000).optional(),
      }),
      response: ReviewDetailSchema,
      handler: ({ actor, params, body }) => reviews.requestChanges(actor, params.versionId, body),
    }),
  ];
}
