// Credentials from the command line: `token` (a JWT of any role) and `sign-in-link` (a link that
// signs the dashboard in, once).
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { resolveJwtSecret, signToken, type Claims } from '../auth.ts';
import type { Config } from '../config.ts';
import { withDatabaseClient } from '../db/database.ts';
import { createSignInCode, signInUrl, SIGN_IN_CODE_VALID_SECONDS } from '../http/sign_in.ts';
import type { Log } from '../log.ts';
import { tenantIdByName } from './tenants.ts';

export async function printToken(config: Config, quiet: Log, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      role: { type: 'string', default: 'app_user' },
      tenant: { type: 'string' },
      'tenant-name': { type: 'string' },
      sub: { type: 'string' },
      'seller-id': { type: 'string' },
      'seller-name': { type: 'string' },
      'expires-in': { type: 'string', default: '1h' },
    },
    strict: true,
  });
  let tenantId = values.tenant;
  let sellerId = values['seller-id'];
  // Only a tenant or seller given by name needs the database.
  if (values['tenant-name'] !== undefined || values['seller-name'] !== undefined) {
    await withDatabaseClient(config, quiet, async (client) => {
      if (values['tenant-name'] !== undefined) tenantId = await tenantIdByName(client, values['tenant-name']);
      if (values['seller-name'] !== undefined) {
        if (!tenantId) throw new Error('--seller-name needs the tenant (--tenant or --tenant-name)');
        const { rows } = await client.query<{ id: string }>('select id from app_public.sellers where tenant_id = $1 and name = $2', [tenantId, values['seller-name']]);
        if (!rows[0]) throw new Error(`no seller named "${values['seller-name']}" in that tenant (finishline sellers --tenant-name … lists them)`);
        sellerId = rows[0].id;
      }
    });
  }
  const secret = resolveJwtSecret({ configured: config.jwtSecret, dataDir: config.dataDir, embedded: !config.databaseUrl });
  const claims: Claims = { role: values.role as Claims['role'], tenant_id: tenantId, sub: values.sub, seller_id: sellerId };
  // A token expired as it is printed would only be refused later, by the server, as expired.
  const expiresIn = values['expires-in'];
  const refused = () => new Error(`--expires-in must be a time to come, like 1h, 8h or 7d, not "${expiresIn}"`);
  let token: string;
  try {
    token = signToken(secret, claims, expiresIn as jwt.SignOptions['expiresIn']);
  } catch (error) {
    if ((error as Error).message.includes('"expiresIn"')) throw refused();
    throw error;
  }
  const { iat, exp } = jwt.decode(token) as jwt.JwtPayload;
  if (!(exp! > iat!)) throw refused();
  process.stdout.write(token + '\n');
}

export async function printSignInLink(config: Config, quiet: Log, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      role: { type: 'string', default: 'app_user' },
      tenant: { type: 'string' },
      'tenant-name': { type: 'string' },
      url: { type: 'string', default: `http://localhost:${config.port}` },
    },
    strict: true,
  });
  if (values.role !== 'app_user' && values.role !== 'app_admin') throw new Error('--role must be app_user or app_admin');
  await withDatabaseClient(config, quiet, async (client) => {
    const tenantId = values['tenant-name'] !== undefined ? await tenantIdByName(client, values['tenant-name']) : values.tenant;
    if (values.role === 'app_user' && !tenantId) throw new Error('an app_user link needs its tenant: --tenant <uuid> or --tenant-name <name>');
    const code = await createSignInCode(client, { role: values.role as 'app_user' | 'app_admin', tenantId, validForSeconds: SIGN_IN_CODE_VALID_SECONDS });
    process.stdout.write(signInUrl(values.url, code) + '\n');
  });
}
