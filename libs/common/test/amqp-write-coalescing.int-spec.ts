import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type * as Amqp from 'amqplib';
import { installAmqpWriteCoalescing } from '#common';
import { isolate, type TestIsolation } from '#testing';

/**
 * Real RabbitMQ: with coalescing installed, the frames amqplib produces in one event-loop turn
 * leave in one socket write, in order, and large bursts (socket backpressure) still arrive whole.
 * amqplib is loaded the way the services load it (Node's own require, not the test runner's
 * module registry), so this is the copy the coalescing patches.
 */
describe('amqplib frame write coalescing', () => {
  let iso: TestIsolation;
  let conn: Amqp.ChannelModel;
  let socket: Socket;
  let writes = 0;
  const queue = () => `${iso.id}.coalescing`;

  beforeAll(async () => {
    iso = isolate();
    expect(installAmqpWriteCoalescing()).toBe(true);
    // Installing twice is harmless (every service's bootstrap calls it).
    expect(installAmqpWriteCoalescing()).toBe(true);
    const amqplib = createRequire(join(process.cwd(), 'package.json'))('amqplib') as typeof Amqp;
    conn = await amqplib.connect(iso.config.amqp.url, { noDelay: true });
    socket = (conn.connection as unknown as { stream: Socket }).stream;
    // Count what reaches the socket: one call of either is one system call.
    for (const method of ['_write', '_writev'] as const) {
      const original = Reflect.get(socket, method) as (this: Socket, ...args: unknown[]) => void;
      (socket as unknown as Record<string, unknown>)[method] = function (this: Socket, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
  });

  afterAll(async () => {
    await conn?.close();
    await iso?.cleanup([queue()]);
  });

  async function drain(ch: Amqp.Channel, expected: number): Promise<Buffer[]> {
    const got: Buffer[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${expected} messages`)), 20_000);
      void ch.consume(queue(), (msg) => {
        if (!msg) return;
        got.push(msg.content);
        ch.ack(msg);
        if (got.length === expected) {
          clearTimeout(timer);
          void ch.cancel(msg.fields.consumerTag).then(() => resolve(got), reject);
        }
      });
    });
  }

  it('sends the frames of one turn in one write, in order', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue(), { durable: false });
    await ch.purgeQueue(queue());
    await new Promise((r) => setImmediate(r));
    writes = 0;
    for (let i = 0; i < 200; i++) ch.sendToQueue(queue(), Buffer.from(`message ${i}`));
    // The multiplexer writes in a setImmediate after the turn that queued the frames.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // Without coalescing this is 200 writes (one per message).
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(2);
    const got = await drain(ch, 200);
    expect(got.map((b) => b.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `message ${i}`));
    await ch.close();
  });

  it('delivers a burst larger than the socket buffer whole (backpressure still applies)', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue(), { durable: false });
    const bodies = Array.from({ length: 60 }, (_, i) => Buffer.alloc(256 * 1024, i));
    const digest = (list: Buffer[]) => list.map((b) => createHash('sha256').update(b).digest('hex'));
    for (const b of bodies) ch.sendToQueue(queue(), b);
    const got = await drain(ch, bodies.length);
    expect(digest(got)).toEqual(digest(bodies));
    await ch.close();
  });
});
