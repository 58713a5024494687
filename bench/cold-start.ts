/**
 * Cold start: from spawning `npm start` to the first 200 from /readyz, on
 * embedded PGlite (fresh data folder: migrations and demo seed included; then
 * a restart on the folder that start left) and on PostgreSQL + Redis, median
 * of 3 each. A new PGlite folder is copied from a template cluster with the
 * core migrations applied, made once per machine and migration set
 * (server/db/pglite-template.ts), and with the demo on (the default) from a
 * template that also has the demo data (server/seed/template.ts): the bench
 * makes sure both exist first, as any start after the very first on a machine
 * (or in the Docker image) finds them. The baseline, measured in the same
 * run, is a bare Node HTTP server answering its first request: the floor any
 * Node service pays. The restart's own floor is measured too: `npm start` of
 * bench/cold-start-floor.js (npm, Node, PGlite opening the same folder the way
 * Plaza opens it, a bare HTTP server); the restart minus it is Plaza's part.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../server/config.ts';
import { ensureTemplate } from '../server/db/pglite-template.ts';
import { coreMigrationSources } from '../server/modules/index.ts';
import { ensureDemoTemplate } from '../server/seed/template.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let nextPort = 3900;

async function timeToReady(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  url: string,
  cwd = root,
): Promise<number> {
  const started = performance.now();
  // Its own process group, so that stopping it also stops the node process `npm start` spawns.
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: 'ignore',
    detached: true,
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited with ${child.exitCode}`);
      const ok = await fetch(url).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
    // npm exits on the signal while the server it started still drains and closes its database
    // (about 3.5 s): the next start on the same data folder waits for the whole group to be gone.
    const gone = Date.now() + 30_000;
    while (groupAlive(child.pid!) && Date.now() < gone) await new Promise((r) => setTimeout(r, 20));
    // Said, not thrown: a throw here would hide the error that brought the run here.
    if (groupAlive(child.pid!)) console.error(`${cmd} ${args.join(' ')}: still running 30 s after SIGTERM`);
  }
}

/** `npm start` in `cwd` on a port of its own, until `readyPath` answers 200. */
function npmStart(env: Record<string, string>, readyPath: string, cwd = root): Promise<number> {
  const port = nextPort++;
  return timeToReady(
    'npm',
    ['start', '--silent'],
    { ...env, PORT: String(port) },
    `http://127.0.0.1:${port}${readyPath}`,
    cwd,
  );
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(label: string, once: () => Promise<number>) {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await once());
  return { label, median: median(times), times };
}

await ensureTemplate(coreMigrationSources());
// Likewise the demo template (server/seed/template.ts), for the configuration the starts below use.
await ensureDemoTemplate(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), coreMigrationSources());

const baseline = await measure('bare node http server', () => {
  const port = nextPort++;
  return timeToReady(
    process.execPath,
    ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
    {},
    `http://127.0.0.1:${port}/`,
  );
});

// `npm start` of a package whose start script is bench/cold-start-floor.js: npm, Node, PGlite opening
// the folder as Plaza opens it and a bare HTTP server, without any of Plaza's own code.
const floorPackage = mkdtempSync(path.join(tmpdir(), 'plaza-bench-floor-'));
writeFileSync(
  path.join(floorPackage, 'package.json'),
  JSON.stringify({
    private: true,
    scripts: { start: `"${process.execPath}" "${path.join(root, 'bench', 'cold-start-floor.js')}"` },
  }),
);

// Each run: a first start on a new data folder, a restart on the folder it left, then the floor
// under that restart on the same folder.
const restarts: number[] = [];
const floors: number[] = [];
const pglite = await measure('npm start, embedded PGlite, first start', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'plaza-bench-'));
  const start = () => npmStart({ PLAZA_DATA_DIR: dir, LOG_LEVEL: 'warn' }, '/readyz');
  try {
    const first = await start();
    restarts.push(await start());
    floors.push(await npmStart({ PLAZA_BENCH_PGDATA: path.join(dir, 'pgdata') }, '/', floorPackage));
    return first;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
const pgliteRestart = {
  label: 'npm start, embedded PGlite, restart',
  median: median(restarts),
  times: restarts,
};

const floor = {
  label: 'floor of a restart: npm + Node + PGlite + bare HTTP',
  median: median(floors),
  times: floors,
};
rmSync(floorPackage, { recursive: true, force: true });

const results = [baseline, pglite, pgliteRestart, floor];
const admin = new pg.Client({ connectionString: ADMIN_URL });
const pgUp = await admin.connect().then(
  () => true,
  () => false,
);
if (pgUp) {
  results.push(
    await measure('npm start, PostgreSQL + Redis, fresh database', async () => {
      const name = `plaza_bench_${Date.now()}`;
      await admin.query(`CREATE DATABASE ${name}`);
      try {
        return await npmStart(
          {
            DATABASE_URL: ADMIN_URL.replace(/\/[^/]*$/, `/${name}`),
            REDIS_URL: process.env.PLAZA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
            REDIS_PREFIX: name,
            PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-bench-')),
            LOG_LEVEL: 'warn',
          },
          '/readyz',
        );
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    }),
  );
  await admin.end();
}

console.log(`cold start to first 200, median of ${RUNS} (ratio vs ${baseline.label})`);
for (const r of results) {
  console.log(
    `  ${r.label.padEnd(52)} ${r.median.toFixed(0).padStart(6)} ms   ${(r.median / baseline.median).toFixed(1).padStart(6)}x   runs: ${r.times.map((t) => t.toFixed(0)).join(', ')}`,
  );
}
console.log(
  `  Plaza's own part of a restart (restart - floor, per run): ${restarts.map((t, i) => (t - floors[i]).toFixed(0)).join(', ')} ms`,
);
