import { type PluginProblem, problem } from './errors.ts';

interface Node {
  name: string;
  requires: string[];
}

/** Every requirement must itself be configured: a missing dependency fails at boot, not at run time. */
export function missingRequirements(plugins: Node[]): PluginProblem[] {
  const configured = new Set(plugins.map((p) => p.name));
  return plugins.flatMap((p) =>
    p.requires
      .filter((r) => !configured.has(r))
      .map((r) =>
        problem(p.name, 'PLAZA_PLUGIN_REQUIREMENT_MISSING', `requires "${r}", which is not in PLAZA_PLUGINS`),
      ),
  );
}

/**
 * Orders plugins so that each comes after everything it requires, otherwise
 * keeping the PLAZA_PLUGINS order (a depth-first walk in that order). A cycle
 * is reported with its path, `"a" -> "b" -> "a"`.
 */
export function orderByRequirements<T extends Node>(
  plugins: T[],
): { ordered: T[]; problems: PluginProblem[] } {
  const byName = new Map(plugins.map((p) => [p.name, p]));
  const ordered: T[] = [];
  const done = new Set<string>();
  const reported = new Set<string>();
  const problems: PluginProblem[] = [];
  const stack: string[] = [];

  const visit = (p: T): void => {
    if (done.has(p.name)) return;
    const at = stack.indexOf(p.name);
    if (at >= 0) {
      const cycle = [...stack.slice(at), p.name];
      // The same cycle is reached from each of its members; report it once.
      const key = [...new Set(cycle)].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        problems.push({
          ...problem(cycle[0], 'PLAZA_PLUGIN_CYCLE', ''),
          message: `plugins ${cycle.map((n) => `"${n}"`).join(' -> ')} form a cycle`,
        });
      }
      return;
    }
    stack.push(p.name);
    for (const r of p.requires) {
      const dep = byName.get(r);
      if (dep) visit(dep);
    }
    stack.pop();
    if (!done.has(p.name)) {
      done.add(p.name);
      ordered.push(p);
    }
  };
  for (const p of plugins) visit(p);
  return { ordered, problems };
}
