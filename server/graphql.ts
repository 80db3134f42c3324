// PostGraphile V5 over app_public: the preset, and the few plugins that make it ours (auth from
// JWTs, request limits, stable error codes, live batch progress).
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PgAggregatesPreset } from '@graphile/pg-aggregates';
import { postgraphile, type PostGraphileInstance } from 'postgraphile';
import type { PgResource } from 'postgraphile/@dataplan/pg';
import { makePgService } from 'postgraphile/adaptors/pg';
import { context, isSafeError, lambda, listen } from 'postgraphile/grafast';
import { httpError } from 'postgraphile/grafserv';
import {
  GraphQLError,
  Kind,
  lexicographicSortSchema,
  parse,
  printSchema,
  type ASTVisitor,
  type ValidationContext,
  type ValidationRule,
} from 'postgraphile/graphql';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { extendSchema, gql } from 'postgraphile/utils';
import { claimsFromAuthorization, pgSettingsFor, type Claims } from './auth.ts';
import { RURU_DASHBOARD_LINK } from './dashboard.ts';
import type { Log } from './log.ts';
import { makeSignInPlugin } from './sign_in.ts';

export const LIMITS = {
  /**
   * Bytes of a request body (413 past it). A batch's items come in one request (submitBatch, as
   * `finishline scrape --server` sends them): room for some 50,000 URLs.
   */
  maxRequestBytes: 8_000_000,
  /** Characters of the query document itself (413 past it): the body's room is for variables. */
  maxQueryLength: 100_000,
  /** Nesting of selections. */
  maxDepth: 12,
  /** `first` / `last` of any connection. */
  maxPageSize: 1000,
  /** Per request, in the database. */
  statementTimeoutMs: 5000,
};

/** PostgreSQL errors a client may see as they are: ours (FL…) and data errors it caused. */
const CLIENT_ERROR_CODES = new Set(['23502', '23503', '23505', '23514', '22P02', '22023', '42501']);

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

function depthOf(selectionSet: { selections: readonly unknown[] } | undefined, fragments: ValidationContext, seen = new Set<string>()): number {
  if (!selectionSet) return 0;
  let deepest = 0;
  for (const selection of selectionSet.selections as Array<{ kind: string; selectionSet?: { selections: readonly unknown[] }; name?: { value: string } }>) {
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const name = selection.name!.value;
      if (seen.has(name)) continue;
      const fragment = fragments.getFragment(name);
      deepest = Math.max(deepest, depthOf(fragment?.selectionSet, fragments, new Set([...seen, name])));
    } else {
      const below = depthOf(selection.selectionSet, fragments, seen);
      deepest = Math.max(deepest, selection.kind === Kind.FIELD ? 1 + below : below);
    }
  }
  return deepest;
}

/** Refuses operations nested deeper than LIMITS.maxDepth, and literal page sizes over the cap. */
const limitsRule: ValidationRule = (validation): ASTVisitor => ({
  OperationDefinition(node) {
    const depth = depthOf(node.selectionSet, validation);
    if (depth > LIMITS.maxDepth) {
      validation.reportError(new GraphQLError(`the query is ${depth} levels deep; at most ${LIMITS.maxDepth} are allowed`, { nodes: [node], extensions: { code: 'FLDEP' } }));
    }
  },
  Argument(node) {
    if ((node.name.value === 'first' || node.name.value === 'last') && node.value.kind === Kind.INT && Number(node.value.value) > LIMITS.maxPageSize) {
      validation.reportError(new GraphQLError(`${node.name.value} may be at most ${LIMITS.maxPageSize}`, { nodes: [node], extensions: { code: 'FLPAG' } }));
    }
  },
});

/** Names of the variables a query passes as `first` or `last`, cached by query text. */
const pageSizeVariables = new Map<string, string[]>();
function pageSizeVariablesOf(query: string): string[] {
  let names = pageSizeVariables.get(query);
  if (!names) {
    names = [];
    try {
      const found = names;
      const visit = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(visit);
        if (!node || typeof node !== 'object') return;
        const candidate = node as { kind?: string; name?: { value: string }; value?: { kind: string; name?: { value: string } } };
        if (candidate.kind === Kind.ARGUMENT && (candidate.name?.value === 'first' || candidate.name?.value === 'last') && candidate.value?.kind === Kind.VARIABLE) {
          found.push(candidate.value.name!.value);
        }
        for (const [key, child] of Object.entries(node)) if (key !== 'loc') visit(child);
      };
      visit(parse(query));
    } catch {
      // A query that does not parse is refused by the server with its syntax error.
    }
    if (pageSizeVariables.size > 1000) pageSizeVariables.clear();
    pageSizeVariables.set(query, names);
  }
  return names;
}

