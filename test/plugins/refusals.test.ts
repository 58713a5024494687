import { afterAll, describe, expect, it } from 'vitest';
import { dropSharedDatabase, refusal } from './harness.ts';

/**
 * Each broken fixture must stop the boot with a PluginLoadError whose message
 * starts with "Plaza cannot load plugins:" and names the plugin and the reason
 * (main.ts prints that message and exits non-zero).
 */
afterAll(() => dropSharedDatabase());

const tableExists = async (db: { maybeOne: (sql: string) => Promise<unknown> }, table: string) =>
  Boolean(await db.maybeOne(`SELECT 1 FROM pg_tables WHERE tablename = '${table}'`));

describe('Plaza refuses to start', () => {
  it('when a manifest is invalid, before any plugin writes to the database', async () => {
    const { error } = await refusal(
      { PLAZA_PLUGINS: 'notes,bad-manifest', PLAZA_PLUGIN_NOTES_SIGNATURE: 'x' },
      async (db) => {
        expect(await tableExists(db, 'notes_items')).toBe(false);
      },
    );
    expect(error.message).toBe(
      'Plaza cannot load plugins:\n  - plugin "bad-manifest": manifest.version must be semver (got "1")',
    );
    expect(error.problems).toEqual([
      expect.objectContaining({ plugin: 'bad-manifest', code: 'PLAZA_PLUGIN_MANIFEST_INVALID' }),
    ]);
  });

  it('when a web page names a file the plugin does not have', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'lost-page' });
    expect(error.message).toBe(
      'Plaza cannot load plugins:\n  - plugin "lost-page": web page "lost" names web/LostPage.vue, which does not exist',
    );
  });

  it('when a listed plugin has no folder', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'nowhere' });
    expect(error.message).toMatch(
      /^Plaza cannot load plugins:\n {2}- plugin "nowhere": no .*nowhere\/index\.ts/,
    );
    expect(error.problems[0].code).toBe('PLAZA_PLUGIN_NOT_FOUND');
  });

  it('when a listed name tries to leave the plugins folder', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: '../notes' });
    expect(error.message).toContain('plugin "../notes": is not a plugin folder name');
  });

  it('when a requirement is not configured', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'needs-ghost' });
    expect(error.message).toContain('plugin "needs-ghost": requires "ghost", which is not in PLAZA_PLUGINS');
    expect(error.problems[0].code).toBe('PLAZA_PLUGIN_REQUIREMENT_MISSING');
  });

  it('when plugins require each other in a cycle', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'cycle-a,cycle-b' });
    expect(error.message).toBe(
      'Plaza cannot load plugins:\n  - plugins "cycle-a" -> "cycle-b" -> "cycle-a" form a cycle',
    );
    expect(error.problems[0]).toMatchObject({ plugin: 'cycle-a', code: 'PLAZA_PLUGIN_CYCLE' });
  });

  it('when a config value is wrong, naming the variable', async () => {
    const { error } = await refusal({
      PLAZA_PLUGINS: 'notes',
      PLAZA_PLUGIN_NOTES_SIGNATURE: 'x',
      PLAZA_PLUGIN_NOTES_MAX_TITLE_LENGTH: 'lots',
    });
    expect(error.message).toContain(
      'plugin "notes": PLAZA_PLUGIN_NOTES_MAX_TITLE_LENGTH must be a number (got "lots")',
    );
    expect(error.problems[0].code).toBe('PLAZA_PLUGIN_CONFIG_INVALID');
  });

  it('when a required config value is missing, naming the variable and warning about a misspelt one', async () => {
    const { error, lines } = await refusal({ PLAZA_PLUGINS: 'notes', PLAZA_PLUGIN_NOTE_SIGNATURE: 'typo' });
    expect(error.message).toContain('plugin "notes": PLAZA_PLUGIN_NOTES_SIGNATURE is required');
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, variables: ['PLAZA_PLUGIN_NOTE_SIGNATURE'] }),
    );
  });

  it('when setup throws, after stopping what was already set up', async () => {
    const { error, lines } = await refusal({ PLAZA_PLUGINS: 'setup-throws' });
    expect(error.message).toBe(
      'Plaza cannot load plugins:\n  - plugin "setup-throws": setup failed: cannot reach the billing provider',
    );
    expect(error.problems[0].code).toBe('PLAZA_PLUGIN_SETUP_FAILED');
    expect(lines).toContainEqual(
      expect.objectContaining({ plugin: 'setup-throws', msg: 'setup-throws stopped' }),
    );
  });

  it('when setup subscribes to events of a plugin it does not require', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'notes,peeker', PLAZA_PLUGIN_NOTES_SIGNATURE: 'x' });
    expect(error.message).toContain(
      'plugin "peeker": setup failed: cannot subscribe to "notes.item_created" of plugin:notes: add "notes" to requires',
    );
  });

  it('when the name collides with a core route prefix', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'organizations' });
    expect(error.message).toContain(
      'plugin "organizations": the name is reserved by core (its routes would live under /v1/organizations, where core routes are); rename the plugin',
    );
    expect(error.problems[0].code).toBe('PLAZA_PLUGIN_NAME_RESERVED');
  });

  it('when the folder and the manifest name differ', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'misnamed' });
    expect(error.message).toContain(
      'plugin "misnamed": manifest.name is "renamed" but the folder is "misnamed"; they must be the same',
    );
  });

  it('when a migration touches a table that is not the plugin’s, before running any', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'foreign-table' }, async (db) => {
      expect(await tableExists(db, 'foreign_table_things')).toBe(false);
    });
    expect(error.message).toContain(
      'plugin "foreign-table": migration 001_reach_in.sql alters table "organizations"; a plugin may only touch its own tables, named foreign_table_...',
    );
    expect(error.problems).toHaveLength(1);
  });

  it('listing every broken plugin at once', async () => {
    const { error } = await refusal({ PLAZA_PLUGINS: 'bad-manifest,misnamed,organizations' });
    expect(error.problems.map((p) => p.plugin)).toEqual(['bad-manifest', 'misnamed', 'organizations']);
  });
});
