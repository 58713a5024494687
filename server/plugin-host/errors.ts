/**
 * Why the host refused to start, as stable codes (fastify-style), so tests and
 * operators can tell the reasons apart without parsing prose.
 */
export const PluginProblemCodes = {
  PLAZA_PLUGIN_NOT_FOUND: 'the plugin folder or its index.ts is missing, or it does not import',
  PLAZA_PLUGIN_MANIFEST_INVALID: 'the default export is not a valid manifest',
  PLAZA_PLUGIN_NAME_RESERVED: 'the name is taken by a core route prefix or module',
  PLAZA_PLUGIN_REQUIREMENT_MISSING: 'a required plugin is not in PLAZA_PLUGINS',
  PLAZA_PLUGIN_CYCLE: 'plugins require each other in a cycle',
  PLAZA_PLUGIN_CONFIG_INVALID: 'a PLAZA_PLUGIN_<NAME>_<KEY> variable is missing or wrong',
  PLAZA_PLUGIN_CONFLICT: 'a scope or event type is already registered by someone else',
  PLAZA_PLUGIN_MIGRATION_INVALID: 'a migration is misnamed or touches tables outside the plugin',
  PLAZA_PLUGIN_MIGRATION_FAILED: 'a migration failed to apply',
  PLAZA_PLUGIN_SETUP_FAILED: 'setup threw (or misused its context)',
} as const;

export type PluginProblemCode = keyof typeof PluginProblemCodes;

export interface PluginProblem {
  /** The plugin at fault (for a cycle: the first one in it). */
  plugin: string;
  code: PluginProblemCode;
  /** The full sentence, naming the plugin: `plugin "x": manifest.version must be semver (got "1")`. */
  message: string;
}

export const problem = (plugin: string, code: PluginProblemCode, reason: string): PluginProblem => ({
  plugin,
  code,
  message: `plugin "${plugin}": ${reason}`,
});

/** Thrown by `loadPlugins`; main.ts prints its message and exits non-zero. */
export class PluginLoadError extends Error {
  readonly problems: PluginProblem[];
  constructor(problems: PluginProblem[]) {
    super(`Plaza cannot load plugins:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`);
    this.name = 'PluginLoadError';
    this.problems = problems;
  }
}

/** Throws when a phase found problems, so later phases only ever see sound plugins. */
export function throwIfAny(problems: PluginProblem[]): void {
  if (problems.length) throw new PluginLoadError(problems);
}
