/**
 * What every command shares: the exit codes, the error a command throws, the
 * saved sign-in (a personal API key in the user's config directory, 0600) and
 * a small client for Plaza's HTTP API.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

/** Exit codes (documented in README.md). */
export const EXIT = {
  ok: 0,
  /** Something went wrong that is not one of the below (a bug, an unexpected answer). */
  failure: 1,
  /** The command line is wrong: unknown command or option, missing argument. */
  usage: 2,
  /** Not signed in, or the saved API key was revoked: run `plaza login`. */
  auth: 3,
  /** Plaza refused the request (4xx): the message says why, with the field. */
  refused: 4,
  /** Plaza or the network is unreachable or failing (5xx, connection refused, timeout). */
  unavailable: 5,
  /** The local project is missing or wrong (no plaza-app.json, unreadable icon...). */
  project: 6,
} as const;

export class CliError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  readonly details?: unknown;
  constructor(exitCode: number, message: string, opts: { hint?: string; details?: unknown } = {}) {
    super(message);
    this.exitCode = exitCode;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

// ---- saved sign-in -----------------------------------------------------------

export interface Credentials {
  plazaUrl: string;
  apiKey: string;
  keyId: string;
  organization: { id: string; name: string };
  user: { id: string; name: string; email: string };
  savedAt: string;
}

/** `PLAZA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/plaza`, `%APPDATA%\plaza` on Windows, `~/.config/plaza`. */
export function configDir(env = process.env): string {
  if (env.PLAZA_CONFIG_DIR) return env.PLAZA_CONFIG_DIR;
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'plaza');
  return path.join(env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'plaza');
}

export const credentialsPath = () => path.join(configDir(), 'credentials.json');

export async function readCredentials(): Promise<Credentials | undefined> {
  try {
    return JSON.parse(await readFile(credentialsPath(), 'utf8')) as Credentials;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(EXIT.failure, `cannot read ${credentialsPath()}: ${(err as Error).message}`, {
      hint: 'run `plaza logout` and `plaza login` again',
    });
  }
}

export async function saveCredentials(c: Credentials): Promise<string> {
  const file = credentialsPath();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written with 0600 from the start; chmod too in case the file existed with wider rights.
  await writeFile(file, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export async function removeCredentials(): Promise<void> {
  await rm(credentialsPath(), { force: true });
}

export async function requireCredentials(): Promise<Credentials> {
  const c = await readCredentials();
  if (!c) throw new CliError(EXIT.auth, 'not signed in', { hint: 'run `plaza login` first' });
  return c;
}

// ---- HTTP --------------------------------------------------------------------

export interface Problem {
  title?: string;
  detail?: string;
  code?: string;
  status?: number;
  fields?: Array<{ field: string; reason: string }>;
}

export interface ApiOptions {
  plazaUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

/** A thin JSON client: errors become CliErrors with Plaza's reason and fields. */
export function apiClient(opts: ApiOptions) {
  const base = opts.plazaUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  async function call<T>(
    method: string,
    pathname: string,
    body?: unknown,
    extra: { contentType?: string; raw?: Uint8Array; signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
    let payload: BodyInit | undefined;
    if (extra.raw) {
      headers['content-type'] = extra.contentType ?? 'application/octet-stream';
      payload = extra.raw as unknown as BodyInit;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await doFetch(`${base}${pathname}`, { method, headers, body: payload, signal: extra.signal });
    } catch (err) {
      throw new CliError(
        EXIT.unavailable,
        `cannot reach Plaza at ${base}: ${(err as Error).cause ?? (err as Error).message}`,
        {
          hint: 'check the URL (--url or PLAZA_URL) and that Plaza is running',
        },
      );
    }
    const text = await res.text();
    const json = text ? safeJson(text) : undefined;
    if (res.ok) return json as T;
    throw problemError(res.status, json as Problem | undefined, `${method} ${pathname}`);
  }
  return {
    base,
    get: <T>(p: string) => call<T>('GET', p),
    post: <T>(p: string, body?: unknown) => call<T>('POST', p, body ?? {}),
    put: <T>(p: string, body?: unknown) => call<T>('PUT', p, body),
    delete: <T>(p: string) => call<T>('DELETE', p),
    upload: <T>(method: 'PUT' | 'POST', p: string, bytes: Uint8Array, contentType: string) =>
      call<T>(method, p, undefined, { raw: bytes, contentType }),
    /** The raw response of a streaming GET (server-sent events). */
    async stream(p: string, signal: AbortSignal): Promise<Response> {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
      let res: Response;
      try {
        res = await doFetch(`${base}${p}`, { headers, signal });
      } catch (err) {
        throw new CliError(EXIT.unavailable, `cannot reach Plaza at ${base}: ${(err as Error).message}`);
      }
      if (!res.ok)
        throw problemError(res.status, safeJson(await res.text()) as Problem | undefined, `GET ${p}`);
      return res;
    },
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 500) };
  }
}

function problemError(status: number, problem: Problem | undefined, what: string): CliError {
  const reason = problem?.detail ?? problem?.title ?? `HTTP ${status}`;
  const fields = problem?.fields?.map((f) => `  ${f.field}: ${f.reason}`).join('\n');
  const message = `${reason}${fields ? `\n${fields}` : ''}`;
  if (status === 401)
    return new CliError(EXIT.auth, message, {
      hint: 'your saved API key is unknown or revoked: run `plaza login`',
      details: { status, ...problem },
    });
  if (status >= 500 || status === 429)
    return new CliError(EXIT.unavailable, `${what}: ${message}`, { details: { status, ...problem } });
  return new CliError(EXIT.refused, message, { details: { status, ...problem } });
}

/** The API client of the saved sign-in (or --url/PLAZA_URL pointing elsewhere, with the same key). */
export async function signedInClient(flags: { url?: string }) {
  const creds = await requireCredentials();
  const plazaUrl = flags.url ?? process.env.PLAZA_URL ?? creds.plazaUrl;
  return { creds, api: apiClient({ plazaUrl, apiKey: creds.apiKey }) };
}
