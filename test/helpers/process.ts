import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const alive = new Set<ChildProcess>();

/** Kills (SIGKILL) every Plaza process a test started and did not see exit; call in afterEach. */
export function killLeftoverPlazas(): void {
  for (const child of alive) child.kill('SIGKILL');
  alive.clear();
}

export interface PlazaProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Base URL once the API listens. */
  url: string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Runs `server/main.ts` as a real process (the same Node that runs the tests,
 * which npm scripts pin to Node 24) and waits until its API listens.
 */
export async function spawnPlaza(
  env: Record<string, string>,
  opts: { waitForListen?: boolean } = {},
): Promise<PlazaProcess> {
  const child = spawn(process.execPath, [path.join(root, 'server/main.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  alive.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      alive.delete(child);
      resolve(code);
    }),
  );
  const proc: PlazaProcess = { child, output: () => out, url: '', exited };
  if (opts.waitForListen === false) return proc;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /"url":"(http:\/\/[^"]+)".*"msg":"Plaza API listening"/.exec(out);
    if (m) {
      proc.url = m[1];
      return proc;
    }
    if (child.exitCode !== null)
      throw new Error(`Plaza exited (${child.exitCode}) before listening:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`Plaza did not listen within 60 s:\n${out}`);
}
