import { createConnection } from 'mysql2/promise';
import {
  DataSource,
  In,
  QueryFailedError,
  type EntityManager,
  type EntitySchema,
  type EntityTarget,
  type FindOptionsWhere,
  type MixedList,
  type ObjectLiteral,
} from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import type { MysqlDataSourceOptions } from 'typeorm/driver/mysql/MysqlDataSourceOptions.js';
import type { Driver } from 'typeorm/driver/Driver.js';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { ConfigError, loadConfig, type AppConfig } from '../config/config';

export type MysqlOptions = MysqlDataSourceOptions & { database: string };
type EntityList = MixedList<string | (new () => unknown) | EntitySchema>;

/**
 * TypeORM options for a service's own MySQL database. `type: 'mysql'` works against MariaDB too
 * and keeps one schema for both; `synchronize` is never on: the schema comes from migrations.
 */
export function mysqlOptions(
  config: AppConfig,
  database: string,
  entities: EntityList,
  migrations: (new () => unknown)[] = [],
): MysqlOptions {
  return {
    type: 'mysql',
    host: config.mysql.host,
    port: config.mysql.port,
    username: config.mysql.user,
    password: config.mysql.password,
    database,
    entities,
    migrations: migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    timezone: 'Z',
    charset: 'utf8mb4',
    poolSize: config.mysql.poolSize,
    // mysql2's `trace` captures a stack trace for every query, in case it fails (measured: 6.5 % of
    // the registry's CPU under reads). Failures are handled by their MySQL error code
    // (driverErrorCode) and logged with the code and message, which name the problem; the caller's
    // stack would add nothing.
    trace: false,
    // StatementBatch sends several parameterised statements in one round trip. Every statement of
    // the platform is built with placeholders (never by concatenating input), which is what keeps
    // multi-statement mode safe.
    extra: { connectionLimit: config.mysql.poolSize, multipleStatements: true },
  };
}

/** A connection to the server without a database selected (to create or drop databases). */
export function serverConnection(config: AppConfig) {
  return createConnection({ host: config.mysql.host, port: config.mysql.port, user: config.mysql.user, password: config.mysql.password });
}

/** Creates the database if it is missing (a fresh machine or a test run's own database). */
export async function ensureDatabase(config: AppConfig, database: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(database)) throw new Error(`refusing to create database with unsafe name '${database}'`);
  const conn = await serverConnection(config);
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

