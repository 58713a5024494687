#!/usr/bin/env node
/**
 * plaza: the Plaza developer CLI. `plaza --help` lists the commands; each
 * takes --help. Exit codes are in README.md (and support.ts EXIT).
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  imageType,
  MANIFEST_FILE,
  readManifest,
  readState,
  requireState,
  setEnv,
  slugify,
  writeStarter,
  writeState,
} from './project.ts';
import {
  type ApiClient,
  apiClient,
  CliError,
  configDir,
  EXIT,
  readCredentials,
  removeCredentials,
  saveCredentials,
  signedInClient,
} from './support.ts';

type Flags = Record<string, string | boolean | undefined>;
interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  json: boolean;
  /** One JSON document (or, for streaming commands, one per line). */
  emit: (doc: unknown, human: string) => void;
}
interface Command {
  name: string;
  summary: string;
  usage: string;
  help: string;
  options?: Record<string, { type: 'string' | 'boolean'; short?: string; describe: string }>;
  run(args: string[], flags: Flags, io: Io): Promise<void>;
}

const COMMON = {
  url: {
    type: 'string',
    describe: 'Plaza base URL (default: the one you signed in to, PLAZA_URL, http://localhost:3000)',
  },
  json: {
    type: 'boolean',
    describe: 'machine-readable output (JSON; one JSON document per line for streams)',
  },
  help: { type: 'boolean', short: 'h', describe: 'show this help' },
} as const;
const PROJECT = {
  dir: { type: 'string', describe: 'the app project directory (default: the current directory)' },
  app: {
    type: 'string',
    describe: 'the app id (default: the one `plaza app push` linked in .plaza/state.json)',
  },
} as const;

const DEFAULT_URL = 'http://localhost:3000';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- auth ------------------------------------------------------------------------

const login: Command = {
  name: 'login',
  summary: 'sign in through the browser; saves a personal API key',
  usage: 'plaza login [--url <plaza>] [--no-browser]',
  help: 'Prints a URL and a code (and opens the browser when it can). Approve the code in Plaza for one of your developer organizations; the CLI then saves a personal API key in your config directory (0600).',
  options: { 'no-browser': { type: 'boolean', describe: 'only print the URL, do not open a browser' } },
  async run(_args, flags, io) {
    const plazaUrl = String(flags.url ?? process.env.PLAZA_URL ?? DEFAULT_URL);
    const api = apiClient({ plazaUrl });
    const start = await api.post<{
      deviceCode: string;
      userCode: string;
      verificationUri: string;
      verificationUriComplete: string;
      expiresIn: number;
      interval: number;
    }>('/v1/cli/device-codes', { clientName: `plaza CLI on ${hostname()}`.slice(0, 80) });
    io.emit(
      { type: 'device_code', userCode: start.userCode, verificationUri: start.verificationUriComplete },
      `Open ${start.verificationUriComplete}\nand check that it shows the code ${start.userCode}. Waiting for approval...`,
    );
    if (!flags['no-browser'] && process.stdout.isTTY) openBrowser(start.verificationUriComplete);
    const deadline = Date.now() + start.expiresIn * 1000;
    while (Date.now() < deadline) {
      await sleep(start.interval * 1000);
      const state = await api.post<any>('/v1/cli/device-codes/poll', { deviceCode: start.deviceCode });
      if (state.status === 'pending') continue;
      if (state.status === 'denied') throw new CliError(EXIT.auth, 'the sign-in was denied in the browser');
      if (state.status === 'expired') break;
      const file = await saveCredentials({
        plazaUrl: api.base,
        apiKey: state.apiKey,
        keyId: state.keyId,
        organization: state.organization,
        user: state.user,
        savedAt: new Date().toISOString(),
      });
      io.emit(
        { type: 'signed_in', user: state.user, organization: state.organization, credentials: file },
        `Signed in as ${state.user.email} in ${state.organization.name}. API key saved to ${file}`,
      );
      return;
    }
    throw new CliError(EXIT.auth, 'the sign-in code expired before it was approved', {
      hint: 'run `plaza login` again',
    });
  },
};

const whoami: Command = {
  name: 'whoami',
  summary: 'who the saved API key acts as',
  usage: 'plaza whoami',
  help: 'Asks Plaza who the saved API key belongs to and in which developer organization it acts.',
  async run(_args, flags, io) {
    const { creds, api } = await signedInClient(flags as { url?: string });
    const me = await api.get<{ user: { id: string; email: string; name: string } }>('/v1/me');
    io.emit(
      { user: me.user, organization: creds.organization, plazaUrl: api.base },
      `${me.user.name} <${me.user.email}> in ${creds.organization.name} (${creds.organization.id}) on ${api.base}`,
    );
  },
};

