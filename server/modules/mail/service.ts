import { readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import nodemailer from 'nodemailer';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';

export interface Email {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface MailboxEntry {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
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
}: {
  config: Config;
  db: Db;
  jobs: JobQueue;
  log: Logger;
}) {
  const transport = config.smtpUrl ? nodemailer.createTransport(config.smtpUrl) : undefined;
  const compiled = new Map<string, HandlebarsTemplateDelegate>();

  function render(name: string, data: Record<string, unknown>): Email & { to: string } {
    let tpl = compiled.get(name);
    if (!tpl) {
      tpl = Handlebars.compile(readFileSync(path.join(templatesDir, `${name}.hbs`), 'utf8'));
      compiled.set(name, tpl);
    }
    // A template is a subject line, a blank line, then the text body; the HTML part is derived.
    const out = tpl({ ...data, baseUrl: config.baseUrl });
    const [subject, ...rest] = out.split('\n');
    const text = rest.join('\n').trim();
    const html = `<pre style="font: 14px/1.5 system-ui, sans-serif; white-space: pre-wrap">${Handlebars.escapeExpression(text)}</pre>`;
    return { to: String(data.to), subject: subject.replace(/^Subject:\s*/, ''), text, html };
  }

  /** The `mail.send` job: one rendered email out through SMTP (or the log), copied to the dev mailbox. */
  async function deliver(email: Email): Promise<void> {
    if (transport) {
      await transport.sendMail({ from: config.mailFrom, ...email });
    } else {
      log.info(
        { mail: { to: email.to, subject: email.subject, text: email.text } },
        'email (no SMTP_URL configured)',
      );
    }
    if (config.devMailbox) {
      await db.query(
        'INSERT INTO dev_mailbox (id, to_address, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5)',
        [newId('mail'), email.to, email.subject, email.text, email.html ?? null],
      );
    }
  }

  return {
    deliver,

    /** Queues an email rendered from `templates/emails/<template>.hbs`. */
    async send(template: string, data: Record<string, unknown> & { to: string }): Promise<void> {
      await jobs.enqueue(SEND_JOB, render(template, data));
    },
    /**
     * Queues an email whose text comes from a template and whose HTML part the
     * caller made (charts drawn on the server as SVG, the weekly summary).
     */
    async sendWithHtml(template: string, data: Record<string, unknown> & { to: string }, html: string) {
      await jobs.enqueue(SEND_JOB, { ...render(template, data), html });
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
        createdAt: r.created_at.toISOString(),
      }));
    },
  };
}
