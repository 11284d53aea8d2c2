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
import { DomainError, isRpcErrorPayload } from '../errors/domain-error';
import { rpcHandleDuration, rpcHandledTotal } from '../metrics/metrics';
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
  constructor(@Inject(JsonLogger) private readonly logger: JsonLogger) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const rpc = context.switchToRpc();
    const rmq = rpc.getContext<RmqContext>();
    const envelope = rpc.getData<{ meta?: unknown }>();
    const meta = rpcMetaSchema.safeParse(envelope?.meta);
    const ctx = {
      requestId: meta.success ? sanitizeRequestId(meta.data.request_id) : randomUUID(),
      userId: meta.success ? meta.data.actor?.user_id : undefined,
    };
    let acked = false;
    const started = performance.now();
    const ack = (outcome: string) => {
      if (acked || !(rmq instanceof RmqContext)) return;
      acked = true;
      const pattern = rmq.getPattern();
      const seconds = (performance.now() - started) / 1000;
      rpcHandledTotal.inc({ pattern, outcome });
      rpcHandleDuration.observe({ pattern }, seconds);
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

/** Sends domain errors back as typed payloads; anything else is logged and reported by id only. */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  constructor(
    @Inject(JsonLogger) private readonly logger: JsonLogger,
    @Inject(SERVICE_NAME) private readonly service: string,
  ) {}

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof DomainError) return throwError(() => exception.toPayload());
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
