import { randomBytes } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { Db, Queryable } from '../../db/index.ts';
import { conflict, forbidden, invalid, notFound } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import { hasRole, type OrgContext, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { Domain } from './schemas.ts';

/**
 * Custom domains of agencies. Adding one shows two DNS records: a TXT record
 * with the claim's own token (proof of control) and a CNAME to the platform
 * host (so traffic arrives). A job checks them: while pending it retries on a
 * growing schedule (1 min, 5 min, 15 min, 1 h, 6 h, then daily); once active
 * it re-checks daily, and after MISCONFIGURED_AFTER failed daily checks in a
 * row the domain is `misconfigured` and no longer served (nor certified).
 *
 * A hostname is held by one organization. Another one may claim it, but its
 * claim only becomes active when its own fresh token is found in DNS; the
 * previous holder's domain is then removed (reason `taken_over`).
 */
export interface DnsResolver {
  resolveTxt(name: string): Promise<string[][]>;
  resolveCname(name: string): Promise<string[]>;
}

export const CHECK_DOMAIN_JOB = 'branding.check_domain';
export const MISCONFIGURED_AFTER = 3;
const RETRY_MINUTES = [1, 5, 15, 60, 360];
const DAY_MINUTES = 24 * 60;

const txtName = (hostname: string) => `_plaza-verify.${hostname}`;
const txtValue = (token: string) => `plaza-verify=${token}`;

interface Row {
  id: string;
  organization_id: string;
  hostname: string;
  state: Domain['state'];
  token: string;
  failures: number;
  last_checked_at: Date | null;
  last_result: Domain['lastResult'];
  next_check_at: Date | null;
  verified_at: Date | null;
  removed_at: Date | null;
  removed_reason: string | null;
  created_at: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function createDomains(deps: {
  db: Db;
  config: Config;
  log: Logger;
  audit: AuditService;
  resolver: DnsResolver;
  /** Called after any change of what is active (the caller re-reads its host map). */
  onChange: () => Promise<void>;
}) {
  const { db, config, log, audit } = deps;
  const { resolver } = deps;
  const platformHost = new URL(config.baseUrl).hostname.toLowerCase();
  let enqueue: ((domainId: string) => Promise<void>) | undefined;

  const toDomain = (r: Row): Domain => ({
    id: r.id,
    hostname: r.hostname,
    state: r.state,
    records: [
      { type: 'TXT', name: txtName(r.hostname), value: txtValue(r.token) },
      { type: 'CNAME', name: r.hostname, value: platformHost },
    ],
    lastCheckedAt: iso(r.last_checked_at),
    lastResult: r.last_result,
    nextCheckAt: iso(r.next_check_at),
    failures: r.failures,
    verifiedAt: iso(r.verified_at),
    removedAt: iso(r.removed_at),
    removedReason: r.removed_reason,
    createdAt: r.created_at.toISOString(),
  });

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies have custom domains');
    if (!hasRole(org, 'admin')) throw forbidden('custom domains need the admin or owner role');
  }

  async function own(q: Queryable, org: OrgContext, id: string, lock = false): Promise<Row> {
    const row = await q.maybeOne<Row>(
      `SELECT * FROM branding_domains WHERE id = $1 AND organization_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, org.org.id],
    );
    if (!row) throw notFound('domain');
    return row;
  }

  // A local trial (Plaza itself on localhost): `*.localhost` names reach this machine by definition
  // (RFC 6761) and no one can publish DNS records for them, so they pass without records.
  const localTrial = platformHost === 'localhost' || platformHost === '127.0.0.1';

  /** What DNS says about a claim, in words the agency can act on. */
  async function lookUp(r: Row): Promise<{ ok: boolean; txt: string; cname: string }> {
    if (localTrial && r.hostname.endsWith('.localhost'))
      return { ok: true, txt: 'local trial: not needed', cname: 'local trial: *.localhost is this machine' };
    const expected = txtValue(r.token);
    let txtOk = false;
    let txt: string;
    try {
      const records = (await resolver.resolveTxt(txtName(r.hostname))).map((parts) => parts.join(''));
      txtOk = records.includes(expected);
      txt = txtOk
        ? `found ${expected}`
        : `${txtName(r.hostname)} has ${records.length} TXT record(s), none is ${expected}`;
    } catch (err) {
      txt = `no TXT record at ${txtName(r.hostname)} (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`;
    }
    let cnameOk = false;
    let cname: string;
    try {
      const targets = (await resolver.resolveCname(r.hostname)).map((t) =>
        t.toLowerCase().replace(/\.$/, ''),
      );
      cnameOk = targets.includes(platformHost);
      cname = cnameOk ? `points to ${platformHost}` : `points to ${targets.join(', ')}, not ${platformHost}`;
    } catch (err) {
      cname = `no CNAME record at ${r.hostname} (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`;
    }
    return { ok: txtOk && cnameOk, txt, cname };
  }

  const minutesFromNow = (m: number) => new Date(Date.now() + m * 60_000);

  /** Checks one domain and moves it along its states; idempotent (the job may run twice). */
  async function check(domainId: string): Promise<Domain | undefined> {
    const before = await db.maybeOne<Row>('SELECT * FROM branding_domains WHERE id = $1', [domainId]);
    if (!before || before.state === 'removed') return undefined;
    const result = await lookUp(before);
    const out = await db.transaction(async (tx) => {
      const r = await tx.maybeOne<Row>('SELECT * FROM branding_domains WHERE id = $1 FOR UPDATE', [domainId]);
      if (!r || r.state === 'removed') return undefined;
      const wasHeld = r.state === 'active' || r.state === 'misconfigured';
      let state = r.state;
      let failures = r.failures;
      let next: Date;
      let verifiedAt = r.verified_at;
      if (result.ok) {
        if (!wasHeld) {
          // A fresh proof by this organization: whoever held the hostname before loses it.
          const lost = await tx.query<{ id: string; organization_id: string }>(
            `UPDATE branding_domains SET state = 'removed', removed_at = now(), removed_reason = 'taken_over', next_check_at = NULL
              WHERE hostname = $1 AND id <> $2 AND state IN ('active', 'misconfigured') RETURNING id, organization_id`,
            [r.hostname, r.id],
          );
          for (const l of lost)
            await audit.record(tx, {
              organizationId: l.organization_id,
              actor: SYSTEM_ACTOR,
              action: 'domain.taken_over',
              targetType: 'domain',
              targetId: l.id,
              data: { hostname: r.hostname },
            });
          verifiedAt = new Date();
        }
        state = 'active';
        failures = 0;
        next = minutesFromNow(DAY_MINUTES);
      } else {
        failures += 1;
        if (wasHeld) {
          if (failures >= MISCONFIGURED_AFTER) state = 'misconfigured';
          next = minutesFromNow(DAY_MINUTES);
        } else {
          state = 'pending_dns';
          next = minutesFromNow(RETRY_MINUTES[failures - 1] ?? DAY_MINUTES);
        }
      }
      const row = await tx.one<Row>(
        `UPDATE branding_domains SET state = $2, failures = $3, last_checked_at = now(), last_result = $4,
                next_check_at = $5, verified_at = $6 WHERE id = $1 RETURNING *`,
        [r.id, state, failures, JSON.stringify(result), next, verifiedAt],
      );
      if (state !== r.state)
        await audit.record(tx, {
          organizationId: r.organization_id,
          actor: SYSTEM_ACTOR,
          action: `domain.${state}`,
          targetType: 'domain',
          targetId: r.id,
          data: { hostname: r.hostname, from: r.state, txt: result.txt, cname: result.cname },
        });
      return { row, changed: state !== r.state };
    });
    if (!out) return undefined;
    if (out.changed) await deps.onChange();
    return toDomain(out.row);
  }

  return {
    /** Wires the job queue (the module's job runs `check`). */
    useQueue(fn: (domainId: string) => Promise<void>) {
      enqueue = fn;
    },
    check,

    /** Every domain whose next check is due (the recurring job). */
    async checkDue(limit = 100): Promise<number> {
      const due = await db.query<{ id: string }>(
        `SELECT id FROM branding_domains WHERE state <> 'removed' AND next_check_at <= now()
          ORDER BY next_check_at LIMIT $1`,
        [limit],
      );
      for (const d of due)
        await check(d.id).catch((err) => log.warn({ err, domainId: d.id }, 'domain check failed'));
      return due.length;
    },

    async list(org: OrgContext): Promise<Domain[]> {
      assertAgencyAdmin(org);
      const rows = await db.query<Row>(
        `SELECT * FROM branding_domains WHERE organization_id = $1
          ORDER BY (state = 'removed'), created_at DESC LIMIT 200`,
        [org.org.id],
      );
      return rows.map(toDomain);
    },

    async get(org: OrgContext, id: string): Promise<Domain> {
      assertAgencyAdmin(org);
      return toDomain(await own(db, org, id));
    },

    /** Claims a hostname; the first check runs within a minute. */
    async add(org: OrgContext, hostname: string): Promise<Domain> {
      assertAgencyAdmin(org);
      if (hostname === platformHost || (!localTrial && hostname.endsWith(`.${platformHost}`)))
        throw invalid('body.hostname', 'the platform’s own host cannot be an agency domain');
      const row = await db.transaction(async (tx) => {
        const mine = await tx.maybeOne(
          "SELECT id FROM branding_domains WHERE organization_id = $1 AND hostname = $2 AND state <> 'removed'",
          [org.org.id, hostname],
        );
        if (mine)
          throw conflict(`${hostname} is already one of this agency’s domains`, [
            { field: 'body.hostname', reason: 'already added' },
          ]);
        const created = await tx.one<Row>(
          `INSERT INTO branding_domains (id, organization_id, hostname, state, token, next_check_at)
           VALUES ($1, $2, $3, 'pending_dns', $4, now() + interval '1 minute') RETURNING *`,
          [newId('dom'), org.org.id, hostname, randomBytes(16).toString('hex')],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'domain.added',
          targetType: 'domain',
          targetId: created.id,
          data: { hostname },
        });
        return created;
      });
      return toDomain(row);
    },

    /** Checks now (the agency created the records): state `verifying` until the job has looked. */
    async verifyNow(org: OrgContext, id: string): Promise<Domain> {
      assertAgencyAdmin(org);
      const row = await db.transaction(async (tx) => {
        const r = await own(tx, org, id, true);
        if (r.state === 'removed') throw conflict('this domain was removed; add it again');
        return tx.one<Row>(
          `UPDATE branding_domains SET state = CASE WHEN state = 'pending_dns' THEN 'verifying' ELSE state END,
                  next_check_at = now() WHERE id = $1 RETURNING *`,
          [r.id],
        );
      });
      if (enqueue) await enqueue(row.id);
      return toDomain(row);
    },

    /** Stops serving the domain at once (this process now, the others within a second). */
    async remove(org: OrgContext, id: string): Promise<Domain> {
      assertAgencyAdmin(org);
      const row = await db.transaction(async (tx) => {
        const r = await own(tx, org, id, true);
        if (r.state === 'removed') return r;
        const removed = await tx.one<Row>(
          `UPDATE branding_domains SET state = 'removed', removed_at = now(), removed_reason = 'removed_by_agency',
                  next_check_at = NULL WHERE id = $1 RETURNING *`,
          [r.id],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'domain.removed',
          targetType: 'domain',
          targetId: r.id,
          data: { hostname: r.hostname },
        });
        return removed;
      });
      await deps.onChange();
      return toDomain(row);
    },

    /** The reverse proxy asks before getting a certificate: only active domains and the platform host. */
    async tlsAllowed(hostname: string): Promise<boolean> {
      const h = hostname.toLowerCase().replace(/\.$/, '');
      if (h === platformHost) return true;
      const row = await db.maybeOne(
        "SELECT 1 FROM branding_domains WHERE hostname = $1 AND state = 'active'",
        [h],
      );
      return Boolean(row);
    },
  };
}

export type Domains = ReturnType<typeof createDomains>;
