// What one GraphQL request may ask for: its size, its depth, its page sizes, and the rows it may
// make the server fetch. Each limit alone is easy to stay under while their product is not (ten
// aliases of a thousand batches with a thousand items each), so every request's rows are
// estimated from its page sizes, variables included, and refused before anything runs.
import { SafeError } from 'postgraphile/grafast';
import {
  GraphQLError,
  Kind,
  getNamedType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  parse,
  type ASTVisitor,
  type DocumentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'postgraphile/graphql';
import { syntaxErrorRefusal } from './graphql_errors.ts';

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
  /**
   * Nesting of a variable's value (a payload's arrays and objects in arrays and objects): no
   * batch's data goes that deep, and far deeper values would exhaust the server's stack.
   */
  maxValueDepth: 100,
  /** `first` / `last` of any connection. */
  maxPageSize: 1000,
  /** Rows a request may make the server fetch: the page sizes of nested connections multiplied out. */
  maxRows: 10_000,
  /**
   * Fields at a request's top level, aliases included: each is a statement of its own (its
   * nested fields join it), so a thousand aliases would be a thousand statements.
   */
  maxRootFields: 50,
  /**
   * Fields of a request once its fragments are spread where they are used: planning takes time
   * for each, and fragments that each spread the next twice reach millions in a few hundred
   * bytes. GraphiQL's introspection is some 230.
   */
  maxSpreadFields: 10_000,
  /** Groups a `groupedAggregates` list is counted as (it has no page size; groups are few). */
  groupsEstimate: 100,
  /**
   * Requests estimated at more rows than this run at most `heavyConcurrency` at a time (the
   * others wait their turn), so that many large answers at once can't exhaust the server's
   * memory; smaller ones never wait behind them.
   */
  heavyRows: 1000,
  heavyConcurrency: 2,
  /**
   * Operations running at once on one websocket (a dashboard follows 50 batches): each holds its
   * state in the server's memory for as long as it runs.
   */
  maxOperationsPerSocket: 100,
};

/** A request the client must change; `code` is one of sql/ERROR_CODES.md. */
function refuse(code: string, message: string): SafeError {
  return new SafeError(message, { statusCode: 400, code });
}

/**
 * A fragment's measure, worked out once (kept in `memo` by `key`) however often the fragment is
 * spread: a document that spreads each of twenty fragments twice in the next would otherwise be
 * walked 2^20 times.
 */
function onceEach(memo: Map<string, number>, key: string, measure: () => number): number {
  let value = memo.get(key);
  if (value === undefined) memo.set(key, (value = measure()));
  return value;
}

/** How deep a selection set nests fields, each fragment measured once (`measured`). */
function depthOf(selectionSet: SelectionSetNode | undefined, fragments: ValidationContext, measured: Map<string, number>, seen = new Set<string>()): number {
  if (!selectionSet) return 0;
  let deepest = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const name = selection.name.value;
      if (seen.has(name)) continue;
      const depth = onceEach(measured, name, () => depthOf(fragments.getFragment(name)?.selectionSet, fragments, measured, new Set([...seen, name])));
      deepest = Math.max(deepest, depth);
    } else if (selection.kind === Kind.FIELD && (selection.name.value === '__schema' || selection.name.value === '__type')) {
      // Introspection (GraphiQL's docs, codegen, Postman) nests `ofType` seven times: it reads
      // the schema, not data, and is not limited.
      continue;
    } else {
      const below = depthOf(selection.selectionSet, fragments, measured, seen);
      deepest = Math.max(deepest, selection.kind === Kind.FIELD ? 1 + below : below);
    }
  }
  return deepest;
}

/** Refuses operations nested deeper than LIMITS.maxDepth (a validation rule: cached by query text). */
export const depthRule: ValidationRule = (validation): ASTVisitor => ({
  OperationDefinition(node) {
    const depth = depthOf(node.selectionSet, validation, new Map());
    if (depth > LIMITS.maxDepth) {
      validation.reportError(new GraphQLError(`the query is ${depth} levels deep; at most ${LIMITS.maxDepth} are allowed`, { nodes: [node], extensions: { code: 'FLDEP' } }));
    }
  },
});

/** Parsed documents (or their syntax errors) by query text: the same few queries come again and again. */
const parsed = new Map<string, DocumentNode | GraphQLError>();
function parseCached(query: string): DocumentNode | GraphQLError {
  let document = parsed.get(query);
  if (document === undefined) {
    try {
      document = parse(query);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      document = error;
    }
    if (parsed.size > 1000) parsed.clear();
    parsed.set(query, document);
  }
  return document;
}

function valueOf(node: ValueNode | undefined, variables: Record<string, unknown>): unknown {
  if (!node) return undefined;
  if (node.kind === Kind.VARIABLE) return variables[node.name.value];
  if (node.kind === Kind.INT) return Number(node.value);
  if (node.kind === Kind.NULL) return null;
  return undefined;
}

