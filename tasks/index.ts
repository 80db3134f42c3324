// The task list: every task the worker runs, by identifier (one file each, named after it).
import type { TaskList } from 'graphile-worker';
import { aggregate_batch } from './aggregate_batch.ts';
import { fail } from './fail.ts';
import { import_catalog } from './import_catalog.ts';
import { noop } from './noop.ts';
import { scrape_pages } from './scrape_pages.ts';
import { sweep_batches } from './sweep_batches.ts';

export const taskList: TaskList = {
  aggregate_batch,
  fail,
  import_catalog,
  noop,
  scrape_pages,
  sweep_batches,
};