const logout: Command = {
  name: 'logout',
  summary: 'revoke the saved API key and forget it',
  usage: 'plaza logout',
  help: 'Revokes the API key in Plaza and deletes it from your config directory.',
  async run(_args, flags, io) {
    const creds = await readCredentials();
    if (!creds) {
      io.emit({ signedOut: true, revoked: false }, 'Not signed in.');
      return;
    }
    let revoked = true;
    try {
      const { api } = await signedInClient(flags as { url?: string });
      await api.delete(`/v1/organizations/${creds.organization.id}/api-keys/${creds.keyId}`);
    } catch (err) {
      // Already revoked or Plaza unreachable: forget it locally all the same, and say so.
      revoked = false;
      io.err(`warning: the key was not revoked in Plaza: ${(err as Error).message}`);
    }
    await removeCredentials();
    io.emit({ signedOut: true, revoked }, `Signed out${revoked ? ' (API key revoked)' : ''}.`);
  },
};

// ---- apps --------------------------------------------------------------------------

const appInit: Command = {
  name: 'app init',
  summary: 'write a starter app (SDK, OAuth callback, verified webhooks)',
  usage: 'plaza app init [dir] [--name <name>] [--slug <slug>] [--port 3001]',
  help: `Writes a starter app into dir (default: ./my-plaza-app): ${MANIFEST_FILE}, server.mjs (install flow, an API call, a webhook receiver that verifies signatures), placeholder icon and screenshot, .env.`,
  options: {
    name: { type: 'string', describe: 'the app name (default: from the directory)' },
    slug: { type: 'string', describe: 'the marketplace address (default: from the name)' },
    port: { type: 'string', describe: 'local port of the app (default 3001)' },
  },
  async run(args, flags, io) {
    const dir = path.resolve(args[0] ?? 'my-plaza-app');
    const name = String(flags.name ?? titleCase(path.basename(dir)));
    const slug = String(flags.slug ?? slugify(name));
    if (!/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/.test(slug))
      throw new CliError(
        EXIT.usage,
        `"${slug}" cannot be an app address (3-40 of a-z, 0-9, -; starts with a letter)`,
        {
          hint: 'pass --slug',
        },
      );
    const port = Number(flags.port ?? 3001);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new CliError(EXIT.usage, '--port must be a port number');
    const creds = await readCredentials();
    const plazaUrl = String(flags.url ?? process.env.PLAZA_URL ?? creds?.plazaUrl ?? DEFAULT_URL);
    const files = await writeStarter(dir, { name, slug, plazaUrl, port });
    io.emit(
      { dir, name, slug, files },
      [
        `Wrote ${name} to ${dir}:`,
        ...files.map((f) => `  ${f}`),
        '',
        'Next:',
        `  cd ${path.relative(process.cwd(), dir) || '.'} && npm install`,
        '  plaza app push',
        `  plaza webhooks listen --forward-to http://localhost:${port}/webhooks`,
      ].join('\n'),
    );
  },
};

interface AppDetail {
  id: string;
  slug: string;
  name: string;
  clientId: string;
  liveVersion: { id: string; number: number; state: string } | null;
  openVersion: { id: string; number: number; state: string } | null;
}

async function projectApp(flags: Flags) {
  const dir = path.resolve(String(flags.dir ?? '.'));
  const { creds, api } = await signedInClient(flags as { url?: string });
  const state = flags.app ? undefined : await requireState(dir);
  const appId = String(flags.app ?? state!.appId);
  const orgId = state?.organizationId ?? creds.organization.id;
  const base = `/v1/organizations/${orgId}/apps/${appId}`;
  return { dir, api, creds, appId, orgId, base };
}

