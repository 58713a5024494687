import { type VerticalPack, valueProblem } from './schema.ts';

/**
 * The plan of applying a pack to an account: one item per thing the pack
 * lists, saying what applying would do with it. Pure: it compares the pack
 * with the account's current state and with the version applied before (the
 * pack that was applied last, if any), so it can tell a local change from a
 * change of the pack.
 *
 * - add: not there yet; applying adds it.
 * - exists: already there as the pack has it; nothing to do.
 * - conflict: there but different (changed in the account, or changed by the
 *   new version), or deleted in the account since the last apply, or a
 *   removed item the account changed. Kept as it is unless forced.
 * - update / remove: what a forced conflict becomes, and a removal the
 *   account did not change.
 * - skip: cannot be done here (an app not in the marketplace, samples removed).
 * - recommend: an app the account installs itself (it needs the account's consent).
 */
export type ItemKind =
  | 'field'
  | 'tag'
  | 'pipeline'
  | 'stage'
  | 'emailTemplate'
  | 'checklist'
  | 'sampleContact'
  | 'app'
  | 'theme';
export type Action = 'add' | 'exists' | 'conflict' | 'update' | 'remove' | 'skip' | 'recommend';

export interface PlanItem {
  kind: ItemKind;
  key: string;
  label: string;
  action: Action;
  reason: string | null;
}

/** What the account has now, as comparable records keyed like the pack. */
export interface AccountState {
  fields: Map<string, { label: string; type: string; options: string[] }>;
  tags: Set<string>;
  pipelines: Map<string, { name: string }>;
  /** Keyed `<pipeline>.<stage>`. */
  stages: Map<string, { name: string }>;
  emailTemplates: Map<string, { name: string; subject: string; body: string }>;
  checklist: Map<string, { title: string; description: string }>;
  /** Sample keys of this vertical already added. */
  samples: Set<string>;
  samplesRemoved: boolean;
  /** Slugs of installed apps. */
  apps: Set<string>;
  /** Apps listed in the marketplace (of those the pack names): slug -> the scopes an install grants. */
  listed: Map<string, { name: string; required: string[]; optional: string[] }>;
  theme: Record<string, string> | null;
}

export interface PlanInput {
  pack: VerticalPack;
  /** The pack version applied before (null on a first apply). */
  previous: VerticalPack | null;
  state: AccountState;
  force: boolean;
  /** A sub-account: recommended apps go in through its agency's bulk install. */
  subAccount: boolean;
}

interface Entry<T> {
  key: string;
  label: string;
  removed?: boolean;
  value: T;
}

