// PostGraphile V5 over app_public: the preset, and the few plugins that make it ours (auth from
// JWTs, request limits, stable error codes, live batch progress).
import { fileURLToPath } from 'node:url';
import { PgAggregatesPreset } from '@graphile/pg-aggregates';
import pg from 'pg';
import { postgraphile, type PostGraphileInstance } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { SafeError } from 'postgraphile/grafast';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'postgraphile/graphql';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { BatchProgressPlugin } from './batch_progress.ts';
import { AuthError, claimsFromAuthorization, pgSettingsFor, type Claims } from '../auth.ts';
import { RURU_DASHBOARD_LINK } from './dashboard.ts';
import { makeMaskError } from './graphql_errors.ts';
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
  connectionString: string;
  jwtSecret: string;
  /** How long one request's statement may run in the database. */
  statementTimeoutMs: number;
  log: Log;
}

function makePreset({ jwtSecret, statementTimeoutMs, log }: GraphQLOptions, pgService: GraphileConfig.PgServiceConfiguration, schema: () => GraphQLSchema | undefined): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgAggregatesPreset],
    plugins: [NamingPlugin, limitsPlugin(schema), BatchProgressPlugin, makeSignInPlugin(jwtSecret)],
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

/** Connections PostGraphile's requests and its LISTEN for subscriptions share. */
const POOL_SIZE = 10;

export function createPostGraphile(options: GraphQLOptions): GraphQLService {
  // Our own pool, so that a lost connection is logged as one JSON line (PostGraphile's own pool
  // prints a stack trace) and the number of connections is ours to bound.
  const pool = new pg.Pool({ connectionString: options.connectionString, max: POOL_SIZE });
  pool.on('error', (error) => options.log.warn('idle GraphQL database connection lost', { error: error.message, code: (error as { code?: string }).code }));
  pool.on('connect', (client) =>
    client.on('error', (error) => options.log.warn('GraphQL database connection lost', { error: error.message, code: (error as { code?: string }).code })));
  const pgService = makePgService({ pool, schemas: ['app_public'], pubsub: true });
  let schema: GraphQLSchema | undefined;
  const pgl = postgraphile(makePreset(options, pgService, () => schema));
  // The request limits need the built schema; requests are served only once it is built.
  Promise.resolve(pgl.getSchema()).then((built) => (schema = built), () => {});
  return {
    pgl,
    async release() {
      await pgl.release();
      // Releasing PostGraphile leaves its service alone: its LISTEN connection would keep the
      // pool from ending.
      await pgService.release?.();
      await pool.end();
    },
  };
}

export const schemaPath = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The schema as SDL, sorted, as committed in schema.graphql (tests fail when it is stale). */
export async function printSchemaSDL({ pgl }: GraphQLService): Promise<string> {
  return printSchema(lexicographicSortSchema(await pgl.getSchema())) + '\n';
}
