// Kind `import_catalog`: one item imports one uploaded catalog file, `{"file_id": "<uuid>"}`, in
// one transaction, so that a crash mid-file leaves nothing half-imported and the retry starts
// clean. Invalid rows are reported in the item's result; a file that is not a catalog fails. The
// files of one import run at once; one whose reviews name products it cannot find waits for the
// files given before it (app_private.earlier_items_unfinished), which may be adding them.
import { importCatalogFile } from '../server/catalog/import_file.ts';
import { itemTask, RetryItemLaterError, type ChunkPayload } from '../server/worker/item_task.ts';
import { isUuid } from '../server/uuid.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      import_catalog: ChunkPayload;
    }
  }
}

/** How often a file waiting for the files before it in its import looks again. */
const EARLIER_FILES_CHECK_MS = 1000;

export const import_catalog = itemTask<{ fileId: string }>({
  parse(payload) {
    const { file_id } = payload as { file_id?: unknown };
    if (typeof file_id !== 'string' || !isUuid(file_id)) throw new Error('file_id must be the uuid of an uploaded catalog file');
    return { fileId: file_id };
  },
  async run({ fileId }, { itemId, tenantId, helpers, signal }) {
    // Two connections: one streams the file's chunks while the other is busy with COPY.
    return helpers.withPgClient((reader) =>
      helpers.withPgClient(async (writer) => {
        // A shutdown that has waited long enough stops the import at once, even in a long
        // statement: it rolls back and the item runner gives the item back, its attempt unspent.
        const backends = await Promise.all([reader, writer].map(async (client) => (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid));
        let cancelled: Promise<unknown> | undefined;
        const cancel = () => {
          cancelled = helpers
            .query('select pg_cancel_backend(pid) from unnest($1::int[]) as pid', [backends])
            .catch((error) => helpers.logger.error('could not cancel the import', { error }));
        };
        signal.addEventListener('abort', cancel, { once: true });
        // Not during commit or rollback: a cancelled rollback would hand the pool a broken transaction.
        const stopCancelling = async () => {
          signal.removeEventListener('abort', cancel);
          await cancelled;
        };
        await writer.query('begin');
        let stats: Awaited<ReturnType<typeof importCatalogFile>>;
        let waits: boolean;
        try {
          stats = await importCatalogFile(reader, writer, fileId, tenantId, { signal });
          await stopCancelling();
          waits = Boolean(stats.rejected_by_reason.unknown_product) && (await writer.query<{ waits: boolean }>(
            'select app_private.earlier_items_unfinished($1) as waits', [itemId])).rows[0].waits;
        } catch (error) {
          await stopCancelling();
          await writer.query('rollback');
          throw error;
        }
        await writer.query(waits ? 'rollback' : 'commit');
        if (waits) {
          throw new RetryItemLaterError(
            'reviews name products not found: waiting for the files before this one in the import, which may add them',
            new Date(Date.now() + EARLIER_FILES_CHECK_MS), false);
        }
        return { ...stats };
      }),
    );
  },
});

export default import_catalog;
