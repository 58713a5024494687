import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';

/**
 * PGlite (Postgres compiled to WebAssembly) in a worker thread. Its start
 * (WebAssembly instantiation, the postgres backend's own start, the first
 * catalog reads) and every statement then run beside the main thread instead
 * of on it: on a restart the cluster opens while the server's code loads,
 * and at run time a long statement no longer stalls HTTP. The main thread
 * keeps the ordering rules (one statement at a time, transactions not
 * interleaved: server/db/index.ts); the worker runs what it is sent, in order.
 *
 * The worker is plain JavaScript evaluated from this string, so that it
 * needs no TypeScript stripping of its own.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// PGlite's own JavaScript from Node's compile cache, as on the main thread (server/main.ts).
require('node:module').enableCompileCache?.();
const plain = (err) => {
  const out = { message: String(err && err.message ? err.message : err), name: err && err.name };
  if (err && typeof err === 'object') for (const [k, v] of Object.entries(err)) if (v === undefined || typeof v !== 'function') out[k] = v;
  return out;
};
(async () => {
  let lite;
  try {
    const { PGlite } = await import(workerData.pgliteUrl);
    // BIGINT (type 20) as JS numbers, as on PostgreSQL (server/db/index.ts).
    lite = await PGlite.create(workerData.dataDir, {
      parsers: { 20: (v) => Number(v) },
      startParams: [...PGlite.defaultStartParams, ...workerData.settings.flatMap((s) => ['-c', s])],
    });
  } catch (err) {
    parentPort.postMessage({ id: 0, error: plain(err) });
    return;
  }
  parentPort.postMessage({ id: 0 });
  parentPort.on('message', async ({ id, op, text, params }) => {
    try {
      if (op === 'query') parentPort.postMessage({ id, rows: (await lite.query(text, params)).rows });
      else if (op === 'exec') { await lite.exec(text); parentPort.postMessage({ id }); }
      else if (op === 'close') { await lite.close(); parentPort.postMessage({ id }); }
    } catch (err) {
      parentPort.postMessage({ id, error: plain(err) });
    }
  });
})();
`;

/**
 * Settings for the embedded cluster on top of the data folder's postgresql.conf.
 * shared_buffers: PGlite's initdb writes 128MB. Postgres zeroes its shared
 * memory at every start, in one memset call that runs as baseline-compiled
 * WebAssembly (a single call never tiers up): 154 ms of a 500 ms PGlite start
 * at 32MB (42MB of shared memory), and about 3.5 ms per MB. 16MB (2,048 pages,
 * 24MB of shared memory) holds a small installation's hot data; a page beyond
 * it comes from the OS page cache. `npm start` of bench/cold-start-floor.js (Node,
 * PGlite in this worker, a bare HTTP server), 7 runs alternated: 1,104-1,149 ms
 * vs 1,153-1,229 at 32MB.
 */
const SETTINGS = ['shared_buffers=16MB'];

type Row = Record<string, any>;

export interface PgliteConnection {
  query(text: string, params?: unknown[]): Promise<Row[]>;
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

/** An Error on this thread with the worker's error's fields (code, detail, constraint ...). */
function revive(e: Record<string, unknown>): Error {
  const { message, name, stack: _stack, ...fields } = e;
  const err = Object.assign(new Error(String(message)), fields);
  if (typeof name === 'string' && name !== 'Error') Object.defineProperty(err, 'name', { value: name });
  return err;
}

/**
 * V8 compiles a WebAssembly function again with its optimizing compiler once it has run a while
 * (--wasm-tiering-budget, 13,000,000 by default). PGlite's start runs one function of postgres long
 * enough for that, and compiling it took 1.0-1.6 s of CPU on a V8 thread (perf: turboshaft) during
 * the first seconds, on a 2-core machine beside the main thread and the PGlite worker that a start
 * waits for. A budget 100 times larger leaves that compile to when the functions are hot under real
 * load: process CPU to the first answers 830-890 vs 1,160-1,230 ms alone; 6,000 statements a round
 * after ~8 s of load within noise of the default (Liftoff-only code, no tier-up at all, was 20-35%
 * slower). Process-wide (PGlite is the server's WebAssembly); set before the first PGlite starts.
 */
let tieringSet = false;
function deferWasmTierUp(): void {
  if (tieringSet) return;
  tieringSet = true;
  setFlagsFromString('--wasm-tiering-budget=1300000000');
}

/** Starts PGlite on `dataDir` (undefined: in memory) in a worker; resolves once it answers. */
export function startPgliteWorker(dataDir?: string): Promise<PgliteConnection> {
  deferWasmTierUp();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { dataDir, settings: SETTINGS, pgliteUrl: import.meta.resolve('@electric-sql/pglite') },
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  let closed = false;
  const failAll = (err: Error) => {
    failure ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`the PGlite worker exited (code ${code})`)));
  worker.on('message', (m: { id: number; rows?: Row[]; error?: Record<string, unknown> }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    // Idle, the worker does not keep the process alive (as PGlite in this thread did not).
    if (pending.size === 0) worker.unref();
    if (m.error) p.reject(revive(m.error));
    else p.resolve(m.rows);
  });
  const call = <T>(op: string, text?: string, params?: unknown[], id = nextId++): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure);
      pending.set(id, { resolve, reject });
      worker.ref();
      if (id !== 0) worker.postMessage({ id, op, text, params });
    });
  const connection: PgliteConnection = {
    query: (text, params) => call<Row[]>('query', text, params),
    exec: async (script) => void (await call('exec', script)),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await call('close');
      } finally {
        await worker.terminate();
      }
    },
  };
  return call<void>('ready', undefined, undefined, 0).then(
    () => connection,
    async (err: Error) => {
      await worker.terminate();
      throw err;
    },
  );
}

let early: { dataDir: string; started: Promise<PgliteConnection> } | undefined;

/**
 * Starts PGlite on `dataDir` now, for `takeEarly` to hand over: server/start.js
 * calls it first thing on a restart, before the configuration (zod) and the
 * rest of the code load.
 */
export function startEarly(dataDir: string): void {
  early = { dataDir, started: startPgliteWorker(dataDir) };
  // Awaited by whoever takes it; this keeps a failure from counting as unhandled before then.
  early.started.catch(() => {});
}

/** The PGlite started early on `dataDir`, if any; one started on another folder is closed. */
export function takeEarly(dataDir: string): Promise<PgliteConnection> | undefined {
  const taken = early;
  early = undefined;
  if (taken?.dataDir === dataDir) return taken.started;
  taken?.started.then((c) => c.close()).catch(() => {});
  return undefined;
}
