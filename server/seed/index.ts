import { randomBytes } from 'node:crypto';
import type { Core } from '../core.ts';
import { type Actor, SYSTEM_ACTOR } from '../tenancy.ts';
import { seedDemoApps } from './apps.ts';
import { DEMO_APPS } from './demo-apps.ts';

/**
 * Demo data for a first start: an operator, a developer organization with
 * apps in the marketplace (and one waiting for review), an agency with one
 * sub-account, and a direct customer account that installed and rated some.
 * Runs once (when there are no users yet); returns the logins to print, or null.
 */
export async function seedDemo(
  core: Core,
): Promise<Array<{ who: string; email: string; password: string }> | null> {
  const { db, identity, organizations, log } = core;
  if (await identity.hasUsers()) return null;
  const started = performance.now();
  const logins = DEMO_LOGINS.map((l) => ({ ...l, password: demoPassword() }));
  const users = await Promise.all(
    logins.map((l) =>
      identity.createUser(db as any, {
        name: l.name,
        email: l.email,
        password: l.password,
        platformRole: l.platformRole,
      }),
    ),
  );
  const actor = (i: number): Actor => ({
    ...SYSTEM_ACTOR,
    userId: users[i].id,
    email: users[i].email,
    platformRole: logins[i].platformRole ?? null,
  });
  const acme = await organizations.create(actor(1), { name: 'Acme Apps', kind: 'developer' });
  const agency = await organizations.create(actor(2), { name: 'Bright Agency', kind: 'agency' });
  const agencyCtx = await organizations.resolveContext(actor(2), agency.id);
  const dental = await organizations.createSubAccount(agencyCtx, { name: 'Bright Dental (sub-account)' });
  const bakery = await organizations.create(actor(3), { name: 'Corner Bakery', kind: 'account' });

  const apps = await seedDemoApps(core, {
    operator: actor(0),
    developer: await organizations.resolveContext(actor(1), acme.id),
    accounts: {
      bakery: await organizations.resolveContext(actor(3), bakery.id),
      // The agency owner acts in its sub-account.
      dental: await organizations.resolveContext(actor(2), dental.id),
    },
  });
  if (core.config.seedHistoryDays > 0)
    await seedDashboardHistory(core, acme.id, agencyCtx, core.config.seedHistoryDays);
  log.info({ ...apps, ms: Math.round(performance.now() - started) }, 'demo data seeded');
  return logins.map(({ who, email, password }) => ({ who, email, password }));
}

/** The demo logins; each first start gets new random passwords, printed once. */
export const DEMO_LOGINS: ReadonlyArray<{
  who: string;
  email: string;
  name: string;
  platformRole?: 'admin';
}> = [
  {
    who: 'operator (platform admin + reviewer)',
    email: 'admin@plaza.localhost',
    platformRole: 'admin',
    name: 'Ada Operator',
  },
  { who: 'developer (owner of Acme Apps)', email: 'dev@plaza.localhost', name: 'Dev Eloper' },
  { who: 'agency (owner of Bright Agency)', email: 'agency@plaza.localhost', name: 'Agnes Agency' },
  { who: 'customer (owner of Corner Bakery)', email: 'customer@plaza.localhost', name: 'Cora Customer' },
];

export const demoPassword = () => randomBytes(9).toString('base64url');

/**
 * PLAZA_SEED_HISTORY_DAYS: days of past events for the dashboards (installs,
 * uninstalls, payments, payouts, the agency's sub-accounts and their
 * installs), so that the charts have something to show on a fresh start.
 */
export async function seedDashboardHistory(
  core: Core,
  developerOrgId: string,
  agency: Awaited<ReturnType<Core['organizations']['resolveContext']>>,
  days: number,
) {
  const subAccounts: Array<{ id: string; name: string }> = [];
  for (const name of [
    'Bright Dental North',
    'Harbor Yoga',
    'Lakeside Vets',
    'Pine Street Cafe',
    'Summit Realty',
  ]) {
    const org = await core.organizations.createSubAccount(agency, { name });
    subAccounts.push({ id: org.id, name });
  }
  const price = (name: string) => {
    const pricing = DEMO_APPS.find((d) => d.version.name === name)?.version.pricing as
      | { type: string; interval?: string; amount?: number; currency?: string }
      | undefined;
    return pricing?.type === 'recurring' && pricing.interval === 'month'
      ? { monthlyPrice: pricing.amount, currency: pricing.currency }
      : {};
  };
  const apps = (await core.apps.namesOfOrganization(developerOrgId)).map((a) => ({
    id: a.id,
    ...price(a.name),
  }));
  const out = await core.analytics.seedHistory({
    days,
    developerOrgId,
    apps,
    agency: { id: agency.org.id, subAccounts },
  });
  core.log.info(out, 'dashboard history seeded');
}
