// JWTs (HS256): the secret, minting tokens, and turning a verified token into the PostgreSQL
// role and settings of the request's transaction.
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { isUuid } from './uuid.ts';

export const JWT_AUDIENCE = 'finishline';

/**
 * Roles a token may name; anything else is refused. `app_user`: a tenant's operator;
 * `app_admin`: reviews products, runs scoring; with a tenant_id that tenant's admin, without
 * one the installation's operator, who sees every tenant;
 * `app_seller`: one shop of a tenant (claim `seller_id`); `app_shopper`: a tenant's shopper,
 * known only by the subject `sub`.
 */
export const TOKEN_ROLES = ['app_user', 'app_admin', 'app_seller', 'app_shopper'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];
export const ANONYMOUS_ROLE = 'app_anonymous';

export interface Claims {
  role: TokenRole;
  tenant_id?: string;
  sub?: string;
  /** Only in `app_seller` tokens: the seller (of `tenant_id`) the token acts for. */
  seller_id?: string;
}

/**
 * A token refused, with what the HTTP layer answers: 401 (FLJWT) for a missing, malformed,
 * expired or forged token; 403 (FLCLM) for a valid token whose claims are not acceptable.
 */
export class AuthError extends Error {
  readonly statusCode: 401 | 403;
  readonly code: 'FLJWT' | 'FLCLM';
  constructor(statusCode: 401 | 403, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = statusCode === 401 ? 'FLJWT' : 'FLCLM';
  }
}

/**
 * The configured secret (JWT_SECRET), or, for the embedded default (no DATABASE_URL), a secret
 * generated on first start and kept in the data directory. A shared server without JWT_SECRET is
 * refused: tokens must outlive any one process.
 */
export function resolveJwtSecret(options: { configured: string | undefined; dataDir: string; embedded: boolean }): string {
  if (options.configured) return options.configured;
  if (!options.embedded) throw new Error('JWT_SECRET is not set (it is generated only for the embedded database)');
  const file = path.join(options.dataDir, 'jwt-secret');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(options.dataDir, { recursive: true });
    fs.writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

function checkClaims(claims: Record<string, unknown>): Claims {
  const { role, tenant_id, sub, seller_id } = claims;
  if (typeof role !== 'string' || !(TOKEN_ROLES as readonly string[]).includes(role)) {
    throw new AuthError(403, `the token's role must be one of ${TOKEN_ROLES.join(', ')}`);
  }
  if (tenant_id !== undefined && (typeof tenant_id !== 'string' || !isUuid(tenant_id))) {
    throw new AuthError(403, "the token's tenant_id must be a uuid");
  }
  if (role === 'app_user' && tenant_id === undefined) throw new AuthError(403, 'an app_user token needs a tenant_id');
  if (sub !== undefined && typeof sub !== 'string') throw new AuthError(403, "the token's sub must be a string");
  if (role === 'app_seller') {
    if (tenant_id === undefined) throw new AuthError(403, 'an app_seller token needs a tenant_id');
    if (typeof seller_id !== 'string' || !isUuid(seller_id)) throw new AuthError(403, 'an app_seller token needs a seller_id (a uuid)');
  } else if (seller_id !== undefined) {
    throw new AuthError(403, 'only an app_seller token may carry a seller_id');
  }
  if (role === 'app_shopper') {
    if (tenant_id === undefined) throw new AuthError(403, 'an app_shopper token needs a tenant_id');
    if (!sub) throw new AuthError(403, 'an app_shopper token needs a sub (who the shopper is)');
  }
  return {
    role: role as TokenRole,
    tenant_id: tenant_id as string | undefined,
    sub: sub as string | undefined,
    seller_id: seller_id as string | undefined,
  };
}

export function signToken(secret: string, claims: Claims, expiresIn: jwt.SignOptions['expiresIn'] = '1h'): string {
  return jwt.sign(checkClaims({ ...claims }), secret, { algorithm: 'HS256', audience: JWT_AUDIENCE, expiresIn });
}

/** Secrets as key objects, made once: given a string, jsonwebtoken first tries (and fails) to
 * read it as a public key on every call. */
const secretKeys = new Map<string, KeyObject>();

export function verifyToken(secret: string, token: string): Claims {
  let key = secretKeys.get(secret);
  if (!key) secretKeys.set(secret, (key = createSecretKey(Buffer.from(secret))));
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, key, { algorithms: ['HS256'], audience: JWT_AUDIENCE });
  } catch (error) {
    throw new AuthError(401, `invalid token: ${(error as Error).message}`);
  }
  if (typeof payload === 'string') throw new AuthError(401, 'invalid token: not a JSON payload');
  return checkClaims(payload);
}

/** Reads `Authorization: Bearer <token>`; no header means anonymous. */
export function claimsFromAuthorization(secret: string, header: string | string[] | undefined): Claims | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(value);
  if (!match) throw new AuthError(401, 'the Authorization header must be "Bearer <token>"');
  return verifyToken(secret, match[1]);
}

/** The transaction settings of a request: its role and claims (empty strings for absent ones). */
export function pgSettingsFor(claims: Claims | null, statementTimeoutMs: number): Record<string, string> {
  return {
    role: claims?.role ?? ANONYMOUS_ROLE,
    'jwt.claims.role': claims?.role ?? ANONYMOUS_ROLE,
    'jwt.claims.tenant_id': claims?.tenant_id ?? '',
    'jwt.claims.sub': claims?.sub ?? '',
    'jwt.claims.seller_id': claims?.seller_id ?? '',
    statement_timeout: String(statementTimeoutMs),
  };
}
