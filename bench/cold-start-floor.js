/**
 * The floor under a Plaza restart on embedded PGlite (bench/cold-start.ts runs it through
 * `npm start` in a folder of its own): Node starts, PGlite opens the data folder in its worker
 * exactly as Plaza opens it (server/db/pglite-worker.ts), and a bare HTTP server answers 200 once
 * PGlite has answered a first query. What a Plaza restart takes beyond this is Plaza's own code.
 */
import { createServer } from 'node:http';
import { enableCompileCache } from 'node:module';

enableCompileCache();
const { startPgliteWorker } = await import('../server/db/pglite-worker.ts');
let ready = false;
createServer((_req, res) => {
  res.statusCode = ready ? 200 : 503;
  res.end();
}).listen(Number(process.env.PORT), '127.0.0.1');
const lite = await startPgliteWorker(process.env.PLAZA_BENCH_PGDATA);
await lite.query('SELECT 1');
ready = true;
