import path from 'node:path';
import ts from 'typescript';

const repo = path.resolve(import.meta.dirname, '..', '..');

/**
 * Type-checks in-memory TypeScript files (placed under test/sdk/.virtual/ so
 * relative imports of sdk/src resolve) and returns the diagnostics as
 * `file:line: message` lines; empty when everything checks.
 */
export function typecheck(files: Record<string, string>, opts: { lib?: string[] } = {}): string[] {
  const dir = path.join(repo, 'test', 'sdk', '.virtual');
  const virtual = new Map(Object.entries(files).map(([name, text]) => [path.join(dir, name), text]));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
    lib: opts.lib ?? ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    const text = virtual.get(path.resolve(name));
    if (text !== undefined) return ts.createSourceFile(name, text, languageVersion, true);
    return getSourceFile.call(host, name, languageVersion, onError, shouldCreate);
  };
  const fileExists = host.fileExists;
  host.fileExists = (name) => virtual.has(path.resolve(name)) || fileExists.call(host, name);
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (name) => path.resolve(name) === dir || (directoryExists?.(name) ?? true);
  const readFile = host.readFile;
  host.readFile = (name) => virtual.get(path.resolve(name)) ?? readFile.call(host, name);
  const program = ts.createProgram([...virtual.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file
      ? `${path.relative(repo, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
      : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
