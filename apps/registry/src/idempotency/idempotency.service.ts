import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, In, LessThan, type EntityManager } from 'typeorm';
import { ErrorCode, type Actor } from '#contracts';
import { Counter } from 'prom-client';
import { APP_CONFIG, DomainError, duplicateKeyIndex, JsonLogger, metricsRegistry, type AppConfig } from '#common';
import { canonicalJson } from '../versions/canonical-json';
import { IdempotencyRecord } from './idempotency-record.entity';

/** A change as a client identified it with its Idempotency-Key. */
export interface IdempotentRequest {
  /** The caller's key, as sent (only for messages). */
  key: string;
  /** Names the record: the caller and the key. */
  id: string;
  operation: string;
  /** The operation and its request: a key reused for anything else is refused. */
  fingerprint: string;
}

const idempotentReplaysTotal = new Counter({
  name: 'registry_idempotent_replays_total',
  help: 'Requests with an Idempotency-Key answered with the answer of an earlier request with that key (a retry, a race or a redelivery), by operation',
  labelNames: ['operation'] as const,
  registers: [metricsRegistry],
});

/** Thrown inside a change's transaction when another request holds its key: the transaction is rolled back. */
class KeyTaken extends Error {}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Rows deleted per statement when expired records are purged (short statements, short locks). */
const PURGE_BATCH = 1000;

/**
 * Changes sent with an Idempotency-Key are made once. The key is claimed inside the change's own
 * transaction (an INSERT of its record, which a concurrent request with the same key waits on),
 * and the answer is written there before COMMIT. So a repeat — a client retrying after a timeout,
 * two retries racing each other, or RabbitMQ redelivering the request to a restarted registry
 * after a crash between COMMIT and the answer — finds the first request's answer and gets it
 * again, and a change that failed or was rolled back leaves no record (a retry does it then).
 * Only successful changes are recorded; an error answer is not kept.
 */
@Injectable()
export class IdempotencyService implements OnApplicationBootstrap, OnApplicationShutdown {
  private purgeTimer?: NodeJS.Timeout;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
  ) {}

  request(actor: Actor, key: string, operation: string, request: unknown): IdempotentRequest {
    return {
      key,
      id: sha256(`${actor.user_id}\n${key}`),
      operation,
      fingerprint: sha256(`${operation}\n${canonicalJson(request)}`),
    };
  }

  /**
   * The answer of the request's earlier run, or the answer of running `change` now inside
   * `transaction` (which commits it, or rolls everything back on an error).
   */
  async once<T>(
    req: IdempotentRequest,
    transaction: (fn: (m: EntityManager) => Promise<T>) => Promise<T>,
    change: (m: EntityManager) => Promise<T>,
  ): Promise<T> {
    // A record found expired is deleted and the change runs; if a concurrent request committed
    // one meanwhile (KeyTaken), that one is read and answered on the next pass.
    for (let attempt = 1; ; attempt++) {
      const earlier = await this.answerTo(req);
      if (earlier !== undefined) {
        idempotentReplaysTotal.inc({ operation: req.operation });
        return earlier as T;
      }
      try {
        return await transaction(async (m) => {
          await this.claim(m, req);
          const answer = await change(m);
          await m.update(IdempotencyRecord, { id: req.id }, { answer: answer as object });
          return answer;
        });
      } catch (err) {
        if (!(err instanceof KeyTaken)) throw err;
        // Only if the record taken by another request vanished again (expired) twice running.
        if (attempt >= 3)
          throw new DomainError(ErrorCode.CONFLICT, `Idempotency-Key '${req.key}' is being used by other requests at this moment: retry`, {
            field: 'Idempotency-Key',
          });
      }
    }
  }

  /** The answer recorded for this key, if it is this same request's and not expired. */
  private async answerTo(req: IdempotentRequest): Promise<unknown> {
    const rec = await this.dataSource.getRepository(IdempotencyRecord).findOneBy({ id: req.id });
    if (!rec || rec.answer === null) return undefined;
    if (rec.createdAt.getTime() < Date.now() - this.config.idempotencyKeyTtlS * 1000) {
      await this.dataSource.getRepository(IdempotencyRecord).delete({ id: req.id, createdAt: rec.createdAt });
      return undefined;
    }
    if (rec.fingerprint !== req.fingerprint) {
      const message = `Idempotency-Key '${req.key}' was already used for another request${
        rec.operation === req.operation ? ' (other content)' : ` (${rec.operation})`
      }: send a new key with each new request`;
      throw new DomainError(ErrorCode.UNPROCESSABLE, message, [{ field: 'Idempotency-Key', message: 'already used for another request' }]);
    }
    return rec.answer;
  }

  /** INSERTs the key's record; waits while a concurrent request holds it, and throws KeyTaken if that one committed. */
  private async claim(m: EntityManager, req: IdempotentRequest): Promise<void> {
    try {
      await m.insert(IdempotencyRecord, {
        id: req.id,
        fingerprint: req.fingerprint,
        operation: req.operation,
        answer: null,
        createdAt: new Date(),
      });
    } catch (err) {
      if (duplicateKeyIndex(err) !== undefined) throw new KeyTaken();
      throw err;
    }
  }

  onApplicationBootstrap(): void {
    const everyMs = Math.min(this.config.idempotencyKeyTtlS * 1000, 10 * 60_000);
    this.purgeTimer = setInterval(() => void this.purge(), everyMs).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.purgeTimer);
  }

  /** Deletes expired records (every registry instance does; a record already deleted is no harm). */
  async purge(): Promise<number> {
    const repo = this.dataSource.getRepository(IdempotencyRecord);
    const cutoff = new Date(Date.now() - this.config.idempotencyKeyTtlS * 1000);
    let deleted = 0;
    try {
      for (;;) {
        const batch = await repo.find({ select: { id: true }, where: { createdAt: LessThan(cutoff) }, take: PURGE_BATCH });
        if (batch.length === 0) break;
        await repo.delete({ id: In(batch.map((r) => r.id)), createdAt: LessThan(cutoff) });
        deleted += batch.length;
        if (batch.length < PURGE_BATCH) break;
      }
    } catch (err) {
      this.logger.warn({ msg: 'could not purge expired idempotency keys; trying again later', err: String(err) }, 'IdempotencyService');
    }
    return deleted;
  }
}
