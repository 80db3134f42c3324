// Drops every packet of some open connections to PostgreSQL, both ways, with iptables (as root, on
// the loopback): what a client machine that lost its power or network, or a database that failed
// over to another machine, does to them. Neither end hears a thing; new connections go through.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';

const execFileAsync = promisify(execFile);
const iptables = (args: string[]) => execFileAsync('iptables', args);

/**
 * Black-holes the connections that `where` picks out of pg_stat_activity (seen from `db`'s
 * server); returns the function that lets their packets through again.
 */
export async function blackhole(db: Pick<pg.Client, 'query'>, where: string): Promise<() => Promise<void>> {
  const { rows } = await db.query<{ client: number; server: number }>(
    `select client_port as client, current_setting('port')::int as server from pg_stat_activity where client_port > 0 and (${where})`);
  if (rows.length === 0) throw new Error(`no TCP connection where ${where}`);
  const rules = rows.flatMap(({ client, server }) => [
    ['INPUT', '-i', 'lo', '-p', 'tcp', '--sport', String(server), '--dport', String(client), '-j', 'DROP'],
    ['INPUT', '-i', 'lo', '-p', 'tcp', '--sport', String(client), '--dport', String(server), '-j', 'DROP'],
  ]);
  for (const rule of rules) await iptables(['-I', ...rule]);
  return async () => {
    for (const rule of rules) await iptables(['-D', ...rule]).catch(() => {});
  };
}
