/**
 * The storage and command engine of the MongoDB-compatible development server: databases of
 * collections held in memory, MongoDB's command replies and error codes, query/update/aggregation
 * semantics from mingo, and the parts mingo lacks (unique/sparse/compound indexes, `$text` with
 * `textScore`, `$setOnInsert`, upserts, cursors). Anything else fails loudly with a MongoDB error.
 */
import { calculateObjectSize, deserialize, EJSON, Long, ObjectId, serialize } from 'bson';
import { Aggregator, Query, update as applyUpdate } from 'mingo';
import { matchText, parseSearch, scoreDocument, type TextIndexSpec } from './text';

export type Doc = Record<string, unknown>;

const MAX_BSON_SIZE = 16 * 1024 * 1024;
const SCORE = '__compat_text_score';
const MINGO = { idKey: '_id' };

export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    readonly extra: Doc = {},
  ) {
    super(message);
  }
}

interface Index {
  name: string;
  key: Doc;
  fields: string[];
  unique: boolean;
  sparse: boolean;
  text?: TextIndexSpec;
  options: Doc;
  /** Unique indexes only: key string → document. */
  entries?: Map<string, Doc>;
}

interface Collection {
  docs: Doc[];
  ids: Map<string, Doc>;
  indexes: Index[];
  /** Text index term scores, computed once per stored document version. */
  textScores: WeakMap<Doc, Map<string, number>>;
}

interface Cursor {
  ns: string;
  docs: Doc[];
  position: number;
}

const isPlainObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v) && v.constructor === Object;
const keyString = (v: unknown): string => EJSON.stringify(v, { relaxed: true });
const clone = (doc: Doc): Doc => deserialize(serialize(doc));

function getPath(doc: unknown, path: string): unknown[] {
  // All values a dotted path reaches, descending into arrays as MongoDB's multikey indexes do.
  let values: unknown[] = [doc];
  for (const part of path.split('.')) {
    const next: unknown[] = [];
    for (const v of values) {
      if (Array.isArray(v)) for (const item of v) next.push(isPlainObject(item) ? item[part] : undefined);
      else if (isPlainObject(v)) next.push(v[part]);
      else next.push(undefined);
    }
    values = next;
  }
  return values.flatMap((v) => (Array.isArray(v) ? (v.length ? v : [undefined]) : [v]));
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let target = doc;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(target[part])) target[part] = {};
    target = target[part] as Doc;
  }
  target[parts[parts.length - 1] ?? ''] = value;
}

export class Engine {
  private readonly databases = new Map<string, Map<string, Collection>>();
  private readonly cursors = new Map<bigint, Cursor>();
  private nextCursorId = 7_000_000_001n;

  run(db: string, body: Doc): Doc {
    const name = Object.keys(body)[0] ?? '';
    const handler = this.commands[name.toLowerCase()];
    if (!handler)
      throw new CommandError(59, 'CommandNotFound', `no such command: '${name}' (not supported by the MongoDB-compatible dev server)`);
    return handler(db, body);
  }

