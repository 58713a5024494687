import type { z } from 'zod';

/**
 * Plain-words messages for zod issues, used for manifests and plugin config,
 * where the reader is an operator reading a boot error, not a developer
 * reading zod's defaults ("Invalid input: expected string, received undefined").
 * Messages a schema author wrote themselves take precedence over this map.
 */
export function plainIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${article(issue.expected)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `must be at least ${issue.minimum}${unit(issue.origin)}`;
    case 'too_big':
      return `must be at most ${issue.maximum}${unit(issue.origin)}`;
    case 'invalid_format':
      return `must be ${article(issue.format)}`;
    default:
      return undefined;
  }
}

/** A short, safe rendering of a value for "(got ...)": functions and schemas are not JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return String(value);
    return json.length > 60 ? `${json.slice(0, 57)}...` : json;
  } catch {
    return typeof value;
  }
}

/** The value at a zod issue path, for "(got ...)". */
export function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let node: any = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = node[key as any];
  }
  return node;
}

const article = (what: string) => (/^[aeiou]/.test(what) ? `an ${what}` : `a ${what}`);
const unit = (origin: string) => (origin === 'string' ? ' characters' : origin === 'array' ? ' items' : '');
