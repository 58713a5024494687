import { readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import { type Logger, requestContext } from '../../logger.ts';

export interface Email {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** The sender when it is not MAIL_FROM (a white-labelled email: the agency's name, the platform's address). */
  from?: string;
  replyTo?: string;
  /** Set when sending, never queued: the DKIM key of the agency's verified sending domain. */
  dkim?: { domainName: string; keySelector: string; privateKey: string };
}

/**
 * The brand an email goes out under (the branding module resolves it): by the
 * organization the email is about (`organizationId` in the template data),
 * else by the host of the request that caused it. Undefined: the platform's.
 */
export interface MailBrand {
  brandName: string;
  /** Where the email's links point (an agency's active domain). */
  baseUrl: string;
  senderName: string | null;
  replyTo: string | null;
  footerText: string | null;
  /** Hex colour of the header rule. */
  primaryColor: string;
  /** Absolute URL of the logo. */
  logoUrl: string | null;
  /** The agency's verified sending domain's address; null: the platform's address. */
  fromAddress: string | null;
}

/** The DKIM key of a verified sending domain; undefined when the domain is not (or no longer) verified. */
export type MailSigner = (
  domain: string,
) => Promise<{ domainName: string; keySelector: string; privateKey: string } | undefined>;
export type MailBrandResolver = (req: {
  organizationId: string | null;
  host: string | null;
}) => MailBrand | undefined | Promise<MailBrand | undefined>;

declare module '../../lib/extension-points.ts' {
  interface ExtensionPoints {
    'mail.brand': MailBrandResolver;
    'mail.signer': MailSigner;
  }
}

export interface MailboxEntry {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  from: string | null;
  replyTo: string | null;
  createdAt: string;
}

export const SEND_JOB = 'mail.send';
const templatesDir = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../templates/emails');

/**
 * Email goes out through a job (retried when SMTP hiccups). With SMTP_URL it
 * is sent over SMTP; without, it is written to the log. With the dev mailbox
 * on, a copy is kept for the /dev/mailbox page.
 */
export type MailService = ReturnType<typeof createMailService>;

export function createMailService({
  config,
  db,
  jobs,
  log,
  extensions,
}: {
  config: Config;
  db: Db;
  jobs: JobQueue;
  log: Logger;
  extensions: ExtensionRegistry;
}) {
  // nodemailer is loaded with the first email sent over SMTP, not at every start.
  let transport: Promise<import('nodemailer').Transporter> | undefined;
  const smtp = () => {
    transport ??= import('nodemailer').then((m) => m.default.createTransport(config.smtpUrl));
    return transport;
  };
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  const brands = extensions.define('mail.brand', {
    owner: 'mail',
    single: true,
    description: 'The brand of an email (white-label): name, sender, reply-to, footer, where links point',
  });
  const signers = extensions.define('mail.signer', {
    owner: 'mail',
    single: true,
    description: 'DKIM keys of verified sending domains (white-label); other domains never send',
  });
  const platformAddress = /<([^>]+)>/.exec(config.mailFrom)?.[1] ?? config.mailFrom;

  async function brandOf(data: Record<string, unknown>): Promise<MailBrand | undefined> {
    const resolve = brands.list()[0]?.value;
    if (!resolve) return undefined;
    const organizationId = typeof data.organizationId === 'string' ? data.organizationId : null;
    try {
      return await resolve({ organizationId, host: requestContext.getStore()?.host ?? null });
    } catch (err) {
      log.warn({ err }, 'mail brand resolver failed; sending with the platform brand');
      return undefined;
    }
  }

  // Folders of templates named `<prefix>/<name>` (a plugin's emails/), besides Plaza's own.
  const templateFolders = new Map<string, string>();
  const templateFile = (name: string) => {
    const slash = name.indexOf('/');
    const folder = slash > 0 ? templateFolders.get(name.slice(0, slash)) : undefined;
    if (slash >= 0 && !folder) throw new Error(`no email template folder for "${name}"`);
    return folder
      ? path.join(folder, `${name.slice(slash + 1)}.hbs`)
      : path.join(templatesDir, `${name}.hbs`);
  };

  function render(name: string, data: Record<string, unknown>, brand?: MailBrand): Email & { to: string } {
    let tpl = compiled.get(name);
    if (!tpl) {
      tpl = Handlebars.compile(readFileSync(templateFile(name), 'utf8'));
      compiled.set(name, tpl);
    }
    // A template is a subject line, a blank line, then the text body; the HTML part is derived.
    const out = tpl({
      ...data,
      baseUrl: brand?.baseUrl ?? config.baseUrl,
      brandName: brand?.brandName ?? 'Plaza',
    });
    const [subject, ...rest] = out.split('\n');
    let text = rest.join('\n').trim();
    if (brand?.footerText) text += `\n\n--\n${brand.footerText}`;
    const esc = Handlebars.escapeExpression;
    const body = `<pre style="font: 14px/1.5 system-ui, sans-serif; white-space: pre-wrap">${esc(text)}</pre>`;
    // A branded email opens with the brand (logo or name over its colour); every value is escaped.
    const html = brand
      ? `<div style="border-top: 4px solid ${esc(brand.primaryColor)}; padding: 12px 0; font: 600 16px system-ui, sans-serif">${
          brand.logoUrl
            ? `<img src="${esc(brand.logoUrl)}" alt="${esc(brand.brandName)}" style="max-height: 40px">`
            : esc(brand.brandName)
        }</div>${body}`
      : body;
    const email: Email & { to: string } = {
      to: String(data.to),
      subject: subject.replace(/^Subject:\s*/, ''),
      text,
      html,
    };
    // The agency's verified sending domain, or until then the platform's address under the agency's name.
    if (brand)
      email.from = `"${(brand.senderName ?? brand.brandName).replace(/["\\\r\n]/g, '')}" <${brand.fromAddress ?? platformAddress}>`;
    if (brand?.replyTo) email.replyTo = brand.replyTo;
    return email;
  }

  /** The `mail.send` job: one rendered email out through SMTP (or the log), copied to the dev mailbox. */
  async function deliver(email: Email): Promise<void> {
    // An agency's own domain sends only while it is verified, DKIM-signed with its key; otherwise
    // the platform's address (the queued email may predate the domain's removal).
    const domain = email.from ? /@([^>\s]+)>?$/.exec(email.from)?.[1] : undefined;
    if (domain && email.from && !email.from.includes(`<${platformAddress}>`)) {
      const signer = await signers.list()[0]?.value(domain);
      if (signer) email.dkim = signer;
      else email.from = email.from.replace(/<[^>]+>$/, `<${platformAddress}>`);
    }
    if (config.smtpUrl) {
      await (await smtp()).sendMail({ ...email, from: email.from ?? config.mailFrom });
    } else {
      log.info(
        { mail: { to: email.to, subject: email.subject, text: email.text } },
        'email (no SMTP_URL configured)',
      );
    }
    if (config.devMailbox) {
      await db.query(
        `INSERT INTO dev_mailbox (id, to_address, subject, text_body, html_body, from_address, reply_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          newId('mail'),
          email.to,
          email.subject,
          email.text,
          email.html ?? null,
          email.from ?? config.mailFrom,
          email.replyTo ?? null,
        ],
      );
    }
  }

  return {
    deliver,

    /** Queues an email rendered from `templates/emails/<template>.hbs`. */
    async send(template: string, data: Record<string, unknown> & { to: string }): Promise<void> {
      await jobs.enqueue(SEND_JOB, render(template, data, await brandOf(data)));
    },
    /**
     * Queues an email whose text comes from a template and whose HTML part the
     * caller made (charts drawn on the server as SVG, the weekly summary).
     */
    async sendWithHtml(template: string, data: Record<string, unknown> & { to: string }, html: string) {
      await jobs.enqueue(SEND_JOB, { ...render(template, data), html });
    },
    /** Templates `<prefix>/<name>` are read from `<dir>/<name>.hbs` (the plugin host adds each plugin's emails/). */
    addTemplateFolder(prefix: string, dir: string): void {
      templateFolders.set(prefix, dir);
    },
    /** The newest emails of the dev mailbox, optionally only those to one address. */
    async mailbox(limit = 50, to?: string): Promise<MailboxEntry[]> {
      const rows = await db.query(
        'SELECT * FROM dev_mailbox WHERE ($2::text IS NULL OR lower(to_address) = lower($2)) ORDER BY id DESC LIMIT $1',
        [limit, to ?? null],
      );
      return rows.map((r) => ({
        id: r.id,
        to: r.to_address,
        subject: r.subject,
        text: r.text_body,
        html: r.html_body,
        from: r.from_address,
        replyTo: r.reply_to,
        createdAt: r.created_at.toISOString(),
      }));
    },
  };
}
