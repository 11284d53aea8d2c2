import { createConnection } from 'mysql2/promise';
import { DataSource, type EntityManager, type EntitySchema, type EntityTarget, type MixedList, type ObjectLiteral } from 'typeorm';
import type { MysqlDataSourceOptions } from 'typeorm/driver/mysql/MysqlDataSourceOptions.js';
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
    extra: { connectionLimit: config.mysql.poolSize },
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
  await manager.createQueryBuilder().insert().into(entity).values(row).updateEntity(false).execute();
}

/** The unique index a failed INSERT collided with (MySQL ER_DUP_ENTRY), or undefined for any other error. */
export function duplicateKeyIndex(err: unknown): string | undefined {
  const e = err as { code?: string; sqlMessage?: string; driverError?: { code?: string; sqlMessage?: string } };
  if ((e.code ?? e.driverError?.code) !== 'ER_DUP_ENTRY') return undefined;
  const message = e.sqlMessage ?? e.driverError?.sqlMessage ?? '';
  return /for key '(?:[^.']*\.)?([^']+)'/.exec(message)?.[1] ?? '';
}
