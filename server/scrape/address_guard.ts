// Scraping fetches URLs that tenants submit, from inside the deployment: without a guard, a URL
// naming a loopback, private or link-local address (or a name that resolves to one, such as a
// cloud metadata service) would make the worker a proxy into the internal network. The guard
// checks the addresses a name resolves to at connect time (no second lookup to rebind), and
// literal addresses before the request. SCRAPE_ALLOW_PRIVATE_ADDRESSES=1 turns it off (tests and
// benchmarks scrape loopback servers; an intranet deployment may want it).
import dns from 'node:dns';
import net from 'node:net';
import type { Agent } from 'undici';

/** Addresses nobody should reach through a tenant's URL (IANA special-purpose registries). */
const BLOCKED = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  // Unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d; IPv4-translated (SIIT).
  ['::', 96], ['::ffff:0:0:0', 96],
  // Local-use NAT64, discard-only, Teredo, documentation; unique local, site-local, link-local, multicast.
  ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['fc00::', 7], ['fec0::', 10], ['fe80::', 10], ['ff00::', 8],
] as const) BLOCKED.addSubnet(prefix, bits, 'ipv6');

/**
 * IPv6 prefixes whose addresses carry an IPv4 address (from the given 16-bit group) that a
 * gateway or relay would connect to: they are judged by that address. IPv4-mapped (how an IPv4
 * address looks on a dual-stack socket), NAT64's well-known prefix (public IPv4 through a NAT64
 * gateway stays reachable), 6to4.
 */
const EMBEDDING = ([['::ffff:0:0', 96, 6], ['64:ff9b::', 96, 6], ['2002::', 16, 1]] as const).map(([prefix, bits, group]) => {
  const list = new net.BlockList();
  list.addSubnet(prefix, bits, 'ipv6');
  return { list, group };
});

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const [head, tail] = text.split('::');
  const [first, last] = [groups(head), groups(tail)];
  return [...first, ...Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/** The reason an address may not be scraped, or null. */
export function blockedAddressReason(address: string): string | null {
  const reason = `${address} is a loopback, private or reserved address`;
  if (net.isIPv4(address)) return BLOCKED.check(address, 'ipv4') ? reason : null;
  if (!net.isIPv6(address)) return null;
  // (Checked as IPv6 only: a BlockList matches IPv4-mapped addresses against its IPv4 rules too.)
  if (BLOCKED.check(address, 'ipv6')) return reason;
  for (const { list, group } of EMBEDDING) {
    if (!list.check(address, 'ipv6')) continue;
    const groups = ipv6Groups(address);
    const ipv4 = [groups[group] >> 8, groups[group] & 255, groups[group + 1] >> 8, groups[group + 1] & 255].join('.');
    if (BLOCKED.check(ipv4, 'ipv4')) return `${address} (${ipv4}) is a loopback, private or reserved address`;
  }
  return null;
}

/** An error fetch() reports with this code; networkError makes it a permanent item failure. */
export class ForbiddenAddressError extends Error {
  readonly code = 'EFORBIDDENADDR';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** dns.lookup, refusing names that resolve to a blocked address. */
function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    for (const { address } of addresses) {
      const reason = blockedAddressReason(address);
      if (reason) return callback(new ForbiddenAddressError(`${hostname} resolves to ${reason}`), []);
    }
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}

/**
 * The dispatcher scrape requests go through: guarded lookups (unless allowed) and a real connect
 * timeout. (undici is loaded here, on first use: it adds ~30 MB to a worker that never scrapes.)
 */
export async function scrapeDispatcher({ allowPrivateAddresses, connectTimeoutMs }: { allowPrivateAddresses: boolean; connectTimeoutMs: number }): Promise<Agent> {
  const { Agent } = await import('undici');
  return new Agent({ connect: { timeout: connectTimeoutMs, ...(allowPrivateAddresses ? {} : { lookup: guardedLookup }) } });
}
