// Kind `import_catalog`: one item imports one uploaded catalog file, `{"file_id": "<uuid>"}`, in
// one transaction, so that a crash mid-file leaves nothing half-imported and the retry starts
// clean. Invalid rows are reported in the item's result; a file that is not a catalog fails.
import { importCatalogFile } from '../server/catalog/import_file.ts';
import { itemTask, type ChunkPayload } from '../server/item_task.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      import_catalog: ChunkPayload;
    }
  }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const import_catalog = itemTask<{ fileId: string }>({
  parse(payload) {
    const { file_id } = payload as { file_id?: unknown };
    if (typeof file_id !== 'string' || !uuid.test(file_id)) throw new Error('file_id must be the uuid of an uploaded catalog file');
    return { fileId: file_id };
  },
  async run({ fileId }, { tenantId, helpers }) {
    // Two connections: one streams the file's chunks while the other is busy with COPY.
    return helpers.withPgClient((reader) =>
      helpers.withPgClient(async (writer) => {
        await writer.query('begin');
        try {
          const stats = await importCatalogFile(reader, writer, fileId, tenantId);
          await writer.query('commit');
          return { ...stats };
        } catch (error) {
          await writer.query('rollback');
          throw error;
        }
      }),
    );
  },
});

export default import_catalog;
