import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, invalid, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import { type Actor, type OrgContext, SYSTEM_ACTOR } from '../../tenancy.ts';
import { type AppsService, LISTING_TEXT_FIELDS, type MarketplacePort } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { NotificationsService } from '../notifications/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { type CheckResult, runChecks } from './checks.ts';
import { addBusinessDays } from './sla.ts';

/**
 * The review pipeline: submission, automated checks (a job), the queue,
 * claims and decisions. Version states live in the apps module and change
 * only through `apps.transition` (the transition table), in the same
 * transaction as the submission row here.
 */
export const CHECKLIST = [
  { key: 'listing_accurate', label: 'The listing describes what the app does, without misleading claims' },
  { key: 'scopes_needed', label: 'Every requested scope is needed for what the listing describes' },
  { key: 'redirect_uris_owned', label: 'The redirect URIs and the install link belong to the developer' },
  { key: 'policies_reachable', label: 'The support and privacy policy pages load and match the app' },
  { key: 'pricing_clear', label: 'Pricing is stated clearly and matches the listing' },
  { key: 'content_acceptable', label: 'Nothing harmful, infringing or offensive' },
] as const;
export type ChecklistKey = (typeof CHECKLIST)[number]['key'];
export const CHECKLIST_KEYS = CHECKLIST.map((c) => c.key) as [ChecklistKey, ...ChecklistKey[]];

/** What a reviewer's note can be tied to: a field of the version, or the version as a whole. */
export const NOTE_FIELDS = [
  ...LISTING_TEXT_FIELDS,
  'icon',
  'screenshots',
  'redirectUris',
  'installUrl',
  'scopes',
  'webhookEvents',
  'pricing',
  'general',
] as const;
export type NoteField = (typeof NOTE_FIELDS)[number];

export type SubmissionStatus =
  | 'checking'
  | 'checks_failed'
  | 'withdrawn'
  | 'queued'
  | 'in_review'
  | 'approved'
  | 'changes_requested';

export interface Submission {
  id: string;
  appId: string;
  versionId: string;
  organizationId: string;
  status: SubmissionStatus;
  reviewKind: 'full' | 'fast_track';
  reviewReasons: string[];
  submittedAt: string;
  checks: CheckResult[];
  checksCompletedAt: string | null;
  claimedBy: { userId: string; email: string | null } | null;
  claimedAt: string | null;
  decision: 'approved' | 'changes_requested' | null;
  decidedAt: string | null;
  checklist: Record<string, boolean> | null;
  notes: Array<{ field: NoteField; note: string }>;
  comment: string | null;
}

export const CHECKS_JOB = 'reviews.checks';
/** A checks job whose submission was withdrawn and replaced while the checks ran. */
class StaleSubmission extends Error {}
const ACTIVE = ['checking', 'queued', 'in_review'];
const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;

const toSubmission = (r: any): Submission => ({
  id: r.id,
  appId: r.app_id,
  versionId: r.version_id,
  organizationId: r.organization_id,
  status: r.status,
  reviewKind: r.review_kind,
  reviewReasons: r.review_reasons,
  submittedAt: r.submitted_at.toISOString(),
  checks: r.checks,
  checksCompletedAt: iso(r.checks_completed_at),
  claimedBy: r.claimed_by ? { userId: r.claimed_by, email: r.claimed_by_email } : null,
  claimedAt: iso(r.claimed_at),
  decision: r.decision,
  decidedAt: iso(r.decided_at),
  checklist: r.checklist,
  notes: r.notes,
  comment: r.comment,
});

export type ReviewsService = ReturnType<typeof createReviewsService>;

