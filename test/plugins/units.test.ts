import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configVariable, configVariables, parsePluginConfig } from '../../server/plugin-host/config.ts';
import { validateManifest } from '../../server/plugin-host/manifest.ts';
import { orderByRequirements } from '../../server/plugin-host/order.ts';

/** The host's pure steps, on inputs the fixtures do not cover. */
describe('ordering', () => {
  const node = (name: string, ...requires: string[]) => ({ name, requires });

  it('puts requirements first and otherwise keeps the configured order', () => {
    const { ordered } = orderByRequirements([node('c', 'a'), node('b'), node('a'), node('d', 'c', 'b')]);
    expect(ordered.map((p) => p.name)).toEqual(['a', 'c', 'b', 'd']);
  });

  it('names each cycle once, with its path, including a plugin requiring itself', () => {
    const { problems } = orderByRequirements([
      node('x', 'y'),
      node('y', 'z'),
      node('z', 'x'),
      node('s', 's'),
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      'plugins "x" -> "y" -> "z" -> "x" form a cycle',
      'plugins "s" -> "s" form a cycle',
    ]);
  });
});

describe('config', () => {
  it('maps plugin and key to one UPPER_SNAKE variable', () => {
    expect(configVariable('data-products', 'maxRows')).toBe('PLAZA_PLUGIN_DATA_PRODUCTS_MAX_ROWS');
    expect(configVariable('notes', 'apiKey2')).toBe('PLAZA_PLUGIN_NOTES_API_KEY2');
  });

  it('spots two plugins reading the same variable', () => {
    const owners = configVariables([
      { name: 'notes', schema: z.object({ digestHeading: z.string() }) },
      { name: 'notes-digest', schema: z.object({ heading: z.string() }) },
    ]);
    expect(owners.get('PLAZA_PLUGIN_NOTES_DIGEST_HEADING')).toEqual(['notes', 'notes-digest']);
  });

  it('treats an empty variable as unset, and parses booleans and enums in plain words', () => {
    const schema = z.object({ live: z.stringbool().default(false), mode: z.enum(['test', 'prod']) });
    expect(
      parsePluginConfig('pay', schema, { PLAZA_PLUGIN_PAY_LIVE: '', PLAZA_PLUGIN_PAY_MODE: 'test' }),
    ).toEqual({
      ok: true,
      value: { live: false, mode: 'test' },
    });
    const bad = parsePluginConfig('pay', schema, { PLAZA_PLUGIN_PAY_MODE: 'staging' });
    expect(bad.ok ? [] : bad.problems.map((p) => p.message)).toEqual([
      'plugin "pay": PLAZA_PLUGIN_PAY_MODE must be one of "test", "prod" (got "staging")',
    ]);
  });
});

describe('manifest validation', () => {
  const reasons = (value: unknown) => {
    const result = validateManifest(value);
    return result.ok ? [] : result.reasons;
  };

  it('explains every problem in plain words', () => {
    expect(
      reasons({
        name: 'Bad_Name',
        version: '1.0.0',
        requires: 'notes',
        config: { key: 'not a schema' },
        scopes: [{ name: 'notes', consentText: 'x', sensitivity: 'low' }],
        setup: 'later',
        sertup() {},
      }),
    ).toEqual([
      'manifest.name must be lowercase letters and digits, words joined by single hyphens, starting with a letter (got "Bad_Name")',
      'manifest.requires must be an array (got "notes")',
      'manifest.config must be a zod schema (z.object({...})) (got {"key":"not a schema"})',
      'manifest.scopes.0.name must be resource:action in lowercase (got "notes")',
      'manifest.scopes.0.sensitivity must be one of "basic", "personal", "financial" (got "low")',
      'manifest.setup must be a function (setup(ctx) { ... }) (got "later")',
      'manifest has unknown field "sertup"',
    ]);
  });

  it('refuses config keys that would not map cleanly to a variable', () => {
    expect(
      reasons({ name: 'a', version: '1.0.0', config: z.object({ max_rows: z.string() }), setup() {} }),
    ).toEqual(['manifest.config.max_rows must be a camelCase key']);
  });

  it('refuses settings without defaults and web pages it could not route', () => {
    expect(
      reasons({
        name: 'a',
        version: '1.0.0',
        settings: { schema: z.object({ plan: z.string(), seats: z.number().default(3) }), minRole: 'boss' },
        web: {
          pages: [
            { path: '/Plan', component: 'Plan.tsx', title: 'Plan', area: 'org', platformRoles: ['operator'] },
          ],
        },
        setup() {},
      }),
    ).toEqual([
      'manifest.settings.minRole must be one of "owner", "admin", "member" (got "boss")',
      'manifest.web.pages.0.path must be lowercase URL segments (plan, plans/history) (got "/Plan")',
      'manifest.web.pages.0.component must be a .vue file name in web/ (got "Plan.tsx")',
      'manifest.web.pages.0.platformRoles.0 must be one of "admin", "reviewer" (got "operator")',
    ]);
    expect(
      reasons({
        name: 'a',
        version: '1.0.0',
        settings: { schema: z.object({ plan: z.string() }) },
        setup() {},
      }),
    ).toEqual(['manifest.settings.schema fields need a default (.default(...)): plan']);
  });

  it('takes error codes under the plugin’s name or its initials, and scopes with one qualifier', () => {
    const manifest = (errors: Record<string, { status: number; title: string }>) => ({
      name: 'data-products',
      version: '1.0.0',
      errors,
      scopes: [{ name: 'data:weekly_new_contacts:read', consentText: 'x', sensitivity: 'basic' }],
      setup() {},
    });
    const ok = { status: 409, title: 'x' };
    expect(reasons(manifest({ PLAZA_DATA_PRODUCTS_GONE: ok, PLAZA_DP_BUDGET_EXHAUSTED: ok }))).toEqual([]);
    expect(reasons(manifest({ PLAZA_BILLING_GONE: ok }))).toEqual([
      'manifest.errors.PLAZA_BILLING_GONE must start with PLAZA_DATA_PRODUCTS_ or PLAZA_DP_',
    ]);
    expect(reasons({ name: 'notes', version: '1.0.0', errors: { PLAZA_N_GONE: ok }, setup() {} })).toEqual([
      'manifest.errors.PLAZA_N_GONE must start with PLAZA_NOTES_',
    ]);
    expect(
      reasons({ ...manifest({}), scopes: [{ name: 'a:b:c:read', consentText: 'x', sensitivity: 'basic' }] }),
    ).toEqual(['manifest.scopes.0.name must be resource:action in lowercase (got "a:b:c:read")']);
  });

  it('accepts a full manifest', () => {
    expect(
      reasons({
        name: 'data-products',
        version: '2.1.0-beta.1',
        requires: ['notes'],
        config: z.object({ maxRows: z.coerce.number().default(10) }),
        scopes: [{ name: 'datasets:read', consentText: 'See your datasets', sensitivity: 'personal' }],
        eventTypes: [
          { type: 'dataset.published', description: 'x', scope: 'datasets:read', payload: z.object({}) },
        ],
        migrations: 'sql',
        settings: {
          schema: z.object({ rows: z.number().int().default(10) }),
          minRole: 'owner',
          orgKinds: ['account'],
        },
        web: {
          pages: [{ path: 'datasets/all', component: 'Datasets.vue', title: 'Datasets', area: 'operator' }],
        },
        setup() {},
      }),
    ).toEqual([]);
  });
});
