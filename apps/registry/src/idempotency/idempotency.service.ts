import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, In, LessThan, type EntityManager } from 'typeorm';
import { ErrorCode, type Actor } from '#contracts';
import { Counter } from 'prom-client';
import { APP_CONFIG, DomainError, duplicateKeyIndex, JsonLogger, metricsRegistry, requestContext, type AppConfig } from '#common';
import { canonicalJson } from '../versions/canonical-json';
import { IdempotencyRecord } from './idempotency-record.entity';

/** A change as a client identified it with its Idempotency-Key. */
export interface IdempotentRequest {
  /** The caller's key, as sent (only for messages). */
  key: string;
  /** The request (the gateway's request id), recorded with the answer. */
  requestId: string | null;
  /** Names the record: the caller and the key. */
  id: string;
  operation: string;
  /** The operation and its request: a key reused for anything else is refused. */
  fingerprint: string;
}

const idempotentReplaysTotal = new Counter({
  name: 'registry_idempotent_replays_total',
  help: 'Requests with an Idempotency-Key answered with the answer of an earlier request with that key (a retry or a race), by operation',
  labelNames: ['operation'] as const,
  registers: [metricsRegistry],
});

/**
 * Requests RabbitMQ delivered again whose change had already committed — the registry died, or
 * lost its channel, between the COMMIT and the answer — answered as their first delivery would have
 * been, by operation. Found by the request id in the Idempotency-Key's record or, without a key,
 * in the change's history (ToolsService).
 */
const redeliveredChangesTotal = new Counter({
  name: 'registry_redelivered_changes_total',
  help: 'Requests delivered again by RabbitMQ after their change had committed (the registry died or lost its channel before answering), answered as done, by operation',
  labelNames: ['operation'] as const,
  registers: [metricsRegistry],
});

/** Counts and logs a redelivered request answered as made (`details`: what says which change; never a client's key). */
export function answeredAsMade(logger: Pick<JsonLogger, 'log'>, operation: string, context: string, details: object = {}): void {
  redeliveredChangesTotal.inc({ operation });
  logger.log({ msg: 'redelivered request: its change had committed, answered as made', operation, ...details }, context);
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Rows deleted per statement when expired records are purged (short statements, short locks). */
const PURGE_BATCH = 1000;

/**
 * Changes sent with an Idempotency-Key are made once. The answer is recorded in the change's own
 * transaction, under the key's primary key, so a repeat — a client retrying after a timeout, two
 * retries racing each other, or RabbitMQ redelivering the request to a restarted registry after a
 * crash between COMMIT and the answer — finds the first request's answer and gets it again, and a
 * change that failed or was rolled back leaves no record (a retry does it then). Only successful
 * changes are recorded; an error answer is not kept. A first request costs one primary-key read
 * and its record's INSERT, sent with the change's other statements (a publish stays grouped).
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
      requestId: requestContext.requestId() ?? null,
      id: sha256(`${actor.user_id}\n${key}`),
      operation,
      fingerprint: sha256(`${operation}\n${canonicalJson(request)}`),
    };
  }

  /**
   * For a change sent without a key whose answer is still recorded (imports: their report is not
   * in the history), a record under the request's own id, so that the request, delivered again
   * after its change committed, finds its answer (answerToRedelivery). Its key cannot be a
   * client's (they are visible ASCII), and a client that sends one request id twice just replaces
   * the record (saveOwn); undefined without a request id.
   */
  ownRequest(actor: Actor, operation: string, request: unknown): IdempotentRequest | undefined {
    const requestId = requestContext.requestId();
    return requestId === undefined ? undefined : this.request(actor, `\u0000request ${requestId}`, operation, request);
  }

  /** Inserts or replaces an ownRequest's record in the change's transaction `m`. */
  async saveOwn(m: EntityManager, req: IdempotentRequest, answer: object): Promise<void> {
    await m.upsert(IdempotencyRecord, this.record(req, answer), ['id']);
  }

  /**
   * The answer of an ownRequest that RabbitMQ delivered again after its change had committed, or
   * undefined (not a redelivery, nothing recorded, or recorded for another request); never a
   * refusal, since the client chose no key.
   */
  async answerToRedelivery<T extends object>(req: IdempotentRequest): Promise<T | undefined> {
    if (!requestContext.redelivered()) return undefined;
    const rec = await this.dataSource.getRepository(IdempotencyRecord).findOneBy({ id: req.id });
    if (!rec || rec.fingerprint !== req.fingerprint || rec.requestId !== req.requestId) return undefined;
    answeredAsMade(this.logger, req.operation, 'IdempotencyService');
    return rec.answer as T;
  }

  /** The record of a change's answer, to be inserted in the change's own transaction (before COMMIT). */
  record(req: IdempotentRequest, answer: object): IdempotencyRecord {
    return { id: req.id, fingerprint: req.fingerprint, operation: req.operation, answer, createdAt: new Date(), requestId: req.requestId };
  }

  /** Inserts the record of a change's answer now, in the change's transaction `m`. */
  async save(m: EntityManager, req: IdempotentRequest, answer: object): Promise<void> {
    await m.insert(IdempotencyRecord, this.record(req, answer));
  }

  /**
   * The answer of the request's earlier run, or of `run`, which makes the change and inserts
   * `record(req, answer)` in the same transaction. A request with the same key that committed
   * while this one ran makes it fail (its record collides with ours, or its change with this one's,
   * as a taken name or a version already published): it is rolled back, and that request's answer
   * is given instead.
   */
  async once<T extends object>(req: IdempotentRequest, run: () => Promise<T>): Promise<T & { idempotent_replay?: true }> {
    for (let attempt = 1; ; attempt++) {
      const earlier = await this.answerTo(req);
      if (earlier !== undefined) return this.replay<T>(req, earlier);
      try {
        return await run();
      } catch (err) {
        const committed = await this.answerTo(req);
        if (committed !== undefined) return this.replay<T>(req, committed);
        // Our record collided with an expired one, which answerTo has just deleted: run again.
        if (duplicateKeyIndex(err) === 'PRIMARY' && attempt < 3) continue;
        throw err;
      }
    }
  }

  /**
   * The recorded answer, marked as a replay (the gateway answers it with `Idempotent-Replayed:
   * true`) — unless this is the request that made it, delivered again by RabbitMQ after the
   * registry died between its COMMIT and its answer: that gets the answer as it was.
   */
  private replay<T extends object>(
    req: IdempotentRequest,
    recorded: { answer: object; requestId: string | null },
  ): T & { idempotent_replay?: true } {
    if (requestContext.redelivered() && recorded.requestId !== null && recorded.requestId === req.requestId) {
      answeredAsMade(this.logger, req.operation, 'IdempotencyService');
      return recorded.answer as T;
    }
    const answer = recorded.answer as T;
    idempotentReplaysTotal.inc({ operation: req.operation });
    // Says why a request answered as a success wrote nothing (the key itself is the client's: not logged).
    this.logger.log(
      { msg: 'answered with the answer of an earlier request with the same Idempotency-Key', operation: req.operation },
      'IdempotencyService',
    );
    return { ...answer, idempotent_replay: true };
  }

  /** The answer recorded for this key, if it is this same request's and not expired (an expired record is deleted). */
  private async answerTo(req: IdempotentRequest): Promise<{ answer: object; requestId: string | null } | undefined> {
    const rec = await this.dataSource.getRepository(IdempotencyRecord).findOneBy({ id: req.id });
    if (!rec) return undefined;
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
    return { answer: rec.answer, requestId: rec.requestId };
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
