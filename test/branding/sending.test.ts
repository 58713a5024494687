/**
 * An agency's sending domain, over a real SMTP server: until SPF, DKIM and
 * DMARC are found, its emails go from the platform's address under its name;
 * once verified, from no-reply@<its domain>, DKIM-signed with the key Plaza
 * made for it; removed, back to the platform's address. Never from an
 * unverified domain. A job re-checks it: records that disappear for three
 * checks in a row put mail back on the platform's address.
 */
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsResolver, ThemeInput } from '../../server/modules/branding/index.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { person, uniqueEmail } from '../helpers/world.ts';

const txt = new Map<string, string[]>();
const resolver: DnsResolver = {
  resolveTxt: async (name) => (txt.get(name) ?? []).map((v) => [v]),
  resolveCname: async () => [],
};
const received: Array<{ to: string[]; raw: string }> = [];
let smtp: SMTPServer;
let plaza: TestPlaza;
let agency: OrgContext;
let sub: OrgContext;
const DOMAIN = 'mail.northwind.test';

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, done) {
      let raw = '';
      stream.on('data', (c) => (raw += c));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const port = (smtp.server.address() as { port: number }).port;
  plaza = await startPlaza(
    { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Platform Mail <mail@platform.example.test>' },
    { modules: { branding: { resolver } } },
  );
  const ana = await person(plaza, 'Ana Northwind');
  const org = await plaza.core.organizations.create(ana.actor, { name: 'Northwind Agency', kind: 'agency' });
  agency = await plaza.core.organizations.resolveContext(ana.actor, org.id);
  await plaza.core.branding.saveDraft(
    agency,
    ThemeInput.parse({
      brandName: 'Northwind Apps',
      emailSenderName: 'Northwind Support',
      colours: { primary: '#0b5d1e', accent: '#c2410c', background: '#ffffff', text: '#111827' },
    }),
  );
  await plaza.core.branding.publish(agency);
  const created = await plaza.core.organizations.createSubAccount(agency, { name: 'Harbour Cafe' });
  sub = await plaza.core.organizations.resolveContext(ana.actor, created.id);
}, 60_000);
afterAll(async () => {
  await plaza?.close();
  await new Promise<void>((r) => smtp.close(() => r()));
});

/** Invites a new address into the sub-account and returns the raw email it received. */
async function invitationEmail(): Promise<string> {
  const to = uniqueEmail('guest');
  await plaza.core.organizations.invite(sub, { email: to, role: 'member' });
  const mail = await waitFor('the invitation over SMTP', () => received.find((m) => m.to.includes(to)));
  return mail.raw;
}

