import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Server-side request forgery guard for webhook delivery. An endpoint URL
 * names a host; the host is resolved here, every address it resolves to is
 * checked, and the connection goes to the checked address (the TLS name stays
 * the host's), so a DNS answer that changes between the check and the
 * connection (rebinding) cannot point a delivery at an internal service.
 * Unless allowed by config (WEBHOOKS_ALLOW_PRIVATE), loopback, private,
 * link-local, CGNAT, reserved, documentation, multicast and unspecified
 * addresses are refused, for IPv4, IPv6, and IPv4 carried inside IPv6
 * (mapped, compatible, NAT64, 6to4).
 */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (tests inject one to simulate DNS). */
export type Lookup = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemLookup: Lookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** A refused destination: the reason is shown in the attempt log or the validation error. */
export class DestinationRefused extends Error {
  readonly address: string | null;
  constructor(message: string, address: string | null = null) {
    super(message);
    this.name = 'DestinationRefused';
    this.address = address;
  }
}

const V4_RANGES: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const V6_RANGES: Array<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard-only'],
  ['2001::', 23, 'reserved'],
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['5f00::', 16, 'reserved'],
  ['fc00::', 7, 'private (unique local)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

const v4Lists = V4_RANGES.map(([net, prefix, reason]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv4');
  return { list, reason };
});
const v6Lists = V6_RANGES.map(([net, prefix, reason]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  return { list, reason };
});

/** The 16 bytes of an IPv6 address. */
function v6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted IPv4 part becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return groups.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
}

/** The IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(address: string): string | null {
  const b = v6Bytes(address);
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated; not :: or ::1)
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12);
  if (zero(0, 12) && !(zero(12, 15) && b[15] <= 1)) return v4(12);
  // 64:ff9b::/96 (NAT64 well-known prefix) and 64:ff9b:1::/48 (local-use NAT64)
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    if (zero(4, 12)) return v4(12);
    if (b[4] === 0 && b[5] === 1) return v4(12);
  }
  // 2002::/16 (6to4): the next 32 bits are the IPv4 address
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2);
  return null;
}

/** Why an address is not a public destination, or null when it is. */
export function refusalReason(address: string): string | null {
  const family = isIP(address);
  if (family === 4) {
    if (address === '255.255.255.255') return 'broadcast';
    for (const { list, reason } of v4Lists) if (list.check(address, 'ipv4')) return reason;
    return null;
  }
  if (family === 6) {
    const inner = embeddedIPv4(address);
    if (inner) {
      const reason = refusalReason(inner);
      return reason ? `${reason} (IPv4 ${inner} inside IPv6)` : null;
    }
    const plain = address.split('%')[0];
    for (const { list, reason } of v6Lists) if (list.check(plain, 'ipv6')) return reason;
    return null;
  }
  return 'not an IP address';
}

const stripBrackets = (host: string) =>
  host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;

/** Loopback names and addresses: where plain http is allowed when private destinations are. */
export function isLoopbackHost(hostname: string): boolean {
  const host = stripBrackets(hostname).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (!family) return false;
  return refusalReason(host)?.startsWith('loopback') ?? false;
}

export interface DestinationPolicy {
  allowPrivate: boolean;
  lookup: Lookup;
}

/**
 * Resolves `hostname` and returns the address to connect to: the first one
 * when every address is public. One non-public address refuses the host
 * (a name that resolves to both is a rebinding setup, not a CDN).
 */
export async function resolveDestination(
  hostname: string,
  policy: DestinationPolicy,
): Promise<ResolvedAddress> {
  const host = stripBrackets(hostname);
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await policy.lookup(host);
    } catch (err) {
      throw new DestinationRefused(
        `the host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    if (addresses.length === 0) throw new DestinationRefused(`the host ${host} does not resolve`);
  }
  if (!policy.allowPrivate)
    for (const a of addresses) {
      const reason = refusalReason(a.address);
      if (reason)
        throw new DestinationRefused(
          literal
            ? `${a.address} is a ${reason} address, not a public one`
            : `${host} resolves to ${a.address}, a ${reason} address, not a public one`,
          a.address,
        );
    }
  return addresses[0];
}