  private readonly commands: Record<string, (db: string, body: Doc) => Doc> = {
    hello: () => this.hello(),
    ismaster: () => this.hello(),
    ping: () => ({ ok: 1 }),
    buildinfo: () => ({
      version: '7.0.0',
      gitVersion: 'mongo-compat',
      versionArray: [7, 0, 0, 0],
      bits: 64,
      maxBsonObjectSize: MAX_BSON_SIZE,
      ok: 1,
    }),
    endsessions: () => ({ ok: 1 }),
    getlog: () => ({ log: [], totalLinesWritten: 0, ok: 1 }),
    listdatabases: () => ({
      databases: [...this.databases.keys()].map((name) => ({ name, sizeOnDisk: 0, empty: false })),
      totalSize: 0,
      ok: 1,
    }),
    dropdatabase: (db: string) => {
      this.databases.delete(db);
      return { dropped: db, ok: 1 };
    },
    create: (db, body) => {
      const name = this.collectionName(body, 'create');
      if (this.collection(db, name, false)) throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
      this.collection(db, name, true);
      return { ok: 1 };
    },
    drop: (db, body) => {
      const name = this.collectionName(body, 'drop');
      const coll = this.collection(db, name, false);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', 'ns not found');
      this.databases.get(db)?.delete(name);
      return { ns: `${db}.${name}`, nIndexesWas: coll.indexes.length, ok: 1 };
    },
    listcollections: (db, body) => {
      const all = [...(this.databases.get(db)?.entries() ?? [])].map(([name]) => ({
        name,
        type: 'collection',
        options: {},
        info: { readOnly: false },
        idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
      }));
      const filter = isPlainObject(body.filter) ? body.filter : {};
      return this.openCursor(`${db}.$cmd.listCollections`, new Query(filter, MINGO).find(all).all() as Doc[], body.cursor);
    },
    createindexes: (db, body) => this.createIndexes(db, body),
    listindexes: (db, body) => {
      const name = this.collectionName(body, 'listIndexes');
      const coll = this.collection(db, name, false);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
      const specs = coll.indexes.map((i) => ({ v: 2, key: i.key, name: i.name, ...i.options }));
      return this.openCursor(`${db}.${name}`, specs, body.cursor);
    },
    dropindexes: (db, body) => {
      const coll = this.mustCollection(db, this.collectionName(body, 'dropIndexes'));
      const index = body.index;
      const before = coll.indexes.length;
      coll.indexes = coll.indexes.filter(
        (i) => i.name === '_id_' || !(index === '*' || i.name === index || keyString(i.key) === keyString(index)),
      );
      if (before === coll.indexes.length && index !== '*')
        throw new CommandError(27, 'IndexNotFound', `index not found with name [${String(index)}]`);
      return { nIndexesWas: before, ok: 1 };
    },
    insert: (db, body) => this.insert(db, body),
    find: (db, body) => this.find(db, body),
    getmore: (_db, body) => this.getMore(body),
    killcursors: (_db, body) => {
      const ids = (body.cursors as Long[]).map((id) => BigInt(id.toString()));
      const killed = ids.filter((id) => this.cursors.delete(id));
      return {
        cursorsKilled: killed.map((id) => Long.fromBigInt(id)),
        cursorsNotFound: ids.filter((id) => !killed.includes(id)).map((id) => Long.fromBigInt(id)),
        cursorsAlive: [],
        cursorsUnknown: [],
        ok: 1,
      };
    },
    update: (db, body) => this.update(db, body),
    delete: (db, body) => this.delete(db, body),
    findandmodify: (db, body) => this.findAndModify(db, body),
    aggregate: (db, body) => this.aggregate(db, body),
    count: (db, body) => {
      const coll = this.collection(db, this.collectionName(body, 'count'), false);
      let n = coll ? this.select(coll, (body.query as Doc | undefined) ?? {}).docs.length : 0;
      n = Math.max(0, n - Number(body.skip ?? 0));
      if (body.limit) n = Math.min(n, Math.abs(Number(body.limit)));
      return { n, ok: 1 };
    },
    distinct: (db, body) => {
      const coll = this.collection(db, this.collectionName(body, 'distinct'), false);
      const values = new Map<string, unknown>();
      for (const doc of coll ? this.select(coll, (body.query as Doc | undefined) ?? {}).docs : [])
        for (const v of getPath(doc, String(body.key))) if (v !== undefined) values.set(keyString({ v }), v);
      return { values: [...values.values()], ok: 1 };
    },
  };

