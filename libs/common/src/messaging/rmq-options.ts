import { Transport, type RmqOptions } from '@nestjs/microservices';
import { rpcQueueName, type ServiceName } from '#contracts';
import type { AppConfig } from '../config/config';

/**
 * Safe RabbitMQ options for RPC. Nest's defaults (auto-ack, unlimited prefetch, transient
 * messages) lose work when a handler crashes; Nagle's algorithm on amqplib's socket adds ~40 ms
 * to every call. Both server and client must declare the queue with the same arguments.
 */
export function rmqRpcOptions(config: AppConfig, service: ServiceName): RmqOptions {
  return {
    transport: Transport.RMQ,
    options: {
      urls: [config.amqp.url],
      queue: rpcQueueName(config.namespace, service),
      queueOptions: { durable: true },
      noAck: false,
      prefetchCount: config.amqp.prefetch,
      persistent: true,
      socketOptions: { connectionOptions: { noDelay: true }, heartbeatIntervalInSeconds: 15, reconnectTimeInSeconds: 1 },
    },
  };
}
