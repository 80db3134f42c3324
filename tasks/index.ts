// The task list: every task the worker runs, by identifier (one file each, named after it).
import type { TaskList } from 'graphile-worker';
import { aggregate_batch } from './aggregate_batch.ts';
import { fail } from './fail.ts';
import { import_catalog } from './import_catalog.ts';
import { noop } from './noop.ts';
import { retrain_recommender } from './retrain_recommender.ts';
import { score_reviews } from './score_reviews.ts';
import { score_sellers } from './score_sellers.ts';
import { scrape_pages } from './scrape_pages.ts';
import { start_review_scoring } from './start_review_scoring.ts';
import { sweep_batches } from './sweep_batches.ts';
import { train_review_scorer } from './train_review_scorer.ts';

export const taskList: TaskList = {
  aggregate_batch,
  fail,
  import_catalog,
  noop,
  retrain_recommender,
  score_reviews,
  score_sellers,
  scrape_pages,
  start_review_scoring,
  sweep_batches,
  train_review_scorer,
};
