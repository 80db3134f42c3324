// `PUT /catalog-files/<filename>`: a catalog file as the raw request body, streamed into the
// database as it arrives (the CLI's `--server` mode uses it; GraphQL's uploadCatalogFile takes
// base64 within the request size limit). The bearer token's tenant owns the file.
import type http from 'node:http';
import type pg from 'pg';
import { AuthError, claimsFromAuthorization } from '../auth.ts';
import { CatalogFileTooLarge, storeCatalogFile } from '../catalog/upload.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Log } from '../log.ts';
import { RETRY_AFTER_SECONDS } from './graphql_errors.ts';

export const CATALOG_UPLOAD_PATH = '/catalog-files/';

/** Roles that may upload: those that submit batches for their tenant. */
const UPLOADING_ROLES = new Set(['app_user', 'app_admin']);

/** The HTTP status of a coded refusal, where not 400. */
const CODED_REFUSAL_STATUS: Record<string, number> = { FLBIG: 413, FLTEN: 403 };

/** An answer's body: what went wrong and its code from sql/ERROR_CODES.md, or the stored file. */
function reply(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export interface CatalogUploadOptions {
  pool: pg.Pool;
  jwtSecret: string;
  log: Log;
}

/**
 * The upload route. An upload holds one of the pool's connections while its body streams in
 * (minutes for a large file), so at most all but one of them go to uploads: /health and /metrics
 * share the pool and must still answer. Uploads past that get 503 with a Retry-After.
 */
export function catalogUploadHandler({ pool, jwtSecret, log }: CatalogUploadOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const maxUploads = Math.max(1, (pool.options.max ?? 10) - 1);
  let uploads = 0;
  return async (req, res) => {
    if (uploads >= maxUploads) {
      return refuse(res, 503, { error: `the server is taking ${maxUploads} uploads at once already; try again shortly`, code: 'FLBSY' });
    }
    uploads++;
    try {
      await handleCatalogUpload(req, res, { pool, jwtSecret, log });
    } finally {
      uploads--;
    }
  };
}

/** Answers without reading the body: the connection closes after the answer, the rest unread. */
function refuse(res: http.ServerResponse, status: number, body: object): void {
  res.setHeader('connection', 'close');
  if (status === 503) res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
  reply(res, status, body);
}

async function handleCatalogUpload(req: http.IncomingMessage, res: http.ServerResponse, { pool, jwtSecret, log }: CatalogUploadOptions): Promise<void> {
  let tenantId: string;
  try {
    const claims = claimsFromAuthorization(jwtSecret, req.headers.authorization);
    if (!claims) throw new AuthError(401, 'uploading a catalog file needs a token (Authorization: Bearer <token>)');
    if (!UPLOADING_ROLES.has(claims.role) || !claims.tenant_id) throw new AuthError(403, 'uploading a catalog file needs an app_user (or app_admin) token with a tenant_id');
    tenantId = claims.tenant_id;
  } catch (error) {
    return error instanceof AuthError
      ? reply(res, error.statusCode, { error: error.message, code: error.code })
      : reply(res, 401, { error: (error as Error).message, code: 'FLJWT' });
  }
  const path = (req.url ?? '').split('?')[0];
  let filename: string;
  try {
    filename = decodeURIComponent(path.slice(CATALOG_UPLOAD_PATH.length));
  } catch {
    filename = '';
  }
  // (PostgreSQL cannot store a NUL; the other control characters would garble reports that name it.)
  if (filename === '' || filename.length > 255 || /[/\u0000-\u001f\u007f]/.test(filename)) {
    return reply(res, 400, { error: 'name the file in the path: PUT /catalog-files/<filename> (1 to 255 characters, no slash or control character)', code: 'FLREQ' });
  }
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    log.warn('catalog upload: no database connection', { tenant_id: tenantId, error });
    return refuse(res, 503, { error: 'the database is not available; try again later', code: 'FLDBU' });
  }
  // A connection lost while the body streams in is reported by pg as an 'error' event, which
  // nothing else listens to while the client is checked out (it would end the process); the
  // query in flight, or the next one, fails with it and is answered below.
  const onConnectionError = (error: Error) => log.warn('catalog upload: database connection lost', { tenant_id: tenantId, error });
  client.on('error', onConnectionError);
  try {
    const { rows: [{ max }] } = await client.query<{ max: string }>('select app_private.max_catalog_file_bytes() as max');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > Number(max)) throw new CatalogFileTooLarge(filename, Number(max));
    const uploaded = await storeCatalogFile(client, tenantId, filename, req);
    log.info('catalog file uploaded', { tenant_id: tenantId, file_id: uploaded.id, bytes: uploaded.sizeBytes, reused: uploaded.reused });
    reply(res, uploaded.reused ? 200 : 201, uploaded);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('FL')) {
      // A coded refusal (from SQL, or the size check above): the rest of the body is not wanted.
      refuse(res, CODED_REFUSAL_STATUS[code] ?? 400, { error: (error as Error).message, code });
    } else if (isDatabaseUnavailable(error)) {
      log.warn('catalog upload: the database went away', { tenant_id: tenantId, error });
      if (!res.headersSent) refuse(res, 503, { error: 'the database is not available; try again later', code: 'FLDBU' });
      else res.destroy();
    } else {
      log.error('catalog upload failed', { tenant_id: tenantId, error });
      if (!res.headersSent) refuse(res, 500, { error: 'the upload failed; see the server log', code: 'INTERNAL' });
      else res.destroy();
    }
  } finally {
    client.off('error', onConnectionError);
    client.release();
  }
}
