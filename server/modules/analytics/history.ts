import type { Db } from '../../db/index.ts';
import type { EventsService, PlazaEvent } from '../events/index.ts';
import { addDays, isoDay } from './charts.ts';
import { ingestEvents } from './ingest.ts';

/**
 * Plausible past events for demos, screenshots and benchmarks: installs that
 * grow over the period with a weekly rhythm, uninstalls with reasons,
 * recurring payments with renewals, upgrades, downgrades, failures and
 * refunds, trials that convert or not, weekly payouts, and an agency's sub-accounts with installs. The
 * events are written as history (already dispatched) and counted by the
 * rollups exactly like live ones. Deterministic for a given seed.
 */
export interface HistoryInput {
  days: number;
  developerOrgId: string;
  apps: Array<{ id: string; monthlyPrice?: number; currency?: string }>;
  /** Installs per app on an average day at the end of the period (default 4). */
  installsPerDay?: number;
  agency?: { id: string; subAccounts: Array<{ id: string; name: string }> };
  seed?: number;
  now?: Date;
}

const REASONS: Array<[string, number]> = [
  ['uninstalled_by_account', 0.7],
  ['revoked', 0.12],
  ['uninstalled_by_app', 0.12],
  ['token_reuse', 0.06],
];

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Draft = {
  organizationId: string | null;
  type: string;
  payload: Record<string, unknown>;
  createdAt: Date;
};

