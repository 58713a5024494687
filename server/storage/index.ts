import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where uploaded files live. Modules keep the key (and the content type) in
 * their own tables and hand the bytes to a Storage; the local-disk adapter
 * is the default, and an object store can implement the same four methods.
 */
export interface Storage {
  readonly kind: string;
  /** Writes the bytes under `key` (replacing what was there). */
  put(key: string, bytes: Buffer): Promise<void>;
  /** The bytes under `key`, or undefined. */
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** Answers when the backend answers (readiness). */
  ping(): Promise<void>;
}

/** Keys are slash-separated words: `apps/app_123/ast_456.png`. Nothing else reaches the disk. */
export const STORAGE_KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*(\.[a-z0-9]{1,8})?$/;

function checkKey(key: string): string {
  if (!STORAGE_KEY.test(key) || key.length > 300) throw new Error(`not a storage key: ${key}`);
  return key;
}

/** Files under `root` (config.dataDir/uploads). Writes go to a temporary file first, then rename. */
export function createLocalStorage(root: string): Storage {
  const base = path.resolve(root);
  const fileOf = (key: string) => path.join(base, ...checkKey(key).split('/'));
  return {
    kind: 'local',
    async put(key, bytes) {
      const file = fileOf(key);
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, bytes, { mode: 0o644 });
      await rename(tmp, file);
    },
    async get(key) {
      try {
        return await readFile(fileOf(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async delete(key) {
      await rm(fileOf(key), { force: true });
    },
    async ping() {
      await mkdir(base, { recursive: true });
      await stat(base);
    },
  };
}

/** The in-memory reference adapter (tools and unit tests). */
export function createMemoryStorage(): Storage {
  const files = new Map<string, Buffer>();
  return {
    kind: 'memory',
    async put(key, bytes) {
      files.set(checkKey(key), Buffer.from(bytes));
    },
    async get(key) {
      return files.get(checkKey(key));
    },
    async delete(key) {
      files.delete(checkKey(key));
    },
    async ping() {},
  };
}