  private hello(): Doc {
    return {
      helloOk: true,
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: MAX_BSON_SIZE,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: 1,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
  }

  // ---- collections and indexes ---------------------------------------------------------------

  private collectionName(body: Doc, command: string): string {
    const name = body[Object.keys(body)[0] ?? command];
    if (typeof name !== 'string' || name.length === 0 || name.includes('$'))
      throw new CommandError(73, 'InvalidNamespace', `Invalid collection name for ${command}: ${String(name)}`);
    return name;
  }

  private collection(db: string, name: string, create: true): Collection;
  private collection(db: string, name: string, create: boolean): Collection | undefined;
  private collection(db: string, name: string, create: boolean): Collection | undefined {
    let database = this.databases.get(db);
    let coll = database?.get(name);
    if (!coll && create) {
      if (!database) this.databases.set(db, (database = new Map()));
      coll = { docs: [], ids: new Map(), indexes: [], textScores: new WeakMap() };
      coll.indexes.push(this.buildIndex(coll, { key: { _id: 1 }, name: '_id_' }));
      database.set(name, coll);
    }
    return coll;
  }

  private mustCollection(db: string, name: string): Collection {
    const coll = this.collection(db, name, false);
    if (!coll) throw new CommandError(26, 'NamespaceNotFound', `ns not found: ${db}.${name}`);
    return coll;
  }

  private buildIndex(coll: Collection, spec: Doc, ns = ''): Index {
    const key = spec.key as Doc;
    const name = String(spec.name);
    const options: Doc = {};
    for (const option of [
      'unique',
      'sparse',
      'weights',
      'default_language',
      'language_override',
      'partialFilterExpression',
      'expireAfterSeconds',
    ])
      if (spec[option] !== undefined) options[option] = spec[option];
    if (spec.partialFilterExpression !== undefined || spec.collation !== undefined)
      throw new CommandError(67, 'CannotCreateIndex', `index ${name}: partial and collation indexes are not supported by the dev server`);
    const textFields = Object.entries(key).filter(([, v]) => v === 'text');
    let text: TextIndexSpec | undefined;
    let storedKey = key;
    if (textFields.length > 0) {
      const weights = new Map<string, number>();
      for (const [field] of textFields) if (field !== '$**') weights.set(field, 1);
      for (const [field, w] of Object.entries((spec.weights as Doc | undefined) ?? {})) weights.set(field, Number(w));
      text = { weights, wildcard: textFields.some(([f]) => f === '$**') };
      storedKey = { _fts: 'text', _ftsx: 1 };
      options.weights = Object.fromEntries(text.wildcard ? [['$**', 1], ...weights] : weights);
      options.default_language ??= 'english';
      options.language_override ??= 'language';
      options.textIndexVersion = 3;
    }
    const index: Index = {
      name,
      key: storedKey,
      fields: Object.keys(key).filter((f) => key[f] !== 'text'),
      unique: spec.unique === true || name === '_id_',
      sparse: spec.sparse === true,
      text,
      options,
    };
    if (index.unique) {
      index.entries = new Map();
      for (const doc of coll.docs) {
        const conflict = this.uniqueConflicts(coll, doc, undefined, [index])[0];
        if (conflict) throw this.duplicateError(ns, conflict.index, conflict.key);
        for (const k of this.indexKeys(index, doc)) index.entries.set(k, doc);
      }
    }
    return index;
  }

  private createIndexes(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'createIndexes');
    const existed = this.collection(db, name, false) !== undefined;
    const coll = this.collection(db, name, true);
    const before = coll.indexes.length;
    for (const spec of body.indexes as Doc[]) {
      if (!isPlainObject(spec.key) || typeof spec.name !== 'string')
        throw new CommandError(9, 'FailedToParse', 'index spec needs key and name');
      const candidate = this.buildIndex({ docs: [], ids: new Map(), indexes: [], textScores: new WeakMap() }, spec);
      const sameName = coll.indexes.find((i) => i.name === candidate.name);
      const sameKey = coll.indexes.find((i) => keyString(i.key) === keyString(candidate.key));
      const same = (i: Index) => keyString(i.key) === keyString(candidate.key) && keyString(i.options) === keyString(candidate.options);
      if (sameName && same(sameName)) continue;
      if (sameName)
        throw new CommandError(
          86,
          'IndexKeySpecsConflict',
          `An existing index has the same name as the requested index but different key or options: ${candidate.name}`,
        );
      if (sameKey || (candidate.text && coll.indexes.some((i) => i.text)))
        throw new CommandError(
          85,
          'IndexOptionsConflict',
          `An equivalent index already exists with a different name or options: ${candidate.name}`,
        );
      coll.indexes.push(this.buildIndex(coll, spec, `${db}.${name}`));
      if (candidate.text) coll.textScores = new WeakMap();
    }
    return { createdCollectionAutomatically: !existed, numIndexesBefore: before, numIndexesAfter: coll.indexes.length, ok: 1 };
  }

  private indexKeys(index: Index, doc: Doc): string[] {
    const perField = index.fields.map((f) => getPath(doc, f));
    if (index.sparse && perField.every((values) => values.every((v) => v === undefined))) return [];
    let keys: unknown[][] = [[]];
    for (const values of perField) keys = keys.flatMap((prefix) => [...new Set(values)].map((v) => [...prefix, v ?? null]));
    return keys.map((k) => keyString({ k }));
  }