/** JSON with object keys sorted: PostgreSQL's jsonb does not keep key order. */
const canonical = (x: unknown): string =>
  JSON.stringify(x, (_, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
      : value,
  );
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** The keyed-section rules shared by fields, pipelines, stages, templates and checklist items. */
function section<T>(
  kind: ItemKind,
  wanted: Entry<T>[],
  previous: Map<string, T> | null,
  current: Map<string, T>,
  input: { force: boolean; previousVersion: string | null },
): PlanItem[] {
  const items: PlanItem[] = [];
  for (const w of wanted) {
    const cur = current.get(w.key);
    const prev = previous?.get(w.key);
    const item = (action: Action, reason: string | null = null) =>
      items.push({ kind, key: w.key, label: w.label, action, reason });
    if (w.removed) {
      if (cur === undefined) continue;
      if (same(cur, w.value) || (prev !== undefined && same(cur, prev)))
        item('remove', 'removed in this version');
      else if (input.force)
        item('remove', 'removed in this version; the local change is overwritten (forced)');
      else item('conflict', 'removed in this version, but changed in this account: kept');
      continue;
    }
    if (cur === undefined) {
      if (prev !== undefined && !input.force)
        item('conflict', `deleted in this account since version ${input.previousVersion}: not added back`);
      else item('add');
      continue;
    }
    if (same(cur, w.value)) {
      item('exists');
      continue;
    }
    const why =
      prev !== undefined && same(cur, prev)
        ? `changed in this version (the account has version ${input.previousVersion}'s)`
        : 'changed in this account';
    if (input.force) item('update', `${why}; overwritten (forced)`);
    else item('conflict', `${why}: kept`);
  }
  return items;
}

const fieldValue = (f: VerticalPack['fields'][number]) => ({
  label: f.label,
  type: f.type,
  options: f.options ?? [],
});

function fieldEntries(p: VerticalPack) {
  return p.fields.map((f) => ({ key: f.key, label: f.label, removed: f.removed, value: fieldValue(f) }));
}
function pipelineEntries(p: VerticalPack) {
  return p.pipelines.map((x) => ({ key: x.key, label: x.name, removed: x.removed, value: { name: x.name } }));
}
function stageEntries(p: VerticalPack) {
  // Stages of a removed pipeline go with it.
  return p.pipelines
    .filter((x) => !x.removed)
    .flatMap((x) =>
      x.stages.map((s) => ({
        key: `${x.key}.${s.key}`,
        label: `${x.name}: ${s.name}`,
        removed: s.removed,
        value: { name: s.name },
      })),
    );
}
function templateEntries(p: VerticalPack) {
  return p.emailTemplates.map((t) => ({
    key: t.key,
    label: t.name,
    removed: t.removed,
    value: { name: t.name, subject: t.subject, body: t.body },
  }));
}
function checklistEntries(p: VerticalPack) {
  return p.checklist.map((c) => ({
    key: c.key,
    label: c.title,
    removed: c.removed,
    value: { title: c.title, description: c.description ?? '' },
  }));
}
const toMap = <T>(entries: Entry<T>[]) =>
  new Map(entries.filter((e) => !e.removed).map((e) => [e.key, e.value]));

export function plan(input: PlanInput): PlanItem[] {
  const { pack, previous, state, force } = input;
  const opts = { force, previousVersion: previous?.version ?? null };
  const prev = <T>(entries: (p: VerticalPack) => Entry<T>[]) => (previous ? toMap(entries(previous)) : null);
  const items: PlanItem[] = [...section('field', fieldEntries(pack), prev(fieldEntries), state.fields, opts)];

  const previousTags = new Set(previous?.tags.filter((t) => !t.removed).map((t) => t.name) ?? []);
  for (const t of pack.tags) {
    const has = state.tags.has(t.name);
    const item = (action: Action, reason: string | null = null) =>
      items.push({ kind: 'tag', key: t.name, label: t.name, action, reason });
    if (t.removed) {
      if (has) item('remove', 'removed in this version (contacts keep it)');
    } else if (has) item('exists');
    else if (previousTags.has(t.name) && !force)
      item('conflict', `deleted in this account since version ${opts.previousVersion}: not added back`);
    else item('add');
  }

  items.push(
    ...section('pipeline', pipelineEntries(pack), prev(pipelineEntries), state.pipelines, opts),
    ...section('stage', stageEntries(pack), prev(stageEntries), state.stages, opts),
    ...section('emailTemplate', templateEntries(pack), prev(templateEntries), state.emailTemplates, opts),
    ...section('checklist', checklistEntries(pack), prev(checklistEntries), state.checklist, opts),
  );

  for (const c of pack.sampleContacts) {
    const item = (action: Action, reason: string | null = null) =>
      items.push({ kind: 'sampleContact', key: c.key, label: c.name, action, reason });
    // A value that does not fit the account's own definition of a field (a kept conflict) would be refused.
    // (Forced, the pack's definitions replace the account's, so its values fit.)
    const misfit =
      !force &&
      Object.entries(c.customFields ?? {}).find(([key, value]) => {
        const local = state.fields.get(key);
        return local && valueProblem(local as Parameters<typeof valueProblem>[0], value);
      });
    if (state.samples.has(c.key)) item('exists');
    else if (state.samplesRemoved) item('skip', 'the sample data was removed from this account');
    else if (misfit) item('skip', `its ${misfit[0]} does not fit this account's field of that name`);
    else item('add', 'marked as sample data, removable in one go');
  }

  for (const a of pack.apps) {
    const item = (action: Action, reason: string | null = null) =>
      items.push({
        kind: 'app',
        key: a.slug,
        label: state.listed.get(a.slug)?.name ?? a.slug,
        action,
        reason,
      });
    if (state.apps.has(a.slug)) item('exists');
    else if (!state.listed.has(a.slug)) item('skip', 'not in this marketplace');
    else {
      const listing = state.listed.get(a.slug)!;
      // The consent the agency gives for the sub-account: every scope the install grants, in the plan.
      const granted = [...listing.required, ...listing.optional.filter((s) => a.scopes?.includes(s))];
      if (input.subAccount)
        item(
          'add',
          `${listing.name}: installed through the agency's bulk install, granting ${granted.join(', ')}`,
        );
      else item('recommend', `${listing.name}: install it from the marketplace (it asks for your consent)`);
    }
  }

  if (pack.theme) {
    const item = (action: Action, reason: string | null) =>
      items.push({ kind: 'theme', key: 'theme', label: 'Theme colours', action, reason });
    if (state.theme && same(state.theme, pack.theme)) item('exists', null);
    else if (state.theme && !force) item('conflict', 'another theme suggestion is kept for this account');
    else item(state.theme ? 'update' : 'add', 'kept as the suggested theme');
  }
  return items;
}

/** Counts per action, for the summary line and the event. */
export function summarize(items: PlanItem[]): Record<Action, number> {
  const out: Record<Action, number> = {
    add: 0,
    exists: 0,
    conflict: 0,
    update: 0,
    remove: 0,
    skip: 0,
    recommend: 0,
  };
  for (const i of items) out[i.action]++;
  return out;
}

/** Whether applying the plan writes anything. */
export const changes = (items: PlanItem[]) =>
  items.filter((i) => i.action === 'add' || i.action === 'update' || i.action === 'remove');