export async function seedHistory(
  db: Db,
  events: EventsService,
  input: HistoryInput,
  opts: { chunk?: number; onProgress?: (events: number) => void } = {},
): Promise<{ events: number; from: string; to: string }> {
  const random = rng(input.seed ?? 42);
  // Trials draw from their own stream so the other events of a seed stay what they were.
  const trialRandom = rng((input.seed ?? 42) + 1);
  const now = input.now ?? new Date();
  const today = isoDay(now);
  const first = addDays(today, -input.days);
  const perDay = input.installsPerDay ?? 4;
  const at = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + Math.floor(random() * 86_400_000));
  const pick = <T>(list: Array<[T, number]>) => {
    let x = random();
    for (const [v, w] of list) {
      x -= w;
      if (x <= 0) return v;
    }
    return list[0][0];
  };
  /** A Poisson-distributed count (Knuth; small means). */
  const poisson = (mean: number) => {
    if (mean > 30)
      return Math.max(0, Math.round(mean + Math.sqrt(mean) * (random() + random() + random() - 1.5)));
    const l = Math.exp(-mean);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= random();
    } while (p > l);
    return k - 1;
  };

  interface Open {
    installationId: string;
    accountId: string;
    appId: string;
    sub?: { id: string; amount: number; currency: string; nextRenewal: string };
  }
  const open = new Map<string, Open>();
  let counter = 0;
  let written = 0;
  let batch: Draft[] = [];
  const chunk = opts.chunk ?? 20_000;
  const flush = async () => {
    if (batch.length === 0) return;
    const list: PlazaEvent[] = await events.recordHistory(batch);
    for (let i = 0; i < list.length; i += 5000) await ingestEvents(db, list.slice(i, i + 5000));
    written += list.length;
    batch = [];
    opts.onProgress?.(written);
  };
  const push = async (d: Draft) => {
    batch.push(d);
    if (batch.length >= chunk) await flush();
  };
  const subAccounts = input.agency?.subAccounts ?? [];
  // Sub-accounts are created over the period, earliest first.
  const subCreated = subAccounts.map((s, i) => ({
    ...s,
    day: addDays(first, Math.floor((i / Math.max(1, subAccounts.length)) * input.days * 0.9)),
  }));
  const weekday = [0.6, 1.15, 1.2, 1.15, 1.1, 1, 0.7]; // Sunday..Saturday

  for (let d = 0; d < input.days; d++) {
    const day = addDays(first, d);
    const growth = 0.4 + 0.6 * (d / input.days);
    const rhythm = weekday[new Date(`${day}T00:00:00Z`).getUTCDay()];
    for (const s of subCreated.filter((x) => x.day === day))
      await push({
        organizationId: s.id,
        type: 'organization.created',
        payload: { organizationId: s.id, kind: 'account', name: s.name, parentId: input.agency!.id },
        createdAt: at(day),
      });
    for (const app of input.apps) {
      const n = poisson(perDay * growth * rhythm);
      for (let k = 0; k < n; k++) {
        counter++;
        const ready = subCreated.filter((s) => s.day <= day);
        const accountId =
          ready.length && random() < 0.25
            ? ready[Math.floor(random() * ready.length)].id
            : `acct_hist_${counter}`;
        const inst: Open = { installationId: `inst_hist_${counter}`, accountId, appId: app.id };
        const when = at(day);
        await push({
          organizationId: accountId,
          type: 'app.installed',
          payload: {
            installationId: inst.installationId,
            accountId,
            appId: app.id,
            versionId: `ver_hist_${app.id}`,
            grantedScopes: ['contacts:read'],
          },
          createdAt: when,
        });
        // About a third of paid installs begin with a 14-day trial; 60% of those convert.
        if (app.monthlyPrice && trialRandom() < 0.35) {
          const trial = { subscriptionId: `sub_hist_${counter}`, appId: app.id };
          const trialEnd = new Date(when.getTime() + 14 * 86_400_000);
          await push({
            organizationId: accountId,
            type: 'trial.started',
            payload: { ...trial, trialDays: 14, trialEnd: trialEnd.toISOString() },
            createdAt: when,
          });
          const converted = trialRandom() < 0.6;
          const ended = converted ? trialEnd : new Date(when.getTime() + trialRandom() * 14 * 86_400_000);
          if (isoDay(ended) < today)
            await push({
              organizationId: accountId,
              type: 'trial.ended',
              payload: {
                ...trial,
                trialEnd: trialEnd.toISOString(),
                converted,
                reason: converted ? 'paid' : 'canceled',
              },
              createdAt: ended,
            });
        }
        if (app.monthlyPrice) {
          inst.sub = {
            id: `sub_hist_${counter}`,
            amount: app.monthlyPrice,
            currency: app.currency ?? 'USD',
            nextRenewal: addDays(day, 30),
          };
          await push({
            organizationId: accountId,
            type: 'payment.succeeded',
            payload: {
              invoiceId: `inv_hist_${counter}_0`,
              subscriptionId: inst.sub.id,
              appId: app.id,
              kind: 'initial',
              amount: inst.sub.amount,
              currency: inst.sub.currency,
            },
            createdAt: new Date(when.getTime() + 1000),
          });
        }
        open.set(inst.installationId, inst);
      }
    }
    // Uninstalls: about 0.4% of open installations a day; renewals of subscriptions due today.
    for (const inst of [...open.values()]) {
      if (random() < 0.004) {
        open.delete(inst.installationId);
        await push({
          organizationId: inst.accountId,
          type: 'app.uninstalled',
          payload: {
            installationId: inst.installationId,
            accountId: inst.accountId,
            appId: inst.appId,
            reason: pick(REASONS),
          },
          createdAt: at(day),
        });
        continue;
      }
      const sub = inst.sub;
      if (!sub || sub.nextRenewal !== day) continue;
      sub.nextRenewal = addDays(day, 30);
      const roll = random();
      // Some upgrade, some downgrade; a few renewals fail (and are paid a few days later).
      if (roll < 0.08) sub.amount *= 2;
      else if (roll < 0.12) sub.amount = Math.max(100, Math.round(sub.amount / 2));
      const failed = random() < 0.05;
      const base = {
        invoiceId: `inv_hist_${inst.installationId}_${day}`,
        subscriptionId: sub.id,
        appId: inst.appId,
        kind: 'renewal',
        amount: sub.amount,
        currency: sub.currency,
      };
      if (failed)
        await push({
          organizationId: inst.accountId,
          type: 'payment.failed',
          payload: { ...base, reason: 'card_declined' },
          createdAt: at(day),
        });
      const paidOn = failed ? addDays(day, 2) : day;
      if (paidOn < today)
        await push({
          organizationId: inst.accountId,
          type: 'payment.succeeded',
          payload: base,
          createdAt: at(paidOn),
        });
      if (random() < 0.02 && paidOn < today)
        await push({
          organizationId: inst.accountId,
          type: 'payment.refunded',
          payload: {
            ...base,
            amount: Math.round(sub.amount / 2),
            refundId: `re_hist_${inst.installationId}_${day}`,
          },
          createdAt: at(paidOn),
        });
    }
    // Weekly payouts (Mondays): in transit, then paid two days later; one in ten fails.
    if (new Date(`${day}T00:00:00Z`).getUTCDay() === 1 && d > 7) {
      const amount = 5000 + Math.floor(random() * 20_000) * (1 + d / input.days);
      const payout = {
        payoutId: `po_hist_${day}`,
        partnerOrgId: input.developerOrgId,
        amount: Math.round(amount),
        currency: input.apps.find((a) => a.currency)?.currency ?? 'USD',
      };
      await push({
        organizationId: input.developerOrgId,
        type: 'payout.created',
        payload: payout,
        createdAt: at(day),
      });
      const settled = addDays(day, 2);
      if (settled < today)
        await push({
          organizationId: input.developerOrgId,
          type: random() < 0.1 ? 'payout.failed' : 'payout.paid',
          payload: payout,
          createdAt: at(settled),
        });
    }
  }
  await flush();
  // API calls per app and day (counted by this module; no events behind them).
  const apiRows: Array<[string, string, number, number]> = [];
  for (let d = 0; d < input.days; d++)
    for (const app of input.apps) {
      const calls = Math.round((200 + 800 * (d / input.days)) * (0.7 + random() * 0.6));
      apiRows.push([
        app.id,
        addDays(first, d),
        calls,
        random() < 0.15 ? Math.round(calls * random() * 0.05) : 0,
      ]);
    }
  await db.query(
    `INSERT INTO analytics_api_days AS t (app_id, day, calls, limited)
     SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[], $4::bigint[])
     ON CONFLICT (app_id, day) DO UPDATE SET calls = t.calls + EXCLUDED.calls, limited = t.limited + EXCLUDED.limited`,
    [0, 1, 2, 3].map((i) => apiRows.map((r) => r[i])),
  );
  return { events: written, from: first, to: addDays(today, -1) };
}
