import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { DataSource, EntitySchema, QueryFailedError } from 'typeorm';
import {
  databaseName,
  DomainError,
  ensureDatabase,
  GroupedLockedWriter,
  isDeadlock,
  transactionRetryingDeadlocks,
  groupedWritesTotal,
  mysqlOptions,
  type GroupedApply,
} from '#common';
import { ErrorCode } from '#contracts';
import { isolate, type TestIsolation } from '#testing';

interface CounterRow {
  id: string;
  value: number;
}
interface LogRow {
  id: string;
  counterId: string;
  value: number;
}
const Counters = new EntitySchema<CounterRow>({
  name: 'gw_counters',
  columns: { id: { type: 'char', length: 36, primary: true }, value: { type: 'int' } },
});
const Log = new EntitySchema<LogRow>({
  name: 'gw_log',
  columns: {
    id: { type: 'varchar', length: 80, primary: true },
    counterId: { name: 'counter_id', type: 'char', length: 36 },
    value: { type: 'int' },
  },
});

/**
 * Real MariaDB: writes submitted together share one transaction, yet each one is all-or-nothing
 * on its own — a refused check, a failing statement or a duplicate row in the same group never
 * loses, doubles or blocks the others.
 */
describe('grouped locked writes (group commit)', () => {
  let iso: TestIsolation;
  let ds: DataSource;
  let writer: GroupedLockedWriter<CounterRow, { by: number; logId?: string }, number>;
  const warnings: Record<string, unknown>[] = [];

  // Increment the counter and log the new value; a missing counter is refused like a missing tool.
  const apply: GroupedApply<CounterRow, { by: number; logId?: string }, number> = (row, { by, logId }, batch) => {
    if (!row) throw new DomainError(ErrorCode.NOT_FOUND, 'no such counter');
    const value = row.value + by;
    batch.update(Counters, { id: row.id }, { value });
    batch.insert(Log, { id: logId ?? randomUUID(), counterId: row.id, value });
    return value;
  };
  const count = async (mode: string) => (await groupedWritesTotal.get()).values.find((v) => v.labels.mode === mode)?.value ?? 0;
  const values = async (ids: string[]) =>
    Promise.all(ids.map(async (id) => (await ds.query<{ value: number }[]>('SELECT value FROM gw_counters WHERE id = ?', [id]))[0]?.value));
  const logged = async (id: string) =>
    (await ds.query<{ value: number }[]>('SELECT value FROM gw_log WHERE counter_id = ? ORDER BY value', [id])).map((r) => r.value);

  async function counters(n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, () => randomUUID());
    for (const id of ids) await ds.query('INSERT INTO gw_counters (id, value) VALUES (?, 0)', [id]);
    return ids;
  }

  beforeAll(async () => {
    iso = isolate();
    const db = databaseName(iso.config, 'grouped');
    await ensureDatabase(iso.config, db);
    ds = await new DataSource(mysqlOptions(iso.config, db, [Counters, Log])).initialize();
    await ds.query('CREATE TABLE gw_counters (id char(36) PRIMARY KEY, value int NOT NULL)');
    await ds.query('CREATE TABLE gw_log (id varchar(80) PRIMARY KEY, counter_id char(36) NOT NULL, value int NOT NULL)');
    writer = new GroupedLockedWriter(ds, Counters, apply, 64, { warn: (entry: Record<string, unknown>) => warnings.push(entry) });
  });

  afterAll(async () => {
    await ds?.destroy();
    await iso?.cleanup();
  });

  it('commits writes submitted together in one group; writes of the same row wait for the next one and see its result', async () => {
    const ids = await counters(6);
    const grouped = await count('grouped');
    // Six rows, two of them written three times, all submitted in one turn.
    const plan = [...ids, ids[0], ids[1], ids[0]];
    const results = await Promise.all(plan.map((id) => writer.submit(id, { by: 1 })));
    expect(results).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 3]);
    expect(await values(ids)).toEqual([3, 2, 1, 1, 1, 1]);
    expect(await logged(ids[0])).toEqual([1, 2, 3]);
    // The six distinct rows went in one group; the repeats in later ones.
    expect((await count('grouped')) - grouped).toBeGreaterThanOrEqual(6);
  });

  it('takes the single-write path when a write arrives alone', async () => {
    const [id] = await counters(1);
    const alone = await count('alone');
    expect(await writer.submit(id, { by: 5 })).toBe(5);
    expect((await count('alone')) - alone).toBe(1);
    expect(await values([id])).toEqual([5]);
  });

  it('refuses one write of a group on its check; the others commit', async () => {
    const ids = await counters(3);
    const missing = randomUUID();
    const outcomes = await Promise.allSettled([...ids, missing].map((id) => writer.submit(id, { by: 2 })));
    expect(outcomes.slice(0, 3).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(outcomes[3]).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.NOT_FOUND } });
    expect(await values(ids)).toEqual([2, 2, 2]);
  });

  it('when a statement of the group fails, rolls the group back and runs each write alone: only the faulty one fails, nothing is doubled', async () => {
    const ids = await counters(4);
    const taken = `taken-${randomUUID()}`;
    await ds.query('INSERT INTO gw_log (id, counter_id, value) VALUES (?, ?, 0)', [taken, ids[3]]);
    const retried = await count('retried');
    // The last write logs under an id that exists: its INSERT fails inside the group's batch.
    const outcomes = await Promise.allSettled(ids.map((id, i) => writer.submit(id, { by: 1, logId: i === 3 ? taken : undefined })));
    expect(outcomes.slice(0, 3)).toEqual([1, 1, 1].map((value) => ({ status: 'fulfilled', value })));
    expect(outcomes[3].status).toBe('rejected');
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(QueryFailedError);
    expect((await count('retried')) - retried).toBe(4);
    // Why the group fell back is logged (it was silent, and a deadlock between groups went unseen).
    expect(warnings.at(-1)).toMatchObject({
      table: 'gw_counters',
      writes: 4,
      deadlock: false,
      err: expect.stringContaining('Duplicate entry'),
    });
    // Each counter moved once (the rolled-back group left nothing), the faulty one not at all.
    expect(await values(ids)).toEqual([1, 1, 1, 0]);
    for (const id of ids.slice(0, 3)) expect(await logged(id)).toEqual([1]);
    // No lock is left behind: the rows can be written again at once.
    await expect(Promise.all(ids.map((id) => writer.submit(id, { by: 1 })))).resolves.toEqual([2, 2, 2, 1]);
  });
});