/** Creates the database if needed and applies pending migrations. Returns the names applied. */
export async function migrateDatabase(options: MysqlOptions, config: AppConfig): Promise<string[]> {
  await ensureDatabase(config, options.database);
  const ds = new DataSource({ ...options, migrationsTransactionMode: 'each' });
  await ds.initialize();
  try {
    const applied = await ds.runMigrations();
    return applied.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

/** The body of each service's `migrate.js`: apply migrations and report, exit 1 with the reason on failure. */
export async function runMigrationCli(service: string, options: (config: AppConfig) => MysqlOptions): Promise<void> {
  try {
    const config = loadConfig();
    const opts = options(config);
    const applied = await migrateDatabase(opts, config);
    process.stdout.write(
      applied.length
        ? `${service}: applied ${applied.length} migration(s) to ${opts.database}: ${applied.join(', ')}\n`
        : `${service}: database ${opts.database} is up to date\n`,
    );
  } catch (err) {
    process.stderr.write(
      `${service} migration failed: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(1);
  }
}

/**
 * INSERT one row without TypeORM re-reading it: on MySQL, `manager.insert` follows every insert
 * into an entity with column defaults by a SELECT of those columns (MySQL has no RETURNING) — a
 * wasted round trip when the row is fully given, as ours always are.
 */
export async function insertRow<E extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<E>, row: E): Promise<void> {
  await new StatementBatch(manager).insert(entity, row).flush();
}

/** mysql2's callback API, which TypeORM's runners hold underneath (see rawQuery). */
interface CallbackConnection {
  query(sql: string, values: unknown[], callback: (err: Error | null, result?: unknown) => void): void;
}

/**
 * A query on the manager's connection (its transaction, if any) through mysql2's callback API.
 * TypeORM's `query()` wraps every call in a new promise-API connection object, captures a stack
 * trace and broadcasts subscriber events — about a tenth of a hot write path's CPU, measured —
 * none of which these paths use (no query logging or subscribers are configured). Failures are
 * TypeORM's QueryFailedError, as from `query()`.
 */
export async function rawQuery(manager: EntityManager, sql: string, parameters: unknown[] = []): Promise<unknown> {
  const own = manager.queryRunner ? undefined : manager.connection.createQueryRunner();
  const runner = manager.queryRunner ?? own!;
  try {
    const connection = (await runner.connect()) as CallbackConnection;
    return await new Promise((resolve, reject) =>
      connection.query(sql, parameters, (err, result) => (err ? reject(new QueryFailedError(sql, parameters, err)) : resolve(result))),
    );
  } finally {
    if (own) await own.release();
  }
}

/**
 * SQL text of the statements StatementBatch sends, per entity and per shape of the values, built
 * once by TypeORM's query builders. Building a statement costs far more than sending it (named
 * parameters, regex replacements over the whole query: about a sixth of the registry's CPU per
 * version write, measured), yet for one entity and one shape — which columns get a value, which
 * are left to DEFAULT — the text is always the same; only the values change, and those are
 * prepared by the same driver call the builders use (`preparePersistentValue`). The first
 * statement of each shape is built by TypeORM, and the values it bound are compared with the ones
 * derived here: a shape whose values differ (anything this reading of the builders does not
 * cover) is never served from the plan, so a statement is always exactly what TypeORM would send.
 */
type Shapes = Map<string, string | null>;
const insertPlans = new WeakMap<EntityMetadata, Shapes>();
const updatePlans = new WeakMap<EntityMetadata, Shapes>();

function samePrepared(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (x instanceof Date || y instanceof Date) return x instanceof Date && y instanceof Date && x.getTime() === y.getTime();
    if (Buffer.isBuffer(x) || Buffer.isBuffer(y)) return Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y);
    return x === y;
  });
}

function planned(
  plans: WeakMap<EntityMetadata, Shapes>,
  metadata: EntityMetadata,
  shape: string,
  params: unknown[],
  build: () => [string, unknown[]],
) {
  let shapes = plans.get(metadata);
  if (!shapes) plans.set(metadata, (shapes = new Map<string, string | null>()));
  const sql = shapes.get(shape);
  if (sql) return [sql, params] as [string, unknown[]];
  const built = build();
  if (sql === undefined) shapes.set(shape, samePrepared(built[1], params) ? built[0] : null);
  return built;
}

function mysqlFamily(driver: Driver): boolean {
  return ['mysql', 'mariadb', 'aurora-mysql'].includes(driver.options.type);
}

/** A column whose value TypeORM binds as one plain placeholder (no geometry wrapper, no inheritance, no relation). */
function plainColumn(driver: Driver, column: ColumnMetadata): boolean {
  return !column.isDiscriminator && !column.referencedColumn && !column.embeddedMetadata && !driver.spatialTypes.includes(column.type);
}

/** The INSERT of one fully given row, as TypeORM's builder writes it (exported for its tests). */
export function insertStatement<E extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<E>, row: E): [string, unknown[]] {
  const build = () => manager.createQueryBuilder().insert().into(entity).values(row).updateEntity(false).getQueryAndParameters();
  const { driver } = manager.connection;
  if (!mysqlFamily(driver)) return build();
  const metadata = manager.connection.getMetadata(entity);
  // One letter per inserted column: v a bound value, n a bound null, D DEFAULT, 1 a new version.
  let shape = '';
  const params: unknown[] = [];
  for (const column of metadata.columns) {
    if (!column.isInsert) continue;
    if (!plainColumn(driver, column)) return build();
    const given = column.getEntityValue(row) as unknown;
    if (typeof given === 'function') return build(); // raw SQL expression
    const value = driver.preparePersistentValue(given, column) as unknown;
    if (typeof value === 'function') return build();
    if (value === undefined) {
      if (column.isVersion) shape += '1';
      else if (column.isGenerated)
        return build(); // generated locally by TypeORM
      else shape += 'D';
    } else {
      shape += value === null ? 'n' : 'v';
      params.push(value);
    }
  }
  return planned(insertPlans, metadata, shape, params, build);
}

/** Whether `where` names exactly the entity's single-column primary key (`{ id: … }`). */
function byPrimaryKey(metadata: EntityMetadata, where: object): boolean {
  const keys = Object.keys(where);
  return metadata.primaryColumns.length === 1 && keys.length === 1 && keys[0] === metadata.primaryColumns[0].propertyName;
}

/** The UPDATE of one row by primary key, as TypeORM's builder writes it (exported for its tests). */
export function updateStatement<E extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<E>,
  where: FindOptionsWhere<E>,
  changes: QueryDeepPartialEntity<E>,
): [string, unknown[]] {
  const build = () => manager.createQueryBuilder().update(entity).set(changes).where(where).updateEntity(false).getQueryAndParameters();
  const { driver } = manager.connection;
  if (!mysqlFamily(driver)) return build();
  const metadata = manager.connection.getMetadata(entity);
  // Only updates of plain values by the single primary key: `{ id: '…' }`.
  const keys = Object.keys(where);
  const id = (where as Record<string, unknown>)[keys[0]];
  if (!byPrimaryKey(metadata, where) || (typeof id !== 'string' && typeof id !== 'number')) return build();
  let shape = `${keys[0]}:${typeof id}|`;
  const params: unknown[] = [];
  for (const [key, given] of Object.entries(changes as Record<string, unknown>)) {
    if (given === undefined) continue;
    const column = metadata.findColumnWithPropertyName(key);
    if (!column || !column.isUpdate || !plainColumn(driver, column)) return build();
    const scalar = given === null || given instanceof Date || ['string', 'number', 'boolean'].includes(typeof given);
    if (!scalar) return build();
    shape += `${key},`;
    params.push(driver.preparePersistentValue(given, column));
  }
  params.push(id);
  return planned(updatePlans, metadata, shape, params, build);
}

/** An INSERT of one row as the plans write it: the part up to VALUES, and the row's tuple. */
const SINGLE_ROW_INSERT = /^(INSERT INTO `[^`]+`\((?:`[^`]+`, )*`[^`]+`\) VALUES )(\((?:\?|DEFAULT|NULL)(?:, (?:\?|DEFAULT|NULL))*\))$/;
/** An UPDATE of plain values of one row by its key, as the plans write it. */
const KEY_UPDATE = /^UPDATE (`[^`]+`) SET ((?:`[^`]+` = \?, )*`[^`]+` = \?) WHERE (`[^`]+`) = \?$/;

/**
 * One queued statement. A statement merged in from another batch is parsed (see combinable): an
 * insert or key update can then absorb the rows of later ones with the same text.
 */
interface Queued {
  sql: string;
  params: unknown[];
  /** An update of one row by the table's single-column primary key (only those are combined: see rendered). */
  byPrimaryKey?: boolean;
  /** An insert: the text before the tuples, the tuple, and the rows' values (one array per row). */
  insert?: { head: string; tuple: string; rows: unknown[][] };
  /** A key update: table, set columns, key column, and per row its key and values. */
  update?: { table: string; columns: string[]; key: string; rows: { id: unknown; values: unknown[] }[] };
}

/** `q` with its rows parsed out when it is a single-row insert or a key update (those can be combined). */
function combinable(q: Queued): Queued {
  const { sql, params } = q;
  const insert = SINGLE_ROW_INSERT.exec(sql);
  if (insert) return { sql, params, insert: { head: insert[1], tuple: insert[2], rows: [params] } };
  const update = q.byPrimaryKey ? KEY_UPDATE.exec(sql) : null;
  const id = params[params.length - 1];
  // Keys compared by value only (absorbs): a Buffer or Date key stays a statement of its own.
  if (update && (typeof id === 'string' || typeof id === 'number')) {
    const columns = update[2].split(', ').map((set) => set.slice(0, -' = ?'.length));
    return { sql, params, update: { table: update[1], columns, key: update[3], rows: [{ id, values: params.slice(0, -1) }] } };
  }
  return q;
}

/** Whether `into` can take `s`'s row: the same statement text, and (an update) not a row it already sets. */
function absorbs(into: Queued, s: Queued): boolean {
  if (into.sql !== s.sql) return false;
  if (into.update && s.update) {
    const id = s.update.rows[0].id;
    return into.update.rows.every((r) => r.id !== id);
  }
  return Boolean(into.insert && s.insert);
}

/**
 * For statements that lock rows by a list of primary keys. When the list is a good part of a small
 * table, MariaDB reads the whole table instead of looking the keys up (EXPLAIN at 5 of 17 tools:
 * type `ALL` for the locking SELECT, `index` for the UPDATE; `range` up to 3), and a locking
 * statement locks every row it reads: groups of publishes then waited for each other's rows and
 * deadlocked (measured: 5 of 2,564 publishes at 500/s rolled back and re-run alone, behind 50 of
 * them answered in 100–250 ms). Forcing the primary key keeps the locks to the listed rows,
 * whatever the table's size.
 */
export const PRIMARY_KEY_ACCESS = 'FORCE INDEX (PRIMARY)';

/** The statement text and values of a queued statement that may hold several rows. */
function rendered(q: Queued): [string, unknown[]] {
  if (q.insert && q.insert.rows.length > 1) {
    const { head, tuple, rows } = q.insert;
    return [head + rows.map(() => tuple).join(', '), rows.flat()];
  }
  if (q.update && q.update.rows.length > 1) {
    // One CASE per column, each naming every row's key; the WHERE limits it to exactly those rows
    // (each key appears once, see absorbs), so no row gets a value meant for another.
    const { table, columns, key, rows } = q.update;
    const whens = rows.map(() => 'WHEN ? THEN ?').join(' ');
    const params: unknown[] = [];
    columns.forEach((_, c) => rows.forEach((r) => params.push(r.id, r.values[c])));
    for (const r of rows) params.push(r.id);
    const sets = columns.map((column) => `${column} = CASE ${key} ${whens} END`).join(', ');
    return [`UPDATE ${table} ${PRIMARY_KEY_ACCESS} SET ${sets} WHERE ${key} IN (${rows.map(() => '?').join(', ')})`, params];
  }
  return [q.sql, q.params];
}

/**
 * Writes whose results nobody reads (inserts of fully given rows, updates by key), queued and sent
 * to MySQL in one round trip by `flush()` — inside the caller's transaction, so they commit or roll
 * back together with it; a failing statement stops the rest and fails the flush. Statements are
 * TypeORM's (same column mapping and placeholders as single writes; see the plans above).
 */
export class StatementBatch {
  private readonly queue: Queued[] = [];

  constructor(private readonly manager: EntityManager) {}

  insert<E extends ObjectLiteral>(entity: EntityTarget<E>, row: E): this {
    return this.add(insertStatement(this.manager, entity, row));
  }

  update<E extends ObjectLiteral>(entity: EntityTarget<E>, where: FindOptionsWhere<E>, changes: QueryDeepPartialEntity<E>): this {
    const keyed = byPrimaryKey(this.manager.connection.getMetadata(entity), where);
    return this.add(updateStatement(this.manager, entity, where, changes), keyed);
  }

  /**
   * One UPDATE of the rows with these primary keys (TypeORM's statement, with the keys looked up
   * through the primary key: see PRIMARY_KEY_ACCESS).
   */
  updateKeys<E extends ObjectLiteral>(entity: EntityTarget<E>, ids: (string | number)[], changes: QueryDeepPartialEntity<E>): this {
    const { primaryColumns } = this.manager.connection.getMetadata(entity);
    if (primaryColumns.length !== 1) throw new Error('updateKeys: the entity needs a single-column primary key');
    const where = { [primaryColumns[0].propertyName]: In(ids) } as FindOptionsWhere<E>;
    const [sql, params] = this.manager
      .createQueryBuilder()
      .update(entity)
      .set(changes)
      .where(where)
      .updateEntity(false)
      .getQueryAndParameters();
    const hinted = sql.replace(/^UPDATE (`[^`]+`) SET /, `UPDATE $1 ${PRIMARY_KEY_ACCESS} SET `);
    if (hinted === sql) throw new Error(`updateKeys: unexpected statement shape: ${sql.slice(0, 60)}`);
    return this.add([hinted, params]);
  }

  private add([sql, params]: [string, unknown[]], byPrimaryKey = false): this {
    this.queue.push(byPrimaryKey ? { sql, params, byPrimaryKey } : { sql, params });
    return this;
  }

  /**
   * Moves the statements of another batch of the same transaction into this one. The two must be
   * independent — neither reads or changes what the other writes, as the writes of one group of
   * GroupedLockedWriter (one row each) — so any order that keeps each batch's own order is
   * equivalent. That allows combining: each of the other's statements joins the first statement
   * merged into this batch before (statements queued on it directly are left as they are), after
   * the one its predecessor went to, that inserts into the same table with
   * the same columns (one INSERT with several rows) or updates other rows of the same table by
   * key with the same columns (one UPDATE with a CASE per column); any other statement goes at the
   * end, and the ones after it follow it. MySQL answers each statement of a round trip with a
   * packet of its own, and a group of 9 publishes sent 37 of them, each a wake-up of the
   * registry under load; combined it sends 5.
   */
  merge(other: StatementBatch): this {
    let from = 0;
    for (const s of other.queue.splice(0).map(combinable)) {
      let at = -1;
      if (s.insert || s.update)
        for (let i = from; i < this.queue.length; i++)
          if (absorbs(this.queue[i], s)) {
            at = i;
            break;
          }
      if (at === -1) {
        this.queue.push(s);
        from = this.queue.length;
        continue;
      }
      const into = this.queue[at];
      if (into.insert && s.insert) into.insert.rows.push(...s.insert.rows);
      else if (into.update && s.update) into.update.rows.push(...s.update.rows);
      from = at + 1;
    }
    return this;
  }

  /** Any other statement (COMMIT, a named-lock call…), with placeholders for its values. */
  raw(sql: string, parameters: unknown[] = []): this {
    return this.add([sql, parameters]);
  }

  /** Sends the queued statements; returns each sent statement's result (rows for a SELECT), combined ones once. */
  async flush(): Promise<unknown[]> {
    if (this.queue.length === 0) return [];
    const statements = this.queue.splice(0).map(rendered);
    const sql = statements.map(([text]) => text).join(';\n');
    const parameters = statements.flatMap(([, values]) => values);
    const result = await rawQuery(this.manager, sql, parameters);
    return statements.length === 1 ? [result] : (result as unknown[]);
  }
}

/** A raw row (database column names) as an entity, converted the way TypeORM's reads convert it. */
export function hydrate<E extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<E>, raw: Record<string, unknown>): E {
  const { columns } = manager.connection.getMetadata(entity);
  const out: Record<string, unknown> = {};
  for (const column of columns) out[column.propertyName] = manager.connection.driver.prepareHydratedValue(raw[column.databaseName], column);
  return out as E;
}

/**
 * `START TRANSACTION` and the locking read of the given rows, in one round trip, in key order (so
 * two transactions locking overlapping sets never deadlock each other). Returns the rows by id.
 */
export async function startLockingRows<E extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<E>,
  ids: string[],
): Promise<Map<string, E>> {
  const { tableName, primaryColumns } = manager.connection.getMetadata(entity);
  if (primaryColumns.length !== 1) throw new Error(`startLockingRows: ${tableName} needs a single-column primary key`);
  const key = primaryColumns[0].databaseName;
  const sorted = [...ids].sort();
  const [, rows] = (await rawQuery(
    manager,
    `START TRANSACTION;\nSELECT * FROM \`${tableName}\` ${PRIMARY_KEY_ACCESS} WHERE \`${key}\` IN (${sorted.map(() => '?').join(', ')}) ORDER BY \`${key}\` FOR UPDATE`,
    sorted,
  )) as [unknown, Record<string, unknown>[]];
  return new Map(rows.map((raw) => [String(raw[key]), hydrate(manager, entity, raw)]));
}

/**
 * A short write transaction in two round trips: `START TRANSACTION` travels with the locking read
 * of the row to change, and `COMMIT` with the batched writes. `fn` gets the locked row (or null)
 * and a batch to queue its writes in; throwing rolls back. For hot paths only — everything else
 * uses TypeORM's `transaction()`.
 */
export async function lockedWrite<E extends ObjectLiteral, T>(
  dataSource: DataSource,
  entity: EntityTarget<E>,
  id: string,
  fn: (row: E | null, batch: StatementBatch, manager: EntityManager) => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const rows = await startLockingRows(runner.manager, entity, [id]);
    const batch = new StatementBatch(runner.manager);
    const result = await fn(rows.get(id) ?? null, batch, runner.manager);
    await batch.raw('COMMIT').flush();
    return result;
  } catch (err) {
    // Also when START TRANSACTION or the read failed: ROLLBACK without a transaction is harmless.
    await rawQuery(runner.manager, 'ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await runner.release();
  }
}

/** The code of a failed call (`ER_…`, `ECONNREFUSED`…): as the driver gave it, or inside the QueryFailedError TypeORM wraps it in. */
export function driverErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether MySQL chose this transaction as a deadlock victim (ER_LOCK_DEADLOCK): it was rolled back whole and may simply run again. */
export function isDeadlock(err: unknown): boolean {
  return driverErrorCode(err) === 'ER_LOCK_DEADLOCK';
}

/**
 * Runs a transaction, and runs it again (up to `attempts` times in all) when MySQL picked it as a
 * deadlock victim — two transactions locking the same rows in different orders (an import's
 * tools by name, a group of publishes by id) — since a victim is rolled back entirely.
 */
export async function transactionRetryingDeadlocks<T>(
  dataSource: DataSource,
  fn: (m: EntityManager) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await dataSource.transaction(fn);
    } catch (err) {
      if (attempt >= attempts || !isDeadlock(err)) throw err;
    }
  }
}

/** The unique index a failed INSERT collided with (MySQL ER_DUP_ENTRY), or undefined for any other error. */
export function duplicateKeyIndex(err: unknown): string | undefined {
  if (driverErrorCode(err) !== 'ER_DUP_ENTRY') return undefined;
  const e = err as { sqlMessage?: string; driverError?: { sqlMessage?: string } };
  const message = e.sqlMessage ?? e.driverError?.sqlMessage ?? '';
  return /for key '(?:[^.']*\.)?([^']+)'/.exec(message)?.[1] ?? '';
}