function isConnection(type: GraphQLNamedType): boolean {
  return isObjectType(type) && type.name.endsWith('Connection') && 'pageInfo' in type.getFields();
}

function returnsList(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** How deeply `value` nests arrays and objects, counted without recursion and up to `limit` + 1. */
function nestingOf(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [next, depth] = pending.pop()!;
    if (next === null || typeof next !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const child of Object.values(next)) pending.push([child, depth + 1]);
  }
  return deepest;
}

/** Refuses a variable whose value nests deeper than LIMITS.maxValueDepth (FLDEP). */
function checkVariables(variables: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(variables)) {
    if (nestingOf(value, LIMITS.maxValueDepth) > LIMITS.maxValueDepth) {
      throw refuse('FLDEP', `the variable $${name} nests arrays and objects more than ${LIMITS.maxValueDepth} levels deep; at most ${LIMITS.maxValueDepth} are allowed`);
    }
  }
}

/**
 * The fields a selection set asks for at its own level, its fragments' included; not `__typename`
 * nor introspection. Each fragment is counted once (`counted`), however often it is spread.
 */
function fieldsAtLevel(selectionSet: SelectionSetNode, fragments: Map<string, { selectionSet: SelectionSetNode }>, counted: Map<string, number>, seen = new Set<string>()): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!selection.name.value.startsWith('__')) count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += fieldsAtLevel(selection.selectionSet, fragments, counted, seen);
    } else if (!seen.has(selection.name.value)) {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      count += fragment ? onceEach(counted, name, () => fieldsAtLevel(fragment.selectionSet, fragments, counted, new Set([...seen, name]))) : 0;
    }
  }
  return count;
}

/** The fields a selection set asks for at every level, each fragment's as often as it is spread (counted once each, in `counted`). */
function spreadFields(selectionSet: SelectionSetNode | undefined, fragments: Map<string, { selectionSet: SelectionSetNode }>, counted: Map<string, number>, seen = new Set<string>()): number {
  let count = 0;
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      count += 1 + spreadFields(selection.selectionSet, fragments, counted, seen);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += spreadFields(selection.selectionSet, fragments, counted, seen);
    } else if (!seen.has(selection.name.value)) {
      const name = selection.name.value;
      count += onceEach(counted, name, () => spreadFields(fragments.get(name)?.selectionSet, fragments, counted, new Set([...seen, name])));
    }
  }
  return count;
}

/**
 * Checks a request's variables' nesting and its page arguments, and returns the rows it may
 * fetch: for every field that returns rows, the product of the page sizes above it. A connection
 * whose rows are selected (`nodes` or `edges`) must say how many it wants, as GitHub's API asks:
 * without `first` or `last` it would return every row. Throws the client's error (FLDEP, FLPAG,
 * FLCST: too many rows, too many fields at the top level, or once fragments are spread).
 */
