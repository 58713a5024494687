/**
 * The local app project: `plaza-app.json` (the version manifest plus the
 * paths of its icon and screenshots), `.plaza/state.json` (which Plaza app it
 * is, written by `plaza app push`) and `.env` (the app's credentials).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { CliError, EXIT } from './support.ts';

export const MANIFEST_FILE = 'plaza-app.json';

export interface LocalManifest {
  manifestVersion: 1;
  slug: string;
  icon?: string;
  screenshots?: string[];
  version: Record<string, unknown> & { name: string };
}

export interface ProjectState {
  plazaUrl: string;
  organizationId: string;
  appId: string;
  clientId: string;
}

export async function readManifest(dir: string): Promise<LocalManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CliError(EXIT.project, `no ${MANIFEST_FILE} in ${dir}`, {
      hint: 'run `plaza app init` to start an app, or pass --dir',
    });
  }
  let m: LocalManifest;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new CliError(EXIT.project, `${file} is not JSON: ${(err as Error).message}`);
  }
  if (m?.manifestVersion !== 1 || typeof m.slug !== 'string' || typeof m.version?.name !== 'string')
    throw new CliError(EXIT.project, `${file} needs "manifestVersion": 1, a "slug" and "version.name"`);
  return m;
}

const statePath = (dir: string) => path.join(dir, '.plaza', 'state.json');

export async function readState(dir: string): Promise<ProjectState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(dir), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function requireState(dir: string): Promise<ProjectState> {
  const s = await readState(dir);
  if (!s)
    throw new CliError(EXIT.project, `${dir} is not linked to a Plaza app yet`, {
      hint: 'run `plaza app push` first (or pass --app <appId>)',
    });
  return s;
}

export async function writeState(dir: string, state: ProjectState): Promise<void> {
  await mkdir(path.dirname(statePath(dir)), { recursive: true });
  await writeFile(statePath(dir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** Sets `KEY=value` lines in `.env` (created 0600 when missing), keeping the rest. */
export async function setEnv(dir: string, values: Record<string, string>): Promise<void> {
  const file = path.join(dir, '.env');
  const lines = existsSync(file) ? (await readFile(file, 'utf8')).split('\n') : [];
  for (const [key, value] of Object.entries(values)) {
    const i = lines.findIndex((l) => l.startsWith(`${key}=`));
    if (i >= 0) lines[i] = `${key}=${value}`;
    else lines.splice(lines.at(-1) === '' ? lines.length - 1 : lines.length, 0, `${key}=${value}`);
  }
  await writeFile(file, lines.join('\n').replace(/\n*$/, '\n'), { mode: 0o600 });
}

/** The starter app: in the package next to dist/, or the repository's templates/app. */
export function templatesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [
    path.join(here, '..', 'templates'),
    path.join(here, '..', '..', '..', 'templates', 'app'),
  ])
    if (existsSync(path.join(candidate, MANIFEST_FILE))) return candidate;
  throw new CliError(EXIT.failure, 'the starter app templates are missing from this installation of plaza');
}

const RENAMED: Record<string, string> = { 'env.template': '.env', 'gitignore.template': '.gitignore' };

/** Writes the starter app into `dir` (which must be empty or missing). Returns the files written. */
export async function writeStarter(
  dir: string,
  values: { name: string; slug: string; plazaUrl: string; port: number },
): Promise<string[]> {
  if (existsSync(dir) && (await readdir(dir)).length > 0)
    throw new CliError(EXIT.project, `${dir} is not empty`, {
      hint: 'choose a new directory: plaza app init <dir>',
    });
  await mkdir(path.join(dir, 'assets'), { recursive: true });
  const src = templatesDir();
  const written: string[] = [];
  for (const name of await readdir(src)) {
    const text = await readFile(path.join(src, name), 'utf8');
    const out = text.replace(/\{\{(name|slug|plazaUrl|port)\}\}/g, (_, k: keyof typeof values) =>
      // Inside JSON strings the name must stay valid JSON.
      name.endsWith('.json') ? JSON.stringify(String(values[k])).slice(1, -1) : String(values[k]),
    );
    const target = RENAMED[name] ?? name;
    await writeFile(path.join(dir, target), out, { mode: target === '.env' ? 0o600 : 0o644 });
    written.push(target);
  }
  // Placeholder images that pass the checks (square icon, a screenshot): replace them with your own.
  await writeFile(path.join(dir, 'assets', 'icon.png'), png(256, 256, [0x2f, 0x6f, 0xeb]));
  await writeFile(path.join(dir, 'assets', 'screenshot-1.png'), png(1280, 800, [0xf4, 0xf6, 0xfb]));
  written.push('assets/icon.png', 'assets/screenshot-1.png');
  return written;
}

export const slugify = (s: string) =>
  s
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');

export function imageType(file: string, bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (String.fromCharCode(...bytes.slice(8, 12)) === 'WEBP') return 'image/webp';
  throw new CliError(EXIT.project, `${file} is not a PNG, JPEG or WebP image`);
}

/** A solid-colour RGB PNG. */
function png(width: number, height: number, rgb: [number, number, number]): Buffer {
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
