import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { EventSchemas, type EventKey, type EventMessage } from '#contracts';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { JsonLogger } from '../logging/json-logger';
import { requestContext, sanitizeRequestId } from '../logging/request-context';
import { ProcessedMessageStore } from './processed-message.store';
import { withTimeout } from '../util/with-timeout';

export const MAX_EVENT_ATTEMPTS = 3;
const RETRY_HEADER = 'x-mcp-attempt';

export interface EventHandler {
  (message: EventMessage): Promise<void>;
}

/** Names of the exchanges and queues of a namespace (test runs use their own namespace). */
export function eventTopology(namespace: string, consumer?: string) {
  return {
    exchange: `${namespace}.events`,
    deadLetterExchange: `${namespace}.events.dlx`,
    queue: consumer ? `${namespace}.${consumer}.events` : undefined,
    deadLetterQueue: consumer ? `${namespace}.${consumer}.events.dlq` : undefined,
  };
}

/**
 * Domain events over a durable topic exchange. Publishing waits for the broker's confirm (the
 * outbox marks a row sent only then). Each consumer has its own durable queue with a dead-letter
 * queue; messages are acked manually after the handler succeeded, retried a bounded number of
 * times, dead-lettered when invalid or still failing, and skipped when already processed
 * (delivery is at-least-once).
 */
