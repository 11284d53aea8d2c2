import {
  ArgumentsHost,
  Catch,
  createParamDecorator,
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
  type PipeTransform,
  type RpcExceptionFilter,
} from '@nestjs/common';
import { RmqContext } from '@nestjs/microservices';
import type { Channel, Message } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { Observable, throwError } from 'rxjs';
import { ErrorCode, RpcContracts, rpcMetaSchema, type Actor, type RpcErrorPayload, type RpcData, type RpcPattern } from '#contracts';
import { SERVICE_NAME } from '../config/config.module';
import { driverErrorCode } from '../database/mysql';
import { DomainError, isRpcErrorPayload } from '../errors/domain-error';
import { rpcHandleDuration, rpcHandledTotal, SeriesCache, type CounterSeries, type HistogramSeries } from '../metrics/metrics';
import { parseOrThrow } from '../errors/zod-error';
import { requestContext, sanitizeRequestId } from '../logging/request-context';
import { JsonLogger } from '../logging/json-logger';

/**
 * Runs every RPC handler inside the caller's request context (so logs carry the gateway's request
 * id) and acknowledges the message once the handler has finished — success or failure — so a crash
 * mid-handler leaves the message on the queue for redelivery instead of losing it.
 */
@Injectable()
export class RpcContextInterceptor implements NestInterceptor {
  private readonly durations = new SeriesCache<HistogramSeries>();
  private readonly outcomes = new SeriesCache<CounterSeries>();

  constructor(@Inject(JsonLogger) private readonly logger: JsonLogger) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const rpc = context.switchToRpc();
    const rmq = rpc.getContext<RmqContext>();
    const envelope = rpc.getData<{ meta?: unknown }>();
    const meta = rpcMetaSchema.safeParse(envelope?.meta);
    const ctx = {
      requestId: meta.success ? sanitizeRequestId(meta.data.request_id) : randomUUID(),
      userId: meta.success ? meta.data.actor?.user_id : undefined,
      redelivered: rmq instanceof RmqContext && (rmq.getMessage() as Message).fields.redelivered,
    };
    let acked = false;
    const started = performance.now();
    const ack = (outcome: string) => {
      if (acked || !(rmq instanceof RmqContext)) return;
      acked = true;
      const pattern = rmq.getPattern();
      const seconds = (performance.now() - started) / 1000;
      this.outcomes.get(`${pattern} ${outcome}`, () => rpcHandledTotal.bind({ pattern, outcome })).inc();
      this.durations.get(pattern, () => rpcHandleDuration.bind({ pattern })).observe(seconds);
      this.logger.debug({ msg: 'rpc handled', pattern, outcome, duration_ms: Math.round(seconds * 1000) }, 'Rpc');
      (rmq.getChannelRef() as Channel).ack(rmq.getMessage() as Message);
    };
    return new Observable((subscriber) =>
      requestContext.run(ctx, () =>
        next.handle().subscribe({
          next: (v) => subscriber.next(v),
          error: (e: unknown) => {
            ack(isRpcErrorPayload(e) ? e.code : e instanceof DomainError ? e.code : 'INTERNAL');
            subscriber.error(e);
          },
          complete: () => {
            ack('ok');
            subscriber.complete();
          },
        }),
      ),
    );
  }
}

/** Validates an RPC envelope's `data` against the contract of its pattern (400 naming the field). */
export class RpcPayloadPipe<P extends RpcPattern> implements PipeTransform<unknown, RpcData<P>> {
  constructor(private readonly pattern: P) {}
  transform(value: unknown): RpcData<P> {
    const data = (value as { data?: unknown } | undefined)?.data;
    return parseOrThrow(RpcContracts[this.pattern].request, data, 'payload') as RpcData<P>;
  }
}

const MONGO_UNREACHABLE =
  /^(Mongo(ServerSelection|Network|NetworkTimeout|NotConnected|TopologyClosed|PoolCleared|PoolClosed|ServerClosed|WaitQueueTimeout)Error|PoolClearedOnNetworkError)$/;
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'PROTOCOL_CONNECTION_LOST']);

/** The database each service keeps its data in: what a lost connection of unknown origin is taken for. */
const SERVICE_DATABASE: Record<string, string> = { knowledge: 'MongoDB', 'analysis-worker': 'MongoDB' };

/**
 * Which data store an error says is out of reach (connection refused, lost, timed out), if any:
 * by the error or any error it was caused by (drivers wrap the socket's error in their own). A
 * bare socket error is the service's own database (`database`): named, so that ops know where
 * to look (a knowledge search once answered "its database" for a MongoDB outage).
 */
export function unreachableStore(err: unknown, database = 'its database'): string | undefined {
  let socketCode = false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (MONGO_UNREACHABLE.test(e.name)) return 'MongoDB';
    if (e.name === 'MaxRetriesPerRequestError') return 'Redis';
    const code = driverErrorCode(e);
    if (code && SOCKET_CODES.has(code)) socketCode = true;
  }
  return socketCode ? database : undefined;
}

/** Sends domain errors back as typed payloads; anything else is logged and reported by id only. */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  constructor(
    @Inject(JsonLogger) private readonly logger: JsonLogger,
    @Inject(SERVICE_NAME) private readonly service: string,
  ) {}

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof DomainError) return throwError(() => exception.toPayload());
    const store = unreachableStore(exception, SERVICE_DATABASE[this.service] ?? 'MySQL');
    if (store) {
      // Not a bug of ours: the caller gets a 503 it can retry, ops get one warning line.
      this.logger.warn({ msg: `${store} unreachable`, err: String(exception) }, 'RpcErrorFilter');
      const payload: RpcErrorPayload = {
        code: ErrorCode.SERVICE_UNAVAILABLE,
        message: `The ${this.service} service cannot reach ${store} right now; retry shortly`,
        details: { dependency: store },
      };
      return throwError(() => payload);
    }
    const errorId = randomUUID();
    this.logger.error(
      { msg: 'unhandled error in RPC handler', error_id: errorId, err: String(exception) },
      exception instanceof Error ? exception.stack : undefined,
      'RpcErrorFilter',
    );
    const payload: RpcErrorPayload = {
      code: ErrorCode.INTERNAL,
      message: `Internal error in ${this.service}`,
      details: { error_id: errorId },
    };
    return throwError(() => payload);
  }
}

/** The authenticated caller the gateway put in the RPC envelope (undefined for internal calls). */
export const RpcActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor | undefined => {
  const meta = rpcMetaSchema.safeParse(ctx.switchToRpc().getData<{ meta?: unknown }>()?.meta);
  return meta.success ? meta.data.actor : undefined;
});