export function checkRequest(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>, operationName?: string | null): number {
  checkVariables(variables);
  const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [])));
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  const operation = operations.find((candidate) => !operationName || candidate.name?.value === operationName);
  if (!operation) return 0;
  const root = operation.operation === 'mutation' ? schema.getMutationType() : operation.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType();
  if (!root) return 0;
  const fields = spreadFields(operation.selectionSet, fragments, new Map());
  if (fields > LIMITS.maxSpreadFields) {
    throw refuse('FLCST', `this request asks for ${fields.toLocaleString('en')} fields once its fragments are spread where they are used; at most ${LIMITS.maxSpreadFields.toLocaleString('en')} are allowed`);
  }
  const rootFields = fieldsAtLevel(operation.selectionSet, fragments, new Map());
  if (rootFields > LIMITS.maxRootFields) {
    throw refuse('FLCST', `this request asks for ${rootFields.toLocaleString('en')} fields at its top level (aliases count, each is a query of its own); at most ${LIMITS.maxRootFields} are allowed: send several requests`);
  }

  // The rows a selection set may fetch for each row of its parent. A fragment's are the same
  // wherever it is spread on the same type (and inside or outside a connection): walked once each.
  const fragmentRows = new Map<string, number>();
  const rowsUnder = (selectionSet: SelectionSetNode | undefined, parent: GraphQLNamedType, inConnection: boolean, seen: Set<string>): number => {
    if (!selectionSet) return 0;
    let rows = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) continue;
        const on = schema.getType(fragment.typeCondition.name.value) ?? parent;
        rows += onceEach(fragmentRows, `${fragment.name.value} ${on.name} ${inConnection}`,
          () => rowsUnder(fragment.selectionSet, on, inConnection, new Set([...seen, fragment.name.value])));
        continue;
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) ?? parent : parent;
        rows += rowsUnder(selection.selectionSet, on, inConnection, seen);
        continue;
      }
      if (!isObjectType(parent) && !isInterfaceType(parent)) continue;
      const field: GraphQLField<unknown, unknown> | undefined = parent.getFields()[selection.name.value];
      if (!field) continue;
      const args = new Map((selection.arguments ?? []).map((argument) => [argument.name.value, valueOf(argument.value, variables)]));
      for (const name of ['first', 'last'] as const) {
        const value = args.get(name);
        if (value == null) continue;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > LIMITS.maxPageSize) {
          throw refuse('FLPAG', value !== null && typeof value === 'number' && value > LIMITS.maxPageSize
            ? `${name} may be at most ${LIMITS.maxPageSize}`
            : `${name} must be a whole number from 0 to ${LIMITS.maxPageSize}, not ${JSON.stringify(value)}`);
        }
      }
      const offset = args.get('offset');
      if (offset != null && (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0)) {
        throw refuse('FLPAG', `offset must be a whole number of at least 0, not ${JSON.stringify(offset)}`);
      }
      const type = getNamedType(field.type);
      if (isConnection(type)) {
        const pageSize = (args.get('first') ?? args.get('last')) as number | null | undefined;
        const selectsRows = selection.selectionSet?.selections.some((child) => child.kind !== Kind.FIELD || child.name.value === 'nodes' || child.name.value === 'edges');
        if (pageSize == null && selectsRows) {
          throw refuse('FLPAG', `${selection.name.value} is a connection: say how many rows you want with first or last (at most ${LIMITS.maxPageSize})`);
        }
        const page = pageSize ?? 0;
        rows += page + page * rowsUnder(selection.selectionSet, type, true, seen);
        continue;
      }
      if (isObjectType(type) || isInterfaceType(type)) {
        // nodes and edges of a connection were counted by the connection itself.
        if (returnsList(field.type) && !inConnection) {
          const pageSize = args.get('first') as number | null | undefined;
          const page = pageSize ?? (field.name === 'groupedAggregates' ? LIMITS.groupsEstimate : LIMITS.maxPageSize);
          rows += page + page * rowsUnder(selection.selectionSet, type, false, seen);
        } else {
          rows += (!inConnection && !parent.name.endsWith('Edge') ? 1 : 0) + rowsUnder(selection.selectionSet, type, false, seen);
        }
      }
    }
    return rows;
  };
  const rows = rowsUnder(operation.selectionSet, root, false, new Set());
  if (rows > LIMITS.maxRows) {
    throw refuse('FLCST', `this request could fetch ${rows.toLocaleString('en')} rows (its page sizes multiplied out); at most ${LIMITS.maxRows.toLocaleString('en')} are allowed: ask for smaller pages, or fewer nested connections at once`);
  }
  return rows;
}

/** The request-level limits, as a grafserv plugin; `schema` gives the built schema once it exists. */
export function limitsPlugin(schema: () => GraphQLSchema | undefined): GraphileConfig.Plugin {
  return {
    name: 'FinishlineLimitsPlugin',
    version: '1.0.0',
    grafserv: {
      middleware: {
        setPreset(next, event) {
          event.validationRules.push(depthRule);
          return next();
        },
        onSubscribe(next, event) {
          // (graphql-ws has counted this operation among the connection's already.)
          if (Object.keys(event.ctx.subscriptions).length > LIMITS.maxOperationsPerSocket) {
            return [new GraphQLError(`this connection runs ${LIMITS.maxOperationsPerSocket} operations already, as many as one may: complete one first`, { extensions: { code: 'FLBSY' } })];
          }
          return next();
        },
        processGraphQLRequestBody(next, event) {
          const { query, variableValues, operationName } = event.body;
          if (typeof query === 'string' && query.length > LIMITS.maxQueryLength) {
            throw new SafeError(`the query is ${query.length} characters long; at most ${LIMITS.maxQueryLength} are allowed (pass data as variables)`, { statusCode: 413, code: 'FLLEN' });
          }
          const built = schema();
          const document = typeof query === 'string' ? parseCached(query) : null;
          if (document instanceof GraphQLError) throw syntaxErrorRefusal(document);
          if (built && document) {
            checkRequest(built, document, (variableValues ?? {}) as Record<string, unknown>, typeof operationName === 'string' ? operationName : null);
          }
          return next();
        },
      },
    },
    grafast: {
      middleware: {
        async execute(next, { args }) {
          const rows = checkRequest(args.schema, args.document, (args.variableValues ?? {}) as Record<string, unknown>, args.operationName);
          if (rows <= LIMITS.heavyRows) return next();
          await heavyLane.acquire();
          try {
            return await next();
          } finally {
            heavyLane.release();
          }
        },
      },
    },
  };
}

/** A counting semaphore: `acquire` waits for one of `size` places, in arrival order. */
function semaphore(size: number) {
  let free = size;
  const queue: Array<() => void> = [];
  return {
    acquire(): Promise<void> {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise((resolve) => queue.push(resolve));
    },
    release(): void {
      const next = queue.shift();
      if (next) next();
      else free++;
    },
  };
}

const heavyLane = semaphore(LIMITS.heavyConcurrency);
