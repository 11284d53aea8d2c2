import 'reflect-metadata';
import amqplib from 'amqplib';
import { randomUUID } from 'node:crypto';
import { type Redis } from 'ioredis';
import { DataSource, In, IsNull } from 'typeorm';
import { EventKey, type EventMessage } from '#contracts';
import {
  createRedis,
  EventBus,
  eventTopology,
  JsonLogger,
  loadConfig,
  MAX_EVENT_ATTEMPTS,
  migrateDatabase,
  OutboxMessage,
  OutboxService,
  outboxEventsPublishedTotal,
  outboxRelayPassesTotal,
  ProcessedMessageStore,
  lockedWrite,
  StatementBatch,
} from '#common';
import { isolate, queueExists, type TestIsolation } from '#testing';
import { gatewayDbOptions } from '../../../apps/gateway/src/database/gateway-data-source';

/** Real MariaDB, Redis and RabbitMQ: the outbox relay, the topic exchange, consumers, retries and the DLQ. */
describe('domain events through the outbox (MariaDB + RabbitMQ + Redis)', () => {
  let iso: TestIsolation;
  let ds: DataSource;
  let redis: Redis;
  let bus: EventBus;
  let outbox: OutboxService;
  const logger = new JsonLogger('test', 'error', () => undefined);
  const consumers: string[] = [];

  const eventually = async (check: () => boolean | Promise<boolean>, ms = 5000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const subscribe = async (name: string, handler: (m: EventMessage) => Promise<void>) => {
    consumers.push(name);
    await bus.subscribe(name, [EventKey.USER_CREATED, EventKey.USER_UPDATED], handler);
  };

  beforeAll(async () => {
    iso = isolate();
    await migrateDatabase(gatewayDbOptions(iso.config), iso.config);
    ds = await new DataSource(gatewayDbOptions(iso.config)).initialize();
    redis = createRedis(iso.config);
    bus = new EventBus(iso.config, logger, new ProcessedMessageStore(redis));
    outbox = new OutboxService(ds, bus, logger);
  });

  afterAll(async () => {
    await bus?.onApplicationShutdown();
    await ds?.destroy();
    redis?.disconnect();
    await iso?.cleanup(consumers.flatMap((c) => [`${iso.config.namespace}.${c}.events`, `${iso.config.namespace}.${c}.events.dlq`]));
  });

  it('writes a statement batch in one round trip inside the transaction, and rolls all of it back when one statement fails', async () => {
    const tricky = { username: "o'brien; DROP TABLE outbox; -- ? \\ \u00e9", user_id: 'u?1', role: 'viewer' as const };
    const row = (id: string): OutboxMessage => ({
      id,
      routingKey: 'user.created',
      payload: tricky,
      requestId: null,
      createdAt: new Date(),
      publishedAt: null,
      attempts: 0,
      lastError: null,
    });
    const ok = randomUUID();
    let viaOutbox = '';
    await ds.transaction(async (m) => {
      const batch = new StatementBatch(m);
      viaOutbox = outbox.addTo(batch, EventKey.USER_CREATED, tricky);
      batch.insert(OutboxMessage, row(ok));
      await batch.flush();
    });
    const stored = await ds.getRepository(OutboxMessage).findOneByOrFail({ id: ok });
    expect(stored.payload).toEqual(tricky);

    const failing = randomUUID();
    await expect(
      ds.transaction(async (m) => {
        const batch = new StatementBatch(m);
        batch.insert(OutboxMessage, row(failing));
        // Same primary key as an existing row: the second statement fails.
        batch.insert(OutboxMessage, row(ok));
        await batch.flush();
      }),
    ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await ds.getRepository(OutboxMessage).countBy({ id: failing })).toBe(0);
    // Not published by this test: remove them so the relay tests below start from an empty outbox.
    await ds.getRepository(OutboxMessage).delete({ id: In([ok, viaOutbox]) });
  });

  it('lockedWrite: reads the locked row like TypeORM does, commits the batch, rolls back on any failure, and leaves no lock behind', async () => {
    const repo = ds.getRepository(OutboxMessage);
    const id = randomUUID();
    await repo.insert({
      id,
      routingKey: 'user.created',
      payload: { a: [1, 'x'] },
      requestId: null,
      createdAt: new Date(),
      publishedAt: null,
      attempts: 0,
      lastError: null,
    });
    const viaTypeorm = await repo.findOneByOrFail({ id });
    await lockedWrite(ds, OutboxMessage, id, async (row, batch) => {
      expect(row).toEqual(viaTypeorm);
      batch.update(OutboxMessage, { id }, { attempts: 5 });
    });
    expect((await repo.findOneByOrFail({ id })).attempts).toBe(5);
    await expect(
      lockedWrite(ds, OutboxMessage, id, async (_row, batch) => {
        batch.update(OutboxMessage, { id }, { attempts: 6 });
        throw new Error('refused after queuing');
      }),
    ).rejects.toThrow('refused after queuing');
    await expect(
      lockedWrite(ds, OutboxMessage, id, async (_row, batch) => {
        batch.update(OutboxMessage, { id }, { attempts: 7 }).insert(OutboxMessage, { ...viaTypeorm }); // duplicate key
      }),
    ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect((await repo.findOneByOrFail({ id })).attempts).toBe(5);
    // Nothing still holds the row: another transaction can lock it without waiting.
    await ds.transaction((m) => m.query('SELECT id FROM outbox WHERE id = ? FOR UPDATE NOWAIT', [id]));
    expect(await lockedWrite(ds, OutboxMessage, randomUUID(), (row) => Promise.resolve(row))).toBeNull();
    await repo.delete({ id });
  });

  it('publishes committed events in order, exactly once per consumer, and marks them sent', async () => {
    const seen: string[] = [];
    await subscribe('order-check', async (m) => {
      seen.push((m.payload as { username: string }).username);
    });
    await ds.transaction(async (m) => {
      for (const name of ['a', 'b', 'c'])
        await outbox.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: name, role: 'viewer' });
    });
    expect(await outbox.pendingCount()).toBe(3);
    expect(await outbox.relay()).toBe(3);
    await eventually(() => seen.length === 3);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(await outbox.pendingCount()).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(3);
  });

  it('relays the commits nudged within the coalescing window in one pass', async () => {
    const seen: string[] = [];
    await subscribe('coalesce-check', async (m) => {
      seen.push((m.payload as { username: string }).username);
    });
    const counter = async (c: typeof outboxRelayPassesTotal) => (await c.get()).values[0]?.value ?? 0;
    const [passes, published] = [await counter(outboxRelayPassesTotal), await counter(outboxEventsPublishedTotal)];
    const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
    // Five writes commit one after the other and each nudges, as the services do. A wide window
    // makes the test independent of how fast the machine commits; production uses OutboxService.COALESCE_MS.
    outbox.coalesceMs = 1000;
    const nudged = Date.now();
    try {
      for (const name of names) {
        await ds.transaction((m) => outbox.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: name, role: 'viewer' }));
        outbox.nudge();
      }
    } finally {
      outbox.coalesceMs = OutboxService.COALESCE_MS;
    }
    await eventually(() => seen.length === names.length);
    expect(Date.now() - nudged).toBeLessThan(3000);
    expect([...seen].sort()).toEqual(names);
    // The pass is counted once its rows are marked, which may be just after consumers got them.
    await eventually(async () => (await counter(outboxRelayPassesTotal)) > passes);
    expect(await outbox.pendingCount()).toBe(0);
    expect(await counter(outboxRelayPassesTotal)).toBe(passes + 1);
    expect(await counter(outboxEventsPublishedTotal)).toBe(published + names.length);
  });

  it('does the beforePublish work once per pass before its events go out, and publishes nothing while it fails', async () => {
    const seen: string[] = [];
    await subscribe('prepare-check', async (m) => {
      seen.push((m.payload as { username: string }).username);
    });
    const warnings: Record<string, unknown>[] = [];
    const relay = new OutboxService(
      ds,
      bus,
      new JsonLogger('test', 'warn', (l) => warnings.push(JSON.parse(l) as Record<string, unknown>)),
    );
    const prepared: { keys: string[]; eventsSeenThen: number }[] = [];
    let failing = true;
    relay.beforePublish(async (keys) => {
      prepared.push({ keys, eventsSeenThen: seen.length });
      if (failing) throw new Error('Redis is unreachable');
    });
    await ds.transaction(async (m) => {
      for (const name of ['p1', 'p2']) await relay.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: name, role: 'viewer' });
    });
    expect(await relay.relay()).toBe(0);
    expect(await relay.pendingCount()).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    // A failing pass is reported, naming why; the next ones within 10 s are only counted.
    expect(warnings).toEqual([expect.objectContaining({ msg: 'outbox relay failed; will retry', err: 'Error: Redis is unreachable' })]);
    expect(await relay.relay()).toBe(0);
    expect(warnings).toHaveLength(1);

    failing = false;
    expect(await relay.relay()).toBe(2);
    await eventually(() => seen.length === 2);
    expect(seen).toEqual(['p1', 'p2']);
    // Once per pass (two failed, one published), always before any consumer had an event.
    expect(prepared).toEqual(Array.from({ length: 3 }, () => ({ keys: ['user.created', 'user.created'], eventsSeenThen: 0 })));
    // Nothing pending: no pass, no work.
    expect(await relay.relay()).toBe(0);
    expect(prepared).toHaveLength(3);
  });

  it('retires a consumer: deletes its queue with what it held, and its dead-letter queue; retiring again is harmless', async () => {
    const t = eventTopology(iso.config.namespace, 'retired-check');
    await subscribe('retired-check', async () => undefined);
    // The consumer of an earlier version is gone; its queue still collects events.
    await bus.onApplicationShutdown();
    bus = new EventBus(iso.config, logger, new ProcessedMessageStore(redis));
    outbox = new OutboxService(ds, bus, logger);
    await ds.transaction((m) => outbox.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: 'kept', role: 'viewer' }));
    expect(await outbox.relay()).toBe(1);
    const conn = await amqplib.connect(iso.config.amqp.url);
    try {
      await eventually(async () => {
        const ch = await conn.createChannel();
        const { messageCount } = await ch.checkQueue(t.queue!);
        await ch.close();
        return messageCount === 1;
      });
      await bus.retire('retired-check');
      expect(await queueExists(conn, t.queue!)).toBe(false);
      expect(await queueExists(conn, t.deadLetterQueue!)).toBe(false);
      await bus.retire('retired-check');
    } finally {
      await conn.close();
    }
  });

  it('purges published rows after the retention period, never pending ones', async () => {
    const repo = ds.getRepository(OutboxMessage);
    const old = new Date(Date.now() - OutboxService.RETENTION_MS - 60_000);
    const row = (id: string, publishedAt: Date | null) => ({
      id,
      routingKey: 'user.created',
      payload: {},
      requestId: null,
      createdAt: old,
      publishedAt,
      attempts: 0,
      lastError: null,
    });
    await repo.insert([
      row('00000000-0000-4000-8000-000000000001', old),
      row('00000000-0000-4000-8000-000000000002', null),
      row('00000000-0000-4000-8000-000000000003', new Date()),
    ] as never);
    await outbox.purgePublished();
    const left = (
      await repo.findBy({
        id: In(['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003']),
      })
    )
      .map((r) => r.id)
      .sort();
    expect(left).toEqual(['00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003']);
    await repo.delete({ id: '00000000-0000-4000-8000-000000000002' });
  });

  it('never publishes an event whose transaction rolled back', async () => {
    await expect(
      ds.transaction(async (m) => {
        await outbox.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: 'ghost', role: 'viewer' });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await outbox.pendingCount()).toBe(0);
  });

  it('keeps events through a broker outage and publishes them when it is back', async () => {
    const downConfig = loadConfig({ ...iso.env, AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    const deadBus = new EventBus(downConfig, logger, new ProcessedMessageStore(redis));
    const stuck = new OutboxService(ds, deadBus, logger);
    await ds.transaction((m) => outbox.add(m, EventKey.USER_CREATED, { user_id: randomUUID(), username: 'patient', role: 'viewer' }));
    expect(await stuck.relay()).toBe(0);
    const row = await ds.getRepository(OutboxMessage).findOneByOrFail({ routingKey: EventKey.USER_CREATED, publishedAt: IsNull() });
    expect(row.attempts).toBeGreaterThanOrEqual(1);
    expect(row.lastError).toBeTruthy();
    await deadBus.onApplicationShutdown();

    const got: string[] = [];
    await subscribe('outage-check', async (m) => {
      got.push((m.payload as { username: string }).username);
    });
    expect(await outbox.relay()).toBe(1);
    await eventually(() => got.includes('patient'));
  }, 20_000);

  it('skips a redelivered event it already processed (idempotent consumer)', async () => {
    let calls = 0;
    await subscribe('idem-check', async () => {
      calls++;
    });
    const message: EventMessage = {
      id: randomUUID(),
      key: EventKey.USER_UPDATED,
      occurred_at: new Date().toISOString(),
      payload: { user_id: randomUUID(), changes: { disabled: true } },
    };
    await bus.publish(message);
    await bus.publish(message);
    await eventually(() => calls >= 1);
    // A duplicate arriving while the first is in flight is put back for a second; wait it out.
    await new Promise((r) => setTimeout(r, 1800));
    expect(calls).toBe(1);
  });

  it('runs an idempotent handler for every delivery and records nothing in Redis', async () => {
    const seen: string[] = [];
    consumers.push('idem-free');
    await bus.subscribe('idem-free', [EventKey.USER_UPDATED], async (m) => void seen.push(m.id), { idempotent: true });
    const message: EventMessage = {
      id: randomUUID(),
      key: EventKey.USER_UPDATED,
      occurred_at: new Date().toISOString(),
      payload: { user_id: randomUUID(), changes: { disabled: false } },
    };
    await bus.publish(message);
    await bus.publish(message);
    await eventually(() => seen.length === 2);
    expect(seen).toEqual([message.id, message.id]);
    expect(await redis.keys(`*processed:idem-free:*`)).toEqual([]);
    // The same pattern finds the records of the de-duplicating consumer above.
    expect((await redis.keys(`*processed:idem-check:*`)).length).toBeGreaterThan(0);
  });

  it('dead-letters invalid events and events whose handler keeps failing, after bounded retries', async () => {
    let attempts = 0;
    await subscribe('dlq-check', async (m) => {
      if ((m.payload as { username?: string }).username === 'explode') {
        attempts++;
        throw new Error('handler bug');
      }
    });
    const t = eventTopology(iso.config.namespace, 'dlq-check');
    const conn = await amqplib.connect(iso.config.amqp.url);
    const ch = await conn.createChannel();
    try {
      // Schema-invalid payload straight onto the exchange.
      ch.publish(
        t.exchange,
        EventKey.USER_CREATED,
        Buffer.from(JSON.stringify({ id: randomUUID(), key: 'user.created', payload: { nope: 1 } })),
      );
      await bus.publish({
        id: randomUUID(),
        key: EventKey.USER_CREATED,
        occurred_at: new Date().toISOString(),
        payload: { user_id: randomUUID(), username: 'explode', role: 'viewer' },
      });
      await eventually(async () => (await ch.checkQueue(t.deadLetterQueue!)).messageCount === 2, 8000);
      expect(attempts).toBe(MAX_EVENT_ATTEMPTS);
    } finally {
      await ch.close();
      await conn.close();
    }
  }, 15_000);
});
