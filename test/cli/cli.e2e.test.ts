import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKLIST_KEYS } from '../../server/modules/reviews/service.ts';
import { developer } from '../helpers/apps.ts';
import { browserAgent, installByConsent } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { signInWithPlatformRole, uniqueSlug } from '../helpers/world.ts';

/**
 * The `plaza` CLI end to end against a listening Plaza, run as a developer
 * runs it (its own process, Node 24): login (approved through the API the
 * approval page calls) → app init → push → submit → a reviewer approves →
 * install in a test account → `webhooks listen` forwards a contact.created,
 * re-signed, to the starter app `app init` wrote, running on localhost, which
 * verifies it with @plaza/sdk (its /install and /callback did the install).
 */
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const cliMain = path.join(root, 'sdk/cli/src/main.ts');
const work = mkdtempSync(path.join(tmpdir(), 'plaza-cli-'));
const configDir = path.join(work, 'config');
const appDir = path.join(work, 'contact-pulse');

let plaza: PlazaServer;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  plaza = await startPlazaServer();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await plaza?.close();
});

interface Run {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** The JSON line matching `pick`, once printed. */
  line<T = any>(pick: (doc: any) => boolean, timeoutMs?: number): Promise<T>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [cliMain, ...args, '--json'], {
    cwd: work,
    env: { PATH: process.env.PATH ?? '', PLAZA_CONFIG_DIR: configDir, HOME: work },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  let rest = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    rest += d;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    async line(pick, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = lines.map((l) => JSON.parse(l)).find(pick);
        if (found) return found;
        if (child.exitCode !== null && !lines.some((l) => pick(JSON.parse(l))))
          throw new Error(`plaza ${args.join(' ')} exited ${child.exitCode}: ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `plaza ${args.join(' ')} printed no such line; stdout ${lines.join('\n')} stderr ${err}`,
      );
    },
  };
}

/** Runs a command to its end: its exit code, its JSON answer (last stdout line) and stderr. */
async function plazaCli(...args: string[]) {
  const run = start(args);
  const code = await run.exited;
  const last = run.lines.at(-1);
  return { code, doc: last ? JSON.parse(last) : undefined, stderr: run.stderr() };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** What `npm install` leaves in the app: @plaza/sdk built from this repository into its node_modules. */
function installSdk(dir: string) {
  const target = path.join(dir, 'node_modules', '@plaza', 'sdk');
  mkdirSync(target, { recursive: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(
    process.execPath,
    [tsc, '-p', path.join(root, 'sdk', 'tsconfig.build.json'), '--outDir', path.join(target, 'dist')],
    {
      stdio: 'pipe',
    },
  );
  cpSync(path.join(root, 'sdk', 'package.json'), path.join(target, 'package.json'));
}

/** `npm start` of the starter app: node --env-file=.env server.mjs. */
function startApp(dir: string) {
  const child = spawn(process.execPath, ['--env-file=.env', 'server.mjs'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return {
    child,
    output: () => out,
    printed: (text: string) => waitFor(`the app to print ${text}: ${out}`, () => out.includes(text), 20_000),
  };
}

describe('plaza CLI against a running Plaza', () => {
  it('takes a developer from init to a verified webhook on localhost', async () => {
    const dev = await developer(plaza);
    const steps: Array<{ step: string; ms: number }> = [];
    let mark = Date.now();
    const step = (name: string) => {
      const now = Date.now();
      steps.push({ step: name, ms: now - mark });
      mark = now;
    };

    // Usage mistakes and missing sign-in are told apart by exit codes.
    expect((await plazaCli('app', 'submit', '--wait', 'soon')).code).toBe(2);
    expect((await plazaCli('app', 'frobnicate')).code).toBe(2);
    expect((await plazaCli('whoami')).code).toBe(3);

    // 1. plaza login: prints the code, the person approves it in the web app, the key is saved 0600.
    const login = start(['login', '--url', plaza.baseUrl, '--no-browser']);
    const code = await login.line((d) => d.type === 'device_code');
    expect(code.verificationUri).toBe(`${plaza.baseUrl}/cli/login?code=${encodeURIComponent(code.userCode)}`);
    const shown = await dev.agent.get(`/v1/cli/device-codes/${code.userCode}`).expect(200);
    expect(shown.body.organizations).toEqual([{ id: dev.orgId, name: dev.orgName, role: 'owner' }]);
    await dev.agent
      .post(`/v1/cli/device-codes/${code.userCode}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve', organizationId: dev.orgId })
      .expect(200);
    const signedIn = await login.line((d) => d.type === 'signed_in');
    expect(await login.exited).toBe(0);
    expect(signedIn.user.email).toBe(dev.user.email);
    const credentials = path.join(configDir, 'credentials.json');
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(credentials, 'utf8')).apiKey).toMatch(/^plz_key_/);
    // The code is used up: approving it again is refused.
    await dev.agent
      .post(`/v1/cli/device-codes/${code.userCode}/decision`)
      .set('x-csrf-token', dev.csrf)
      .send({ decision: 'approve', organizationId: dev.orgId })
      .expect(409);

    const me = await plazaCli('whoami');
    expect(me.code).toBe(0);
    expect(me.doc).toMatchObject({ user: { email: dev.user.email }, organization: { id: dev.orgId } });

    // Time to value starts here: from `plaza app init` to the first verified webhook.
    const t0 = Date.now();
    mark = t0;
    const slug = uniqueSlug('pulse').slice(0, 40).replace(/-+$/, '');
    const port = await freePort();
    const init = await plazaCli(
      'app',
      'init',
      appDir,
      '--name',
      'Contact Pulse',
      '--slug',
      slug,
      '--port',
      String(port),
    );
    expect(init.code).toBe(0);
    expect(init.doc.files).toEqual(
      expect.arrayContaining(['plaza-app.json', 'server.mjs', '.env', 'assets/icon.png']),
    );
    step('plaza app init');
    installSdk(appDir);
    step('npm install (@plaza/sdk built from this repository)');

    const push = await plazaCli('app', 'push', '--dir', appDir);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    expect(push.doc).toMatchObject({ created: true, versionNumber: 1 });
    const env = Object.fromEntries(
      readFileSync(path.join(appDir, '.env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env.PLAZA_CLIENT_ID).toBe(push.doc.clientId);
    expect(env.PLAZA_CLIENT_SECRET).toMatch(/^plz_cs_/);
    step('plaza app push');

    const submit = await plazaCli('app', 'submit', '--wait', '30', '--dir', appDir);
    expect(submit.stderr).toBe('');
    expect(submit.code).toBe(0);
    expect(submit.doc.state).toBe('queued');
    expect(submit.doc.checks.every((c: { passed: boolean }) => c.passed)).toBe(true);
    const status = await plazaCli('app', 'status', '--dir', appDir);
    expect(status.doc).toMatchObject({ state: 'queued', queuePosition: expect.any(Number) });
    step('plaza app submit --wait 30 (checks ran)');

    // A reviewer approves (the part of the hour that is not the developer's).
    const reviewer = await signInWithPlatformRole(plaza, 'reviewer');
    const versionId = submit.doc.versionId;
    await reviewer.agent
      .post(`/v1/review/versions/${versionId}/claim`)
      .set('x-csrf-token', reviewer.csrf)
      .expect(200);
    await reviewer.agent
      .post(`/v1/review/versions/${versionId}/approve`)
      .set('x-csrf-token', reviewer.csrf)
      .send({ checklist: Object.fromEntries(CHECKLIST_KEYS.map((k) => [k, true])), comment: 'Welcome' })
      .expect(200);
    expect((await plazaCli('app', 'status', '--dir', appDir)).doc.state).toBe('live');
    step('reviewer approves');

    // plaza webhooks listen first: the developer puts the CLI secret it prints in .env, then starts the app.
    const listen = start([
      'webhooks',
      'listen',
      '--forward-to',
      `http://localhost:${port}/webhooks`,
      '--dir',
      appDir,
    ]);
    const ready = await listen.line((d) => d.type === 'ready');
    expect(ready.secret).toMatch(/^whsec_/);
    writeFileSync(
      path.join(appDir, '.env'),
      readFileSync(path.join(appDir, '.env'), 'utf8').replace(
        /^PLAZA_WEBHOOK_SECRET=.*$/m,
        `PLAZA_WEBHOOK_SECRET=${ready.secret}`,
      ),
    );
    const app = startApp(appDir);
    await app.printed(`on http://localhost:${port}`);
    step('plaza webhooks listen (ready) and npm start');

    // Installed in a test account through the starter app's /install and Plaza's consent pages.
    const testAccount = await dev.agent
      .post(`/v1/organizations/${dev.orgId}/test-accounts`)
      .set('x-csrf-token', dev.csrf)
      .send({ name: 'Pulse Sandbox' })
      .expect(201);
    const browser = supertest.agent(`http://localhost:${port}`);
    const toPlaza = await browser.get('/install').redirects(0).expect(302);
    const callback = await installByConsent(
      plaza,
      browserAgent(plaza),
      { url: new URL(toPlaza.headers.location), verifier: '', state: '' },
      { email: dev.user.email, password: 'correct horse battery' },
      testAccount.body.id,
    );
    expect(`${callback.origin}${callback.pathname}`).toBe(`http://localhost:${port}/callback`);
    const installed = await browser.get(callback.pathname + callback.search).expect(200);
    expect(installed.text).toBe(`Installed in ${testAccount.body.id} with contacts:read`);
    const installations = await dev.agent
      .get(`/v1/organizations/${testAccount.body.id}/installations`)
      .expect(200);
    const installationId = installations.body.data[0].id as string;
    step('install in a test account through the app');

    await dev.agent
      .post(`/v1/organizations/${testAccount.body.id}/contacts`)
      .set('x-csrf-token', dev.csrf)
      .send({ name: 'Grace Hopper', email: 'grace@example.com' })
      .expect(201);
    // The starter app verified it (else it answers 401) and logged it.
    const delivery = await listen.line((d) => d.type === 'delivery' && d.eventType === 'contact.created');
    const timeToValueMs = Date.now() - t0;
    step('contact.created verified by the app on localhost');
    expect(delivery).toMatchObject({ status: 200, installationId, answer: '{"received":"contact.created"}' });
    await app.printed(`webhook contact.created for ${testAccount.body.id}`);
    expect(app.output()).toContain('Grace Hopper');
    // The app's API call works with the installation's tokens.
    const contacts = await browser.get('/contacts').expect(200);
    expect(contacts.body.data.map((c: { name: string }) => c.name)).toEqual(['Grace Hopper']);

    // plaza webhooks trigger: a made-up event reaches the app too.
    const trigger = await plazaCli('webhooks', 'trigger', 'contact.updated', '--dir', appDir);
    expect(trigger.code).toBe(0);
    expect(trigger.doc).toMatchObject({ accountId: testAccount.body.id, installationId });
    expect(
      await listen.line((d) => d.type === 'delivery' && d.eventId === trigger.doc.eventId),
    ).toMatchObject({
      status: 200,
    });
    const notInstalled = await plazaCli('webhooks', 'trigger', 'no.such_type', '--dir', appDir);
    expect(notInstalled.code).toBe(4);
    expect(notInstalled.stderr).toContain('not an event type');

    // plaza tokens mint: a token for quick API calls.
    const minted = await plazaCli('tokens', 'mint', '--installation', installationId, '--dir', appDir);
    expect(minted.code).toBe(0);
    const accessToken = minted.doc.accessToken ?? minted.doc.access_token;
    const viaToken = await plaza.http
      .get('/v1/contacts')
      .set('authorization', `Bearer ${accessToken}`)
      .expect(200);
    expect(viaToken.body.data.map((c: { name: string }) => c.name)).toContain('Grace Hopper');

    // Pushing again after the approval starts version 2 (a draft); while a version is in review, push refuses.
    const again = await plazaCli('app', 'push', '--dir', appDir);
    expect(again.doc).toMatchObject({ created: false, appId: push.doc.appId, versionNumber: 2 });
    expect((await plazaCli('app', 'submit', '--dir', appDir)).code).toBe(0);
    const inReview = await plazaCli('app', 'push', '--dir', appDir);
    expect(inReview.code).toBe(4);
    expect(inReview.stderr).toContain('version 2 is');

    listen.child.kill('SIGINT');
    expect(await listen.exited).toBe(0);
    app.child.kill('SIGTERM');

    // plaza logout revokes the key: it no longer works, and the CLI says to sign in.
    const key = JSON.parse(readFileSync(credentials, 'utf8')).apiKey;
    expect((await plazaCli('logout')).doc).toEqual({ signedOut: true, revoked: true });
    await plaza.http.get('/v1/me').set('authorization', `Bearer ${key}`).expect(401);
    expect((await plazaCli('whoami')).code).toBe(3);

    const report = {
      developerSteps: [
        'plaza login (approve the code in the browser)',
        'plaza app init',
        'npm install',
        'plaza app push',
        'plaza app submit --wait 30',
        '(a reviewer approves)',
        'plaza webhooks listen --forward-to …, its secret into .env',
        'npm start',
        'open /install and approve in a test account',
      ],
      stepsMs: steps,
      timeToValueMs,
    };
    console.log(`CLI time to value: ${JSON.stringify(report)}`);
  }, 120_000);
});
