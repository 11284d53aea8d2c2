import type { ChannelModel } from 'amqplib';
import { eventTopology } from '#common';

/**
 * Listens on the domain-event exchange as a consumer service would: every event whose routing key
 * matches `pattern` is pushed to `events` as received, duplicates included. By default on an
 * exclusive queue, gone with the connection; with `queue`, on that durable queue, acknowledged
 * once pushed, so that a listener whose connection the broker dropped can listen again (on a new
 * connection) without missing what was published meanwhile. Remove such a queue after the test
 * (TestIsolation.cleanup's `extraQueues`).
 */
export async function listenToEvents<E>(
  amqp: ChannelModel,
  namespace: string,
  pattern: string,
  events: E[],
  opts: { queue?: string } = {},
): Promise<void> {
  const ch = await amqp.createChannel();
  const queue = opts.queue ?? (await ch.assertQueue('', { exclusive: true })).queue;
  if (opts.queue) await ch.assertQueue(opts.queue, { durable: true });
  await ch.bindQueue(queue, eventTopology(namespace).exchange, pattern);
  await ch.consume(
    queue,
    (m) => {
      if (!m) return;
      events.push(JSON.parse(m.content.toString()) as E);
      if (opts.queue) ch.ack(m);
    },
    { noAck: !opts.queue },
  );
}
