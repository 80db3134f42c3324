// GET /metrics: Prometheus text. Database figures are read at scrape time (the database is the
// truth, and several processes share it); request durations are this process's own.
import type pg from 'pg';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  graphqlDuration: Histogram<'status'>;
}

export function createMetrics(pool: pg.Pool): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'finishline_' });
  // prom-client names three gauges `…_total`, which Prometheus reserves for counters (promtool
  // refuses them); the same figures remain, by type, in `finishline_nodejs_active_handles` etc.
  for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`finishline_nodejs_active_${name}_total`);

  const fromQuery = <L extends string>(name: string, help: string, labelNames: L[], sql: string, valueColumn = 'value') =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const { rows } = await pool.query<Record<string, string>>(sql);
        this.reset();
        for (const row of rows) {
          const labels = Object.fromEntries(labelNames.map((label) => [label, row[label]])) as Record<L, string>;
          this.set(labels, Number(row[valueColumn]));
        }
      },
    });

  fromQuery('finishline_batches', 'Batches by kind and status.', ['kind', 'status'],
    'select kind, status, count(*) as value from app_public.batches group by kind, status');
  fromQuery('finishline_items', 'Items by kind and status, from the batch counters.', ['kind', 'status'], `
    select b.kind, s.status, sum(s.n) as value
    from app_public.batches b
    join app_private.batch_counters c on c.batch_id = b.id
    cross join lateral (values ('pending', c.pending_items), ('processing', c.processing_items),
      ('succeeded', c.succeeded_items), ('failed', c.failed_items), ('cancelled', c.cancelled_items)) as s(status, n)
    group by b.kind, s.status`);
  fromQuery('finishline_queue_runnable_jobs', 'Jobs that could run now, by task.', ['task'], `
    select task_identifier as task, count(*) as value from graphile_worker.jobs
    where run_at <= now() and locked_at is null and attempts < max_attempts group by task_identifier`);
  fromQuery('finishline_queue_oldest_runnable_job_age_seconds', 'Age of the oldest job that could run now.', [], `
    select coalesce(extract(epoch from now() - min(run_at)), 0) as value from graphile_worker.jobs
    where run_at <= now() and locked_at is null and attempts < max_attempts`);
  fromQuery('finishline_sweeper_repairs', 'Repairs the sweeper has logged, by kind of repair (each means a crash or damage).', ['repair'],
    'select repair, count(*) as value from app_private.sweeper_repairs group by repair');
  fromQuery('finishline_live_workers', 'Worker processes with a fresh heartbeat.', [], `
    select count(*) as value from app_private.workers where app_private.worker_is_alive(id)`);

  const graphqlDuration = new Histogram({
    name: 'finishline_graphql_request_duration_seconds',
    help: 'Duration of GraphQL HTTP requests.',
    labelNames: ['status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, graphqlDuration };
}
