// `PUT /catalog-files/<filename>`: a catalog file as the raw request body, streamed into the
// database as it arrives (the CLI's `--server` mode uses it; GraphQL's uploadCatalogFile takes
// base64 within the request size limit). The bearer token's tenant owns the file.
import type http from 'node:http';
import type pg from 'pg';
import { AuthError, claimsFromAuthorization } from '../auth.ts';
import type { Log } from '../log.ts';
import { CatalogFileTooLarge, storeCatalogFile } from './upload.ts';

export const CATALOG_UPLOAD_PATH = '/catalog-files/';

/** Roles that may upload: those that submit batches for their tenant. */
const UPLOADING_ROLES = new Set(['app_user', 'app_admin']);

function reply(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function handleCatalogUpload(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  { pool, jwtSecret, log }: { pool: pg.Pool; jwtSecret: string; log: Log },
): Promise<void> {
  let tenantId: string;
  try {
    const claims = claimsFromAuthorization(jwtSecret, req.headers.authorization);
    if (!claims) throw new AuthError(401, 'uploading a catalog file needs a token (Authorization: Bearer <token>)');
    if (!UPLOADING_ROLES.has(claims.role) || !claims.tenant_id) throw new AuthError(403, 'uploading a catalog file needs an app_user (or app_admin) token with a tenant_id');
    tenantId = claims.tenant_id;
  } catch (error) {
    const status = error instanceof AuthError ? error.statusCode : 401;
    return reply(res, status, { error: (error as Error).message });
  }
  const path = (req.url ?? '').split('?')[0];
  let filename: string;
  try {
    filename = decodeURIComponent(path.slice(CATALOG_UPLOAD_PATH.length));
  } catch {
    filename = '';
  }
  if (filename === '' || filename.length > 255 || filename.includes('/')) {
    return reply(res, 400, { error: 'name the file in the path: PUT /catalog-files/<filename> (1 to 255 characters, no slash)' });
  }
  const client = await pool.connect();
  try {
    const { rows: [{ max }] } = await client.query<{ max: string }>('select app_private.max_catalog_file_bytes() as max');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > Number(max)) throw new CatalogFileTooLarge(filename, Number(max));
    const uploaded = await storeCatalogFile(client, tenantId, filename, req);
    log.info('catalog file uploaded', { tenant_id: tenantId, file_id: uploaded.id, bytes: uploaded.sizeBytes, reused: uploaded.reused });
    reply(res, uploaded.reused ? 200 : 201, uploaded);
  } catch (error) {
    if (error instanceof CatalogFileTooLarge) {
      // The rest of the body is not wanted: answer, then close the connection.
      res.setHeader('connection', 'close');
      reply(res, 413, { error: error.message, code: error.code });
    } else {
      log.error('catalog upload failed', { tenant_id: tenantId, error });
      reply(res, 500, { error: 'the upload failed; see the server log' });
    }
  } finally {
    client.release();
  }
}
