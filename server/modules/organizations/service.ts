import { createHash, randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, forbidden, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId, newSecret } from '../../ids.ts';
import {
  type AccountContext,
  type Actor,
  hasRole,
  makeOrgContext,
  type OrgContext,
  type OrgKind,
  ROLE_RANK,
  type Role,
  SYSTEM_ACTOR,
} from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { MailService } from '../mail/index.ts';
import type { OrganizationLimitsAdmission } from './limits.ts';
import type { InvitationSchema, MemberSchema, OrganizationWithRole } from './schemas.ts';

export type Organization = Omit<z.output<typeof OrganizationWithRole>, 'role'>;
export type Member = z.output<typeof MemberSchema>;
export type Invitation = z.output<typeof InvitationSchema>;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const toOrg = (r: any): Organization => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  parentId: r.parent_id,
  createdAt: r.created_at.toISOString(),
});
const toInvitation = (r: any): Invitation => ({
  id: r.id,
  organizationId: r.organization_id,
  email: r.email,
  role: r.role,
  invitedBy: r.invited_by,
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at.toISOString(),
});

interface ChildKind {
  parentKind: OrgKind;
  plural: string;
  onlyFor: string;
  auditAction: string;
}
const CHILD_KINDS = {
  subAccount: {
    parentKind: 'agency',
    plural: 'sub-accounts',
    onlyFor: 'only agencies have sub-accounts',
    auditAction: 'sub_account.created',
  },
  testAccount: {
    parentKind: 'developer',
    plural: 'test accounts',
    onlyFor: 'only developer organizations have test accounts',
    auditAction: 'test_account.created',
  },
} satisfies Record<string, ChildKind>;

export type OrganizationsService = ReturnType<typeof createOrganizationsService>;