const appPush: Command = {
  name: 'app push',
  summary: `create or update the app from ${MANIFEST_FILE} (manifest, icon, screenshots)`,
  usage: 'plaza app push [--dir <dir>]',
  help: `Creates the app in your developer organization the first time (its client id and secret go to .env, the link to .plaza/state.json), then uploads the icon and screenshots and imports the manifest into the version you are editing (a new draft when the last one is live or in review).`,
  options: { dir: PROJECT.dir },
  async run(_args, flags, io) {
    const dir = path.resolve(String(flags.dir ?? '.'));
    const manifest = await readManifest(dir);
    const { creds, api } = await signedInClient(flags as { url?: string });
    let state = await readState(dir);
    const orgBase = `/v1/organizations/${state?.organizationId ?? creds.organization.id}/apps`;
    let created = false;
    let versionId: string;
    if (!state) {
      const res = await api.post<{ app: AppDetail; version: { id: string }; clientSecret: string }>(orgBase, {
        name: manifest.version.name,
        slug: manifest.slug,
        tagline: manifest.version.tagline ?? '',
      });
      state = {
        plazaUrl: api.base,
        organizationId: creds.organization.id,
        appId: res.app.id,
        clientId: res.app.clientId,
      };
      await writeState(dir, state);
      await setEnv(dir, {
        PLAZA_URL: api.base,
        PLAZA_CLIENT_ID: res.app.clientId,
        PLAZA_CLIENT_SECRET: res.clientSecret,
      });
      versionId = res.version.id;
      created = true;
    } else {
      const app = await api.get<AppDetail>(`${orgBase}/${state.appId}`);
      const open = app.openVersion;
      if (open && ['draft', 'changes_requested'].includes(open.state)) versionId = open.id;
      else if (open)
        throw new CliError(EXIT.refused, `version ${open.number} is ${open.state}: it cannot change now`, {
          hint: 'wait for the review, or withdraw it in the web app, then push again',
        });
      else versionId = (await api.post<{ id: string }>(`${orgBase}/${state.appId}/versions`)).id;
    }
    const vBase = `${orgBase}/${state.appId}/versions/${versionId}`;
    const assets: { iconAssetId?: string | null; screenshotAssetIds?: string[] } = {};
    if (manifest.icon) {
      const bytes = await readAsset(dir, manifest.icon);
      const v = await api.upload<{ icon: { id: string } }>(
        'PUT',
        `${vBase}/icon`,
        bytes,
        imageType(manifest.icon, bytes),
      );
      assets.iconAssetId = v.icon.id;
    }
    if (manifest.screenshots) {
      assets.screenshotAssetIds = [];
      for (const file of manifest.screenshots) {
        const bytes = await readAsset(dir, file);
        const v = await api.upload<{ screenshots: Array<{ id: string }> }>(
          'POST',
          `${vBase}/screenshots`,
          bytes,
          imageType(file, bytes),
        );
        assets.screenshotAssetIds.push(v.screenshots.at(-1)!.id);
      }
    }
    const { icon: _i, screenshots: _s, ...doc } = manifest;
    const version = await api.put<{ id: string; number: number; state: string }>(`${vBase}/manifest`, {
      ...doc,
      assets: {
        iconAssetId: assets.iconAssetId ?? null,
        screenshotAssetIds: assets.screenshotAssetIds ?? [],
      },
    });
    io.emit(
      {
        created,
        appId: state.appId,
        clientId: state.clientId,
        versionId: version.id,
        versionNumber: version.number,
      },
      [
        created
          ? `Created ${manifest.version.name} (${state.appId}); client id and secret saved to .env`
          : `Updated ${manifest.version.name} (${state.appId})`,
        `Version ${version.number} (${version.state}): manifest, icon and ${assets.screenshotAssetIds?.length ?? 0} screenshot(s) uploaded.`,
        'Next: plaza app submit --wait 60',
      ].join('\n'),
    );
  },
};

async function readAsset(dir: string, file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path.resolve(dir, file)));
  } catch {
    throw new CliError(EXIT.project, `cannot read ${file} (named in ${MANIFEST_FILE})`);
  }
}

interface VersionStatus {
  versionId: string;
  number: number;
  state: string;
  checks: Array<{ check: string; title: string; passed: boolean; reason: string }>;
  queuePosition: number | null;
  queueLength: number;
  target: { businessDays: number; dueAt: string | null };
  decision: { outcome: string; notes: Array<{ field: string; note: string }>; comment: string | null } | null;
  statusUrl?: string;
}

function describeStatus(s: VersionStatus): string {
  const lines = [`Version ${s.number}: ${s.state}`];
  for (const c of s.checks) lines.push(`  ${c.passed ? 'ok  ' : 'FAIL'} ${c.title}: ${c.reason}`);
  if (s.state === 'checking')
    lines.push('  the automated checks are running (plaza app status to look again)');
  if (s.queuePosition)
    lines.push(
      `  queue position ${s.queuePosition} of ${s.queueLength}${s.target.dueAt ? `, review due by ${s.target.dueAt}` : ''}`,
    );
  if (s.decision) {
    lines.push(`  decision: ${s.decision.outcome}${s.decision.comment ? ` (${s.decision.comment})` : ''}`);
    for (const n of s.decision.notes) lines.push(`    ${n.field}: ${n.note}`);
  }
  return lines.join('\n');
}