export function createReviewsService(deps: {
  db: Db;
  config: Config;
  jobs: JobQueue;
  log: Logger;
  audit: AuditService;
  apps: AppsService;
  marketplace: MarketplacePort;
  notifications: NotificationsService;
  organizations: OrganizationsService;
  scopes: ScopeCatalog;
  events: EventsService;
}) {
  const { db, config, jobs, log, audit, apps, marketplace, notifications, organizations, scopes, events } =
    deps;

  const versionLink = (orgId: string, appId: string, versionId: string) =>
    `/orgs/${orgId}/apps/${appId}/versions/${versionId}`;

  const enqueueChecks = (submissionId: string) =>
    jobs.enqueue(CHECKS_JOB, { submissionId }, { jobId: `review-checks.${submissionId}` });

  /** The submission under review for a version, locked (undefined when none is active). */
  const activeSubmission = (tx: Tx, versionId: string) =>
    tx.maybeOne('SELECT * FROM review_submissions WHERE version_id = $1 AND status = ANY($2) FOR UPDATE', [
      versionId,
      ACTIVE,
    ]);

  const latestSubmission = (q: Queryable, versionId: string) =>
    q.maybeOne(
      'SELECT * FROM review_submissions WHERE version_id = $1 ORDER BY submitted_at DESC, id DESC LIMIT 1',
      [versionId],
    );

  /** The `reviews.checks` job: runs the automated checks of a submission and records the outcome. */
  async function runChecksJob(submissionId: string): Promise<void> {
    await recordChecks(submissionId).catch((err) => {
      if (!(err instanceof StaleSubmission)) throw err;
    });
  }

  async function recordChecks(submissionId: string): Promise<void> {
    const sub = await db.maybeOne('SELECT * FROM review_submissions WHERE id = $1', [submissionId]);
    if (sub?.status !== 'checking') return; // withdrawn meanwhile, or already done
    const { app, version, content } = await apps.versionForReview(db, sub.version_id);
    const types = new Map(events.types().map((t) => [t.type, t]));
    const results = runChecks(content, { scope: (n) => scopes.get(n), eventType: (t) => types.get(t) });
    const passed = results.every((r) => r.passed);
    await db.transaction(async (tx) => {
      // The version's row lock first, as every transition takes it: a withdraw cannot slip in between.
      const moved = await apps
        .transition(tx, sub.version_id, passed ? 'checks_passed' : 'checks_failed')
        .catch((err) =>
          err instanceof PlazaError && err.code === 'PLAZA_CONFLICT' ? null : Promise.reject(err),
        );
      if (!moved) return; // withdrawn meanwhile: nothing was written
      const locked = await tx.maybeOne(
        `SELECT * FROM review_submissions WHERE id = $1 AND status = 'checking' FOR UPDATE`,
        [submissionId],
      );
      // Withdrawn and submitted again: the version is checking for a newer submission; undo the move.
      if (!locked) throw new StaleSubmission();
      await tx.query(
        `UPDATE review_submissions SET status = $2, checks = $3, checks_completed_at = now() WHERE id = $1`,
        [submissionId, passed ? 'queued' : 'checks_failed', JSON.stringify(results)],
      );
      await audit.record(tx, {
        organizationId: sub.organization_id,
        actor: SYSTEM_ACTOR,
        action: passed ? 'app_version.checks_passed' : 'app_version.checks_failed',
        targetType: 'app_version',
        targetId: sub.version_id,
        data: { appId: sub.app_id, failed: results.filter((r) => !r.passed).map((r) => r.check) },
      });
      if (!passed) {
        const failed = results.filter((r) => !r.passed);
        await notifications.notifyOrganization(tx, sub.organization_id, {
          kind: 'version.checks_failed',
          title: `${version.name} version ${version.number} did not pass the automated checks`,
          body: failed.map((r) => `${r.title}: ${r.reason}`).join('\n'),
          link: versionLink(sub.organization_id, app.id, version.id),
          data: { appId: app.id, versionId: version.id, failed: failed.map((r) => r.check) },
        });
      }
    });
  }

  async function medianReview() {
    const row = await db.one<{ median: number | null; n: number }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - submitted_at)) AS median,
              count(*)::int AS n
       FROM review_submissions WHERE decided_at IS NOT NULL AND decided_at > now() - interval '30 days'`,
    );
    return { seconds: row.median === null ? null : Math.round(Number(row.median)), count: row.n };
  }

  /** 1-based place among queued and in-review submissions by submission time; null when not in the queue. */
  async function queuePosition(q: Queryable, sub: any): Promise<number | null> {
    if (!sub || (sub.status !== 'queued' && sub.status !== 'in_review')) return null;
    const { n } = await q.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM review_submissions
       WHERE status IN ('queued', 'in_review')
         AND (submitted_at, id) <= (SELECT submitted_at, id FROM review_submissions WHERE id = $1)`,
      [sub.id],
    );
    return n;
  }

  /**
   * Locks the submission a reviewer acts on, checks they hold its claim (a
   * platform admin may release anyone's), and moves the version: 409 when the
   * transition table refuses.
   */
  async function act(
    tx: Tx,
    actor: Actor,
    versionId: string,
    action: 'release' | 'approve' | 'request_changes',
    verb: string,
  ) {
    // The version's row lock comes first (the transition takes it), then the submission is read:
    // read before the lock, it could be one another request is just replacing. A refusal below
    // rolls the move back with the transaction.
    const moved = await apps.transition(tx, versionId, action);
    const sub = await activeSubmission(tx, versionId);
    if (!sub)
      throw new PlazaError('PLAZA_INTERNAL', `version ${versionId} is in review without a submission`);
    const mayOverride = action === 'release' && actor.platformRole === 'admin';
    if (sub.claimed_by !== actor.userId && !mayOverride)
      throw conflict(
        `another reviewer (${sub.claimed_by_email ?? sub.claimed_by}) has claimed this version; only they can ${verb} it`,
      );
    return { sub, moved };
  }

  function assertChecklist(checklist: Record<string, boolean | undefined>, complete: boolean) {
    const fields = complete
      ? CHECKLIST.filter((c) => checklist[c.key] !== true).map((c) => ({
          field: `body.checklist.${c.key}`,
          reason: `tick "${c.label}" before approving`,
        }))
      : [];
    if (fields.length) throw new PlazaError('PLAZA_VALIDATION', 'the checklist is not complete', { fields });
  }

  async function decisionNotice(
    tx: Tx,
    sub: any,
    kind: 'approved' | 'changes_requested',
    notes: any[],
    comment: string | null,
  ) {
    const { app, version } = await apps.versionForReview(tx, sub.version_id);
    const link = versionLink(sub.organization_id, app.id, version.id);
    const base = { appName: version.name, versionNumber: version.number, link, notes, comment };
    await notifications.notifyOrganization(
      tx,
      sub.organization_id,
      kind === 'approved'
        ? {
            kind: 'version.approved',
            title: `${version.name} version ${version.number} is live`,
            body: comment ?? 'It passed review and is now live in the marketplace.',
            link,
            data: { appId: app.id, versionId: version.id },
            email: { template: 'version-approved', data: base },
          }
        : {
            kind: 'version.changes_requested',
            title: `Changes requested for ${version.name} version ${version.number}`,
            body: notes.map((n) => `${n.field}: ${n.note}`).join('\n'),
            link,
            data: { appId: app.id, versionId: version.id, notes },
            email: { template: 'version-changes-requested', data: base },
          },
    );
  }

  /** Where a version stands: state, checks, queue position, the published target and the recent median. */
  async function status(ctx: OrgContext, appId: string, versionId: string) {
    const version = await apps.resolveVersion(ctx, appId, versionId);
    const sub = await latestSubmission(db, versionId);
    const median = await medianReview();
    const { n: queueLength } = await db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM review_submissions WHERE status IN ('queued', 'in_review')`,
    );
    const open = ['checking', 'queued', 'in_review'].includes(version.state);
    const submittedAt = sub ? (sub.submitted_at as Date) : null;
    return {
      versionId,
      appId,
      number: version.number,
      state: version.state,
      reviewKind: (sub?.review_kind ?? null) as 'full' | 'fast_track' | null,
      reviewReasons: (sub?.review_reasons ?? []) as string[],
      submittedAt: iso(submittedAt),
      submission: sub ? { id: sub.id as string, status: sub.status as SubmissionStatus } : null,
      checks: (sub?.checks ?? []) as CheckResult[],
      checksCompletedAt: iso(sub?.checks_completed_at),
      queuePosition: await queuePosition(db, sub),
      queueLength,
      target: {
        businessDays: config.reviewTargetBusinessDays,
        dueAt:
          open && submittedAt
            ? addBusinessDays(submittedAt, config.reviewTargetBusinessDays).toISOString()
            : null,
      },
      medianReviewSeconds: median.seconds,
      reviewsDecidedLast30Days: median.count,
      decision: sub?.decision
        ? {
            outcome: sub.decision as 'approved' | 'changes_requested',
            decidedAt: iso(sub.decided_at)!,
            notes: sub.notes as Submission['notes'],
            comment: sub.comment as string | null,
          }
        : null,
    };
  }

  /** What a reviewer looks at: the version, its diff against the live one, the check results and the checklist. */
  async function reviewDetail(versionId: string) {
    const sub = await latestSubmission(db, versionId);
    if (!sub) throw notFound('submission');
    const { app, version } = await apps.versionForReview(db, versionId);
    const developer = await organizations.byId(app.organizationId);
    const history = await db.query(
      `SELECT * FROM review_submissions WHERE app_id = $1 AND id <> $2 AND decided_at IS NOT NULL
       ORDER BY submitted_at DESC LIMIT 20`,
      [app.id, sub.id],
    );
    return {
      submission: { ...toSubmission(sub), queuePosition: await queuePosition(db, sub) },
      app,
      developer: { organizationId: app.organizationId, name: developer?.name ?? '' },
      version,
      diff: await apps.diffForReview(db, versionId),
      checklist: CHECKLIST.map((c) => ({ ...c })),
      noteFields: [...NOTE_FIELDS],
      history: history.map(toSubmission),
    };
  }

  return {
    CHECKLIST,
    status,
    reviewDetail,

    /**
     * Decisions per UTC day in [from, to] (YYYY-MM-DD) with each one's review
     * time (submission to decision) and whether it missed the published target
     * (PLAZA_REVIEW_TARGET_BUSINESS_DAYS). Reads decided submissions only
     * (hundreds a month, by the decided_at index); the dashboard takes
     * medians and percentiles from it.
     */
    async decisions(from: string, to: string) {
      const rows = await db.query(
        `SELECT to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, submitted_at, decided_at
         FROM review_submissions
         WHERE decided_at >= $1::date AND decided_at < $2::date + 1 ORDER BY decided_at`,
        [from, to],
      );
      return {
        targetBusinessDays: config.reviewTargetBusinessDays,
        data: rows.map((r) => ({
          day: r.day as string,
          hours: (r.decided_at.getTime() - r.submitted_at.getTime()) / 3_600_000,
          breached: r.decided_at > addBusinessDays(r.submitted_at, config.reviewTargetBusinessDays),
        })),
      };
    },

    // Developers -------------------------------------------------------------------

    /** Sends a draft (or a version with requested changes) to the automated checks. */
    async submit(ctx: OrgContext, appId: string, versionId: string) {
      await apps.resolveVersion(ctx, appId, versionId);
      const diff = await apps.diffForReview(db, versionId);
      const id = await db.transaction(async (tx) => {
        await apps.transition(tx, versionId, 'submit', { reviewKind: diff.reviewKind });
        const subId = newId('rev');
        await tx.query(
          `INSERT INTO review_submissions (id, app_id, version_id, organization_id, status, review_kind, review_reasons, submitted_by)
           VALUES ($1, $2, $3, $4, 'checking', $5, $6, $7)`,
          [
            subId,
            appId,
            versionId,
            ctx.org.id,
            diff.reviewKind,
            JSON.stringify(diff.reviewReasons),
            ctx.actor.userId,
          ],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app_version.submitted',
          targetType: 'app_version',
          targetId: versionId,
          data: { appId, submissionId: subId, reviewKind: diff.reviewKind },
        });
        tx.afterCommit(() => enqueueChecks(subId).then(() => {}));
        return subId;
      });
      log.debug({ submissionId: id }, 'version submitted');
      return status(ctx, appId, versionId);
    },

    /** Takes a version out of the checks or the queue, back to draft. */
    async withdraw(ctx: OrgContext, appId: string, versionId: string) {
      await apps.resolveVersion(ctx, appId, versionId);
      await db.transaction(async (tx) => {
        // Lock (through the transition) before reading the submission: one being submitted right
        // now is then committed and seen, never left active behind a draft.
        await apps.transition(tx, versionId, 'withdraw');
        const sub = await activeSubmission(tx, versionId);
        if (sub) await tx.query(`UPDATE review_submissions SET status = 'withdrawn' WHERE id = $1`, [sub.id]);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app_version.withdrawn',
          targetType: 'app_version',
          targetId: versionId,
          data: { appId, submissionId: sub?.id ?? null },
        });
      });
      return status(ctx, appId, versionId);
    },

    // Reviewers --------------------------------------------------------------------

    /** The queue: queued and in-review versions, oldest submission first. */
    async queue(opts: { limit: number; cursor?: string }) {
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM (
           SELECT s.*, row_number() OVER (ORDER BY submitted_at, id)::int AS position,
                  extract(epoch FROM now() - submitted_at)::int AS age_seconds
           FROM review_submissions s WHERE status IN ('queued', 'in_review')) q
         WHERE ($1::int IS NULL OR position > $1) ORDER BY position LIMIT $2`,
        [after ? Number(after[0]) : null, opts.limit + 1],
      );
      const page = toPage(
        rows,
        opts.limit,
        (r) => [r.position],
        (r) => r,
      );
      const names = await apps.summaries(page.data.map((r) => r.version_id));
      const orgIds = [...new Set(page.data.map((r) => r.organization_id as string))];
      const orgs = new Map(
        await Promise.all(orgIds.map(async (id) => [id, await organizations.byId(id)] as const)),
      );
      return {
        data: page.data.map((r) => {
          const v = names.get(r.version_id);
          const addsScopes = (r.review_reasons as string[]).some((x) => x.startsWith('adds scopes'));
          return {
            position: r.position as number,
            versionId: r.version_id as string,
            versionNumber: v?.number ?? 0,
            appId: r.app_id as string,
            appName: v?.name ?? '',
            slug: v?.slug ?? '',
            developer: {
              organizationId: r.organization_id as string,
              name: orgs.get(r.organization_id)?.name ?? '',
            },
            state: r.status as 'queued' | 'in_review',
            reviewKind: r.review_kind as 'full' | 'fast_track',
            reviewReasons: r.review_reasons as string[],
            addsScopes,
            flag: addsScopes
              ? 'adds scopes → full review'
              : r.review_kind === 'full'
                ? 'full review'
                : 'fast track',
            submittedAt: r.submitted_at.toISOString() as string,
            ageSeconds: r.age_seconds as number,
            claimedBy: r.claimed_by
              ? { userId: r.claimed_by as string, email: r.claimed_by_email as string | null }
              : null,
            claimedAt: iso(r.claimed_at),
          };
        }),
        nextCursor: page.nextCursor,
      };
    },

    async claim(actor: Actor, versionId: string) {
      await db.transaction(async (tx) => {
        await apps.transition(tx, versionId, 'claim').catch(async (err) => {
          const claimed = await activeSubmission(tx, versionId);
          if (claimed?.status === 'in_review')
            throw conflict(
              `${claimed.claimed_by_email ?? 'another reviewer'} has already claimed this version`,
            );
          throw err;
        });
        const sub = await activeSubmission(tx, versionId);
        if (!sub) throw new PlazaError('PLAZA_INTERNAL', `queued version ${versionId} has no submission`);
        await tx.query(
          `UPDATE review_submissions SET status = 'in_review', claimed_by = $2, claimed_by_email = $3, claimed_at = now()
           WHERE id = $1`,
          [sub.id, actor.userId, actor.email],
        );
        await audit.record(tx, {
          organizationId: sub.organization_id,
          actor,
          action: 'review.claimed',
          targetType: 'app_version',
          targetId: versionId,
          data: { appId: sub.app_id, submissionId: sub.id },
        });
      });
      return reviewDetail(versionId);
    },

    /** Gives a claimed version back to the queue (its reviewer, or a platform admin). */
    async release(actor: Actor, versionId: string) {
      await db.transaction(async (tx) => {
        const { sub } = await act(tx, actor, versionId, 'release', 'release');
        await tx.query(
          `UPDATE review_submissions SET status = 'queued', claimed_by = NULL, claimed_by_email = NULL, claimed_at = NULL
           WHERE id = $1`,
          [sub.id],
        );
        await audit.record(tx, {
          organizationId: sub.organization_id,
          actor,
          action: 'review.released',
          targetType: 'app_version',
          targetId: versionId,
          data: { appId: sub.app_id, submissionId: sub.id, claimedBy: sub.claimed_by },
        });
      });
      return reviewDetail(versionId);
    },

    /**
     * Approves a claimed version: it goes live, the previous live version is
     * retired, the marketplace listing is published, all in one transaction;
     * the developer is told in the app and by email.
     */
    async approve(
      actor: Actor,
      versionId: string,
      input: { checklist: Record<string, boolean | undefined>; comment?: string },
    ) {
      assertChecklist(input.checklist, true);
      await db.transaction(async (tx) => {
        const { sub, moved } = await act(tx, actor, versionId, 'approve', 'approve');
        await tx.query(
          `UPDATE review_submissions SET status = 'approved', decision = 'approved', decided_at = now(),
             decided_by = $2, decided_by_email = $3, checklist = $4, comment = $5 WHERE id = $1`,
          [sub.id, actor.userId, actor.email, JSON.stringify(input.checklist), input.comment ?? null],
        );
        const { app } = await apps.versionForReview(tx, versionId);
        if (app.status === 'active') {
          const listing = await apps.listingFor(tx, app.id);
          if (listing) await marketplace.publish(tx, listing);
        }
        await audit.record(tx, {
          organizationId: sub.organization_id,
          actor,
          action: 'review.approved',
          targetType: 'app_version',
          targetId: versionId,
          data: {
            appId: sub.app_id,
            submissionId: sub.id,
            checklist: input.checklist,
            retiredVersionId: moved.retiredVersionId,
            published: app.status === 'active',
          },
        });
        await decisionNotice(tx, sub, 'approved', [], input.comment ?? null);
      });
      return reviewDetail(versionId);
    },

    /** Sends a claimed version back to the developer with notes tied to fields. */
    async requestChanges(
      actor: Actor,
      versionId: string,
      input: {
        notes: Array<{ field: NoteField; note: string }>;
        checklist?: Record<string, boolean | undefined>;
        comment?: string;
      },
    ) {
      if (input.notes.length === 0) throw invalid('body.notes', 'say what needs to change');
      await db.transaction(async (tx) => {
        const { sub } = await act(tx, actor, versionId, 'request_changes', 'request changes to');
        await tx.query(
          `UPDATE review_submissions SET status = 'changes_requested', decision = 'changes_requested', decided_at = now(),
             decided_by = $2, decided_by_email = $3, checklist = $4, notes = $5, comment = $6 WHERE id = $1`,
          [
            sub.id,
            actor.userId,
            actor.email,
            input.checklist ? JSON.stringify(input.checklist) : null,
            JSON.stringify(input.notes),
            input.comment ?? null,
          ],
        );
        await audit.record(tx, {
          organizationId: sub.organization_id,
          actor,
          action: 'review.changes_requested',
          targetType: 'app_version',
          targetId: versionId,
          data: {
            appId: sub.app_id,
            submissionId: sub.id,
            notes: input.notes,
            checklist: input.checklist ?? null,
          },
        });
        await decisionNotice(tx, sub, 'changes_requested', input.notes, input.comment ?? null);
      });
      return reviewDetail(versionId);
    },

    /**
     * Runs a submission's automated checks now, exactly as the `reviews.checks`
     * job does (the demo seed, which runs before any worker). The job, when it
     * comes, finds the submission no longer `checking` and does nothing.
     */
    runChecksNow: (submissionId: string) => runChecksJob(submissionId),

    /**
     * Re-enqueues the checks of submissions still in `checking` (a queue entry
     * lost between commit and enqueue, or a wiped Redis). The database is the
     * source of truth; the job id makes this a no-op for jobs still waiting.
     */
    async requeuePendingChecks(): Promise<number> {
      const rows = await db.query<{ id: string }>(
        `SELECT id FROM review_submissions WHERE status = 'checking'`,
      );
      for (const r of rows) await enqueueChecks(r.id);
      return rows.length;
    },
  };
}
