import { createCipheriv, createDecipheriv, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { forbidden, invalid, notFound } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import { type Actor, hasRole, type OrgContext, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { DnsResolver } from './domains.ts';
import type { SendingDomain } from './schemas.ts';

/**
 * An agency's sending domain. Plaza makes a DKIM key pair for it and shows
 * three records: SPF (the platform may send for the domain), DKIM (the public
 * key under `<selector>._domainkey`) and DMARC. Once all three are found, the
 * agency's emails go from `no-reply@<domain>`, signed with its key; before,
 * from the platform's address under the agency's name. Never from an
 * unverified domain.
 *
 * A job re-checks them, as custom domains are: a pending one on a growing
 * schedule (so the agency need not come back to click "Check now"), a
 * verified one daily. Records that disappear from a verified domain make it
 * pending again after UNVERIFIED_AFTER failed checks in a row (one bad DNS
 * answer does not switch the sender), and mail goes from the platform's
 * address under the agency's name again. "Check now" reports at once.
 */
export const UNVERIFIED_AFTER = 3;
const RETRY_MINUTES = [1, 5, 15, 60, 360];
const DAY_MINUTES = 24 * 60;
interface Row {
  id: string;
  organization_id: string;
  domain: string;
  state: SendingDomain['state'];
  dkim_selector: string;
  dkim_public_key: string;
  dkim_private_key: string;
  last_checked_at: Date | null;
  last_result: SendingDomain['lastResult'];
  failures: number;
  next_check_at: Date | null;
  verified_at: Date | null;
  created_at: Date;
}

const keyOf = (secret: string) =>
  Buffer.from(hkdfSync('sha256', secret, 'plaza-branding-dkim', 'dkim-private-key-aes-256-gcm', 32));

function seal(secret: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}
function open(secret: string, sealed: string): string {
  const [, iv, tag, body] = sealed.split('.');
  const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

export function createSendingDomains(deps: {
  db: Db;
  config: Config;
  secret: string;
  audit: AuditService;
  resolver: DnsResolver;
  log: Logger;
}) {
  const { db, secret, audit, resolver, log } = deps;
  const platformHost = new URL(deps.config.baseUrl).hostname;
  const spfInclude = `_spf.${platformHost}`;
  const dkimValue = (r: Row) => `v=DKIM1; k=rsa; p=${r.dkim_public_key}`;

  const toDto = (r: Row): SendingDomain => ({
    id: r.id,
    domain: r.domain,
    state: r.state,
    records: [
      { type: 'TXT', name: r.domain, value: `v=spf1 include:${spfInclude} ~all`, purpose: 'SPF' },
      {
        type: 'TXT',
        name: `${r.dkim_selector}._domainkey.${r.domain}`,
        value: dkimValue(r),
        purpose: 'DKIM',
      },
      { type: 'TXT', name: `_dmarc.${r.domain}`, value: 'v=DMARC1; p=quarantine', purpose: 'DMARC' },
    ],
    lastCheckedAt: r.last_checked_at?.toISOString() ?? null,
    lastResult: r.last_result,
    verifiedAt: r.verified_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
  });

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies have sending domains');
    if (!hasRole(org, 'admin')) throw forbidden('sending domains need the admin or owner role');
  }

  const txtAt = async (name: string) => {
    try {
      return (await resolver.resolveTxt(name)).map((parts) => parts.join(''));
    } catch {
      return [];
    }
  };

  async function own(org: OrgContext, id: string): Promise<Row> {
    const row = await db.maybeOne<Row>(
      "SELECT * FROM branding_sending_domains WHERE id = $1 AND organization_id = $2 AND state <> 'removed'",
      [id, org.org.id],
    );
    if (!row) throw notFound('sending domain');
    return row;
  }

  /** What DNS says about the three records, in words the agency can act on. */
  async function lookUp(r: Row) {
    const spf = (await txtAt(r.domain)).find((v) => v.startsWith('v=spf1'));
    const dkim = (await txtAt(`${r.dkim_selector}._domainkey.${r.domain}`)).map((v) => v.replace(/\s+/g, ''));
    const dmarc = (await txtAt(`_dmarc.${r.domain}`)).find((v) => /^v=DMARC1\s*;/i.test(v));
    const result = {
      spf: spf?.includes(`include:${spfInclude}`)
        ? 'found'
        : spf
          ? `the SPF record does not include ${spfInclude}`
          : `no SPF record at ${r.domain}`,
      dkim: dkim.includes(dkimValue(r).replace(/\s+/g, ''))
        ? 'found'
        : `no matching DKIM key at ${r.dkim_selector}._domainkey.${r.domain}`,
      dmarc: dmarc ? 'found' : `no DMARC record at _dmarc.${r.domain}`,
    };
    return { ok: result.spf === 'found' && result.dkim === 'found' && result.dmarc === 'found', ...result };
  }

  const minutesFromNow = (m: number) => new Date(Date.now() + m * 60_000);

  /**
   * Stores a check's result and moves the domain along its states. A check the
   * agency asked for decides at once; the job's checks give a verified domain
   * UNVERIFIED_AFTER tries. Undefined when the domain was removed meanwhile.
   */
  async function record(
    before: Row,
    result: Awaited<ReturnType<typeof lookUp>>,
    actor: Actor,
    manual: boolean,
  ): Promise<Row | undefined> {
    return db.transaction(async (tx) => {
      const r = await tx.maybeOne<Row & { checked_meanwhile: boolean }>(
        'SELECT *, next_check_at > now() AS checked_meanwhile FROM branding_sending_domains WHERE id = $1 FOR UPDATE',
        [before.id],
      );
      if (!r || r.state === 'removed') return undefined;
      // Another worker's job checked it since this one picked it: one failure must count once.
      if (!manual && r.checked_meanwhile) return r;
      const failures = result.ok ? 0 : r.failures + 1;
      const verified = result.ok || (!manual && r.state === 'verified' && failures < UNVERIFIED_AFTER);
      const next = minutesFromNow(verified ? DAY_MINUTES : (RETRY_MINUTES[failures - 1] ?? DAY_MINUTES));
      const updated = await tx.one<Row>(
        `UPDATE branding_sending_domains SET last_checked_at = now(), last_result = $2, failures = $4,
                next_check_at = $5, state = CASE WHEN $3 THEN 'verified' ELSE 'pending' END,
                verified_at = CASE WHEN $3 THEN coalesce(verified_at, now()) ELSE NULL END
          WHERE id = $1 RETURNING *`,
        [r.id, JSON.stringify(result), verified, failures, next],
      );
      if (verified !== (r.state === 'verified'))
        await audit.record(tx, {
          organizationId: r.organization_id,
          actor,
          action: verified ? 'sending_domain.verified' : 'sending_domain.unverified',
          targetType: 'sending_domain',
          targetId: r.id,
          data: { domain: r.domain, spf: result.spf, dkim: result.dkim, dmarc: result.dmarc, failures },
        });
      return updated;
    });
  }

  return {
    async get(org: OrgContext): Promise<SendingDomain | null> {
      assertAgencyAdmin(org);
      const row = await db.maybeOne<Row>(
        "SELECT * FROM branding_sending_domains WHERE organization_id = $1 AND state <> 'removed'",
        [org.org.id],
      );
      return row ? toDto(row) : null;
    },

    /** One per agency: a new one replaces the old (whose key is forgotten). */
    async add(org: OrgContext, domain: string): Promise<SendingDomain> {
      assertAgencyAdmin(org);
      if (domain === platformHost || domain.endsWith(`.${platformHost}`))
        throw invalid('body.domain', 'the platform’s own domain cannot be an agency’s sending domain');
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
      const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const row = await db.transaction(async (tx) => {
        await tx.query(
          "UPDATE branding_sending_domains SET state = 'removed' WHERE organization_id = $1 AND state <> 'removed'",
          [org.org.id],
        );
        const created = await tx.one<Row>(
          `INSERT INTO branding_sending_domains (id, organization_id, domain, state, dkim_selector, dkim_public_key, dkim_private_key, next_check_at)
           VALUES ($1, $2, $3, 'pending', $4, $5, $6, now() + interval '1 minute') RETURNING *`,
          [newId('sdm'), org.org.id, domain, `p${Date.now().toString(36)}`, pub, seal(secret, priv)],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'sending_domain.added',
          targetType: 'sending_domain',
          targetId: created.id,
          data: { domain },
        });
        return created;
      });
      return toDto(row);
    },

    /** Looks the three records up now; verified only when all three are there. */
    async verify(org: OrgContext, id: string): Promise<SendingDomain> {
      assertAgencyAdmin(org);
      const r = await own(org, id);
      const row = await record(r, await lookUp(r), org.actor, true);
      if (!row) throw notFound('sending domain');
      return toDto(row);
    },

    /** The recurring job: every sending domain whose next check is due. */
    async checkDue(limit = 100): Promise<number> {
      const due = await db.query<Row>(
        `SELECT * FROM branding_sending_domains WHERE state <> 'removed' AND next_check_at <= now()
          ORDER BY next_check_at LIMIT $1`,
        [limit],
      );
      for (const r of due)
        await lookUp(r)
          .then((result) => record(r, result, SYSTEM_ACTOR, false))
          .catch((err) => log.warn({ err, sendingDomainId: r.id }, 'sending domain check failed'));
      return due.length;
    },

    async remove(org: OrgContext, id: string): Promise<SendingDomain> {
      assertAgencyAdmin(org);
      const r = await own(org, id);
      const row = await db.one<Row>(
        "UPDATE branding_sending_domains SET state = 'removed' WHERE id = $1 RETURNING *",
        [r.id],
      );
      return toDto(row);
    },

    /** An agency's verified sending domain (its emails go from it), or undefined. */
    async verifiedDomainOf(agencyId: string): Promise<string | undefined> {
      const row = await db.maybeOne<{ domain: string }>(
        "SELECT domain FROM branding_sending_domains WHERE organization_id = $1 AND state = 'verified'",
        [agencyId],
      );
      return row?.domain;
    },

    /** The DKIM key of a verified sending domain, as nodemailer takes it (mail signs with it). */
    async signerForDomain(domain: string) {
      const row = await db.maybeOne<Row>(
        "SELECT * FROM branding_sending_domains WHERE domain = $1 AND state = 'verified' LIMIT 1",
        [domain.toLowerCase()],
      );
      if (!row) return undefined;
      return {
        domainName: row.domain,
        keySelector: row.dkim_selector,
        privateKey: open(secret, row.dkim_private_key),
      };
    },
  };
}

export type SendingDomains = ReturnType<typeof createSendingDomains>;