const LimitsPlugin: GraphileConfig.Plugin = {
  name: 'FinishlineLimitsPlugin',
  version: '1.0.0',
  grafserv: {
    middleware: {
      setPreset(next, event) {
        event.validationRules.push(limitsRule);
        return next();
      },
      processGraphQLRequestBody(next, event) {
        const { query, variableValues } = event.body;
        if (typeof query === 'string' && query.length > LIMITS.maxQueryLength) {
          throw httpError(413, `the query is ${query.length} characters long; at most ${LIMITS.maxQueryLength} are allowed (pass data as variables)`);
        }
        if (typeof query === 'string' && variableValues) {
          for (const name of pageSizeVariablesOf(query)) {
            const value = (variableValues as Record<string, unknown>)[name];
            if (typeof value === 'number' && value > LIMITS.maxPageSize) {
              throw httpError(400, `$${name} is a page size: at most ${LIMITS.maxPageSize}`);
            }
          }
        }
        return next();
      },
    },
  },
};

/** The LISTEN/NOTIFY channel of one batch's progress, scoped by the (verified) tenant. */
export function batchProgressTopic(tenantId: string, batchId: string): string {
  // Channel names are at most 63 bytes: a hash of the two ids.
  return `batch_progress:${createHash('md5').update(`${tenantId.toLowerCase()}:${batchId.toLowerCase()}`).digest('hex')}`;
}

/** `batchProgress(batchId)`: the batch's status summary, pushed each time its counters move. */
const BatchProgressPlugin = extendSchema((build) => {
  const summaries = (build.input.pgRegistry.pgResources as Record<string, PgResource>).batch_status_summary;
  return {
    typeDefs: gql`
      extend type Subscription {
        """
        The batch's status summary, sent each time its items move (driven by NOTIFY from the
        transaction that moved them). Needs a token of the batch's tenant.
        """
        batchProgress(batchId: UUID!): BatchStatusSummary
      }
    `,
    objects: {
      Subscription: {
        plans: {
          batchProgress: {
            subscribePlan(_$root, { $batchId }) {
              const $topic = lambda([context().get('jwtClaims'), $batchId], ([claims, batchId]) => {
                if (!claims?.tenant_id) throw httpError(403, 'batchProgress needs a token with a tenant_id');
                return batchProgressTopic(claims.tenant_id, batchId as string);
              });
              return listen(context().get('pgSubscriber'), $topic);
            },
            plan(_$event, { $batchId }) {
              return summaries.get({ batch_id: $batchId });
            },
          },
        },
      },
    },
  };
});

export interface GraphQLOptions {
  connectionString: string;
  jwtSecret: string;
  log: Log;
}

export function makePreset({ connectionString, jwtSecret, log }: GraphQLOptions): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgAggregatesPreset],
    plugins: [NamingPlugin, LimitsPlugin, BatchProgressPlugin, makeSignInPlugin(jwtSecret)],
    pgServices: [makePgService({ connectionString, schemas: ['app_public'], pubsub: true })],
    grafserv: {
      graphqlPath: '/graphql',
      // The dashboard (server/dashboard.ts) has '/'.
      graphiqlPath: '/graphiql',
      graphiql: true,
      websockets: true,
      maxRequestLength: LIMITS.maxRequestBytes,
      maskError(error) {
        const original = error.originalError as (Error & { code?: unknown }) | undefined;
        if (!original || original instanceof GraphQLError || isSafeError(original)) return error;
        const code = typeof original.code === 'string' ? original.code : undefined;
        if (code && (code.startsWith('FL') || CLIENT_ERROR_CODES.has(code))) {
          // Raised on purpose by SQL (or a constraint the client ran into): the message is for them.
          return new GraphQLError(original.message, {
            nodes: error.nodes,
            source: error.source,
            positions: error.positions,
            path: error.path,
            originalError: original,
            extensions: { code },
          });
        }
        const errorId = createHash('sha1').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 12);
        log.error('graphql request failed', { error_id: errorId, error: original.message, path: error.path?.join('.') });
        return new GraphQLError(`internal error (logged as ${errorId})`, {
          nodes: error.nodes,
          source: error.source,
          positions: error.positions,
          path: error.path,
          originalError: original,
          extensions: { code: 'INTERNAL', errorId },
        });
      },
    },
    ruru: { htmlParts: { bodyContent: (original) => original + RURU_DASHBOARD_LINK } },
    grafast: {
      explain: false,
      context(requestContext) {
        const header =
          requestContext.node?.req.headers.authorization ?? requestContext.ws?.normalizedConnectionParams?.authorization;
        // A bad token throws AuthError, whose statusCode (401/403) becomes the HTTP status.
        const claims = claimsFromAuthorization(jwtSecret, header);
        return { jwtClaims: claims, pgSettings: pgSettingsFor(claims, LIMITS.statementTimeoutMs) };
      },
    },
  };
}

export function createPostGraphile(options: GraphQLOptions): PostGraphileInstance {
  return postgraphile(makePreset(options));
}

export const schemaPath = fileURLToPath(new URL('../schema.graphql', import.meta.url));

/** The schema as SDL, sorted, as committed in schema.graphql (tests fail when it is stale). */
export async function printSchemaSDL(pgl: PostGraphileInstance): Promise<string> {
  return printSchema(lexicographicSortSchema(await pgl.getSchema())) + '\n';
}
