// One-time sign-in links for the dashboard, as Jupyter prints one: a random code whose SHA-256
// is kept in app_private.sign_in_codes, put in the link's fragment (so that it never reaches a
// server log or a Referer header), and exchanged once, before it expires, for a JWT through the
// GraphQL mutation redeemSignInCode. The server signs that token: the secret never leaves it.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { withPgClientTransaction, type PgExecutor } from 'postgraphile/@dataplan/pg';
import { lambda } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';
import { signToken, type Claims } from '../auth.ts';

/** How long a printed link works (once). */
export const SIGN_IN_CODE_VALID_SECONDS = 3600;
/** How long the token a link gives stays valid: a working day, kept only for the browser tab. */
export const SIGN_IN_TOKEN_EXPIRES_IN_SECONDS = 8 * 3600;

export interface SignInCodeOptions {
  role: 'app_user' | 'app_admin';
  /** Required for app_user; an app_admin without one is the installation's operator. */
  tenantId?: string;
  validForSeconds?: number;
}

/** Stores a new code and returns it (the only copy: the database keeps its hash). */
export async function createSignInCode(db: pg.Pool | pg.Client, { role, tenantId, validForSeconds = SIGN_IN_CODE_VALID_SECONDS }: SignInCodeOptions): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  // Codes that can no longer be used go as new ones are made: the table stays a handful of rows.
  await db.query('delete from app_private.sign_in_codes where expires_at < now() - interval \'1 day\'');
  await db.query(
    `insert into app_private.sign_in_codes (code_hash, role, tenant_id, expires_at)
     values (sha256(convert_to($1, 'UTF8')), $2, $3, now() + make_interval(secs => $4))`,
    [code, role, tenantId ?? null, validForSeconds],
  );
  return code;
}

/** The dashboard's address that signs in with the code (the fragment stays in the browser). */
export function signInUrl(baseUrl: string, code: string): string {
  return `${baseUrl.replace(/\/$/, '')}/#sign-in=${code}`;
}

/**
 * `redeemSignInCode(code)`: a token for whom the code signs in, or an error (FLSIN) for a code
 * that is unknown, already used or expired. Runs as the request's role (anonymous, usually):
 * the SQL function is the one thing it may call in app_private.
 */
export function makeSignInPlugin(jwtSecret: string): GraphileConfig.Plugin {
  return extendSchema((build) => {
    const executor = build.input.pgRegistry.pgExecutors.main as PgExecutor;
    return {
      typeDefs: gql`
        """A token given for a sign-in link."""
        type SignIn {
          """The JWT to send as \`Authorization: Bearer <token>\`."""
          token: String!
          """Its role: \`app_user\` (a tenant's operator) or \`app_admin\`."""
          role: String!
          """Its tenant (none for the installation's operator)."""
          tenantId: UUID
          """When it expires."""
          expiresAt: Datetime!
        }
        extend type Mutation {
          """
          Exchanges the code of a one-time sign-in link (printed by \`npm start\` or
          \`finishline sign-in-link\`) for a token. A code works once, and not after it expires.
          """
          redeemSignInCode(code: String!): SignIn!
        }
      `,
      objects: {
        Mutation: {
          plans: {
            redeemSignInCode(_$root, { $code }) {
              const $grant = withPgClientTransaction(executor, $code, async (client, code) => {
                const { rows } = await client.query<{ role: Claims['role']; tenant_id: string | null }>({
                  text: 'select role, tenant_id from app_private.redeem_sign_in_code($1)',
                  values: [code],
                });
                return rows[0] ?? null;
              });
              return lambda($grant, (grant) => {
                if (!grant) throw new SignInCodeError();
                const claims: Claims = { role: grant.role, ...(grant.tenant_id ? { tenant_id: grant.tenant_id } : {}) };
                return {
                  token: signToken(jwtSecret, claims, SIGN_IN_TOKEN_EXPIRES_IN_SECONDS),
                  role: grant.role,
                  tenantId: grant.tenant_id,
                  expiresAt: new Date(Date.now() + SIGN_IN_TOKEN_EXPIRES_IN_SECONDS * 1000).toISOString(),
                };
              });
            },
          },
        },
      },
    };
  });
}

/** Shown to the client as it is (the error masking keeps messages of FL… codes). */
class SignInCodeError extends Error {
  code = 'FLSIN';
  constructor() {
    super('this sign-in link is unknown, used already or expired: ask for a new one (finishline sign-in-link) or paste a token');
  }
}
