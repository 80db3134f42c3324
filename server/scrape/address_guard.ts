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
for (const [prefix, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv6');
}

/** The reason an address may not be scraped, or null. IPv4-mapped IPv6 addresses count as IPv4. */
export function blockedAddressReason(address: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const family = mapped ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : net.isIPv4(address) ? 'ipv4' : null;
  if (!family) return null;
  return BLOCKED.check(mapped ?? address, family) ? `${address} is a loopback, private or reserved address` : null;
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