async function openVersionId(api: ApiClient, base: string): Promise<string> {
  const app = await api.get<AppDetail>(base);
  const v = app.openVersion ?? app.liveVersion;
  if (!v) throw new CliError(EXIT.project, 'this app has no version yet', { hint: 'run `plaza app push`' });
  return v.id;
}

const appSubmit: Command = {
  name: 'app submit',
  summary: 'submit the version for review (automated checks, then a reviewer)',
  usage: 'plaza app submit [--wait <seconds>] [--dir <dir> | --app <appId>]',
  help: 'Submits the version you are editing. The automated checks run as a job: --wait waits for them (at most 60 s) and shows their results; otherwise `plaza app status` shows them.',
  options: {
    wait: { type: 'string', describe: 'seconds to wait for the automated checks (0-60)' },
    ...PROJECT,
  },
  async run(_args, flags, io) {
    const wait = Number(flags.wait ?? 0);
    if (!Number.isInteger(wait) || wait < 0 || wait > 60)
      throw new CliError(EXIT.usage, '--wait takes 0 to 60 seconds');
    const { api, base } = await projectApp(flags);
    const versionId = await openVersionId(api, base);
    const status = await api.post<VersionStatus>(`${base}/versions/${versionId}/submit?wait=${wait}`);
    const failed = status.checks.some((c) => !c.passed);
    io.emit(status, describeStatus(status));
    if (failed)
      throw new CliError(EXIT.refused, 'the automated checks failed: fix the version and push again');
  },
};

const appStatus: Command = {
  name: 'app status',
  summary: 'review state, automated checks, queue position, review notes',
  usage: 'plaza app status [--dir <dir> | --app <appId>]',
  help: 'Shows the review status of the version you are editing (or the live one).',
  options: { ...PROJECT },
  async run(_args, flags, io) {
    const { api, base } = await projectApp(flags);
    const versionId = await openVersionId(api, base);
    const status = await api.get<VersionStatus>(`${base}/versions/${versionId}/status`);
    io.emit(status, describeStatus(status));
  },
};

// ---- webhooks ----------------------------------------------------------------------

/** The CLI's signing secret for an app: made once, kept in the config directory, printed on every listen. */
async function cliSecret(appId: string): Promise<string> {
  const file = path.join(configDir(), 'webhook-secrets.json');
  let all: Record<string, string> = {};
  try {
    all = JSON.parse(await readFile(file, 'utf8'));
  } catch {}
  if (!all[appId]) {
    all[appId] = `whsec_${randomBytes(24).toString('base64')}`;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  }
  return all[appId];
}

/** Standard Webhooks: HMAC-SHA256 of `${id}.${timestamp}.${body}` under the base64 key after `whsec_`. */
export function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

interface StreamMessage {
  id: string;
  eventId: string;
  type: string;
  accountId: string | null;
  installationId: string | null;
  body: string | null;
  tooLarge?: boolean;
}

