/**
 * Applying a vertical template: `POST /v1/verticals/organizations/:id/apply`
 * of the largest shipped pack (by items) to fresh accounts, against the core
 * writes alone that a script would make without the plugin (the same custom
 * fields, tags and contacts, one request each through the core routes), both
 * over the in-process HTTP app on a fresh PostgreSQL database, in this run.
 * The apply also writes pipelines, stages, email templates, the checklist,
 * the version record, the history, an event and an audit entry, in one
 * transaction. Prints p50/p99 of each and the ratio; the goal is < 500 ms.
 *
 *   npm run bench -- verticals
 */
import path from 'node:path';
import { loadShippedPacks } from '../plugins/verticals/service.ts';
import { startPlaza } from '../test/helpers/plaza.ts';
import { createOrg, signUp } from '../test/helpers/world.ts';

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 15));
const dir = path.join(import.meta.dirname, '../plugins/verticals/verticals');
// Through the plugin's loader, so YAML packs (the gym) count too.
const packs = loadShippedPacks(dir);
const size = (p: (typeof packs)[number]) =>
  p.fields.length +
  p.tags.length +
  p.pipelines.reduce((n: number, x: any) => n + 1 + x.stages.length, 0) +
  p.sampleContacts.length +
  p.emailTemplates.length +
  p.checklist.length;
const pack = packs.sort((a, b) => size(b) - size(a))[0];

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

const plaza = await startPlaza(
  { PLAZA_PLUGINS: 'verticals', PLAZA_PLUGINS_DIR: 'plugins' },
  { workers: false },
);
try {
  const ann = await signUp(plaza, { name: 'Bench Admin' });
  const post = (url: string, body: unknown) =>
    ann.agent
      .post(url)
      .set('x-csrf-token', ann.csrf)
      .send(body as object);
  const timed = async (fn: () => Promise<void>) => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };

  const apply: number[] = [];
  const baseline: number[] = [];
  // Interleaved, so both see the same machine load; the first round warms up and is dropped.
  for (let i = 0; i <= RUNS; i++) {
    const a = await createOrg(ann, 'account', `Apply ${i}`);
    const b = await createOrg(ann, 'account', `Baseline ${i}`);
    const tApply = await timed(async () => {
      const res = await post(`/v1/verticals/organizations/${a.id}/apply`, { vertical: pack.slug });
      if (res.status !== 200) throw new Error(`apply answered ${res.status}: ${res.text}`);
    });
    const tBase = await timed(async () => {
      for (const f of pack.fields) {
        const { removed, ...field } = f;
        const res = await post(`/v1/organizations/${b.id}/contact-fields`, field);
        if (res.status !== 201) throw new Error(`field answered ${res.status}: ${res.text}`);
      }
      for (const t of pack.tags) await post(`/v1/organizations/${b.id}/contact-tags`, { name: t.name });
      for (const { key, ...c } of pack.sampleContacts) {
        const res = await post(`/v1/organizations/${b.id}/contacts`, c);
        if (res.status !== 201) throw new Error(`contact answered ${res.status}: ${res.text}`);
      }
    });
    if (i === 0) continue;
    apply.push(tApply);
    baseline.push(tBase);
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(
    `pack: ${pack.slug} ${pack.version} (${size(pack)} items, ${pack.apps.length} apps not in this marketplace)`,
  );
  console.log(`runs: ${RUNS} fresh accounts each way`);
  console.log(
    `apply (one transaction, everything):  p50 ${ms(percentile(apply, 50))}  p99 ${ms(percentile(apply, 99))}`,
  );
  console.log(
    `baseline (core writes only, ${pack.fields.length + pack.tags.length + pack.sampleContacts.length} requests): p50 ${ms(percentile(baseline, 50))}  p99 ${ms(percentile(baseline, 99))}`,
  );
  console.log(
    `ratio apply / baseline (p50): ${(percentile(apply, 50) / percentile(baseline, 50)).toFixed(2)}`,
  );
  console.log(`goal < 500 ms: ${percentile(apply, 99) < 500 ? 'met' : 'NOT met'} (p99)`);
} finally {
  await plaza.close();
}