export function createOrganizationsService(deps: {
  db: Db;
  config: Config;
  audit: AuditService;
  events: EventsService;
  identity: IdentityService;
  mail: MailService;
  /** `organization.limits`, defined by the module (index.ts) and shared with contacts and installations. */
  limits: OrganizationLimitsAdmission;
}) {
  const { db, config, audit, events, identity, mail, limits } = deps;

  const countSeats = async (q: Queryable, orgId: string) =>
    (
      await q.one<{ n: number }>('SELECT count(*)::int AS n FROM memberships WHERE organization_id = $1', [
        orgId,
      ])
    ).n;

  async function getOrg(id: string, q: Queryable = db): Promise<Organization | undefined> {
    const row = await q.maybeOne('SELECT * FROM organizations WHERE id = $1', [id]);
    return row ? toOrg(row) : undefined;
  }

  /** Fails unless at least one owner remains once `userId` stops being one. */
  async function assertOwnerRemains(q: { maybeOne: Db['maybeOne'] }, orgId: string, userId: string) {
    const other = await q.maybeOne(
      "SELECT 1 FROM memberships WHERE organization_id = $1 AND role = 'owner' AND user_id <> $2 LIMIT 1",
      [orgId, userId],
    );
    if (!other) throw conflict('an organization must keep at least one owner');
  }

  const orgOut = (org: Organization, role: Role) => ({ ...org, role });

  async function createChildAccount(ctx: OrgContext, name: string, kind: ChildKind, outer?: Tx) {
    if (ctx.org.kind !== kind.parentKind) throw forbidden(kind.onlyFor);
    if (!hasRole(ctx, 'admin')) throw forbidden(`creating ${kind.plural} needs the admin or owner role`);
    const inTx = <T>(fn: (tx: Tx) => Promise<T>) => (outer ? fn(outer) : db.transaction(fn));
    return inTx(async (tx) => {
      const org = toOrg(
        await tx.one(
          "INSERT INTO organizations (id, kind, name, parent_id) VALUES ($1, 'account', $2, $3) RETURNING *",
          [newId('acct'), name, ctx.org.id],
        ),
      );
      await audit.record(tx, {
        organizationId: ctx.org.id,
        actor: ctx.actor,
        action: kind.auditAction,
        targetType: 'organization',
        targetId: org.id,
        data: { name: org.name },
      });
      await events.emit(tx, org.id, 'organization.created', {
        organizationId: org.id,
        kind: org.kind,
        name: org.name,
        parentId: ctx.org.id,
      });
      return orgOut(org, ctx.role);
    });
  }

  async function listChildAccounts(
    ctx: OrgContext,
    opts: { limit: number; cursor?: string },
    kind: ChildKind,
  ): Promise<Page<Organization & { role: Role }>> {
    if (ctx.org.kind !== kind.parentKind) throw forbidden(kind.onlyFor);
    const after = decodeCursor(opts.cursor);
    const rows = await db.query(
      'SELECT * FROM organizations WHERE parent_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3',
      [ctx.org.id, after ? String(after[0]) : null, opts.limit + 1],
    );
    return toPage(
      rows,
      opts.limit,
      (r) => [r.id],
      (r) => orgOut(toOrg(r), ctx.role),
    );
  }

  return {
    /**
     * The only way to an OrgContext. A caller reaches an organization as a member,
     * or a sub-account through an owner/admin membership of its agency, or through
     * an API key made for exactly that organization. Anything else is "not found",
     * so organizations outside the caller's reach cannot be told apart from none.
     */
    async resolveContext(
      actor: Actor,
      orgId: string,
      apiKey?: { organizationId: string; role: Role },
      opts: { allowPaused?: boolean } = {},
    ): Promise<OrgContext> {
      const found = await db.maybeOne('SELECT * FROM organizations WHERE id = $1', [orgId]);
      if (!found || !actor.userId) throw notFound('organization');
      const row = found;
      const org = toOrg(row);
      // A sub-account its agency paused is closed to its own people and keys (not to the agency's admins).
      const paused = () => {
        if (!row.paused_at || opts.allowPaused) return;
        throw new PlazaError(
          'PLAZA_ACCOUNT_PAUSED',
          `${org.name} is paused by its agency${row.pause_reason ? `: ${row.pause_reason}` : ''}. Pay what is due to resume it.`,
          {
            extra: {
              organizationId: org.id,
              pausedAt: row.paused_at.toISOString(),
              reason: row.pause_reason,
              resumeUrl: `/paused/${org.id}`,
            },
          },
        );
      };
      if (apiKey) {
        if (apiKey.organizationId !== org.id) throw notFound('organization');
        paused();
        return makeOrgContext(actor, org, apiKey.role);
      }
      const rows = await db.query<{ organization_id: string; role: Role }>(
        'SELECT organization_id, role FROM memberships WHERE user_id = $1 AND organization_id = ANY($2)',
        [actor.userId, [org.id, org.parentId].filter(Boolean)],
      );
      const direct = rows.find((r) => r.organization_id === org.id);
      const agencyAdmin = rows.find(
        (r) => r.organization_id === org.parentId && ROLE_RANK[r.role] >= ROLE_RANK.admin,
      );
      if (direct && !agencyAdmin) paused();
      if (direct) return makeOrgContext(actor, org, direct.role);
      const viaAgency = rows.find((r) => r.organization_id === org.parentId);
      if (viaAgency && ROLE_RANK[viaAgency.role] >= ROLE_RANK.admin)
        return makeOrgContext(actor, org, viaAgency.role);
      throw notFound('organization');
    },

    async create(actor: Actor, input: { name: string; kind: OrgKind }) {
      if (!actor.userId) throw forbidden('only a person can create an organization');
      return db.transaction(async (tx) => {
        const org = toOrg(
          await tx.one('INSERT INTO organizations (id, kind, name) VALUES ($1, $2, $3) RETURNING *', [
            newId(input.kind === 'account' ? 'acct' : 'org'),
            input.kind,
            input.name,
          ]),
        );
        await tx.query("INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')", [
          org.id,
          actor.userId,
        ]);
        await audit.record(tx, {
          organizationId: org.id,
          actor,
          action: 'organization.created',
          targetType: 'organization',
          targetId: org.id,
          data: { kind: org.kind, name: org.name },
        });
        await events.emit(tx, org.id, 'organization.created', {
          organizationId: org.id,
          kind: org.kind,
          name: org.name,
        });
        return orgOut(org, 'owner');
      });
    },

    get: (ctx: OrgContext) => getOrg(ctx.org.id).then((o) => orgOut(o!, ctx.role)),

    async rename(ctx: OrgContext, name: string) {
      if (!hasRole(ctx, 'admin')) throw forbidden('renaming needs the admin or owner role');
      return db.transaction(async (tx) => {
        const row = await tx.one('UPDATE organizations SET name = $2 WHERE id = $1 RETURNING *', [
          ctx.org.id,
          name,
        ]);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'organization.renamed',
          targetType: 'organization',
          targetId: ctx.org.id,
          data: { from: ctx.org.name, to: name },
        });
        return orgOut(toOrg(row), ctx.role);
      });
    },

    /** Organizations a person can open: memberships, plus sub-accounts of agencies they administer. */
    async listForUser(userId: string) {
      const rows = await db.query(
        `SELECT o.*, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1
         UNION ALL
         SELECT s.*, m.role FROM memberships m JOIN organizations s ON s.parent_id = m.organization_id
         WHERE m.user_id = $1 AND m.role IN ('owner', 'admin')
           AND NOT EXISTS (SELECT 1 FROM memberships d WHERE d.organization_id = s.id AND d.user_id = $1)
         ORDER BY name, id`,
        [userId],
      );
      return rows.map((r) => orgOut(toOrg(r), r.role));
    },

    // Sub-accounts (agencies) and test accounts (developers) ------------------------
    // Both are `account` organizations whose parent is the caller's organization;
    // the parent's owners/admins open them with their parent role.

    /** In the caller's transaction when given one (it commits with what the caller writes about it). */
    createSubAccount: (ctx: OrgContext, input: { name: string }, tx?: Tx) =>
      createChildAccount(ctx, input.name, CHILD_KINDS.subAccount, tx),
    listSubAccounts: (ctx: OrgContext, opts: { limit: number; cursor?: string }) =>
      listChildAccounts(ctx, opts, CHILD_KINDS.subAccount),

    /**
     * A developer organization's test account: unreviewed versions of the
     * organization's apps may be installed only there (development mode).
     */
    createTestAccount: (ctx: OrgContext, input: { name: string }) =>
      createChildAccount(ctx, input.name, CHILD_KINDS.testAccount),
    listTestAccounts: (ctx: OrgContext, opts: { limit: number; cursor?: string }) =>
      listChildAccounts(ctx, opts, CHILD_KINDS.testAccount),

    /**
     * A made-up person in one of the developer's test accounts, so that apps
     * can try `users:read` before review. They cannot sign in (their password
     * is random and never shown); their email is a reserved `.invalid` one
     * unless the developer gives one.
     */
    async addTestUser(
      ctx: OrgContext,
      accountId: string,
      input: { name: string; email?: string; role: Role },
    ): Promise<Member> {
      if (ctx.org.kind !== 'developer') throw forbidden(CHILD_KINDS.testAccount.onlyFor);
      if (!hasRole(ctx, 'admin')) throw forbidden('adding test users needs the admin or owner role');
      if (input.role === 'owner') throw conflict('a test user cannot be an owner of the test account');
      const account = await getOrg(accountId);
      if (account?.parentId !== ctx.org.id) throw notFound('test account');
      const email = input.email ?? `test-user.${randomUUID()}@test-users.invalid`;
      if (await identity.findUserByEmail(email)) throw conflict(`${email} is already a Plaza user`);
      return db.transaction(async (tx) => {
        const user = await identity.createUser(tx, {
          name: input.name,
          email,
          password: randomUUID() + randomUUID(),
        });
        const row = await tx.one(
          'INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) RETURNING *',
          [accountId, user.id, input.role],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'test_account.user_added',
          targetType: 'organization',
          targetId: accountId,
          data: { userId: user.id, role: input.role },
        });
        return {
          userId: user.id,
          name: user.name,
          email: user.email,
          role: row.role,
          joinedAt: row.created_at.toISOString(),
        };
      });
    },

    /** For other modules: an organization by id, with no access check (never hand it to a client as is). */
    /** Inside a transaction pass it: waiting for a second pool connection can hang a busy pool. */
    byId: (id: string, q?: Queryable) => getOrg(id, q),

    /** For other modules (operators' lists): organizations by id, with no access check. */
    async byIds(ids: string[]): Promise<Map<string, Organization>> {
      if (ids.length === 0) return new Map();
      const rows = await db.query('SELECT * FROM organizations WHERE id = ANY($1)', [[...new Set(ids)]]);
      return new Map(rows.map((r) => [r.id as string, toOrg(r)]));
    },

    /** For the plugin API (`ctx.orgs.children`): an organization's sub-accounts, with no access check. */
    async childrenOf(parentId: string): Promise<Organization[]> {
      const rows = await db.query('SELECT * FROM organizations WHERE parent_id = $1 ORDER BY id', [parentId]);
      return rows.map(toOrg);
    },

    /**
     * For an agency's dashboard: its sub-accounts whose name contains `q` (any case) or whose id
     * is `q`, ids only, with whether each is paused (one query, whatever their number).
     */
    async childIdsMatching(parentId: string, q?: string): Promise<Array<{ id: string; paused: boolean }>> {
      const rows = await db.query(
        `SELECT id, paused_at IS NOT NULL AS paused FROM organizations
         WHERE parent_id = $1 AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0 OR id = $2)`,
        [parentId, q || null],
      );
      return rows.map((r) => ({ id: r.id as string, paused: Boolean(r.paused) }));
    },

    /** For an agency's dashboard: one page of these sub-accounts by name, then id (cursor after the last). */
    async childrenPage(
      parentId: string,
      ids: string[],
      page: { limit: number; cursor?: string },
    ): Promise<Page<Organization>> {
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM organizations WHERE parent_id = $1 AND id = ANY($2)
           AND ($3::text IS NULL OR (name, id) > ($3, $4::text)) ORDER BY name, id LIMIT $5`,
        [parentId, ids, after ? String(after[0]) : null, after ? String(after[1]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.name, r.id], toOrg);
    },

    /** For the plugin API (`ctx.orgs.members`): who is in an organization, with email and role. */
    async membersOf(orgId: string): Promise<Array<{ userId: string; email: string; role: Role }>> {
      const rows = await db.query<{ user_id: string; role: Role }>(
        'SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY user_id',
        [orgId],
      );
      const users = await identity.usersByIds(rows.map((r) => r.user_id));
      return rows.map((r) => ({ userId: r.user_id, email: users.get(r.user_id)?.email ?? '', role: r.role }));
    },

    /** For other modules (notifications): the user ids of an organization's members. */
    async memberIds(orgId: string, q: { query: Db['query'] } = db): Promise<string[]> {
      const rows = await q.query<{ user_id: string }>(
        'SELECT user_id FROM memberships WHERE organization_id = $1 ORDER BY user_id',
        [orgId],
      );
      return rows.map((r) => r.user_id);
    },

    // Members ------------------------------------------------------------------

    /** Members of an organization; apps with `users:read` reach their account's members too. */
    async listMembers(ctx: AccountContext, opts: { limit: number; cursor?: string }): Promise<Page<Member>> {
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM memberships WHERE organization_id = $1 AND ($2::text IS NULL OR user_id > $2)
         ORDER BY user_id LIMIT $3`,
        [ctx.org.id, after ? String(after[0]) : null, opts.limit + 1],
      );
      const users = await identity.usersByIds(rows.map((r) => r.user_id));
      return toPage(
        rows,
        opts.limit,
        (r) => [r.user_id],
        (r) => ({
          userId: r.user_id,
          name: users.get(r.user_id)?.name ?? '',
          email: users.get(r.user_id)?.email ?? '',
          role: r.role,
          joinedAt: r.created_at.toISOString(),
        }),
      );
    },

    async changeRole(ctx: OrgContext, userId: string, role: Role): Promise<Member> {
      if (!hasRole(ctx, 'admin')) throw forbidden('changing roles needs the admin or owner role');
      const joinedAt = await db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'SELECT * FROM memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE',
          [ctx.org.id, userId],
        );
        if (!row) throw notFound('member');
        if ((row.role === 'owner' || role === 'owner') && ctx.role !== 'owner')
          throw forbidden('only an owner can grant or take away the owner role');
        if (row.role === 'owner' && role !== 'owner') await assertOwnerRemains(tx, ctx.org.id, userId);
        await tx.query('UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2', [
          ctx.org.id,
          userId,
          role,
        ]);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'member.role_changed',
          targetType: 'user',
          targetId: userId,
          data: { from: row.role, to: role },
        });
        return row.created_at as Date;
      });
      const user = await identity.getUser(userId);
      return { userId, name: user.name, email: user.email, role, joinedAt: joinedAt.toISOString() };
    },

    /** Admins remove members; anyone may remove themselves. Their API keys for the organization die with it. */
    async removeMember(ctx: OrgContext, userId: string): Promise<void> {
      const self = userId === ctx.actor.userId;
      if (!self && !hasRole(ctx, 'admin')) throw forbidden('removing members needs the admin or owner role');
      await db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'SELECT * FROM memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE',
          [ctx.org.id, userId],
        );
        if (!row) throw notFound('member');
        if (row.role === 'owner') {
          if (!self && ctx.role !== 'owner') throw forbidden('only an owner can remove an owner');
          await assertOwnerRemains(tx, ctx.org.id, userId);
        }
        await tx.query('DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2', [
          ctx.org.id,
          userId,
        ]);
        await identity.revokeApiKeysOf(tx, ctx.org.id, userId);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: self ? 'member.left' : 'member.removed',
          targetType: 'user',
          targetId: userId,
          data: { role: row.role },
        });
      });
    },

    /**
     * An agency's owner or admin pauses (a reason) or resumes (null) one of its
     * sub-accounts. While paused, the sub-account's own members and API keys get
     * 423 PLAZA_ACCOUNT_PAUSED on its routes; the agency's admins keep access.
     */
    async setPaused(ctx: OrgContext, subAccountId: string, reason: string | null) {
      if (ctx.org.kind !== 'agency') throw forbidden('only agencies pause sub-accounts');
      if (!hasRole(ctx, 'admin')) throw forbidden('pausing a sub-account needs the admin or owner role');
      return db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'SELECT * FROM organizations WHERE id = $1 AND parent_id = $2 FOR UPDATE',
          [subAccountId, ctx.org.id],
        );
        if (!row) throw notFound('sub-account');
        const updated = await tx.one(
          reason === null
            ? 'UPDATE organizations SET paused_at = NULL, pause_reason = NULL WHERE id = $1 RETURNING *'
            : 'UPDATE organizations SET paused_at = coalesce(paused_at, now()), pause_reason = $2 WHERE id = $1 RETURNING *',
          reason === null ? [subAccountId] : [subAccountId, reason],
        );
        if (Boolean(row.paused_at) !== Boolean(updated.paused_at))
          await audit.record(tx, {
            organizationId: ctx.org.id,
            actor: ctx.actor,
            action: reason === null ? 'sub_account.resumed' : 'sub_account.paused',
            targetType: 'organization',
            targetId: subAccountId,
            data: reason === null ? {} : { reason },
          });
        return {
          pausedAt: updated.paused_at?.toISOString() ?? null,
          reason: updated.pause_reason as string | null,
        };
      });
    },

    /** Resumes a paused sub-account without a person (it paid what was due). */
    async resumePaused(subAccountId: string): Promise<boolean> {
      const rows = await db.query(
        'UPDATE organizations SET paused_at = NULL, pause_reason = NULL WHERE id = $1 AND paused_at IS NOT NULL RETURNING parent_id',
        [subAccountId],
      );
      if (rows.length)
        await audit.record(db, {
          organizationId: rows[0].parent_id,
          actor: SYSTEM_ACTOR,
          action: 'sub_account.resumed',
          targetType: 'organization',
          targetId: subAccountId,
          data: { because: 'paid' },
        });
      return rows.length > 0;
    },

    /** Which of these organizations are paused, and since when. */
    async pausedStates(ids: string[]): Promise<Map<string, { pausedAt: string; reason: string | null }>> {
      if (!ids.length) return new Map();
      const rows = await db.query(
        'SELECT id, paused_at, pause_reason FROM organizations WHERE id = ANY($1) AND paused_at IS NOT NULL',
        [ids],
      );
      return new Map(
        rows.map((r) => [r.id as string, { pausedAt: r.paused_at.toISOString(), reason: r.pause_reason }]),
      );
    },

    // Invitations ----------------------------------------------------------------

    async invite(ctx: OrgContext, input: { email: string; role: Role }): Promise<Invitation> {
      if (!hasRole(ctx, 'admin')) throw forbidden('inviting needs the admin or owner role');
      if (ROLE_RANK[input.role] > ROLE_RANK[ctx.role])
        throw new PlazaError('PLAZA_FORBIDDEN', `your role (${ctx.role}) cannot invite as ${input.role}`, {
          fields: [{ field: 'body.role', reason: `higher than your role (${ctx.role})` }],
        });
      const token = newSecret('inv', 24);
      const existing = await identity.findUserByEmail(input.email);
      return db.transaction(async (tx) => {
        const member =
          existing &&
          (await tx.maybeOne('SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2', [
            ctx.org.id,
            existing.id,
          ]));
        if (member)
          throw conflict('this person is already a member', [
            { field: 'body.email', reason: 'already a member' },
          ]);
        const pending = await tx.maybeOne(
          `SELECT 1 FROM invitations WHERE organization_id = $1 AND lower(email) = lower($2)
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`,
          [ctx.org.id, input.email],
        );
        if (pending)
          throw conflict('an invitation to this email is already pending', [
            { field: 'body.email', reason: 'already invited' },
          ]);
        // An expired, never-used invitation to the same email makes way for the new one.
        await tx.query(
          `UPDATE invitations SET revoked_at = now() WHERE organization_id = $1 AND lower(email) = lower($2)
             AND accepted_at IS NULL AND revoked_at IS NULL`,
          [ctx.org.id, input.email],
        );
        const row = await tx.one(
          `INSERT INTO invitations (id, organization_id, email, role, token_hash, invited_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) RETURNING *`,
          [
            newId('inv'),
            ctx.org.id,
            input.email,
            input.role,
            sha256(token),
            ctx.actor.userId,
            `${config.invitationTtlHours} hours`,
          ],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'member.invited',
          targetType: 'invitation',
          targetId: row.id,
          data: { email: input.email, role: input.role },
        });
        const invitation = toInvitation(row);
        tx.afterCommit(() =>
          mail.send('invitation', {
            to: input.email,
            // The email carries the brand of the organization (a sub-account's agency).
            organizationId: ctx.org.id,
            inviter: ctx.actor.email ?? 'Someone',
            organization: ctx.org.name,
            role: input.role,
            token,
            expiresAt: invitation.expiresAt,
          }),
        );
        return invitation;
      });
    },

    async listInvitations(
      ctx: OrgContext,
      opts: { limit: number; cursor?: string },
    ): Promise<Page<Invitation>> {
      if (!hasRole(ctx, 'admin')) throw forbidden('invitations are visible to admins and owners');
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM invitations WHERE organization_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
           AND expires_at > now() AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
        [ctx.org.id, after ? String(after[0]) : null, opts.limit + 1],
      );
      return toPage(rows, opts.limit, (r) => [r.id], toInvitation);
    },

    async revokeInvitation(ctx: OrgContext, invitationId: string): Promise<void> {
      if (!hasRole(ctx, 'admin')) throw forbidden('revoking invitations needs the admin or owner role');
      await db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'UPDATE invitations SET revoked_at = now() WHERE id = $1 AND organization_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id',
          [invitationId, ctx.org.id],
        );
        if (!row) throw notFound('invitation');
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'invitation.revoked',
          targetType: 'invitation',
          targetId: invitationId,
        });
      });
    },

    /** What an invitation link shows before accepting (no sign-in needed; the token is the secret). */
    async previewInvitation(token: string) {
      const row = await db.maybeOne(
        `SELECT i.*, o.name AS org_name, o.kind AS org_kind FROM invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()`,
        [sha256(token)],
      );
      if (!row) throw notFound('invitation');
      return {
        organization: { id: row.organization_id, name: row.org_name, kind: row.org_kind as OrgKind },
        email: row.email as string,
        role: row.role as Role,
        expiresAt: row.expires_at.toISOString() as string,
      };
    },

    async acceptInvitation(actor: Actor, token: string) {
      if (!actor.userId || actor.apiKeyId) throw forbidden('invitations are accepted by a signed-in person');
      return db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          `SELECT * FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL
             AND expires_at > now() FOR UPDATE`,
          [sha256(token)],
        );
        if (!row) throw notFound('invitation');
        const user = await identity.getUser(actor.userId!);
        if (row.email.toLowerCase() !== user.email.toLowerCase())
          throw forbidden(`this invitation is for ${row.email}; sign in with that email to accept it`);
        if (!user.emailVerified)
          throw new PlazaError(
            'PLAZA_EMAIL_UNVERIFIED',
            `verify your email address first: open the link we sent to ${user.email} (or ask for a new one), then accept`,
          );
        const member = await tx.maybeOne(
          'SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2',
          [row.organization_id, actor.userId],
        );
        // A new member takes a seat: the plan (organization.limits) may refuse it.
        if (!member)
          await limits.checkLimit(tx, { organizationId: row.organization_id, resource: 'seats' }, (q) =>
            countSeats(q, row.organization_id),
          );
        await tx.query(
          `INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT (organization_id, user_id) DO NOTHING`,
          [row.organization_id, actor.userId, row.role],
        );
        await tx.query('UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1', [
          row.id,
          actor.userId,
        ]);
        await audit.record(tx, {
          organizationId: row.organization_id,
          actor,
          action: 'member.joined',
          targetType: 'user',
          targetId: actor.userId!,
          data: { role: row.role, invitationId: row.id },
        });
        const org = toOrg(await tx.one('SELECT * FROM organizations WHERE id = $1', [row.organization_id]));
        return { organization: orgOut(org, row.role) };
      });
    },
  };
}
