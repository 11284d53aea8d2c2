import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull, LessThan, type EntityManager } from 'typeorm';
import type { EventKey, EventMessage, EventPayload } from '#contracts';
import { EventBus } from '../messaging/event-bus';
import { JsonLogger } from '../logging/json-logger';
import { requestContext } from '../logging/request-context';
import { outboxEventsPublishedTotal, outboxRelayPassesTotal } from '../metrics/metrics';
import { hydrate, StatementBatch } from './mysql';
import { OutboxMessage } from './outbox.entity';
import { crashPoint } from '../util/crash-point';

/**
 * Transactional outbox: `add()` writes the event in the caller's transaction; the relay publishes
 * pending rows in order and marks them only after the broker confirmed. A crash between commit and
 * publish, or a broker outage, delays events but never loses them. Several instances of a
 * service may run; one relays at a time (see relayBatch).
 */
@Injectable()
export class OutboxService implements OnApplicationBootstrap, OnApplicationShutdown {
  private lastCreatedAt = 0;
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  static readonly POLL_MS = 500;
  /**
   * How long a nudge waits for more commits to join it. A relay pass costs two MySQL round trips
   * and a broker confirm whatever its size; relaying as soon as each commit nudged made one pass
   * per 4 writes at 500 writes/s, 25 ms one per ~16 (measured). Readers never wait for
   * events (the registry bumps the cache generation before answering), so the delay costs
   * nothing a client can see.
   */
  static readonly COALESCE_MS = 25;
  /** COALESCE_MS, per instance (tests widen it to observe the coalescing). */
  coalesceMs = OutboxService.COALESCE_MS;
  static readonly BATCH = 100;
  /** Published rows are kept a week (to trace what was sent), then deleted. */
  static readonly RETENTION_MS = 7 * 24 * 3600 * 1000;
  static readonly PURGE_EVERY_MS = 10 * 60 * 1000;
  static readonly FAILURE_REPORT_EVERY_MS = 10_000;
  private lastFailureReport = -Infinity;
  private failedPasses = 0;
  /** Work that must be done before a pass's events go out (see beforePublish). */
  private readonly preparers: ((keys: EventKey[]) => Promise<void> | void)[] = [];

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  async add<K extends EventKey>(manager: EntityManager, key: K, payload: EventPayload<K>): Promise<string> {
    const batch = new StatementBatch(manager);
    const id = this.addTo(batch, key, payload);
    await batch.flush();
    return id;
  }

  /** Queues the event's row in the caller's batch (written when the batch is flushed, in the same transaction). */
  addTo<K extends EventKey>(batch: StatementBatch, key: K, payload: EventPayload<K>): string {
    const id = randomUUID();
    // The relay orders by created_at: strictly increasing per process, so events written in the
    // same millisecond (one transaction's) keep their order.
    const createdAt = new Date(Math.max(Date.now(), this.lastCreatedAt + 1));
    this.lastCreatedAt = createdAt.getTime();
    batch.insert(OutboxMessage, {
      id,
      routingKey: key,
      payload,
      requestId: requestContext.requestId() ?? null,
      createdAt,
      publishedAt: null,
      attempts: 0,
      lastError: null,
    });
    return id;
  }

  /**
   * Registers work to do before each pass publishes, given the routing keys of the pass's rows.
   * It runs after every change it covers committed (the relay only sees committed rows) and
   * before any consumer can see their events. If it fails, the pass publishes nothing: its rows
   * stay pending and the next pass (at the latest POLL_MS later) runs it again. The registry
   * bumps its read-cache generation here: the durable second bump behind the one each write
   * makes before answering, for a write whose own bump was lost (a crash between commit and
   * bump, Redis unreachable at that moment).
   */
  beforePublish(prepare: (keys: EventKey[]) => Promise<void> | void): void {
    this.preparers.push(prepare);
  }

