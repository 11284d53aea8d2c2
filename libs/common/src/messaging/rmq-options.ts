import { ClientRMQ, ServerRMQ, Transport, type RmqOptions } from '@nestjs/microservices';
import type { Channel, ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import type { AmqpConnectionManager, ChannelWrapper, CreateChannelOpts } from 'amqp-connection-manager';
import { ErrorCode, rpcQueueName, type ServiceName } from '#contracts';
import type { AppConfig } from '../config/config';
import type { RpcDispatcher } from './rpc-server';

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

/** A request that got no answer within its time. */
export class RpcTimeoutError extends Error {
  override readonly name = 'RpcTimeoutError';
}

/** An answer as a service sends it (Nest's reply packet). */
export interface ReplyPacket {
  err?: unknown;
  response?: unknown;
}

/**
 * Nest's RMQ client (gateway → service requests) on a channel without publisher confirms, with
 * requests made by `request()`: one promise per request, its answer found by correlation id in
 * a map. Nest's `send()` wrapped each request in rxjs streams (defer, mergeMap, an Observable
 * and the caller's timeout operator) and routed each answer through an EventEmitter event named
 * after the request. On the write path, with the JavaScript function on top of each sample
 * counted, Nest's client code was 5.7 % of the gateway's CPU samples and rxjs another 5.7 % (part
 * of it the client's, part Nest's HTTP interceptors'). Nest's connection handling is kept: a
 * request waits for the first connection, fails at once while the broker is away, and `close()`
 * fails the requests still waiting.
 */
export class PlatformClientRMQ extends ClientRMQ {
  override createClient(): AmqpConnectionManager {
    // Nest types its connection as `any` (amqp-connection-manager is an optional peer).
    return withoutPublisherConfirms(super.createClient() as AmqpConnectionManager);
  }

  /**
   * Sends `{ pattern, data }` and resolves with the answer (its response, or its error: a typed
   * payload, or why the request could not be sent); rejects with RpcTimeoutError after
   * `timeoutMs`. The message expires on the broker then too, so a service that comes back later
   * does not act on it.
   */
  request(pattern: string, data: unknown, timeoutMs: number): Promise<ReplyPacket> {
    return new Promise((resolve, reject) => {
      const id = randomUUID();
      let timedOut = false;
      // The time counts from the call, a first connection included (as the timeout operator did).
      const timer = setTimeout(() => {
        timedOut = true;
        this.waiting.delete(id);
        reject(new RpcTimeoutError(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (packet: ReplyPacket) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(packet);
      };
      this.connect().then(
        () => {
          if (timedOut) return;
          // Nest's close() calls these with `{ err }` for the requests still waiting.
          this.waiting.set(id, settle);
          // Nest types its channel wrapper loosely (amqp-connection-manager is an optional peer of it).
          (this.channel as ChannelWrapper)
            .sendToQueue(this.queue, Buffer.from(JSON.stringify({ pattern, data, id })), {
              replyTo: this.replyQueue,
              correlationId: id,
              expiration: String(timeoutMs),
              persistent: false,
            })
            .catch((err: unknown) => {
              this.waiting.get(id)?.({ err });
            });
        },
        (err: unknown) => settle({ err: err ?? 'no connection' }),
      );
    });
  }

  /** Requests awaiting their answer, by correlation id (Nest's routing map, typed). */
  private get waiting(): Map<string, (packet: ReplyPacket) => void> {
    return this.routingMap as Map<string, (packet: ReplyPacket) => void>;
  }

  /** Answers go to their request's entry in the routing map (Nest's send() registers there too). */
  override async consumeChannel(channel: Channel): Promise<void> {
    await channel.consume(
      this.replyQueue,
      (msg) => {
        if (!msg) return;
        const callback = this.waiting.get(msg.properties.correlationId as string);
        if (!callback) return; // Its request timed out: nobody waits for it.
        let packet: ReplyPacket;
        try {
          packet = JSON.parse(msg.content.toString()) as ReplyPacket;
        } catch {
          packet = { err: { code: ErrorCode.INTERNAL, message: 'The service sent an unreadable answer' } };
        }
        callback(packet);
      },
      { noAck: true },
    );
  }
}

/**
 * Nest's RMQ server, minus publisher confirms on its replies (see withoutPublisherConfirms), with
 * every request whose pattern has a handler run by the service's RpcDispatcher instead of Nest's
 * pipeline. Nest's own path is left for what the dispatcher does not know (an unknown pattern or
 * an event sent to an RPC queue): it rejects the message without requeueing it and, for a
 * request, answers that nothing handles it.
 *
 * A request is acknowledged after its answer is sent, never before: if the service dies or its
 * channel fails in between, the broker hands the request out again and the registry answers a
 * redelivered change as made. The answer and the acknowledgement leave in the same turn, on one
 * channel, the answer first.
 */
export class PlatformServerRMQ extends ServerRMQ {
  private dispatcher?: RpcDispatcher;

  /** Replies go out on a channel without publisher confirms (see withoutPublisherConfirms). */
  override async createClient<T = AmqpConnectionManager>(): Promise<T> {
    return withoutPublisherConfirms(await super.createClient<AmqpConnectionManager>()) as T;
  }

  /** The service's handlers; required before listen(). */
  dispatchWith(dispatcher: RpcDispatcher): this {
    this.dispatcher = dispatcher;
    return this;
  }

  override listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    if (!this.dispatcher) throw new Error('PlatformServerRMQ: no RpcDispatcher (call dispatchWith before listen)');
    return super.listen(callback);
  }

  override async handleMessage(message: ConsumeMessage, channel: Channel): Promise<void> {
    // amqplib hands the consumer null when the broker cancels it (Nest's signature leaves it out).
    if ((message as ConsumeMessage | null) === null) return;
    const packet = parsePacket(message.content);
    const handled = packet && this.dispatcher?.handle(packet.pattern, packet.data, message.fields.redelivered);
    if (!packet || !handled) return super.handleMessage(message, channel);
    const reply = await handled;
    const { replyTo, correlationId } = message.properties as { replyTo?: string; correlationId?: string };
    // Nest types its channel wrapper loosely (amqp-connection-manager is an optional peer of it).
    const replies = this.channel as ChannelWrapper | null;
    if (replyTo && replies) {
      try {
        // Resolves once the answer is written to the channel's connection (no confirms here).
        await replies.sendToQueue(replyTo, Buffer.from(JSON.stringify({ id: packet.id, ...reply, isDisposed: true })), {
          correlationId,
        });
      } catch (err) {
        // Shutting down, or the broker is gone: unacknowledged, the request goes to another instance.
        this.logger.warn(`answer to ${packet.pattern} not sent: ${String(err)}`);
        return;
      }
    }
    try {
      channel.ack(message);
    } catch {
      // The channel closed after the answer went out: the broker requeued the request itself, and
      // its redelivery is answered as made.
    }
  }
}

/** A request packet as Nest's RMQ client sends it; undefined for anything else (events, foreign messages). */
function parsePacket(content: Buffer): { pattern: string; id: string; data: unknown } | undefined {
  try {
    const packet = JSON.parse(content.toString()) as { pattern?: unknown; id?: unknown; data?: unknown };
    return typeof packet.pattern === 'string' && typeof packet.id === 'string'
      ? (packet as { pattern: string; id: string; data: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}