  private uniqueConflicts(coll: Collection, doc: Doc, self: Doc | undefined, indexes = coll.indexes): { index: Index; key: Doc }[] {
    const conflicts: { index: Index; key: Doc }[] = [];
    for (const index of indexes) {
      if (!index.entries) continue;
      for (const k of this.indexKeys(index, doc)) {
        const owner = index.entries.get(k);
        if (owner && owner !== self) {
          conflicts.push({ index, key: Object.fromEntries(index.fields.map((f) => [f, getPath(doc, f)[0] ?? null])) });
          break;
        }
      }
    }
    return conflicts;
  }

  private duplicateError(ns: string, index: Index, keyValue: Doc): CommandError {
    const shown = Object.entries(keyValue)
      .map(([k, v]) => `${k}: ${keyString({ v }).slice(5, -1)}`)
      .join(', ');
    return new CommandError(
      11000,
      'DuplicateKey',
      `E11000 duplicate key error collection: ${ns} index: ${index.name} dup key: { ${shown} }`,
      {
        keyPattern: Object.fromEntries(index.fields.map((f) => [f, 1])),
        keyValue,
      },
    );
  }

  /** Stores a new document or replaces `old` with `doc`, keeping every index consistent. */
  private store(ns: string, coll: Collection, doc: Doc, old?: Doc): void {
    if (calculateObjectSize(doc) > MAX_BSON_SIZE) throw new CommandError(10334, 'BSONObjectTooLarge', `object to insert too large: ${ns}`);
    const conflict = this.uniqueConflicts(coll, doc, old)[0];
    if (conflict) throw this.duplicateError(ns, conflict.index, conflict.key);
    if (old) this.unstore(coll, old, doc);
    else coll.docs.push(doc);
    for (const index of coll.indexes) for (const k of this.indexKeys(index, doc)) index.entries?.set(k, doc);
    coll.ids.set(keyString({ k: doc._id }), doc);
  }

