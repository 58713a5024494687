import { isNode, parseDocument, visit, type YAMLError } from 'yaml';

/**
 * Packs may be written in YAML (easier to hand-edit than JSON: comments,
 * multi-line email bodies). Only the part of YAML that maps onto JSON is
 * accepted: one document, the core schema (no YAML 1.1 dates or binaries),
 * no explicit tags (`!!js/function`, `!custom`), no merge keys, no repeated
 * keys, and few aliases, so a "billion laughs" document cannot blow up into
 * gigabytes when it is turned into plain data.
 */
const MAX_ALIASES = 20;

export interface YamlProblem {
  line: number;
  column: number;
  message: string;
}

export type YamlResult = { ok: true; value: unknown } | { ok: false; problem: YamlProblem };

export function parsePackYaml(text: string): YamlResult {
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: true,
    stringKeys: true,
  });
  // Warnings (an unresolved tag, for one) are refused too: a pack is plain data.
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) return { ok: false, problem: fromError(first) };
  let tagged: YamlProblem | undefined;
  visit(doc, (_key, node) => {
    if (isNode(node) && node.tag && !tagged) {
      tagged = { ...position(text, node.range?.[0] ?? 0), message: `tags are not allowed (${node.tag})` };
      return visit.BREAK;
    }
  });
  if (tagged) return { ok: false, problem: tagged };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIASES }) };
  } catch (err) {
    // toJS throws (a ReferenceError) when aliases expand beyond maxAliasCount.
    return {
      ok: false,
      problem: {
        line: 1,
        column: 1,
        message: `too many aliases (at most ${MAX_ALIASES}): ${(err as Error).message}`,
      },
    };
  }
}

/** "line 3, column 7: <reason>", as a 400 names it. */
export const describeProblem = (p: YamlProblem) => `line ${p.line}, column ${p.column}: ${p.message}`;

function fromError(err: YAMLError): YamlProblem {
  const at = err.linePos?.[0];
  // The message repeats the position and a source excerpt after the first line; keep the reason.
  const message =
    err.code === 'MULTIPLE_DOCS'
      ? 'a pack is one YAML document (no second ---)'
      : err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  return { line: at?.line ?? 1, column: at?.col ?? 1, message };
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}
