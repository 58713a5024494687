/**
 * PKCE (RFC 7636, S256 only) and the `state` value, with WebCrypto
 * (`globalThis.crypto`, in Node ≥ 20 and every browser-like runtime).
 */

const UNRESERVED = /^[A-Za-z0-9\-._~]{43,128}$/;

export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `bytes` random bytes, base64url: 32 bytes give 43 characters (256 bits). */
export function randomToken(bytes = 32): string {
  return base64url(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A fresh code verifier: 43 characters of the unreserved set, 256 bits of randomness. */
export function createCodeVerifier(): string {
  return randomToken(32);
}

/** The S256 code challenge of a verifier: base64url(SHA-256(verifier)). */
export async function codeChallengeS256(verifier: string): Promise<string> {
  if (!UNRESERVED.test(verifier))
    throw new TypeError('a PKCE code verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)');
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A fresh `state`: 128 random bits, base64url. */
export function createState(): string {
  return randomToken(16);
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
