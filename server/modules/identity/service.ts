import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import type { Config } from '../../config.ts';
import type { Db, Queryable } from '../../db/index.ts';
import { conflict, invalid, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId, newSecret } from '../../ids.ts';
import {
  type Actor,
  hasRole,
  type OrgContext,
  type PlatformRole,
  ROLE_RANK,
  type Role,
} from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { MailService } from '../mail/index.ts';

export interface User {
  id: string;
  email: string;
  name: string;
  platformRole: PlatformRole | null;
  /** True once the person followed the link emailed to this address. */
  emailVerified: boolean;
  createdAt: string;
}

export interface Session {
  id: string;
  userId: string;
  csrfToken: string;
  expiresAt: string;
}

export interface ApiKey {
  id: string;
  organizationId: string;
  name: string;
  prefix: string;
  role: Role;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface ApiKeyPrincipal {
  keyId: string;
  organizationId: string;
  role: Role;
  user: User;
}

/** The longest a failed sign-in from a noisy address is held before its answer. */
const MAX_FAILURE_DELAY_MS = 5_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
// argon2id, OWASP's second recommended setting (19 MiB, t=2, p=1).
const ARGON = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

const toUser = (r: any): User => ({
  id: r.id,
  email: r.email,
  name: r.name,
  platformRole: r.platform_role,
  emailVerified: r.email_verified_at != null,
  createdAt: r.created_at.toISOString(),
});
const toKey = (r: any): ApiKey => ({
  id: r.id,
  organizationId: r.organization_id,
  name: r.name,
  prefix: r.prefix,
  role: r.role,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
  revokedAt: r.revoked_at?.toISOString() ?? null,
});

export type IdentityService = ReturnType<typeof createIdentityService>;

export function createIdentityService(deps: {
  db: Db;
  config: Config;
  audit: AuditService;
  mail: MailService;
  /** Signs email verification links. */
  secret: string;
}) {
  const { db, config, audit, mail, secret } = deps;
  // Verifying against this when the email is unknown keeps sign-in time the same either way.
  const dummyHash = argonHash('plaza-dummy-password', ARGON);

  /** The `identity.cleanup` job: expired sessions and resets, failed sign-ins that no longer count towards a lock. */
  async function cleanup(): Promise<void> {
    await db.query('DELETE FROM sessions WHERE expires_at < now()');
    await db.query("DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'");
    await db.query('DELETE FROM login_failures WHERE at < now() - $1::interval', [
      `${config.loginWindowMinutes * 2} minutes`,
    ]);
  }

  // A verification link is signed rather than stored: it names the user and its expiry, and the
  // MAC covers the address, so a link stops working if the address it was sent to changes.
  const verifyMac = (userId: string, email: string, exp: number) =>
    createHmac('sha256', secret)
      .update(`plaza-verify-email\n${userId}\n${email.toLowerCase()}\n${exp}`)
      .digest('base64url');
  function emailVerificationToken(user: { id: string; email: string }, expiresAt?: Date): string {
    const exp = Math.floor(
      (expiresAt?.getTime() ?? Date.now() + config.emailVerificationTtlHours * 3_600_000) / 1000,
    );
    return `${user.id}.${exp}.${verifyMac(user.id, user.email, exp)}`;
  }
  async function sendVerification(user: { id: string; email: string; name: string }): Promise<void> {
    await mail.send('verify-email', {
      to: user.email,
      name: user.name,
      token: emailVerificationToken(user),
      validHours: config.emailVerificationTtlHours,
    });
  }
  const badLink = (reason: string) => invalid('body.token', reason);

  async function createSession(
    q: Queryable,
    userId: string,
    meta: { ip: string | null; userAgent?: string },
  ) {
    const token = newSecret('plz_sess');
    const session: Session = {
      id: newId('sess'),
      userId,
      csrfToken: newSecret('csrf', 24),
      expiresAt: new Date(Date.now() + config.sessionTtlHours * 3_600_000).toISOString(),
    };
    await q.query(
      `INSERT INTO sessions (id, user_id, token_hash, csrf_token, ip, user_agent, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        session.id,
        userId,
        sha256(token),
        session.csrfToken,
        meta.ip,
        meta.userAgent?.slice(0, 300) ?? null,
        session.expiresAt,
      ],
    );
    return { token, session };
  }

  /**
   * How locked a sign-in is: seconds until this email may sign in again (0: not locked), and
   * whether its IP address is noisy (4x the per-email limit of failures in the window).
   */
  async function lockState(email: string, ip: string | null): Promise<{ wait: number; noisyIp: number }> {
    const window = `${config.loginWindowMinutes} minutes`;
    const row = await db.one<{
      by_email: number;
      email_oldest: Date | null;
      by_ip: number;
      ip_oldest: Date | null;
    }>(
      `SELECT
         count(*) FILTER (WHERE lower(email) = lower($1)) AS by_email,
         min(at) FILTER (WHERE lower(email) = lower($1)) AS email_oldest,
         count(*) FILTER (WHERE ip = $2) AS by_ip,
         min(at) FILTER (WHERE ip = $2) AS ip_oldest
       FROM login_failures WHERE at > now() - $3::interval AND (lower(email) = lower($1) OR ip = $2)`,
      [email, ip, window],
    );
    const windowMs = config.loginWindowMinutes * 60_000;
    const wait = (oldest: Date | null) =>
      oldest ? Math.max(1, Math.ceil((oldest.getTime() + windowMs - Date.now()) / 1000)) : 0;
    const overIp = ip ? Number(row.by_ip) - config.loginMaxFailures * 4 : -1;
    return {
      wait: row.by_email >= config.loginMaxFailures ? wait(row.email_oldest) : 0,
      noisyIp: overIp >= 0 ? overIp + 1 : 0,
    };
  }

  return {
    cleanup,

    async signup(
      input: { name: string; email: string; password: string },
      meta: { ip: string | null; userAgent?: string; requestId: string | null },
    ) {
      const passwordHash = await argonHash(input.password, ARGON);
      const created = await db.transaction(async (tx) => {
        const exists = await tx.maybeOne('SELECT 1 FROM users WHERE lower(email) = lower($1)', [input.email]);
        if (exists)
          throw conflict('an account with this email already exists', [
            { field: 'body.email', reason: 'already registered' },
          ]);
        const user = toUser(
          await tx.one(
            'INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING *',
            [newId('usr'), input.email, input.name, passwordHash],
          ),
        );
        const created = await createSession(tx, user.id, meta);
        const actor: Actor = {
          userId: user.id,
          email: user.email,
          platformRole: null,
          ip: meta.ip,
          requestId: meta.requestId,
        };
        await audit.record(tx, {
          organizationId: null,
          actor,
          action: 'user.signed_up',
          targetType: 'user',
          targetId: user.id,
        });
        await audit.record(tx, {
          organizationId: null,
          actor,
          action: 'session.created',
          targetType: 'session',
          targetId: created.session.id,
        });
        return { user, ...created };
      });
      await sendVerification(created.user);
      return created;
    },

    emailVerificationToken,

    /** Marks the address verified for a valid, unexpired link; following it twice is fine. */
    async verifyEmail(token: string, meta: { ip: string | null; requestId: string | null }): Promise<User> {
      const [userId, expText, mac] = token.split('.');
      const exp = Number(expText);
      if (!userId || !mac || !Number.isSafeInteger(exp)) throw badLink('not a verification link');
      const row = await db.maybeOne('SELECT * FROM users WHERE id = $1', [userId]);
      const expected = Buffer.from(row ? verifyMac(userId, row.email, exp) : '');
      const given = Buffer.from(mac);
      if (!row || expected.length !== given.length || !timingSafeEqual(expected, given))
        throw badLink('this link is not valid (it may have been cut short, or the address has changed)');
      if (exp * 1000 < Date.now()) throw badLink('this link has expired; sign in and ask for a new one');
      if (row.email_verified_at) return toUser(row);
      return db.transaction(async (tx) => {
        const updated = await tx.one(
          'UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()) WHERE id = $1 RETURNING *',
          [userId],
        );
        await audit.record(tx, {
          organizationId: null,
          actor: { userId, email: row.email, platformRole: row.platform_role, ...meta },
          action: 'user.email_verified',
          targetType: 'user',
          targetId: userId,
        });
        return toUser(updated);
      });
    },

    /** Sends a new verification link to a signed-in person whose address is not verified yet. */
    async resendVerification(user: User): Promise<void> {
      if (user.emailVerified)
        throw conflict('your email address is already verified', [
          { field: 'user.email', reason: 'already verified' },
        ]);
      await sendVerification(user);
    },

    /**
     * Emails a single-use reset link when the address belongs to an account. The caller answers
     * the same either way, so the form does not tell who has an account.
     */
    async requestPasswordReset(email: string, meta: { ip: string | null; requestId: string | null }) {
      const row = await db.maybeOne('SELECT * FROM users WHERE lower(email) = lower($1)', [email]);
      if (!row) return;
      // A handful of links an hour is plenty for a person and keeps the form from mail-bombing them.
      const recent = await db.one<{ n: number }>(
        "SELECT count(*)::int AS n FROM password_resets WHERE user_id = $1 AND created_at > now() - interval '1 hour'",
        [row.id],
      );
      if (recent.n >= 5) return;
      const token = newSecret('plz_reset');
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO password_resets (token_hash, user_id, email, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval)`,
          [sha256(token), row.id, row.email, `${config.passwordResetTtlMinutes} minutes`],
        );
        await audit.record(tx, {
          organizationId: null,
          actor: { userId: null, email: row.email, platformRole: null, ...meta },
          action: 'password.reset_requested',
          targetType: 'user',
          targetId: row.id,
        });
      });
      await mail.send('password-reset', {
        to: row.email,
        name: row.name,
        token,
        validMinutes: config.passwordResetTtlMinutes,
      });
    },

    /**
     * Sets a new password with a reset token (once, before it expires), ends every session of
     * the account and clears its sign-in lock. The link came to the mailbox, so it verifies it too.
     */
    async resetPassword(
      input: { token: string; password: string },
      meta: { ip: string | null; requestId: string | null },
    ): Promise<void> {
      const passwordHash = await argonHash(input.password, ARGON);
      await db.transaction(async (tx) => {
        const used = await tx.maybeOne(
          `UPDATE password_resets SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id, email`,
          [sha256(input.token)],
        );
        if (!used) throw badLink('this reset link is not valid, has expired or was already used');
        const user = await tx.one(
          `UPDATE users SET password_hash = $2,
             email_verified_at = CASE WHEN lower(email) = lower($3) THEN COALESCE(email_verified_at, now())
                                 ELSE email_verified_at END
           WHERE id = $1 RETURNING *`,
          [used.user_id, passwordHash, used.email],
        );
        await tx.query('UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL', [
          user.id,
        ]);
        await tx.query('DELETE FROM sessions WHERE user_id = $1', [user.id]);
        await tx.query('DELETE FROM login_failures WHERE lower(email) = lower($1)', [user.email]);
        await audit.record(tx, {
          organizationId: null,
          actor: { userId: user.id, email: user.email, platformRole: user.platform_role, ...meta },
          action: 'password.reset',
          targetType: 'user',
          targetId: user.id,
        });
      });
    },

    /** Checks the password; counts failures, locks the email for a while and slows a noisy IP's failures. */
    async login(
      input: { email: string; password: string },
      meta: { ip: string | null; userAgent?: string; requestId: string | null },
    ) {
      const { wait, noisyIp } = await lockState(input.email, meta.ip);
      if (wait > 0)
        throw new PlazaError('PLAZA_LOGIN_LOCKED', `too many failed sign-ins; try again in ${wait} s`, {
          headers: { 'Retry-After': String(wait) },
        });
      const row = await db.maybeOne('SELECT * FROM users WHERE lower(email) = lower($1)', [input.email]);
      const ok = await argonVerify(row?.password_hash ?? (await dummyHash), input.password).catch(
        () => false,
      );
      if (!row || !ok) {
        await db.transaction(async (tx) => {
          await tx.query('INSERT INTO login_failures (email, ip) VALUES ($1, $2)', [
            input.email.slice(0, 320),
            meta.ip,
          ]);
          await audit.record(tx, {
            organizationId: null,
            actor: {
              userId: row?.id ?? null,
              email: input.email.slice(0, 320),
              platformRole: null,
              ip: meta.ip,
              requestId: meta.requestId,
            },
            action: 'session.failed',
            targetType: 'user',
            targetId: row?.id,
          });
        });
        // A noisy address is not locked out (a proxy or an office shares one, and a lock there
        // would refuse everyone's right password); its wrong guesses are answered ever slower.
        if (noisyIp) await setTimeout(Math.min(250 * noisyIp, MAX_FAILURE_DELAY_MS));
        throw new PlazaError('PLAZA_BAD_CREDENTIALS');
      }
      const user = toUser(row);
      return db.transaction(async (tx) => {
        await tx.query('DELETE FROM login_failures WHERE lower(email) = lower($1)', [input.email]);
        const created = await createSession(tx, user.id, meta);
        await audit.record(tx, {
          organizationId: null,
          actor: {
            userId: user.id,
            email: user.email,
            platformRole: user.platformRole,
            ip: meta.ip,
            requestId: meta.requestId,
          },
          action: 'session.created',
          targetType: 'session',
          targetId: created.session.id,
        });
        return { user, ...created };
      });
    },

    async logout(sessionId: string, actor: Actor): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.query('DELETE FROM sessions WHERE id = $1', [sessionId]);
        await audit.record(tx, {
          organizationId: null,
          actor,
          action: 'session.ended',
          targetType: 'session',
          targetId: sessionId,
        });
      });
    },

    /** The session and its user for a cookie token, or null when unknown or expired. */
    async authenticateSession(token: string): Promise<{ user: User; session: Session } | null> {
      const row = await db.maybeOne(
        `UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1 AND expires_at > now()
         RETURNING id, user_id, csrf_token, expires_at`,
        [sha256(token)],
      );
      if (!row) return null;
      const user = await db.maybeOne('SELECT * FROM users WHERE id = $1', [row.user_id]);
      if (!user) return null;
      return {
        user: toUser(user),
        session: {
          id: row.id,
          userId: row.user_id,
          csrfToken: row.csrf_token,
          expiresAt: row.expires_at.toISOString(),
        },
      };
    },

    async getUser(id: string): Promise<User> {
      const row = await db.maybeOne('SELECT * FROM users WHERE id = $1', [id]);
      if (!row) throw notFound('user');
      return toUser(row);
    },

    /** Pass the transaction when calling inside one: a second pool connection could wait for ever on a busy pool. */
    async usersByIds(ids: string[], q: Queryable = db): Promise<Map<string, User>> {
      if (ids.length === 0) return new Map();
      const rows = await q.query('SELECT * FROM users WHERE id = ANY($1)', [ids]);
      return new Map(rows.map((r) => [r.id, toUser(r)]));
    },

    async findUserByEmail(email: string): Promise<User | undefined> {
      const row = await db.maybeOne('SELECT * FROM users WHERE lower(email) = lower($1)', [email]);
      return row ? toUser(row) : undefined;
    },

    /** Whether anyone has an account yet: the demo seed runs only on a database without users. */
    async hasUsers(): Promise<boolean> {
      return (await db.maybeOne('SELECT 1 FROM users LIMIT 1')) !== undefined;
    },

    /** For seeds and operator tooling: create a user with a platform role (the address counts as verified). */
    async createUser(
      q: Queryable,
      input: { name: string; email: string; password: string; platformRole?: PlatformRole },
    ) {
      const passwordHash = await argonHash(input.password, ARGON);
      return toUser(
        await q.one(
          `INSERT INTO users (id, email, name, password_hash, platform_role, email_verified_at)
           VALUES ($1, $2, $3, $4, $5, now()) RETURNING *`,
          [newId('usr'), input.email, input.name, passwordHash, input.platformRole ?? null],
        ),
      );
    },

    /** Sets a new password (hashed as at sign-up); false when no user has that email. Used by the demo seed. */
    async setPassword(email: string, password: string): Promise<boolean> {
      const passwordHash = await argonHash(password, ARGON);
      const row = await db.maybeOne('UPDATE users SET password_hash = $2 WHERE email = $1 RETURNING 1', [
        email,
        passwordHash,
      ]);
      return row != null;
    },

    csrfMatches(session: Session, presented: string | undefined): boolean {
      if (!presented) return false;
      const a = Buffer.from(session.csrfToken);
      const b = Buffer.from(presented);
      return a.length === b.length && timingSafeEqual(a, b);
    },

    // API keys ---------------------------------------------------------------

    /** A key acts in one organization with a role no higher than its creator's. The secret is returned once. */
    async createApiKey(
      ctx: OrgContext,
      input: { name: string; role: Role },
    ): Promise<{ apiKey: ApiKey; secret: string }> {
      if (!ctx.actor.userId || ctx.actor.apiKeyId)
        throw new PlazaError(
          'PLAZA_FORBIDDEN',
          'API keys are created by a signed-in person, not by another key',
        );
      if (ROLE_RANK[input.role] > ROLE_RANK[ctx.role])
        throw new PlazaError(
          'PLAZA_FORBIDDEN',
          `your role (${ctx.role}) cannot create a key with role ${input.role}`,
          {
            fields: [{ field: 'body.role', reason: `higher than your role (${ctx.role})` }],
          },
        );
      const secret = newSecret('plz_key');
      return db.transaction(async (tx) => {
        const row = await tx.one(
          `INSERT INTO api_keys (id, organization_id, created_by, name, role, prefix, secret_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [
            newId('key'),
            ctx.org.id,
            ctx.actor.userId,
            input.name,
            input.role,
            secret.slice(0, 12),
            sha256(secret),
          ],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'api_key.created',
          targetType: 'api_key',
          targetId: row.id,
          data: { name: input.name, role: input.role },
        });
        return { apiKey: toKey(row), secret };
      });
    },

    /** Admins see every key of the organization; members see their own. */
    async listApiKeys(ctx: OrgContext, opts: { limit: number; cursor?: string }): Promise<Page<ApiKey>> {
      const after = decodeCursor(opts.cursor);
      const mine = !hasRole(ctx, 'admin');
      const rows = await db.query(
        `SELECT * FROM api_keys WHERE organization_id = $1 AND ($2::text IS NULL OR created_by = $2)
           AND ($3::text IS NULL OR id > $3) ORDER BY id LIMIT $4`,
        [ctx.org.id, mine ? ctx.actor.userId : null, after ? String(after[0]) : null, opts.limit + 1],
      );
      return toPage(rows, opts.limit, (r) => [r.id], toKey);
    },

    async revokeApiKey(ctx: OrgContext, keyId: string): Promise<void> {
      await db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'SELECT * FROM api_keys WHERE id = $1 AND organization_id = $2 FOR UPDATE',
          [keyId, ctx.org.id],
        );
        if (!row || (row.created_by !== ctx.actor.userId && !hasRole(ctx, 'admin')))
          throw notFound('API key');
        if (row.revoked_at) return;
        await tx.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [keyId]);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'api_key.revoked',
          targetType: 'api_key',
          targetId: keyId,
        });
      });
    },

    /** Revokes every key a user made in an organization (when they leave it). */
    async revokeApiKeysOf(q: Queryable, organizationId: string, userId: string): Promise<void> {
      await q.query(
        'UPDATE api_keys SET revoked_at = now() WHERE organization_id = $1 AND created_by = $2 AND revoked_at IS NULL',
        [organizationId, userId],
      );
    },

    async authenticateApiKey(secret: string): Promise<ApiKeyPrincipal | null> {
      const row = await db.maybeOne(
        `UPDATE api_keys SET last_used_at = now() WHERE secret_hash = $1 AND revoked_at IS NULL
         RETURNING id, organization_id, role, created_by`,
        [sha256(secret)],
      );
      if (!row) return null;
      const user = await db.maybeOne('SELECT * FROM users WHERE id = $1', [row.created_by]);
      if (!user) return null;
      return { keyId: row.id, organizationId: row.organization_id, role: row.role, user: toUser(user) };
    },
  };
}