  private unstore(coll: Collection, doc: Doc, replacement?: Doc): void {
    for (const index of coll.indexes)
      for (const k of this.indexKeys(index, doc)) if (index.entries?.get(k) === doc) index.entries.delete(k);
    coll.ids.delete(keyString({ k: doc._id }));
    const at = coll.docs.indexOf(doc);
    if (replacement) coll.docs[at] = replacement;
    else coll.docs.splice(at, 1);
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** Documents matching a filter; with `$text`, also their scores. */
  private select(coll: Collection, filter: Doc): { docs: Doc[]; scores?: Map<Doc, number> } {
    let rest = filter;
    let search: Doc | undefined;
    if (isPlainObject(filter.$text)) {
      ({ $text: search, ...rest } = filter as { $text: Doc });
    } else if (Array.isArray(filter.$and)) {
      const clauses = filter.$and as Doc[];
      const at = clauses.findIndex((c) => isPlainObject(c.$text));
      if (at >= 0) {
        search = clauses[at]?.$text as Doc;
        rest = { ...filter, $and: clauses.filter((_, i) => i !== at) };
        if ((rest.$and as Doc[]).length === 0) delete rest.$and;
      }
    }
    if (!search && JSON.stringify(filter).includes('"$text"'))
      throw new CommandError(2, 'BadValue', '$text is only supported at the top level of a filter (or in a top-level $and)');
    if (!search && Object.keys(filter).length === 1 && '_id' in filter && !isPlainObject(filter._id)) {
      const doc = coll.ids.get(keyString({ k: filter._id }));
      return { docs: doc ? [doc] : [] };
    }
    let docs = coll.docs;
    if (Object.keys(rest).length > 0) docs = new Query(rest, MINGO).find(docs).all() as Doc[];
    if (!search) return { docs };
    const index = coll.indexes.find((i) => i.text);
    if (!index?.text) throw new CommandError(27, 'IndexNotFound', 'text index required for $text query');
    if (typeof search.$search !== 'string') throw new CommandError(2, 'BadValue', '$text.$search must be a string');
    const spec = index.text;
    const query = parseSearch(search.$search);
    const scores = new Map<Doc, number>();
    for (const doc of docs) {
      let termScores = coll.textScores.get(doc);
      if (!termScores) coll.textScores.set(doc, (termScores = scoreDocument(spec, doc)));
      const score = matchText(spec, doc, query, termScores);
      if (score !== undefined) scores.set(doc, score);
    }
    return { docs: [...scores.keys()], scores };
  }

  private static splitMeta(spec: unknown): { plain: Doc; meta: string[] } {
    const plain: Doc = {};
    const meta: string[] = [];
    for (const [k, v] of Object.entries(isPlainObject(spec) ? spec : {})) {
      if (isPlainObject(v) && v.$meta !== undefined) {
        if (v.$meta !== 'textScore') throw new CommandError(2, 'BadValue', `unsupported $meta: ${JSON.stringify(v.$meta)}`);
        meta.push(k);
      } else plain[k] = v;
    }
    return { plain, meta };
  }

  private query(
    coll: Collection | undefined,
    filter: Doc,
    options: { sort?: unknown; projection?: unknown; skip?: number; limit?: number },
  ): Doc[] {
    if (!coll) return [];
    const { docs, scores } = this.select(coll, filter);
    const sort = Engine.splitMeta(options.sort);
    const projection = Engine.splitMeta(options.projection);
    if ((sort.meta.length || projection.meta.length) && !scores)
      throw new CommandError(17313, 'BadValue', 'query requires text score metadata, but it is not available (add a $text filter)');
    let rows = scores ? docs.map((d) => ({ ...d, [SCORE]: scores.get(d) })) : docs;
    const sortSpec: Doc = {};
    for (const k of Object.keys(isPlainObject(options.sort) ? options.sort : {}))
      sortSpec[sort.meta.includes(k) ? SCORE : k] = sort.plain[k] ?? -1;
    const sorted = Object.keys(sortSpec).length ? Engine.fastSort(rows, sortSpec) : rows;
    if (sorted) {
      const from = options.skip ?? 0;
      rows = sorted.slice(from, options.limit ? from + Math.abs(options.limit) : undefined);
    } else {
      let cursor = new Query({}, MINGO).find(rows).sort(sortSpec);
      if (options.skip) cursor = cursor.skip(options.skip);
      if (options.limit) cursor = cursor.limit(Math.abs(options.limit));
      rows = cursor.all() as Doc[];
    }
    const hasPlain = Object.keys(projection.plain).length > 0;
    const inclusive = Engine.isInclusion(projection.plain);
    const projected =
      hasPlain || scores ? this.project(rows, scores && !inclusive ? { ...projection.plain, [SCORE]: 0 } : projection.plain) : rows;
    if (projection.meta.length) projected.forEach((doc, i) => projection.meta.forEach((field) => (doc[field] = rows[i]?.[SCORE])));
    return projected;
  }

  /**
   * Sorts in plain JS when every sort key is a top-level field holding one kind of scalar (numbers,
   * strings or dates; missing/null first, as in MongoDB); undefined hands anything else to mingo.
   */
  private static fastSort(rows: Doc[], spec: Doc): Doc[] | undefined {
    const keys = Object.entries(spec);
    const kindOf = (v: unknown) => (v instanceof Date ? 'date' : typeof v);
    for (const [k] of keys) {
      if (k.includes('.')) return undefined;
      let kind: string | undefined;
      for (const row of rows) {
        const v = row[k];
        if (v === undefined || v === null) continue;
        const t = kindOf(v);
        if ((t !== 'number' && t !== 'string' && t !== 'date') || (kind && kind !== t)) return undefined;
        kind = t;
      }
    }
    const scalar = (v: unknown) => (v instanceof Date ? v.getTime() : (v as number | string));
    const compare = (a: unknown, b: unknown) => {
      if (a === undefined || a === null) return b === undefined || b === null ? 0 : -1;
      if (b === undefined || b === null) return 1;
      const x = scalar(a);
      const y = scalar(b);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    return [...rows].sort((a, b) => {
      for (const [k, direction] of keys) {
        const c = compare(a[k], b[k]);
        if (c !== 0) return direction === -1 ? -c : c;
      }
      return 0;
    });
  }

  /** Whether a projection lists what to keep: any field but _id kept, or `{_id: 1}` alone. */
  private static isInclusion(projection: Doc): boolean {
    const entries = Object.entries(projection);
    const kept = (v: unknown) => v !== 0 && v !== false;
    return entries.some(([k, v]) => k !== '_id' && kept(v)) || (entries.length === 1 && entries[0]?.[0] === '_id' && kept(entries[0][1]));
  }

  private project(rows: Doc[], projection: Doc): Doc[] {
    // Top-level fields only (the common case): picked directly, without mingo's general path resolution.
    const entries = Object.entries(projection);
    if (entries.every(([k, v]) => !k.includes('.') && !k.startsWith('$') && [0, 1, true, false].includes(v as number))) {
      const include = Engine.isInclusion(projection);
      const wanted = new Set(entries.filter(([, v]) => (v === 1 || v === true) === include).map(([k]) => k));
      const keepId = projection._id === undefined ? true : projection._id === 1 || projection._id === true;
      return rows.map((doc) => {
        const out: Doc = {};
        if (include) {
          if (keepId && '_id' in doc) out._id = doc._id;
          for (const k of wanted) if (k !== '_id' && k in doc) out[k] = doc[k];
        } else {
          for (const [k, v] of Object.entries(doc)) if (!wanted.has(k) && (k !== '_id' || keepId)) out[k] = v;
        }
        return out;
      });
    }
    try {
      return Object.keys(projection).length ? (new Query({}, MINGO).find(rows, projection).all() as Doc[]) : rows;
    } catch (error) {
      throw new CommandError(2, 'BadValue', `invalid projection: ${(error as Error).message}`);
    }
  }

  private openCursor(ns: string, docs: Doc[], cursorOptions: unknown, batchSize?: number, singleBatch = false): Doc {
    const size =
      batchSize ?? (isPlainObject(cursorOptions) && cursorOptions.batchSize !== undefined ? Number(cursorOptions.batchSize) : 101);
    const cursor: Cursor = { ns, docs, position: 0 };
    const firstBatch = this.batch(cursor, size);
    let id = 0n;
    if (!singleBatch && cursor.position < docs.length) {
      id = this.nextCursorId++;
      this.cursors.set(id, cursor);
    }
    return { cursor: { firstBatch, id: Long.fromBigInt(id), ns }, ok: 1 };
  }

  private batch(cursor: Cursor, size: number): Doc[] {
    const out: Doc[] = [];
    let bytes = 0;
    while (cursor.position < cursor.docs.length && (size <= 0 || out.length < size)) {
      const doc = cursor.docs[cursor.position];
      bytes += calculateObjectSize(doc);
      if (out.length > 0 && bytes > MAX_BSON_SIZE) break;
      out.push(doc);
      cursor.position++;
    }
    return out;
  }

  private find(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'find');
    const limit = body.limit === undefined ? undefined : Number(body.limit);
    const docs = this.query(this.collection(db, name, false), (body.filter as Doc | undefined) ?? {}, {
      sort: body.sort,
      projection: body.projection,
      skip: body.skip === undefined ? undefined : Number(body.skip),
      limit,
    });
    const batchSize = body.batchSize === undefined ? undefined : Number(body.batchSize);
    return this.openCursor(`${db}.${name}`, docs, undefined, batchSize ?? (limit || 101), body.singleBatch === true || (limit ?? 0) < 0);
  }

  private getMore(body: Doc): Doc {
    const id = BigInt(String(body.getMore));
    const cursor = this.cursors.get(id);
    if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
    const nextBatch = this.batch(cursor, body.batchSize === undefined ? 0 : Number(body.batchSize));
    const done = cursor.position >= cursor.docs.length;
    if (done) this.cursors.delete(id);
    return { cursor: { nextBatch, id: Long.fromBigInt(done ? 0n : id), ns: cursor.ns }, ok: 1 };
  }

  private aggregate(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'aggregate');
    const pipeline = [...((body.pipeline as Doc[] | undefined) ?? [])];
    const coll = this.collection(db, name, false);
    let docs: Doc[] = coll?.docs ?? [];
    const first = pipeline[0];
    if (coll && isPlainObject(first?.$match)) {
      docs = this.select(coll, first.$match).docs;
      pipeline.shift();
    }
    if (pipeline.some((stage) => ['$out', '$merge', '$lookup', '$unionWith', '$graphLookup'].includes(Object.keys(stage)[0] ?? '')))
      throw new CommandError(
        59,
        'CommandNotFound',
        `aggregation stage ${Object.keys(pipeline.find((s) => ['$out', '$merge', '$lookup', '$unionWith', '$graphLookup'].includes(Object.keys(s)[0] ?? '')) ?? {})[0]} is not supported by the dev server`,
      );
    let results: Doc[];
    try {
      results = pipeline.length ? new Aggregator(pipeline, MINGO).run<Doc>(docs) : docs;
    } catch (error) {
      throw new CommandError(2, 'BadValue', `aggregate: ${(error as Error).message}`);
    }
    return this.openCursor(`${db}.${name}`, results, body.cursor);
  }

