import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { migrateDatabase } from '#common';
import { isolate, type TestIsolation } from '#testing';
import { gatewayDbOptions } from '../../../apps/gateway/src/database/gateway-data-source';
import { registryDbOptions } from '../../../apps/registry/src/database/registry-data-source';

/**
 * The hand-written migrations are the schema (synchronize is never on), so they must match the
 * entities exactly: same tables, columns, types, nullability and indexes. This fails when an
 * entity changes without a migration.
 */
describe.each([
  ['gateway', gatewayDbOptions],
  ['registry', registryDbOptions],
] as const)('%s migrations (MariaDB)', (_service, dbOptions) => {
  let iso: TestIsolation;
  let ds: DataSource;

  beforeAll(async () => {
    iso = isolate();
    const options = dbOptions(iso.config);
    const applied = await migrateDatabase(options, iso.config);
    expect(applied).toEqual((options.migrations as { name: string }[]).map((m) => m.name));
    ds = await new DataSource(options).initialize();
  });

  afterAll(async () => {
    await ds?.destroy();
    await iso?.cleanup();
  });

  it('is idempotent: a second run applies nothing', async () => {
    expect(await migrateDatabase(dbOptions(iso.config), iso.config)).toEqual([]);
    expect(await ds.showMigrations()).toBe(false);
  });

  it('creates exactly the columns the entities declare, with matching types and nullability', async () => {
    const dbName = String(ds.options.database);
    const rows: { TABLE_NAME: string; COLUMN_NAME: string; IS_NULLABLE: string; COLUMN_TYPE: string }[] = await ds.query(
      'SELECT TABLE_NAME, COLUMN_NAME, IS_NULLABLE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?',
      [dbName, 'migrations'],
    );
    const actual = new Map(rows.map((r) => [`${r.TABLE_NAME}.${r.COLUMN_NAME}`, r]));
    const expected = new Set<string>();
    for (const meta of ds.entityMetadatas) {
      for (const col of meta.columns) {
        const key = `${meta.tableName}.${col.databaseName}`;
        expected.add(key);
        const row = actual.get(key);
        expect({ key, exists: !!row }).toEqual({ key, exists: true });
        expect({ key, nullable: row!.IS_NULLABLE === 'YES' }).toEqual({ key, nullable: col.isNullable });
        const type = String(col.type);
        const dbType = row!.COLUMN_TYPE.toLowerCase();
        // MariaDB stores json as longtext (with a JSON check) and boolean as tinyint(1).
        const compatible: Record<string, string[]> = { json: ['json', 'longtext'], boolean: ['tinyint'], int: ['int'], text: ['text'] };
        const accepted = compatible[type] ?? [type];
        expect({ key, type: accepted.some((t) => dbType.startsWith(t)) }).toEqual({ key, type: true });
        if (col.length) expect({ key, dbType }).toEqual({ key, dbType: expect.stringContaining(`(${col.length})`) });
        if (col.precision) expect({ key, dbType }).toEqual({ key, dbType: `${type}(${col.precision})` });
      }
    }
    expect([...actual.keys()].filter((k) => !expected.has(k))).toEqual([]);
  });

  it('creates every index the entities declare, with the same columns and uniqueness', async () => {
    const rows: { TABLE_NAME: string; INDEX_NAME: string; NON_UNIQUE: number; COLUMN_NAME: string; SEQ_IN_INDEX: number }[] =
      await ds.query(
        'SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY SEQ_IN_INDEX',
        [String(ds.options.database)],
      );
    for (const meta of ds.entityMetadatas) {
      for (const index of meta.indices) {
        const cols = rows.filter((r) => r.TABLE_NAME === meta.tableName && r.INDEX_NAME === index.name);
        expect({ index: index.name, columns: cols.map((c) => c.COLUMN_NAME) }).toEqual({
          index: index.name,
          columns: index.columns.map((c) => c.databaseName),
        });
        expect({ index: index.name, unique: Number(cols[0].NON_UNIQUE) === 0 }).toEqual({ index: index.name, unique: index.isUnique });
      }
    }
  });

  it('rolls back cleanly: undoing every migration, newest first, leaves no table', async () => {
    for (let i = 0; i < ds.migrations.length; i++) await ds.undoLastMigration();
    const tables: unknown[] = await ds.query(
      'SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?',
      [String(ds.options.database), 'migrations'],
    );
    expect(tables).toEqual([]);
    await ds.runMigrations();
    expect(await ds.showMigrations()).toBe(false);
  });
});
