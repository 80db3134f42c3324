// PostGraphile V5 over app_public: the preset, and the few plugins that make it ours (auth from
// JWTs, request limits, stable error codes, live batch progress).
import { fileURLToPath } from 'node:url';
import { PgAggregatesPreset } from '@graphile/pg-aggregates';
import pg from 'pg';
import { postgraphile, type PostGraphileInstance } from 'postgraphile';
import { makePgService, PgSubscriber } from 'postgraphile/adaptors/pg';
import { SafeError } from 'postgraphile/grafast';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'postgraphile/graphql';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { BatchProgressPlugin } from './batch_progress.ts';
import { AuthError, claimsFromAuthorization, pgSettingsFor, type Claims } from '../auth.ts';
import { dropUnanswered, PROBE_SILENT_SERVER } from '../db/dead_peers.ts';
import { applySessionSettings } from '../db/session.ts';
import { RURU_DASHBOARD_LINK } from './dashboard.ts';
import { makeMaskError, requestErrorsPlugin } from './graphql_errors.ts';
import { LIMITS, limitsPlugin } from './graphql_limits.ts';
import type { Log } from '../log.ts';
import { makeSignInPlugin } from './sign_in.ts';

declare global {
  namespace Grafast {
    interface Context {
      jwtClaims: Claims | null;
    }
  }
}

/**
 * Naming: columns named `id` stay `id` (Amber would rename them `rowId`) and the Node id is
 * `nodeId`; a function tagged `@listSuffix omit` gives its list field its own name, without `List`.
 */
const NamingPlugin: GraphileConfig.Plugin = {
  name: 'FinishlineNamingPlugin',
  version: '1.0.0',
  inflection: {
    replace: {
      customQueryListField(previous, _options, details) {
        if (details.resource.extensions?.tags?.listSuffix === 'omit') return this.camelCase(this.customQueryField(details));
        return previous!.call(this, details);
      },
      _attributeName(previous, _options, details) {
        return previous!.call(this, { ...details, skipRowId: true });
      },
      nodeIdFieldName() {
        return 'nodeId';
      },
    },
  },
};

export interface GraphQLOptions {
  /** For requests: each runs in transactions of its own, so this may be a transaction pooler. */
  connectionString: string;
  /**
   * For the LISTEN of subscriptions, which needs a session that lasts: the database itself. Null
   * turns subscriptions off ("Subscription not supported").
   */
  listenConnectionString: string | null;
  /** Connections the requests share. */
  poolSize: number;
  jwtSecret: string;
  /** How long one request's statement may run in the database. */
  statementTimeoutMs: number;
  log: Log;
}

function makePreset({ jwtSecret, statementTimeoutMs, log }: GraphQLOptions, pgService: GraphileConfig.PgServiceConfiguration, schema: () => GraphQLSchema | undefined): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgAggregatesPreset],
    plugins: [NamingPlugin, limitsPlugin(schema), requestErrorsPlugin(LIMITS.maxRequestBytes), BatchProgressPlugin, makeSignInPlugin(jwtSecret)],
    pgServices: [pgService],
    grafserv: {
      graphqlPath: '/graphql',
      // The dashboard (server/dashboard.ts) has '/'.
      graphiqlPath: '/graphiql',
      graphiql: true,
      websockets: true,
      maxRequestLength: LIMITS.maxRequestBytes,
      maskError: makeMaskError({ log, statementTimeoutMs }),
    },
    ruru: { htmlParts: { bodyContent: (original) => original + RURU_DASHBOARD_LINK } },
    grafast: {
      explain: false,
      context(requestContext) {
        const header =
          requestContext.node?.req.headers.authorization ?? requestContext.ws?.normalizedConnectionParams?.authorization;
        let claims: Claims | null;
        try {
          claims = claimsFromAuthorization(jwtSecret, header);
        } catch (error) {
          // A bad token: its statusCode (401/403) becomes the HTTP status, and a websocket's
          // client reads the same message and code.
          if (error instanceof AuthError) throw new SafeError(error.message, { statusCode: error.statusCode, code: error.code });
          throw error;
        }
        return { jwtClaims: claims, pgSettings: pgSettingsFor(claims, statementTimeoutMs) };
      },
    },
  };
}

export interface GraphQLService {
  pgl: PostGraphileInstance;
  /** Releases PostGraphile, then closes its connections. */
  release(): Promise<void>;
}

/** How long past its bound a statement may go unanswered before its connection is dropped. */
const UNANSWERED_MARGIN_MS = 10_000;

export function createPostGraphile(options: GraphQLOptions): GraphQLService {
  // Our own pools, so that a lost connection is logged as one JSON line (PostGraphile's own pool
  // prints a stack trace) and the number of connections is ours to bound.
  // A connection whose database vanished (a failover) fails within seconds, not hours.
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize, application_name: 'finishline graphql', ...PROBE_SILENT_SERVER, onConnect: applySessionSettings });
  watchConnections(pool, 'GraphQL', options.log);
  // Every statement of a request answers within its statement_timeout; one that has not, well
  // after, was sent to a database that is gone.
  dropUnanswered(pool, options.statementTimeoutMs + UNANSWERED_MARGIN_MS);
  // One connection holds every LISTEN of the process (PgSubscriber takes one client and keeps it).
  // It is opened now and kept: a subscription's first LISTEN then waits for no connection setup,
  // during which its batch could finish unheard.
  const listenPool = options.listenConnectionString === null
    ? null
    : new pg.Pool({ connectionString: options.listenConnectionString, max: 1, idleTimeoutMillis: 0, application_name: 'finishline listen', ...PROBE_SILENT_SERVER, onConnect: applySessionSettings });
  if (listenPool) {
    watchConnections(listenPool, 'LISTEN', options.log);
    dropUnanswered(listenPool, UNANSWERED_MARGIN_MS);
    listenPool.connect().then((client) => client.release(), () => {});
  }
  const pgSubscriber = listenPool && new PgSubscriber(listenPool);
  const pgService = makePgService({ pool, schemas: ['app_public'], pubsub: pgSubscriber !== null, pgSubscriber });
  let schema: GraphQLSchema | undefined;
  const pgl = postgraphile(makePreset(options, pgService, () => schema));
  // The request limits need the built schema; requests are served only once it is built.
  Promise.resolve(pgl.getSchema()).then((built) => (schema = built), () => {});
  return {
    pgl,
    async release() {
      await pgl.release();
      // Releasing PostGraphile leaves its service alone, and the service leaves a subscriber it
      // was given: its LISTEN connection would keep its pool from ending.
      await pgService.release?.();
      pgSubscriber?.release();
      await Promise.all([pool.end(), listenPool?.end()]);
    },
  };
}

function watchConnections(pool: pg.Pool, what: string, log: Log): void {
  const fields = (error: Error) => ({ error: error.message, code: (error as { code?: string }).code });
  pool.on('error', (error) => log.warn(`idle ${what} database connection lost`, fields(error)));
  pool.on('connect', (client) => client.on('error', (error) => log.warn(`${what} database connection lost`, fields(error))));
}

export const schemaPath = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The schema as SDL, sorted, as committed in schema.graphql (tests fail when it is stale). */
export async function printSchemaSDL({ pgl }: GraphQLService): Promise<string> {
  return printSchema(lexicographicSortSchema(await pgl.getSchema())) + '\n';
}
