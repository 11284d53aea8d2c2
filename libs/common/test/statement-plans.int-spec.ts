import 'reflect-metadata';
import { jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { DataSource, EntitySchema, In, type EntityManager, type EntityTarget, type ObjectLiteral, type QueryRunner } from 'typeorm';
import {
  databaseName,
  ensureDatabase,
  insertStatement,
  mysqlOptions,
  OutboxMessage,
  rawQuery,
  startLockingRows,
  StatementBatch,
  updateStatement,
} from '#common';
import { isolate, type TestIsolation } from '#testing';
import { ToolHistory } from '../../../apps/registry/src/tools/tool-history.entity';
import { Tool } from '../../../apps/registry/src/tools/tool.entity';
import { ToolVersion } from '../../../apps/registry/src/versions/tool-version.entity';

/** A column whose transformer answers differently each time: the plans must never serve it. */
let stamps = 0;
interface Probe {
  id: string;
  stamp: string;
  note: string | null;
  attempts?: number;
  revision?: number;
}
const ProbeSchema = new EntitySchema<Probe>({
  name: 'plan_probe',
  columns: {
    id: { type: 'char', length: 36, primary: true },
    stamp: { type: 'varchar', length: 40, transformer: { to: () => `stamp-${stamps++}`, from: (v: string) => v } },
    note: { type: 'text', nullable: true },
    attempts: { type: 'int', default: 0 },
    revision: { type: 'int', version: true },
  },
});

/**
 * Real MariaDB: the statements StatementBatch sends from its per-shape plans are exactly the ones
 * TypeORM's query builders produce — text and bound values — for the rows the platform writes,
 * and a shape the plans cannot reproduce keeps going through the builder every time.
 */
describe('StatementBatch statement plans', () => {
  let iso: TestIsolation;
  let ds: DataSource;
  let m: EntityManager;

  beforeAll(async () => {
    iso = isolate();
    const db = databaseName(iso.config, 'plans');
    await ensureDatabase(iso.config, db);
    ds = await new DataSource(mysqlOptions(iso.config, db, [Tool, ToolVersion, ToolHistory, OutboxMessage, ProbeSchema])).initialize();
    m = ds.manager;
  });

  afterAll(async () => {
    await ds?.destroy();
    await iso?.cleanup();
  });

  const builtInsert = <E extends ObjectLiteral>(entity: EntityTarget<E>, row: E) =>
    m.createQueryBuilder().insert().into(entity).values(row).updateEntity(false).getQueryAndParameters();

  /** Each row twice: the first of a shape is built (and checked), the later ones come from the plan. */
  function expectSameInserts<E extends ObjectLiteral>(entity: EntityTarget<E>, rows: E[]) {
    const builds = jest.spyOn(m, 'createQueryBuilder');
    const shapes = new Set<string>();
    try {
      for (const row of [...rows, ...rows]) {
        const before = builds.mock.calls.length;
        const planned = insertStatement(m, entity, row);
        const builderCalls = builds.mock.calls.length - before;
        const shape = JSON.stringify(Object.entries(row).map(([k, v]) => [k, v === null, v === undefined]));
        // Built once per shape, then served from the plan without touching the builder.
        expect(builderCalls).toBe(shapes.has(shape) ? 0 : 1);
        shapes.add(shape);
        expect(planned).toEqual(builtInsert(entity, row));
      }
    } finally {
      builds.mockRestore();
    }
  }

  it('inserts of versions, history and outbox rows match the builder, values with quotes, placeholders and unicode included', () => {
    const tricky = `it's "quoted" ? :name :...list \\ \u00e9\u4e2d 🚀 ; DROP TABLE tools; --`;
    const version = (over: Partial<ToolVersion>): ToolVersion => ({
      id: randomUUID(),
      toolId: randomUUID(),
      version: '1.2.3',
      changelog: tricky,
      config: { type: 'stdio', command: 'npx', args: ['-y', tricky], env: [{ name: 'TOKEN', required: true, secret: true }] },
      manifest: null,
      sha256: 'a'.repeat(64),
      yanked: false,
      yankReason: null,
      publishedBy: randomUUID(),
      publishedAt: new Date('2026-11-22T05:00:00.123Z'),
      ...over,
    });
    expectSameInserts(ToolVersion, [
      version({}),
      version({ manifest: { tools: [{ name: 'read', description: tricky, input_schema: { type: 'object' } }] } }),
      version({ yanked: true, yankReason: 'broken', changelog: '' }),
    ]);
    expectSameInserts(ToolHistory, [
      {
        id: randomUUID(),
        toolId: randomUUID(),
        action: 'version.published',
        actorId: randomUUID(),
        at: new Date(),
        diff: { v: tricky },
        requestId: `req-${tricky.length}:x`,
      },
      {
        id: randomUUID(),
        toolId: randomUUID(),
        action: 'tool.deleted',
        actorId: randomUUID(),
        at: new Date(),
        diff: null,
        requestId: null,
      },
    ]);
    const outbox = (over: Partial<OutboxMessage>): OutboxMessage => ({
      id: randomUUID(),
      routingKey: 'tool.version.published',
      payload: { tool_id: randomUUID(), name: tricky },
      requestId: 'req-1',
      createdAt: new Date(),
      publishedAt: null,
      attempts: 0,
      lastError: null,
      ...over,
    });
    expectSameInserts(OutboxMessage, [outbox({}), outbox({ requestId: null }), outbox({ attempts: undefined })]);
  });

  it('updates by primary key match the builder; other updates are built as before', () => {
    const builds = jest.spyOn(m, 'createQueryBuilder');
    try {
      const id = randomUUID();
      const changeSets: Partial<Tool>[] = [
        { latestVersion: '1.0.1', highestVersion: '1.0.1', updatedAt: new Date() },
        { latestVersion: '1.0.2', highestVersion: '1.0.2', updatedAt: new Date() },
        { pinnedVersion: null, latestVersion: '1.0.2', updatedAt: new Date() },
        { pinnedVersion: '1.0.0', latestVersion: '1.0.0', updatedAt: new Date(), displayName: undefined },
      ];
      for (const changes of changeSets) {
        const planned = updateStatement(m, Tool, { id }, changes);
        expect(planned).toEqual(m.createQueryBuilder().update(Tool).set(changes).where({ id }).updateEntity(false).getQueryAndParameters());
      }
      // Four calls compared with four builds, plus one build per new shape: two shapes, since an
      // undefined change is no change (the builder skips it too).
      expect(builds.mock.calls.length).toBe(4 + 2);
      const outboxChanges = [
        [{ id: In([randomUUID(), randomUUID()]) }, { publishedAt: new Date(), attempts: () => 'attempts + 1' }],
        [{ id: randomUUID() }, { attempts: 2, lastError: 'broker said no' }],
      ] as const;
      for (const [where, changes] of outboxChanges) {
        expect(updateStatement(m, OutboxMessage, where, changes)).toEqual(
          m.createQueryBuilder().update(OutboxMessage).set(changes).where(where).updateEntity(false).getQueryAndParameters(),
        );
      }
    } finally {
      builds.mockRestore();
    }
  });

  it('never serves a shape whose values it cannot reproduce (a transformer that answers differently each time)', () => {
    const builds = jest.spyOn(m, 'createQueryBuilder');
    try {
      for (let i = 0; i < 3; i++) {
        const before = builds.mock.calls.length;
        const [sql, params] = insertStatement(m, ProbeSchema, { id: randomUUID(), stamp: 'x', note: null });
        expect(builds.mock.calls.length - before).toBe(1);
        expect(sql).toMatch(/^INSERT INTO `plan_probe`/);
        // The version column of a new row is 1, the defaulted column DEFAULT: both in the text.
        expect(sql).toMatch(/DEFAULT, 1\)$/);
        expect(params).toContain(`stamp-${stamps - 1}`);
      }
    } finally {
      builds.mockRestore();
    }
  });

  const outboxTable = () =>
    ds.query(
      'CREATE TABLE IF NOT EXISTS `outbox` (id char(36) PRIMARY KEY, routing_key varchar(200), payload json, request_id varchar(128) NULL, created_at datetime(6), published_at datetime(6) NULL, attempts int DEFAULT 0, last_error text NULL)',
    );
  let rowNo = 0;
  const outboxRow = (extra: Partial<OutboxMessage> = {}): OutboxMessage => {
    const i = rowNo++;
    return {
      id: randomUUID(),
      routingKey: `k.${i}`,
      payload: { i, text: `it's ? :x ${i}` },
      requestId: i % 2 ? null : `r${i}`,
      createdAt: new Date(Date.UTC(2026, 10, 22, 6, 0, 0, i)),
      publishedAt: null,
      attempts: 0,
      lastError: null,
      ...extra,
    };
  };
  const readBack = (rows: OutboxMessage[]) =>
    ds.getRepository(OutboxMessage).find({ where: { id: In(rows.map((r) => r.id)) }, order: { createdAt: 'ASC' } });

  it('writes planned rows that read back as TypeORM wrote them', async () => {
    await outboxTable();
    const rows: OutboxMessage[] = [0, 1, 2].map((i) => ({
      id: randomUUID(),
      routingKey: `k.${i}`,
      payload: { i, text: `it's ? :x ${i}` },
      requestId: i === 1 ? null : `r${i}`,
      createdAt: new Date(Date.UTC(2026, 10, 22, 5, 0, 0, i)),
      publishedAt: null,
      attempts: 0,
      lastError: null,
    }));
    const batch = new StatementBatch(m);
    for (const row of rows) batch.insert(OutboxMessage, row);
    batch.update(OutboxMessage, { id: rows[2].id }, { attempts: 5, lastError: 'x' });
    await batch.flush();
    const back = await ds.getRepository(OutboxMessage).find({ where: { id: In(rows.map((r) => r.id)) }, order: { createdAt: 'ASC' } });
    expect(back).toEqual([rows[0], rows[1], { ...rows[2], attempts: 5, lastError: 'x' }]);
  });

  it('merges independent batches into one INSERT per table and shape and one UPDATE per table and columns, writing what separate statements write', async () => {
    await outboxTable();
    const rows = [0, 1, 2, 3].map(() => outboxRow());
    const changes = (i: number) => ({
      attempts: i + 1,
      lastError: i % 2 ? null : `failed ${i}: it's ?`,
      publishedAt: new Date(Date.UTC(2026, 10, 22, 7, 0, 0, i)),
    });
    const merged = new StatementBatch(m);
    rows.forEach((row, i) =>
      merged.merge(new StatementBatch(m).insert(OutboxMessage, row).update(OutboxMessage, { id: row.id }, changes(i))),
    );
    // One statement (one answer packet) for the four inserts, one for the four updates.
    expect(await merged.flush()).toHaveLength(2);
    expect(await readBack(rows)).toEqual(rows.map((row, i) => ({ ...row, ...changes(i) })));
  });

  it('never merges two updates of one row: they run in the order their batches were merged', async () => {
    await outboxTable();
    const row = outboxRow();
    await new StatementBatch(m).insert(OutboxMessage, row).flush();
    const merged = new StatementBatch(m)
      .merge(new StatementBatch(m).update(OutboxMessage, { id: row.id }, { attempts: 1, lastError: 'first' }))
      .merge(new StatementBatch(m).update(OutboxMessage, { id: row.id }, { attempts: 2, lastError: 'second' }));
    expect(await merged.flush()).toHaveLength(2);
    expect(await readBack([row])).toEqual([{ ...row, attempts: 2, lastError: 'second' }]);
  });

  it("keeps each batch's own order: a statement after one that cannot be merged stays after it", async () => {
    await outboxTable();
    const [first, second] = [outboxRow(), outboxRow()];
    const merged = new StatementBatch(m)
      .merge(new StatementBatch(m).insert(OutboxMessage, first))
      .merge(new StatementBatch(m).raw('SELECT COUNT(*) AS n FROM `outbox` WHERE id = ?', [second.id]).insert(OutboxMessage, second));
    const results = await merged.flush();
    // The second insert did not join the first (that would run it before the SELECT).
    expect(results).toHaveLength(3);
    expect(Number((results[1] as { n: number }[])[0].n)).toBe(0);
    expect(await readBack([first, second])).toEqual([first, second]);
  });

  it('leaves updates with SQL expressions as they are (not merged)', async () => {
    await outboxTable();
    const rows = [outboxRow({ attempts: 3 }), outboxRow({ attempts: 7 })];
    await new StatementBatch(m).insert(OutboxMessage, rows[0]).insert(OutboxMessage, rows[1]).flush();
    const merged = new StatementBatch(m);
    for (const row of rows) merged.merge(new StatementBatch(m).update(OutboxMessage, { id: row.id }, { attempts: () => 'attempts + 1' }));
    expect(await merged.flush()).toHaveLength(2);
    expect((await readBack(rows)).map((r) => r.attempts)).toEqual([4, 8]);
  });

  describe('locking by a list of keys in a small table', () => {
    // Twelve rows, eight of them listed: MariaDB would rather read the whole table than look the
    // keys up (measured with EXPLAIN), and a locking statement locks every row it reads.
    let rows: OutboxMessage[];
    let holder: QueryRunner;
    let other: QueryRunner;

    beforeEach(async () => {
      await outboxTable();
      await ds.query('DELETE FROM `outbox`');
      rows = Array.from({ length: 12 }, () => outboxRow());
      const batch = new StatementBatch(m);
      for (const row of rows) batch.insert(OutboxMessage, row);
      await batch.flush();
      await ds.query('ANALYZE TABLE `outbox`');
      // Another transaction holds the first two rows; the statements under test touch only others
      // and would time out after a second if they waited for them.
      holder = ds.createQueryRunner();
      other = ds.createQueryRunner();
      await startLockingRows(holder.manager, OutboxMessage, [rows[0].id, rows[1].id]);
      await other.query('SET SESSION innodb_lock_wait_timeout = 1');
    });

    afterEach(async () => {
      await rawQuery(holder.manager, 'ROLLBACK');
      await other.query('ROLLBACK');
      await other.query('SET SESSION innodb_lock_wait_timeout = DEFAULT');
      await holder.release();
      await other.release();
    });

    it("locks and updates only the listed rows (a group's locking read and its combined UPDATE)", async () => {
      const listed = rows.slice(2, 10);
      const locked = await startLockingRows(
        other.manager,
        OutboxMessage,
        listed.map((r) => r.id),
      );
      expect([...locked.keys()].sort()).toEqual(listed.map((r) => r.id).sort());
      const merged = new StatementBatch(other.manager);
      listed.forEach((row, i) =>
        merged.merge(new StatementBatch(other.manager).update(OutboxMessage, { id: row.id }, { attempts: i + 1 })),
      );
      expect(await merged.raw('COMMIT').flush()).toHaveLength(2);
      expect((await readBack(listed)).map((r) => r.attempts)).toEqual(listed.map((_, i) => i + 1));
    });

    it("updateKeys (the outbox relay's marks) locks only the listed rows", async () => {
      const listed = rows.slice(2, 10);
      const at = new Date(Date.UTC(2026, 11, 2, 7, 0, 0));
      await new StatementBatch(other.manager)
        .updateKeys(
          OutboxMessage,
          listed.map((r) => r.id),
          { publishedAt: at, attempts: () => 'attempts + 1' },
        )
        .flush();
      expect((await readBack(listed)).map((r) => [r.publishedAt, r.attempts])).toEqual(listed.map(() => [at, 1]));
    });
  });
});