const webhooksListen: Command = {
  name: 'webhooks listen',
  summary: "forward the app's webhooks to a local URL while it runs",
  usage: 'plaza webhooks listen --forward-to <url> [--events a,b] [--dir <dir> | --app <appId>]',
  help: "Streams the webhook messages of your app's installations from Plaza (no public URL or tunnel needed), signs each with the CLI secret it prints (Standard Webhooks, so @plaza/sdk's verifyWebhook accepts it) and POSTs it to --forward-to, showing Plaza's event and your server's answer. Stop with Ctrl-C.",
  options: {
    'forward-to': { type: 'string', describe: 'the local URL that receives the webhooks' },
    events: { type: 'string', describe: 'only these event types (comma separated)' },
    ...PROJECT,
  },
  async run(_args, flags, io) {
    const forwardTo = flags['forward-to'];
    if (typeof forwardTo !== 'string') throw new CliError(EXIT.usage, 'missing --forward-to <url>');
    let target: URL;
    try {
      target = new URL(forwardTo);
    } catch {
      throw new CliError(EXIT.usage, `--forward-to ${forwardTo} is not a URL`);
    }
    const only =
      typeof flags.events === 'string' ? new Set(flags.events.split(',').map((s) => s.trim())) : undefined;
    const { api, base, appId } = await projectApp(flags);
    const secret = await cliSecret(appId);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let announced = false;
    let failures = 0;
    try {
      while (!stop.signal.aborted) {
        try {
          const res = await api.stream(`${base}/webhooks/stream`, stop.signal);
          failures = 0;
          for await (const ev of serverSentEvents(res)) {
            if (ev.event === 'ready') {
              const ready = JSON.parse(ev.data);
              if (!announced)
                io.emit(
                  { type: 'ready', appId: ready.appId, secret, forwardTo: target.href },
                  `Ready! Forwarding ${ready.appName}'s webhooks to ${target.href}\nYour webhook signing secret is ${secret} (Ctrl-C to quit)`,
                );
              announced = true;
            } else if (ev.event === 'message') {
              const m = JSON.parse(ev.data) as StreamMessage;
              if (only && !only.has(m.type)) continue;
              await forward(m, target, secret, io);
            }
          }
        } catch (err) {
          if (stop.signal.aborted) break;
          // Refusals (auth, not found) end the command; a dropped stream is reopened.
          if (err instanceof CliError && err.exitCode !== EXIT.unavailable) throw err;
          failures++;
          if (failures > 5) throw err;
          io.err(`stream interrupted (${(err as Error).message}); reconnecting...`);
          await sleep(Math.min(1000 * 2 ** failures, 10_000));
        }
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

async function forward(m: StreamMessage, target: URL, secret: string, io: Io) {
  const at = new Date().toISOString().slice(11, 19);
  if (m.tooLarge || m.body === null) {
    io.emit(
      { type: 'skipped', messageId: m.id, eventType: m.type, reason: 'too large for the stream' },
      `${at}  ${m.type} [${m.eventId}] too large for the stream: not forwarded`,
    );
    return;
  }
  const timestamp = Math.floor(Date.now() / 1000);
  const started = performance.now();
  let status: number | null = null;
  let answer = '';
  let error: string | undefined;
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Plaza-CLI/0.1',
        'webhook-id': m.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandardWebhook(secret, m.id, timestamp, m.body),
      },
      body: m.body,
      signal: AbortSignal.timeout(15_000),
    });
    status = res.status;
    answer = (await res.text()).slice(0, 200);
  } catch (err) {
    error = (err as Error).cause ? String((err as Error).cause) : (err as Error).message;
  }
  const ms = Math.round(performance.now() - started);
  io.emit(
    {
      type: 'delivery',
      messageId: m.id,
      eventId: m.eventId,
      eventType: m.type,
      installationId: m.installationId,
      status,
      ms,
      answer,
      error,
    },
    `${at}  --> ${m.type} [${m.eventId}]  <-- ${status ?? 'no answer'} ${error ?? answer.replace(/\s+/g, ' ').slice(0, 80)} (${ms} ms)`,
  );
}

/** Parses a text/event-stream body into events (event name and data). */
async function* serverSentEvents(res: Response): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield { event, data: data.join('\n') };
      cut = buffer.indexOf('\n\n');
    }
  }
  throw new CliError(EXIT.unavailable, 'Plaza closed the stream');
}

const webhooksTrigger: Command = {
  name: 'webhooks trigger',
  summary: 'send a test event into one of your test accounts',
  usage: 'plaza webhooks trigger <event-type> [--installation <id>] [--dir <dir> | --app <appId>]',
  help: 'Emits a made-up event of that type in one of your test accounts where the app is installed with the scope the type needs: your endpoints and `plaza webhooks listen` get it like any other.',
  options: {
    installation: { type: 'string', describe: 'the installation (default: the first one that fits)' },
    ...PROJECT,
  },
  async run(args, flags, io) {
    const eventType = args[0];
    if (!eventType)
      throw new CliError(EXIT.usage, 'which event type? e.g. plaza webhooks trigger contact.created');
    const { api, base } = await projectApp(flags);
    const res = await api.post<{ eventId: string; accountId: string; installationId: string }>(
      `${base}/webhooks/trigger`,
      {
        eventType,
        ...(typeof flags.installation === 'string' ? { installationId: flags.installation } : {}),
      },
    );
    io.emit(
      res,
      `Triggered ${eventType} (${res.eventId}) in ${res.accountId} for installation ${res.installationId}`,
    );
  },
};

// ---- tokens --------------------------------------------------------------------------