  // ---- writes ----------------------------------------------------------------------------------

  private insert(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'insert');
    const coll = this.collection(db, name, true);
    const ordered = body.ordered !== false;
    const writeErrors: Doc[] = [];
    let n = 0;
    for (const [index, raw] of ((body.documents as Doc[] | undefined) ?? []).entries()) {
      try {
        const doc = raw._id === undefined ? { _id: new ObjectId(), ...raw } : raw;
        this.store(`${db}.${name}`, coll, doc);
        n++;
      } catch (error) {
        writeErrors.push(Engine.writeError(index, error));
        if (ordered) break;
      }
    }
    return writeErrors.length ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
  }

  private static writeError(index: number, error: unknown): Doc {
    if (error instanceof CommandError) return { index, code: error.code, codeName: error.codeName, errmsg: error.message, ...error.extra };
    return { index, code: 2, codeName: 'BadValue', errmsg: (error as Error).message };
  }

  /** Applies an update document (operators, replacement or pipeline) to a copy of `doc`. */
  private static applied(doc: Doc, update: unknown, arrayFilters: Doc[] | undefined, inserting: boolean): Doc {
    if (Array.isArray(update)) {
      const [result] = new Aggregator(update as Doc[], MINGO).run<Doc>([clone(doc)]);
      return { ...result, _id: doc._id };
    }
    if (!isPlainObject(update)) throw new CommandError(9, 'FailedToParse', 'update must be a document or a pipeline');
    const operators = Object.keys(update).filter((k) => k.startsWith('$'));
    if (operators.length === 0) {
      if (update._id !== undefined && keyString({ k: update._id }) !== keyString({ k: doc._id }))
        throw new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
      return { _id: doc._id, ...update };
    }
    if (operators.length !== Object.keys(update).length) throw new CommandError(9, 'FailedToParse', 'update mixes operators and fields');
    const { $setOnInsert, ...rest } = update;
    for (const [op, fields] of Object.entries(rest))
      if (isPlainObject(fields) && '_id' in fields && !(op === '$set' && keyString({ k: fields._id }) === keyString({ k: doc._id })))
        throw new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
    const copy = clone(doc);
    try {
      if (Object.keys(rest).length) applyUpdate(copy, rest, arrayFilters, undefined, { cloneMode: 'none' });
      if (inserting && isPlainObject($setOnInsert)) for (const [path, value] of Object.entries($setOnInsert)) setPath(copy, path, value);
    } catch (error) {
      throw new CommandError(2, 'BadValue', `update: ${(error as Error).message}`);
    }
    if (keyString({ k: copy._id }) !== keyString({ k: doc._id }))
      throw new CommandError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
    return copy;
  }

  /** The document an upsert starts from: the filter's equality conditions. */
  private static seed(filter: Doc): Doc {
    const seed: Doc = {};
    const visit = (f: Doc) => {
      for (const [k, v] of Object.entries(f)) {
        if (k === '$and' && Array.isArray(v)) (v as Doc[]).forEach(visit);
        else if (k.startsWith('$')) continue;
        else if (isPlainObject(v) && Object.keys(v).some((o) => o.startsWith('$'))) {
          if ('$eq' in v) setPath(seed, k, v.$eq);
        } else setPath(seed, k, v);
      }
    };
    visit(filter);
    return seed;
  }

  /** One update statement; returns what changed. */
  private updateOne(
    ns: string,
    coll: Collection,
    spec: { q: Doc; u: unknown; upsert?: boolean; multi?: boolean; arrayFilters?: Doc[]; sort?: unknown },
  ): { matched: number; modified: number; upserted?: unknown; before?: Doc; after?: Doc } {
    let targets = this.select(coll, spec.q).docs;
    if (spec.sort && isPlainObject(spec.sort) && Object.keys(spec.sort).length)
      targets = new Query({}, MINGO).find(targets).sort(spec.sort).all() as Doc[];
    if (!spec.multi) targets = targets.slice(0, 1);
    if (targets.length === 0) {
      if (!spec.upsert) return { matched: 0, modified: 0 };
      const seed = Array.isArray(spec.u) || Object.keys(spec.u as Doc).some((k) => k.startsWith('$')) ? Engine.seed(spec.q) : {};
      const base = { _id: seed._id ?? (spec.q._id !== undefined && !isPlainObject(spec.q._id) ? spec.q._id : new ObjectId()), ...seed };
      const doc = Engine.applied(base, spec.u, spec.arrayFilters, true);
      this.store(ns, coll, doc);
      return { matched: 0, modified: 0, upserted: doc._id, after: doc };
    }
    let modified = 0;
    let before: Doc | undefined;
    let after: Doc | undefined;
    for (const target of targets) {
      const next = Engine.applied(target, spec.u, spec.arrayFilters, false);
      before ??= target;
      after ??= next;
      if (Buffer.compare(serialize(next), serialize(target)) === 0) continue;
      this.store(ns, coll, next, target);
      modified++;
    }
    return { matched: targets.length, modified, before, after };
  }

  private update(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'update');
    const coll = this.collection(db, name, true);
    const ordered = body.ordered !== false;
    const writeErrors: Doc[] = [];
    const upserted: Doc[] = [];
    let n = 0;
    let nModified = 0;
    for (const [index, spec] of ((body.updates as Doc[] | undefined) ?? []).entries()) {
      try {
        const result = this.updateOne(`${db}.${name}`, coll, spec as never);
        n += result.matched + (result.upserted !== undefined ? 1 : 0);
        nModified += result.modified;
        if (result.upserted !== undefined) upserted.push({ index, _id: result.upserted });
      } catch (error) {
        writeErrors.push(Engine.writeError(index, error));
        if (ordered) break;
      }
    }
    return { n, nModified, ...(upserted.length ? { upserted } : {}), ...(writeErrors.length ? { writeErrors } : {}), ok: 1 };
  }

  private delete(db: string, body: Doc): Doc {
    const coll = this.collection(db, this.collectionName(body, 'delete'), false);
    let n = 0;
    for (const spec of (body.deletes as Doc[] | undefined) ?? []) {
      if (!coll) break;
      const targets = this.select(coll, (spec.q as Doc | undefined) ?? {}).docs;
      for (const doc of Number(spec.limit) === 1 ? targets.slice(0, 1) : [...targets]) {
        this.unstore(coll, doc);
        n++;
      }
    }
    return { n, ok: 1 };
  }

  private findAndModify(db: string, body: Doc): Doc {
    const name = this.collectionName(body, 'findAndModify');
    const ns = `${db}.${name}`;
    const coll = this.collection(db, name, true);
    const filter = (body.query as Doc | undefined) ?? {};
    const projection = body.fields ?? body.projection;
    const shape = (doc: Doc | undefined) =>
      (doc && isPlainObject(projection) && Object.keys(projection).length ? this.project([doc], projection)[0] : doc) ?? null;
    if (body.remove === true) {
      const [target] = this.query(coll, filter, { sort: body.sort, limit: 1 });
      const stored = target ? coll.ids.get(keyString({ k: target._id })) : undefined;
      if (stored) this.unstore(coll, stored);
      return { lastErrorObject: { n: stored ? 1 : 0 }, value: shape(stored), ok: 1 };
    }
    const result = this.updateOne(ns, coll, {
      q: filter,
      u: body.update,
      upsert: body.upsert === true,
      arrayFilters: body.arrayFilters as Doc[] | undefined,
      sort: body.sort,
    });
    const lastErrorObject: Doc = { n: result.matched || (result.upserted !== undefined ? 1 : 0), updatedExisting: result.matched > 0 };
    if (result.upserted !== undefined) lastErrorObject.upserted = result.upserted;
    const value = body.new === true ? result.after : result.before;
    return { lastErrorObject, value: shape(value), ok: 1 };
  }
}
