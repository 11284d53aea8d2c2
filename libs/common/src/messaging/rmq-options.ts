import { ClientRMQ, ServerRMQ, Transport, type CustomStrategy, type RmqOptions } from '@nestjs/microservices';
import type { AmqpConnectionManager, ChannelWrapper, CreateChannelOpts } from 'amqp-connection-manager';
import { rpcQueueName, type ServiceName } from '#contracts';
import type { AppConfig } from '../config/config';

/**
 * Safe RabbitMQ options for RPC. Nest's defaults (auto-ack, unlimited prefetch) lose work when a
 * handler crashes: here a request is acknowledged only after its handler finished, so a crash
 * hands it to another instance. Nagle's algorithm on amqplib's socket adds ~40 ms to every call.
 * Both server and client must declare the queue with the same arguments.
 *
 * Requests are not persisted to disk (domain events are): a request is only worth running while
 * its caller waits for the answer, and a broker restart ends that wait — the caller's reply
 * channel is gone and it has answered 503/504. A persisted request would survive the restart
 * and be carried out with nobody to tell, after its client was told it failed (and may have sent
 * it again). The queue itself is durable, so consumers and in-flight deliveries outlive consumer
 * restarts. Persisting cost about a quarter of the broker's CPU per write, measured.
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
      persistent: false,
      socketOptions: { connectionOptions: { noDelay: true }, heartbeatIntervalInSeconds: 15, reconnectTimeInSeconds: 1 },
    },
  };
}

/**
 * Makes the RPC channels of a connection plain channels, not confirm channels (amqp-connection-
 * manager's default, which Nest keeps). A publisher confirm tells the sender the broker has taken
 * the message; for a request or a reply that says nothing its caller can act on: the reply (or
 * the timeout) is the answer, and an unroutable message is confirmed all the same. Each confirm
 * was one more frame from the broker and one more wake-up of the sender, per request and per
 * reply: at 400 writes/s the broker sent 3.2 TCP packets per write with confirms, 1.9 without
 * (rabbitmqctl list_connections send_cnt). While the broker is away, messages still wait in the
 * wrapper until it is back, as before, and the caller's timeout bounds the wait. Domain events
 * keep their confirm channel (the outbox marks a row sent only once confirmed): EventBus asks for
 * it explicitly.
 */
export function withoutPublisherConfirms(connection: AmqpConnectionManager): AmqpConnectionManager {
  const create = connection.createChannel.bind(connection);
  connection.createChannel = (options: CreateChannelOpts = {}): ChannelWrapper => create({ confirm: false, ...options });
  return connection;
}

/** Nest's RMQ client (gateway → service requests) on a channel without publisher confirms. */
export class PlatformClientRMQ extends ClientRMQ {
  override createClient(): AmqpConnectionManager {
    // Nest types its connection as `any` (amqp-connection-manager is an optional peer).
    return withoutPublisherConfirms(super.createClient() as AmqpConnectionManager);
  }
}

/** Names JSON.parse would accept although they look like plain names. */
const JSON_WORDS = new Set(['true', 'false', 'null']);

/**
 * Nest's RMQ server, minus two costs: publisher confirms on its replies (see
 * withoutPublisherConfirms), and a throw per message: before routing a message, Nest tries
 * `JSON.parse` on its pattern (for object patterns). The platform's patterns are plain dotted
 * names (`registry.tool.publish`), so that throws — a SyntaxError with its stack trace, for every
 * message (about 2 % of a busy service's CPU, measured). A name that cannot be JSON is routed as
 * itself, which is exactly what Nest's fallback does after the throw.
 */
export class PlatformServerRMQ extends ServerRMQ {
  /** Replies go out on a channel without publisher confirms (see withoutPublisherConfirms). */
  override async createClient<T = AmqpConnectionManager>(): Promise<T> {
    return withoutPublisherConfirms(await super.createClient<AmqpConnectionManager>()) as T;
  }

  override getRouteFromPattern(pattern: string): string {
    return /^[A-Za-z_][\w.:-]*$/.test(pattern) && !JSON_WORDS.has(pattern) ? pattern : super.getRouteFromPattern(pattern);
  }
}

/** The RPC server of a service: Nest's RMQ transport with the options above. */
export function rpcServerStrategy(config: AppConfig, service: ServiceName): CustomStrategy {
  return { strategy: new PlatformServerRMQ(rmqRpcOptions(config, service).options!) };
}