  /**
   * Asks the relay to run soon (call after committing a transaction that added events): within
   * COALESCE_MS, together with whatever else commits meanwhile.
   */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.soon ??= setTimeout(() => {
      this.soon = undefined;
      void this.relay();
    }, this.coalesceMs);
  }

  onApplicationBootstrap(): void {
    let lastPurge = Date.now();
    const tick = async () => {
      await this.relay();
      if (Date.now() - lastPurge > OutboxService.PURGE_EVERY_MS) {
        lastPurge = Date.now();
        await this.purgePublished().catch((err: unknown) =>
          this.logger.warn({ msg: 'outbox purge failed', err: String(err) }, 'OutboxService'),
        );
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), OutboxService.POLL_MS);
    };
    this.timer = setTimeout(() => void tick(), 50);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  /**
   * Publishes pending rows until none are left. Returns how many were published. Commits nudged
   * while it runs are relayed by a coalesced pass after it (see nudge), not by an immediate one.
   */
  async relay(): Promise<number> {
    if (this.running) {
      this.again = true;
      return 0;
    }
    this.running = true;
    this.again = false;
    let total = 0;
    try {
      let batch: number;
      do {
        batch = await this.relayBatch();
        total += batch;
      } while (batch === OutboxService.BATCH && !this.stopped);
    } catch (err) {
      this.reportFailure(err);
    } finally {
      this.running = false;
    }
    if (this.again) this.nudge();
    return total;
  }

  /**
   * A store that is down fails every pass (one per POLL_MS): the first failure is reported at
   * once, then one warning per FAILURE_REPORT_EVERY_MS with the number of passes that failed.
   */
  private reportFailure(err: unknown): void {
    const now = Date.now();
    this.failedPasses++;
    if (now - this.lastFailureReport < OutboxService.FAILURE_REPORT_EVERY_MS) return;
    this.logger.warn({ msg: 'outbox relay failed; will retry', failed_passes: this.failedPasses, err: String(err) }, 'OutboxService');
    this.lastFailureReport = now;
    this.failedPasses = 0;
  }

  /**
   * One batch. A MySQL named lock (not row locks) makes one relay per database work at a time, so
   * writers inserting new outbox rows are never blocked behind a relay that is waiting for the
   * broker — `SELECT … FOR UPDATE` would take gap locks on the pending range and serialise every
   * write behind the publishing (measured: writes fell to a few hundred per second).
   */
  private async relayBatch(): Promise<number> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const lock = `outbox:${String(this.dataSource.options.database)}`;
    const table = this.dataSource.getMetadata(OutboxMessage).tableName;
    let held = false;
    try {
      // The lock and the pending rows in one round trip (the rows are ignored without the lock).
      const [lockRows, pending] = (await new StatementBatch(runner.manager)
        .raw('SELECT GET_LOCK(?, 0) AS locked', [lock])
        .raw(`SELECT * FROM \`${table}\` WHERE published_at IS NULL ORDER BY created_at ASC LIMIT ${OutboxService.BATCH}`)
        .flush()) as [{ locked: number | null }[], Record<string, unknown>[]];
      held = Number(lockRows[0]?.locked) === 1;
      if (!held) return 0; // another instance is relaying right now
      const rows = pending.map((raw) => hydrate(runner.manager, OutboxMessage, raw));
      if (rows.length && this.preparers.length) {
        const keys = rows.map((r) => r.routingKey as EventKey);
        for (const prepare of this.preparers) await prepare(keys);
      }
      // Publish the whole batch on the one confirm channel (the broker keeps the order) and wait
      // for all confirms together, instead of one broker round trip per event.
      const results = await Promise.allSettled(
        rows.map((row) =>
          this.bus.publish({
            id: row.id,
            key: row.routingKey as EventKey,
            occurred_at: row.createdAt.toISOString(),
            request_id: row.requestId ?? undefined,
            payload: row.payload as EventMessage['payload'],
          }),
        ),
      );
      // Only the rows before the first failure count as sent; later ones are sent again with it
      // on the next pass (consumers are idempotent by event id), so nothing is lost or skipped.
      const failedAt = results.findIndex((r) => r.status === 'rejected');
      const published = (failedAt === -1 ? rows : rows.slice(0, failedAt)).map((r) => r.id);
      const done = new StatementBatch(runner.manager);
      if (failedAt !== -1) {
        const failed = rows[failedAt];
        const reason = (results[failedAt] as PromiseRejectedResult).reason as unknown;
        done.update(OutboxMessage, { id: failed.id }, { attempts: failed.attempts + 1, lastError: String(reason).slice(0, 2000) });
      }
      // A crash before this runs republishes the batch: consumers are idempotent by event id.
      if (published.length) {
        crashPoint('outbox.published');
        done.updateKeys(OutboxMessage, published, { publishedAt: new Date(), attempts: () => 'attempts + 1' });
      }
      // The marks and the lock's release in one round trip.
      await done.raw('SELECT RELEASE_LOCK(?)', [lock]).flush();
      held = false;
      if (rows.length) outboxRelayPassesTotal.inc();
      outboxEventsPublishedTotal.inc(published.length);
      return published.length;
    } finally {
      if (held) await runner.query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
      await runner.release();
    }
  }

  /** Deletes published rows older than the retention period. */
  async purgePublished(now = Date.now()): Promise<void> {
    await this.dataSource.getRepository(OutboxMessage).delete({
      publishedAt: LessThan(new Date(now - OutboxService.RETENTION_MS)),
    });
  }

  async pendingCount(): Promise<number> {
    return this.dataSource.getRepository(OutboxMessage).count({ where: { publishedAt: IsNull() } });
  }
}
