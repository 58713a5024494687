import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { PlazaWebhookError, signWebhook, verifyWebhook } from '../../sdk/src/webhooks.ts';
import { nextDelayMs, parseRetryAfter } from '../../server/modules/webhooks/schedule.ts';
import {
  createSecretBox,
  newEndpointSecret,
  sign,
  signatureHeaders,
} from '../../server/modules/webhooks/signing.ts';
import {
  DestinationRefused,
  embeddedIPv4,
  isLoopbackHost,
  refusalReason,
  resolveDestination,
} from '../../server/modules/webhooks/ssrf.ts';

/** The test vector of the Standard Webhooks specification. */
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('Standard Webhooks signatures', () => {
  it('signs the specification test vector', () => {
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('the standardwebhooks package verifies what Plaza signs, with one secret or two during a rotation', () => {
    const oldSecret = newEndpointSecret();
    const newSecret = newEndpointSecret();
    expect(oldSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const now = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: 'contact.created', data: { id: 'con_1' } });
    const one = signatureHeaders([newSecret], 'msg_1', now, body);
    expect(new Webhook(newSecret).verify(body, one)).toEqual(JSON.parse(body));
    expect(() => new Webhook(oldSecret).verify(body, one)).toThrow();
    const two = signatureHeaders([newSecret, oldSecret], 'msg_1', now, body);
    expect(two['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(newSecret).verify(body, two)).toEqual(JSON.parse(body));
    expect(new Webhook(oldSecret).verify(body, two)).toEqual(JSON.parse(body));
    // A changed body or id fails.
    expect(() => new Webhook(newSecret).verify(`${body} `, two)).toThrow();
    expect(() => new Webhook(newSecret).verify(body, { ...two, 'webhook-id': 'msg_2' })).toThrow();
  });

  it('seals secrets at rest so that only the same key and the same endpoint open them', () => {
    const box = createSecretBox('a webhooks key of at least thirty-two characters');
    const sealed = box.seal(VECTOR.secret, 'ep_1');
    expect(sealed).not.toContain(VECTOR.secret.slice(6));
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(box.open(sealed, 'ep_1')).toBe(VECTOR.secret);
    expect(() => box.open(sealed, 'ep_2')).toThrow();
    expect(() =>
      createSecretBox('another key of at least thirty-two characters!').open(sealed, 'ep_1'),
    ).toThrow();
  });
});

describe('SDK verifyWebhook', () => {
  const headers = (signature = VECTOR.signature, timestamp = VECTOR.timestamp) => ({
    'webhook-id': VECTOR.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  });
  const at = VECTOR.timestamp * 1000;

  it('accepts the specification test vector and returns the parsed body', async () => {
    expect(await verifyWebhook(VECTOR.body, headers(), VECTOR.secret, { now: at })).toEqual({
      test: 2432232314,
    });
    expect(await signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    // Fetch-style headers and bytes work too.
    const fetchHeaders = new Headers(headers());
    expect(
      await verifyWebhook(new TextEncoder().encode(VECTOR.body), fetchHeaders, VECTOR.secret, { now: at }),
    ).toEqual({ test: 2432232314 });
  });

  it('accepts any of several signatures and any of several secrets', async () => {
    const other = newEndpointSecret();
    const both = `v1,${Buffer.from('nope').toString('base64')} ${VECTOR.signature}`;
    expect(await verifyWebhook(VECTOR.body, headers(both), VECTOR.secret, { now: at })).toEqual({
      test: 2432232314,
    });
    expect(await verifyWebhook(VECTOR.body, headers(), [other, VECTOR.secret], { now: at })).toEqual({
      test: 2432232314,
    });
  });

  it('refuses a wrong signature, a wrong secret, a changed body, old or future timestamps and missing headers', async () => {
    const reason = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'verified';
      } catch (err) {
        expect(err).toBeInstanceOf(PlazaWebhookError);
        return (err as PlazaWebhookError).reason;
      }
    };
    expect(await reason(verifyWebhook(VECTOR.body, headers('v1,AAAA'), VECTOR.secret, { now: at }))).toBe(
      'no_matching_signature',
    );
    expect(await reason(verifyWebhook(VECTOR.body, headers(), newEndpointSecret(), { now: at }))).toBe(
      'no_matching_signature',
    );
    expect(await reason(verifyWebhook('{"test": 2432232315}', headers(), VECTOR.secret, { now: at }))).toBe(
      'no_matching_signature',
    );
    // v2 or unknown schemes are not v1 signatures.
    expect(
      await reason(
        verifyWebhook(VECTOR.body, headers(VECTOR.signature.replace('v1,', 'v2,')), VECTOR.secret, {
          now: at,
        }),
      ),
    ).toBe('no_matching_signature');
    expect(await reason(verifyWebhook(VECTOR.body, headers(), VECTOR.secret, { now: at + 301_000 }))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(await reason(verifyWebhook(VECTOR.body, headers(), VECTOR.secret, { now: at - 301_000 }))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(await reason(verifyWebhook(VECTOR.body, headers(), VECTOR.secret, { now: at + 299_000 }))).toBe(
      'verified',
    );
    expect(await reason(verifyWebhook(VECTOR.body, {}, VECTOR.secret, { now: at }))).toBe('missing_headers');
    expect(
      await reason(verifyWebhook(VECTOR.body, { ...headers(), 'webhook-timestamp': 'soon' }, VECTOR.secret)),
    ).toBe('bad_timestamp');
  });
});

describe('SSRF guard', () => {
  it('refuses loopback, private, link-local, CGNAT, reserved, documentation and multicast addresses', () => {
    const refused: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '127.255.0.9': 'loopback',
      '10.1.2.3': 'private',
      '172.16.5.4': 'private',
      '192.168.1.1': 'private',
      '169.254.169.254': 'link-local',
      '100.64.0.1': 'carrier-grade NAT',
      '0.0.0.0': 'unspecified',
      '192.0.2.10': 'documentation',
      '198.18.0.1': 'benchmarking',
      '224.0.0.251': 'multicast',
      '240.0.0.1': 'reserved',
      '255.255.255.255': 'broadcast',
      '::1': 'loopback',
      '::': 'unspecified',
      'fe80::1': 'link-local',
      'fe80::1%eth0': 'link-local',
      'fc00::1': 'private (unique local)',
      'fd12:3456::1': 'private (unique local)',
      'ff02::1': 'multicast',
      '2001:db8::1': 'documentation',
      '::ffff:127.0.0.1': 'loopback (IPv4 127.0.0.1 inside IPv6)',
      '::ffff:7f00:1': 'loopback (IPv4 127.0.0.1 inside IPv6)',
      '::ffff:10.0.0.1': 'private (IPv4 10.0.0.1 inside IPv6)',
      '::127.0.0.1': 'loopback (IPv4 127.0.0.1 inside IPv6)',
      '64:ff9b::a9fe:a9fe': 'link-local (IPv4 169.254.169.254 inside IPv6)',
      '2002:c0a8:101::1': 'private (IPv4 192.168.1.1 inside IPv6)',
    };
    for (const [address, reason] of Object.entries(refused))
      expect(refusalReason(address), address).toBe(reason);
    for (const ok of [
      '8.8.8.8',
      '93.184.216.34',
      '1.1.1.1',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
      '2002:0808:0808::1',
    ])
      expect(refusalReason(ok), ok).toBeNull();
    expect(embeddedIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(embeddedIPv4('2606:4700::1')).toBeNull();
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.0.0.2')).toBe(true);
    expect(isLoopbackHost('example.com')).toBe(false);
  });

  it('refuses a host when any address it resolves to is not public, and connects to a checked one', async () => {
    const answers: Record<string, Array<{ address: string; family: 4 | 6 }>> = {
      'public.example': [{ address: '93.184.216.34', family: 4 }],
      'mixed.example': [
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.5', family: 4 },
      ],
    };
    const lookup = async (host: string) => {
      const a = answers[host];
      if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return a;
    };
    const policy = { allowPrivate: false, lookup };
    expect(await resolveDestination('public.example', policy)).toEqual({
      address: '93.184.216.34',
      family: 4,
    });
    await expect(resolveDestination('mixed.example', policy)).rejects.toThrow(
      /10\.0\.0\.5, a private address/,
    );
    await expect(resolveDestination('nowhere.example', policy)).rejects.toThrow(
      /does not resolve \(ENOTFOUND\)/,
    );
    await expect(resolveDestination('[::ffff:127.0.0.1]', policy)).rejects.toBeInstanceOf(DestinationRefused);
    expect(await resolveDestination('mixed.example', { ...policy, allowPrivate: true })).toEqual({
      address: '93.184.216.34',
      family: 4,
    });
  });
});

describe('retry schedule', () => {
  const policy = {
    schedule: [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
    timeScale: 1,
    retryAfterMaxSeconds: 3600,
  };
  const none = { status: 500, retryAfterSeconds: null };

  it('waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h with ±10% jitter, then gives up', () => {
    const expected = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
    expected.forEach((ms, i) => {
      expect(nextDelayMs(policy, i + 1, none, () => 0.5)).toBe(ms);
      expect(nextDelayMs(policy, i + 1, none, () => 0)).toBe(Math.round(ms * 0.9));
      expect(nextDelayMs(policy, i + 1, none, () => 1)).toBe(Math.round(ms * 1.1));
    });
    expect(nextDelayMs(policy, 8, none)).toBeNull();
    // The time scale shrinks the whole schedule.
    expect(nextDelayMs({ ...policy, timeScale: 0.001 }, 2, none, () => 0.5)).toBe(300);
  });

  it('honours Retry-After on 429 and 503 as a floor, up to the bound', () => {
    expect(nextDelayMs(policy, 1, { status: 429, retryAfterSeconds: 60 }, () => 0.5)).toBe(60_000);
    expect(nextDelayMs(policy, 1, { status: 503, retryAfterSeconds: 1 }, () => 0.5)).toBe(5_000);
    expect(nextDelayMs(policy, 1, { status: 429, retryAfterSeconds: 999_999 }, () => 0.5)).toBe(3_600_000);
    // Other statuses ignore it.
    expect(nextDelayMs(policy, 1, { status: 500, retryAfterSeconds: 60 }, () => 0.5)).toBe(5_000);
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThanOrEqual(29);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
  });
});
