import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { RmqOptions } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  RpcContracts,
  SERVICE_NAMES,
  type Actor,
  type RpcEnvelope,
  type RpcPattern,
  type RpcRequest,
  type RpcResponse,
  type ServiceName,
} from '#contracts';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { DomainError, isRpcErrorPayload } from '../errors/domain-error';
import { requestContext } from '../logging/request-context';
import {
  rpcCallDuration,
  rpcCallsTotal,
  rpcCoalescedRequestsTotal,
  SeriesCache,
  type CounterSeries,
  type HistogramSeries,
} from '../metrics/metrics';
import { PlatformClientRMQ, rmqRpcOptions, RpcTimeoutError } from './rmq-options';
import { RequestCoalescer } from './request-coalescer';

export interface RpcCallOptions {
  actor?: Actor;
  timeoutMs?: number;
}

/**
 * Typed request/response over RabbitMQ: the pattern decides the service, the request type and the
 * response type. Errors come back as DomainErrors with the service's code; no answer within the
 * timeout is a SERVICE_TIMEOUT (504). Each message expires with the timeout, and is not kept
 * across a broker restart (see rmqRpcOptions), so a service that comes back later does not work
 * on requests nobody is waiting for. Requests of coalesced patterns (version publishes) wait up to
 * `rpcCoalesceMs` while others of their service are awaiting an answer, and then go together
 * (RequestCoalescer); the wait is on top of the timeout.
 */
@Injectable()
export class RpcClient implements OnApplicationShutdown {
  private readonly clients = new Map<ServiceName, PlatformClientRMQ>();
  private readonly durations = new SeriesCache<HistogramSeries>();
  private readonly outcomes = new SeriesCache<CounterSeries>();
  /** One per service: its coalesced requests (of any coalesced pattern) travel together. */
  private readonly coalescers = new Map<ServiceName, RequestCoalescer>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    for (const service of SERVICE_NAMES) {
      const { options } = rmqRpcOptions(config, service);
      // The client consumes replies from RabbitMQ's direct reply-to pseudo-queue, which only
      // allows auto-ack consumers; the server's manual-ack settings do not apply here.
      const { noAck: _noAck, prefetchCount: _prefetch, ...clientOptions } = options as NonNullable<RmqOptions['options']>;
      this.clients.set(service, new PlatformClientRMQ(clientOptions));
      const together = rpcCoalescedRequestsTotal.bind({ service });
      this.coalescers.set(service, new RequestCoalescer(config.amqp.rpcCoalesceMs, (n) => together.inc(n)));
    }
  }

  async send<P extends RpcPattern>(pattern: P, data: RpcRequest<P>, opts: RpcCallOptions = {}): Promise<RpcResponse<P>> {
    const contract = RpcContracts[pattern];
    const client = this.clients.get(contract.service)!;
    const timeoutMs = opts.timeoutMs ?? this.config.amqp.rpcTimeoutMs;
    const envelope: RpcEnvelope<RpcRequest<P>> = {
      meta: { request_id: requestContext.requestId() ?? randomUUID(), actor: opts.actor },
      data,
    };
    const coalescer = 'coalesce' in contract && contract.coalesce ? this.coalescers.get(contract.service) : undefined;
    const held = coalescer?.enter();
    const started = performance.now();
    if (held) await held;
    try {
      const { err, response: reply } = await client.request(pattern, envelope, timeoutMs);
      if (err !== undefined && err !== null) throw this.toDomainError(err, contract.service, timeoutMs);
      this.outcome(pattern, 'ok').inc();
      return contract.response.parse(reply) as RpcResponse<P>;
    } catch (err) {
      const failure = this.toDomainError(err, contract.service, timeoutMs);
      this.outcome(pattern, failure.code).inc();
      throw failure;
    } finally {
      coalescer?.leave();
      this.durations.get(pattern, () => rpcCallDuration.bind({ pattern })).observe((performance.now() - started) / 1000);
    }
  }

  private outcome(pattern: string, outcome: string): CounterSeries {
    return this.outcomes.get(`${pattern} ${outcome}`, () => rpcCallsTotal.bind({ pattern, outcome }));
  }

  private toDomainError(err: unknown, service: ServiceName, timeoutMs: number): DomainError {
    if (err instanceof RpcTimeoutError) {
      return new DomainError(ErrorCode.SERVICE_TIMEOUT, `The ${service} service did not answer within ${timeoutMs} ms`, { service });
    }
    if (isRpcErrorPayload(err)) return new DomainError(err.code, err.message, err.details);
    if (err instanceof DomainError) return err;
    return new DomainError(ErrorCode.SERVICE_UNAVAILABLE, `The ${service} service could not be reached`, {
      service,
      reason: err instanceof Error ? err.message : String(err),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(
      [...this.clients.values()].map(async (c): Promise<void> => {
        await c.close();
      }),
    );
  }
}