const tokensMint: Command = {
  name: 'tokens mint',
  summary: "an access token of one of the app's installations, for quick API calls",
  usage: 'plaza tokens mint --installation <id> [--dir <dir> | --app <appId>]',
  help: "Prints an access token (and a refresh token that starts a new chain) of one of your app's installations, for trying the API with curl in development.",
  options: { installation: { type: 'string', describe: 'the installation id (inst_...)' }, ...PROJECT },
  async run(_args, flags, io) {
    if (typeof flags.installation !== 'string') throw new CliError(EXIT.usage, 'missing --installation <id>');
    const { api, base } = await projectApp(flags);
    const t = await api.post<{
      accessToken?: string;
      access_token?: string;
      expiresIn?: number;
      scopes?: string[];
    }>(`${base}/installations/${flags.installation}/token`);
    const token = t.accessToken ?? t.access_token;
    io.emit(t, `${token}\n\n(curl -H "Authorization: Bearer $TOKEN" ${api.base}/v1/account)`);
  },
};

// ---- dispatch ------------------------------------------------------------------------

const COMMANDS: Command[] = [
  login,
  whoami,
  logout,
  appInit,
  appPush,
  appSubmit,
  appStatus,
  webhooksListen,
  webhooksTrigger,
  tokensMint,
];

function helpOf(c: Command): string {
  const opts = { ...(c.options ?? {}), ...COMMON };
  return [
    `Usage: ${c.usage}`,
    '',
    c.help,
    '',
    'Options:',
    ...Object.entries(opts).map(
      ([k, o]) => `  --${k}${o.type === 'string' ? ' <value>' : ''}`.padEnd(26) + o.describe,
    ),
  ].join('\n');
}

function topHelp(): string {
  return [
    'plaza: the Plaza developer CLI',
    '',
    'Usage: plaza <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(18)}${c.summary}`),
    '',
    'Every command takes --help, --json and --url. Exit codes: 0 ok, 1 failure, 2 usage, 3 not signed in,',
    '4 refused by Plaza, 5 Plaza unreachable, 6 local project problem.',
  ].join('\n');
}

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const command =
    COMMANDS.find((c) => c.name.split(' ').every((w, i) => words[i] === w) && c.name.includes(' ')) ??
    COMMANDS.find((c) => c.name === words[0]);
  const jsonWanted = argv.includes('--json');
  const io: Io = {
    json: jsonWanted,
    out: (line) => out.write(`${line}\n`),
    err: (line) => err.write(`${line}\n`),
    emit: (doc, human) => out.write(`${jsonWanted ? JSON.stringify(doc) : human}\n`),
  };
  try {
    if (!command) {
      if (words.length === 0 || argv.includes('--help') || argv.includes('-h')) {
        io.out(topHelp());
        return words.length === 0 && !argv.includes('--help') && !argv.includes('-h') ? EXIT.usage : EXIT.ok;
      }
      throw new CliError(EXIT.usage, `unknown command: ${words.join(' ')}`, {
        hint: 'plaza --help lists the commands',
      });
    }
    const options = Object.fromEntries(
      Object.entries({ ...(command.options ?? {}), ...COMMON }).map(([k, o]) => [
        k,
        { type: o.type, ...('short' in o && o.short ? { short: o.short } : {}) },
      ]),
    );
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: argv, options: options as any, allowPositionals: true, strict: true });
    } catch (e) {
      throw new CliError(EXIT.usage, (e as Error).message, { hint: `plaza ${command.name} --help` });
    }
    if (parsed.values.help) {
      io.out(helpOf(command));
      return EXIT.ok;
    }
    const positionals = parsed.positionals.slice(command.name.split(' ').length);
    await command.run(positionals, parsed.values as Flags, io);
    return EXIT.ok;
  } catch (e) {
    const error =
      e instanceof CliError
        ? e
        : new CliError(EXIT.failure, `unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    if (jsonWanted)
      io.err(
        JSON.stringify({
          error: {
            message: error.message,
            hint: error.hint,
            exitCode: error.exitCode,
            details: error.details,
          },
        }),
      );
    else io.err(`Error: ${error.message}${error.hint ? `\nHint: ${error.hint}` : ''}`);
    return error.exitCode;
  }
}

function openBrowser(url: string) {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(cmd, [url], { stdio: 'ignore', detached: true })
      .on('error', () => {})
      .unref();
  } catch {}
}

function titleCase(s: string) {
  return (
    s
      .replace(/[-_]+/g, ' ')
      .replace(/\b\w/g, (c) => c.toUpperCase())
      .trim() || 'My Plaza App'
  );
}

// Run when executed (through npx's bin symlink too), not when imported by tests.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
