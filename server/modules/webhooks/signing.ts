import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed
 * content is `${msgId}.${timestamp}.${body}`, the key is the base64 part of
 * a `whsec_` secret, the signature is `v1,<base64 HMAC-SHA256>`; several
 * signatures (during a secret rotation) are space-separated.
 */
export const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret: `whsec_` + 32 random bytes in base64 (24 bytes minimum per the spec). */
export function newEndpointSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * The HMAC key of a secret, as a KeyObject: made once per secret and kept,
 * since createHmac with a Buffer imports the key again at every call (about
 * 4x the cost of the HMAC of a small body).
 */
export function secretKey(secret: string): KeyObject {
  return createSecretKey(
    Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64'),
  );
}

/** `v1,<base64>` for one secret. */
export function sign(
  secret: string | KeyObject | Buffer,
  msgId: string,
  timestamp: number,
  body: string,
): string {
  const key = typeof secret === 'string' ? secretKey(secret) : secret;
  return `v1,${createHmac('sha256', key).update(`${msgId}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three headers of one attempt; every secret gives one signature. */
export function signatureHeaders(
  secrets: Array<string | KeyObject | Buffer>,
  msgId: string,
  timestamp: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(s, msgId, timestamp, body)).join(' '),
  };
}

/**
 * Encryption of endpoint secrets at rest: AES-256-GCM with a key derived
 * (HKDF-SHA256) from PLAZA_WEBHOOKS_SECRET_KEY, else from PLAZA_SECRET.
 * Stored as `v1.<iv>.<tag>.<ciphertext>` in base64url; the endpoint id is
 * bound as additional data, so a secret copied to another row does not open.
 */
export interface SecretBox {
  seal(plain: string, endpointId: string): string;
  open(sealed: string, endpointId: string): string;
}

export function createSecretBox(keyMaterial: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', keyMaterial, 'plaza', 'webhook endpoint secrets v1', 32));
  return {
    seal(plain, endpointId) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(endpointId));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), ct]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(sealed, endpointId) {
      const [version, iv, tag, ct] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || ct === undefined) throw new Error('not a sealed webhook secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(endpointId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    },
  };
}