@Injectable()
export class EventBus implements OnApplicationShutdown {
  private connection?: AmqpConnectionManager;
  private publisher?: ChannelWrapper;
  private readonly consumers: ChannelWrapper[] = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JsonLogger) private readonly logger: JsonLogger,
    @Inject(ProcessedMessageStore) private readonly processed: ProcessedMessageStore,
  ) {}

  private conn(): AmqpConnectionManager {
    if (!this.connection) {
      this.connection = amqp.connect([this.config.amqp.url], {
        connectionOptions: { noDelay: true },
        heartbeatIntervalInSeconds: 15,
        reconnectTimeInSeconds: 1,
      });
      this.connection.on('disconnect', ({ err }) =>
        this.logger.warn({ msg: 'event bus disconnected from RabbitMQ', err: err?.message }, 'EventBus'),
      );
    }
    return this.connection;
  }

  /**
   * A channel whose setup fails (the connection closed under it, at shutdown or in a broker outage)
   * emits 'error'; unheard, that would crash the process. The channel sets itself up again on the
   * next connection, so the failure is only reported.
   */
  private reportChannelErrors(channel: ChannelWrapper, name: string): void {
    channel.on('error', (err: Error) =>
      this.logger.warn(
        { msg: 'event channel setup failed; it is retried on the next connection', channel: name, err: err.message },
        'EventBus',
      ),
    );
  }

  private async assertExchanges(ch: Channel | ConfirmChannel): Promise<void> {
    const t = eventTopology(this.config.namespace);
    await ch.assertExchange(t.exchange, 'topic', { durable: true });
    await ch.assertExchange(t.deadLetterExchange, 'direct', { durable: true });
  }

  async publish(message: EventMessage): Promise<void> {
    if (!this.publisher) {
      this.publisher = this.conn().createChannel({
        confirm: true,
        publishTimeout: 5000,
        setup: (ch: ConfirmChannel) => this.assertExchanges(ch),
      });
      this.reportChannelErrors(this.publisher, 'publisher');
    }
    await this.publisher.publish(eventTopology(this.config.namespace).exchange, message.key, Buffer.from(JSON.stringify(message)), {
      persistent: true,
      messageId: message.id,
      contentType: 'application/json',
      timestamp: Date.now(),
    });
  }

  /**
   * Starts consuming `keys` into the consumer's own durable queue. Resolves once the consumer is set up.
   * Deliveries are de-duplicated by event id (three Redis round trips per event, and a key per
   * event kept a week) unless `options.idempotent` says the handler converges by itself — it sets
   * state instead of adding to it, like a cache invalidation — so running it twice is harmless.
   */
  async subscribe(consumer: string, keys: EventKey[], handler: EventHandler, options: { idempotent?: boolean } = {}): Promise<void> {
    const t = eventTopology(this.config.namespace, consumer);
    const queue = t.queue!;
    const dlq = t.deadLetterQueue!;
    const channel = this.conn().createChannel({
      setup: async (ch: Channel) => {
        await this.assertExchanges(ch);
        await ch.assertQueue(dlq, { durable: true });
        await ch.bindQueue(dlq, t.deadLetterExchange, consumer);
        await ch.assertQueue(queue, {
          durable: true,
          arguments: { 'x-dead-letter-exchange': t.deadLetterExchange, 'x-dead-letter-routing-key': consumer },
        });
        for (const key of keys) await ch.bindQueue(queue, t.exchange, key);
      },
    });
    this.reportChannelErrors(channel, consumer);
    this.consumers.push(channel);
    await channel.waitForConnect();
    await channel.consume(queue, (msg) => void this.handle(consumer, channel, queue, msg, handler, options.idempotent === true), {
      prefetch: this.config.amqp.prefetch,
      noAck: false,
    });
  }

  /**
   * A live feed of the events matching `patterns` (`tool.#`) for this process alone, to relay to
   * its clients: a server-named, exclusive queue the broker deletes with the channel, so nothing
   * is kept for a process that is gone and no copy is written to disk (the durable copies are in
   * the consumers' own queues). At most once: `onConnected(first)` runs each time the feed is
   * (re)established, and after a reconnect the events in between were missed — the caller tells
   * its clients so. Invalid events are dropped with a warning.
   */
  async subscribeLive(
    patterns: string[],
    onEvent: (message: EventMessage) => void,
    onConnected: (first: boolean) => void,
  ): Promise<{ close(): Promise<void> }> {
    const { exchange } = eventTopology(this.config.namespace);
    let first = true;
    const channel = this.conn().createChannel({
      setup: async (ch: Channel) => {
        await this.assertExchanges(ch);
        const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
        for (const pattern of patterns) await ch.bindQueue(queue, exchange, pattern);
        await ch.consume(
          queue,
          (msg) => {
            if (!msg) return;
            let message: EventMessage;
            try {
              message = parseEvent(msg.content);
            } catch (err) {
              this.logger.warn({ msg: 'invalid event not relayed', routing_key: msg.fields.routingKey, reason: String(err) }, 'EventBus');
              return;
            }
            onEvent(message);
          },
          { noAck: true },
        );
        onConnected(first);
        first = false;
      },
    });
    this.reportChannelErrors(channel, 'live feed');
    this.consumers.push(channel);
    const close = async () => {
      const i = this.consumers.indexOf(channel);
      if (i >= 0) this.consumers.splice(i, 1);
      await channel.close();
    };
    // Whoever waits for the feed (a client opening a stream) is told the broker is unreachable
    // rather than kept waiting for it to come back.
    try {
      await withTimeout(channel.waitForConnect(), this.config.amqp.rpcTimeoutMs, () => new Error('RabbitMQ is not reachable'));
    } catch (err) {
      await close().catch(() => undefined);
      throw err;
    }
    return { close };
  }

  /**
   * Deletes the queues of a consumer that an earlier version declared and this one no longer has
   * (a durable queue nobody reads keeps every matching event forever). Deleting a queue that does
   * not exist succeeds, so every start may do it. Resolves once done; while the broker is
   * unreachable it waits, and runs on the next connection.
   */
  async retire(consumer: string): Promise<void> {
    const t = eventTopology(this.config.namespace, consumer);
    const channel = this.conn().createChannel({
      setup: async (ch: Channel) => {
        await ch.deleteQueue(t.queue!);
        await ch.deleteQueue(t.deadLetterQueue!);
      },
    });
    this.reportChannelErrors(channel, `retire ${consumer}`);
    // Closed at shutdown if still waiting for the broker.
    this.consumers.push(channel);
    await channel.waitForConnect();
    await channel.close();
    this.consumers.splice(this.consumers.indexOf(channel), 1);
  }

  private async handle(
    consumer: string,
    channel: ChannelWrapper,
    queue: string,
    msg: ConsumeMessage,
    handler: EventHandler,
    idempotent: boolean,
  ): Promise<void> {
    let message: EventMessage;
    try {
      message = parseEvent(msg.content);
    } catch (err) {
      this.logger.error(
        { msg: 'invalid event dead-lettered', consumer, routing_key: msg.fields.routingKey, reason: String(err) },
        'EventBus',
      );
      channel.nack(msg, false, false);
      return;
    }
    await requestContext.run({ requestId: sanitizeRequestId(message.request_id) }, async () => {
      let claimed = false;
      try {
        if (idempotent) {
          await handler(message);
          channel.ack(msg);
          return;
        }
        const claim = await this.processed.claim(consumer, message.id);
        if (claim === 'done') {
          channel.ack(msg);
          return;
        }
        if (claim === 'in-flight') {
          // Another delivery of this event is being handled right now (or its consumer crashed and
          // the claim has not expired yet): put it back a little later instead of running it twice.
          await new Promise((r) => setTimeout(r, 1000));
          channel.nack(msg, false, true);
          return;
        }
        claimed = true;
        await handler(message);
        await this.processed.complete(consumer, message.id);
        channel.ack(msg);
      } catch (err) {
        if (claimed) await this.processed.release(consumer, message.id).catch(() => undefined);
        const attempt = Number(msg.properties.headers?.[RETRY_HEADER] ?? 1);
        if (attempt < MAX_EVENT_ATTEMPTS) {
          this.logger.warn(
            { msg: 'event handler failed, retrying', consumer, event_id: message.id, attempt, err: String(err) },
            'EventBus',
          );
          // Re-queue at the tail with an attempt counter; publish before ack so nothing is lost.
          await channel.sendToQueue(queue, msg.content, {
            ...msg.properties,
            persistent: true,
            headers: { ...msg.properties.headers, [RETRY_HEADER]: attempt + 1 },
          });
          channel.ack(msg);
        } else {
          this.logger.error(
            { msg: 'event handler failed, dead-lettered', consumer, event_id: message.id, attempt, err: String(err) },
            'EventBus',
          );
          channel.nack(msg, false, false);
        }
      }
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.close()));
    await this.publisher?.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }
}

/** Parses and validates an event from the wire; throws naming what is wrong. */
export function parseEvent(content: Buffer): EventMessage {
  const raw = JSON.parse(content.toString('utf8')) as Partial<EventMessage>;
  if (typeof raw.id !== 'string' || typeof raw.key !== 'string' || !(raw.key in EventSchemas)) {
    throw new Error(`event without id or with unknown key '${String(raw.key)}'`);
  }
  const schema = EventSchemas[raw.key];
  const payload = schema.safeParse(raw.payload);
  if (!payload.success) throw new Error(`payload of ${raw.key} invalid: ${payload.error.issues[0]?.message}`);
  return { ...(raw as EventMessage), payload: payload.data };
}
