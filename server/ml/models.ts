// Model versions as the worker uses them: the active version of a kind, loaded once per process
// into onnxruntime-node, and the training and building of new versions.
import type { InferenceSession } from 'onnxruntime-node';
import type pg from 'pg';
import { sellerScorerModel } from './onnx_models.ts';
import type { ReviewFeatureRow } from './review_features.ts';
import { loadSession, trainReviewScorer } from './scoring.ts';

export type ModelKind = 'review_scorer' | 'seller_scorer';

export interface ActiveModel {
  id: string;
  session: InferenceSession;
  metrics: Record<string, unknown>;
}

/**
 * The session of each kind's active version: a version's bytes never change, so it is loaded
 * once per process, and dropped when another version of its kind becomes active (tasks still
 * running on it keep their own reference).
 */
const sessions = new Map<ModelKind, { id: string; session: Promise<InferenceSession> }>();

/** Seller scores are pulled toward this prior with the weight of this many trusted reviews. */
export const SELLER_PRIOR = { priorScore: 0.5, priorStrength: 5 };

/** How many labelled reviews training reads at most (the most recent). */
const MAX_TRAINING_ROWS = 50_000;

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function activeModel(db: Queryable, kind: ModelKind): Promise<ActiveModel | null> {
  const { rows } = await db.query<{ id: string; metrics: Record<string, unknown> }>(
    'select id, metrics from app_public.model_versions where kind = $1 and is_active',
    [kind],
  );
  if (!rows[0]) return null;
  const { id, metrics } = rows[0];
  let loaded = sessions.get(kind);
  if (loaded?.id !== id) {
    const session = db
      .query<{ onnx: Buffer }>('select onnx from app_private.model_files where model_version_id = $1', [id])
      .then(({ rows: [file] }) => loadSession(new Uint8Array(file.onnx)));
    loaded = { id, session };
    sessions.set(kind, loaded);
    session.catch(() => {
      if (sessions.get(kind)?.session === session) sessions.delete(kind);
    });
  }
  return { id, session: await loaded.session, metrics };
}

export interface TrainingOutcome {
  versionId: string;
  activated: boolean;
  metrics: Record<string, unknown>;
}

/**
 * Trains a review scorer on the labelled reviews of every tenant and stores it; it becomes active
 * only if its held-out AUC is not worse than the active version's.
 */
export async function trainAndStoreReviewScorer(db: Queryable, seed = 1): Promise<TrainingOutcome | null> {
  const { rows } = await db.query<ReviewFeatureRow & { fake: boolean }>(
    `select f.*, r.moderation_verdict = 'fake' as fake
     from app_private.review_features(array(
       select id from app_public.reviews where moderation_verdict is not null order by created_at desc, id desc limit $1)) f
     join app_public.reviews r on r.id = f.review_id
     -- The hold-out split is by position: the same reviews give the same split, whatever the plan.
     order by f.review_id`,
    [MAX_TRAINING_ROWS],
  );
  const labels = rows.map((row) => (row.fake ? 1 : 0));
  if (rows.length < 20 || !labels.includes(0) || !labels.includes(1)) return null;
  const trained = await trainReviewScorer(rows, labels, seed);
  const active = await activeModel(db, 'review_scorer');
  const activeAuc = typeof active?.metrics.auc === 'number' ? active.metrics.auc : null;
  const activate = activeAuc === null || trained.metrics.auc >= activeAuc;
  const metrics = {
    ...trained.metrics,
    activated: activate,
    ...(activate ? {} : { kept_out_because: `held-out AUC ${trained.metrics.auc.toFixed(4)} is below the active version's ${activeAuc!.toFixed(4)}` }),
  };
  const { rows: [version] } = await db.query<{ id: string }>(
    'select id from app_private.store_model_version($1, $2, $3, $4, $5)',
    ['review_scorer', Buffer.from(trained.model), trained.metrics.training_rows, metrics, activate],
  );
  return { versionId: version.id, activated: activate, metrics };
}

/**
 * The active review scorer, trained first if there is none yet (a fresh installation scored
 * "now", by an admin, before the nightly run ever trained one); null when there are no labelled
 * reviews of both verdicts to train on. Chunks of one run ask at once: a lock keeps it to one
 * training, and the others then use its result.
 */
export async function activeOrFirstReviewScorer(db: Queryable): Promise<ActiveModel | null> {
  const active = await activeModel(db, 'review_scorer');
  if (active) return active;
  await db.query(`select pg_advisory_lock(hashtext('finishline first review scorer'))`);
  try {
    return (await activeModel(db, 'review_scorer')) ?? ((await trainAndStoreReviewScorer(db)) ? activeModel(db, 'review_scorer') : null);
  } finally {
    await db.query(`select pg_advisory_unlock(hashtext('finishline first review scorer'))`);
  }
}

/** The seller scorer has no weights to learn: its graph and prior make a version. */
export async function ensureSellerScorer(db: Queryable): Promise<void> {
  if (await activeModel(db, 'seller_scorer')) return;
  await db
    .query('select app_private.store_model_version($1, $2, 0, $3, true)', [
      'seller_scorer',
      Buffer.from(sellerScorerModel(SELLER_PRIOR)),
      { prior_score: SELLER_PRIOR.priorScore, prior_strength: SELLER_PRIOR.priorStrength },
    ])
    .catch((error: { code?: string }) => {
      // Another chunk built it at the same moment: theirs is as good as ours.
      if (error.code !== '23505') throw error;
    });
}