describe('sending domain', () => {
  it('sends from the platform address until SPF, DKIM and DMARC are found, then from the domain, signed', async () => {
    const before = await invitationEmail();
    expect(before).toMatch(/^From: Northwind Support <mail@platform\.example\.test>/m);
    expect(before).not.toMatch(/^DKIM-Signature:/m);

    const added = await plaza.core.branding.sending.add(agency, DOMAIN);
    expect(added.state).toBe('pending');
    const byPurpose = Object.fromEntries(added.records.map((r) => [r.purpose, r]));
    expect(byPurpose.SPF).toMatchObject({ name: DOMAIN, value: 'v=spf1 include:_spf.localhost ~all' });
    expect(byPurpose.DKIM.name).toMatch(
      new RegExp(`^p[0-9a-z]+\\._domainkey\\.${DOMAIN.replaceAll('.', '\\.')}$`),
    );
    expect(byPurpose.DKIM.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    expect(byPurpose.DMARC).toMatchObject({ name: `_dmarc.${DOMAIN}` });

    // Only two of three: still pending, and mail still goes from the platform's address.
    txt.set(byPurpose.SPF.name, [byPurpose.SPF.value]);
    txt.set(byPurpose.DMARC.name, [byPurpose.DMARC.value]);
    const partial = await plaza.core.branding.sending.verify(agency, added.id);
    expect(partial.state).toBe('pending');
    expect(partial.lastResult).toMatchObject({ ok: false, spf: 'found', dmarc: 'found' });
    expect(partial.lastResult?.dkim).toMatch(/no matching DKIM key/);
    expect(await invitationEmail()).toMatch(/^From: Northwind Support <mail@platform\.example\.test>/m);

    txt.set(byPurpose.DKIM.name, [byPurpose.DKIM.value]);
    expect((await plaza.core.branding.sending.verify(agency, added.id)).state).toBe('verified');
    const signed = await invitationEmail();
    expect(signed).toMatch(/^From: Northwind Support <no-reply@mail\.northwind\.test>/m);
    const dkim = /^DKIM-Signature: ([\s\S]*?)\r?\n(?=\S)/m.exec(signed)?.[1] ?? '';
    expect(dkim).toMatch(/d=mail\.northwind\.test;/);
    expect(dkim).toContain(`s=${byPurpose.DKIM.name.split('.')[0]};`);

    // Removed: back to the platform's address at once.
    await plaza.core.branding.sending.remove(agency, added.id);
    const after = await invitationEmail();
    expect(after).toMatch(/^From: Northwind Support <mail@platform\.example\.test>/m);
    expect(after).not.toMatch(/^DKIM-Signature:/m);
  });

  it('is re-checked by the job: verified without a click, back to the platform address after three failed checks', async () => {
    const added = await plaza.core.branding.sending.add(agency, 'news.northwind.test');
    for (const r of added.records) txt.set(r.name, [r.value]);
    const state = async () => (await plaza.core.branding.sending.get(agency))!;
    // A day (or the next retry) has passed: the check is due and the job's run picks it up.
    const nextCheck = async () => {
      await plaza.core.db.query('UPDATE branding_sending_domains SET next_check_at = now() WHERE id = $1', [
        added.id,
      ]);
      await plaza.core.branding.sending.checkDue();
      return state();
    };
    expect((await nextCheck()).state).toBe('verified');
    expect(await invitationEmail()).toMatch(/^From: Northwind Support <no-reply@news\.northwind\.test>/m);

    // The DKIM record disappears: two failed checks keep the sender (DNS can hiccup), the third drops it.
    const dkim = added.records.find((r) => r.purpose === 'DKIM')!;
    txt.delete(dkim.name);
    for (const n of [1, 2]) {
      const d = await nextCheck();
      expect(d.state, `after ${n} failed check(s)`).toBe('verified');
      expect(d.lastResult).toMatchObject({ ok: false, spf: 'found', dmarc: 'found' });
      const { due } = await plaza.core.db.one<{ due: number }>(
        'SELECT extract(epoch FROM next_check_at - now()) AS due FROM branding_sending_domains WHERE id = $1',
        [added.id],
      );
      expect(Number(due)).toBeGreaterThan(23 * 3600);
    }
    expect(await invitationEmail()).toMatch(/^From: Northwind Support <no-reply@news\.northwind\.test>/m);
    const dropped = await nextCheck();
    expect(dropped.state).toBe('pending');
    expect(dropped.lastResult?.dkim).toMatch(/no matching DKIM key/);
    const after = await invitationEmail();
    expect(after).toMatch(/^From: Northwind Support <mail@platform\.example\.test>/m);
    expect(after).not.toMatch(/^DKIM-Signature:/m);
    const audit = await plaza.core.db.query<{ action: string }>(
      "SELECT action FROM audit_events WHERE target_id = $1 AND action LIKE 'sending_domain.%' ORDER BY created_at, id",
      [added.id],
    );
    expect(audit.map((a) => a.action)).toEqual([
      'sending_domain.added',
      'sending_domain.verified',
      'sending_domain.unverified',
    ]);

    // The record is back: the next check (no click) sends from the domain again.
    txt.set(dkim.name, [dkim.value]);
    expect((await nextCheck()).state).toBe('verified');
    expect(await invitationEmail()).toMatch(/^From: Northwind Support <no-reply@news\.northwind\.test>/m);
    await plaza.core.branding.sending.remove(agency, added.id);
  });

  it('is the agency’s own: a sub-account cannot read or set it', async () => {
    await expect(plaza.core.branding.sending.get(sub)).rejects.toMatchObject({ status: 403 });
  });
});
