import type { ChannelModel } from 'amqplib';
import { eventTopology } from '#common';

/**
 * Listens on the domain-event exchange as a consumer service would, on an exclusive queue (gone
 * with the connection): every event whose routing key matches `pattern` is pushed to `events` as
 * received, duplicates included.
 */
export async function listenToEvents<E>(amqp: ChannelModel, namespace: string, pattern: string, events: E[]): Promise<void> {
  const ch = await amqp.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, eventTopology(namespace).exchange, pattern);
  await ch.consume(queue, (m) => m && events.push(JSON.parse(m.content.toString()) as E), { noAck: true });
}
