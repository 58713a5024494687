import { randomBytes, randomFillSync } from 'node:crypto';

// Crockford base32: sortable as text, no ambiguous letters.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

// Random bytes for ids, drawn from the CSPRNG 4 KiB at a time: one randomBytes
// call per id cost 10-15 us under load, most of it the call, not the bytes.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * A public id: `<prefix>_<26 chars>`, 48 bits of milliseconds then 80 random
 * bits (ULID layout), so ids sort by creation time as plain text.
 */
export function newId(prefix: string): string {
  let time = Date.now();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[pool[poolOffset + i] % 32];
  poolOffset += 16;
  return `${prefix}_${head}${tail}`;
}

/** A random secret token, url-safe, with a readable prefix (`plz_key_...`). */
export function newSecret(prefix: string, bytes = 32): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}