/** Real MariaDB: two transactions locking the same rows in opposite orders both complete. */
describe('transactions retried when MySQL picks them as deadlock victims', () => {
  let iso: TestIsolation;
  let ds: DataSource;

  beforeAll(async () => {
    iso = isolate();
    const db = databaseName(iso.config, 'deadlock');
    await ensureDatabase(iso.config, db);
    ds = await new DataSource(mysqlOptions(iso.config, db, [Counters])).initialize();
    await ds.query('CREATE TABLE gw_counters (id char(36) PRIMARY KEY, value int NOT NULL)');
  });

  afterAll(async () => {
    await ds?.destroy();
    await iso?.cleanup();
  });

  it('runs the victim again, so both changes land exactly once', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    for (const id of [a, b]) await ds.query('INSERT INTO gw_counters (id, value) VALUES (?, 0)', [id]);
    let bothHoldOne!: () => void;
    const holding = new Promise<void>((r) => (bothHoldOne = r));
    let held = 0;
    const runs = { first: 0, second: 0 };
    // Each locks one row, waits until the other holds its row too, then asks for the other's row.
    const crosswise = (name: keyof typeof runs, mine: string, theirs: string) =>
      transactionRetryingDeadlocks(ds, async (m) => {
        runs[name]++;
        await m.query('UPDATE gw_counters SET value = value + 1 WHERE id = ?', [mine]);
        if (runs[name] === 1) {
          if (++held === 2) bothHoldOne();
          await holding;
        }
        await m.query('UPDATE gw_counters SET value = value + 10 WHERE id = ?', [theirs]);
      });
    await Promise.all([crosswise('first', a, b), crosswise('second', b, a)]);
    // One of them was the victim and ran twice; every change counted once.
    expect(runs.first + runs.second).toBe(3);
    const rows = await ds.query<{ id: string; value: number }[]>('SELECT id, value FROM gw_counters WHERE id IN (?, ?)', [a, b]);
    expect(rows.map((r) => r.value)).toEqual([11, 11]);
    expect(isDeadlock(new Error('other'))).toBe(false);
  });
});
