import 'reflect-metadata';
import amqplib from 'amqplib';
import { ErrorCode, rpcQueueName, RpcPattern } from '#contracts';
import { metricsRegistry, RpcClient } from '#common';
import { isolate, type TestIsolation } from '#testing';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Arrival {
  pattern: string;
  version?: string;
  at: number;
}

/**
 * Real RabbitMQ: the gateway's RPC client holds version publishes back while one is awaiting its
 * answer and sends them together once it is answered; other patterns are never held. A raw
 * consumer stands in for the registry, answering each publish after a set delay, and records when
 * each request reached it.
 */
describe('RPC write coalescing over RabbitMQ', () => {
  let iso: TestIsolation;
  let conn: amqplib.ChannelModel;
  let client: RpcClient;
  const arrivals: Arrival[] = [];
  const started = performance.now();
  let answerAfterMs = 0;

  beforeAll(async () => {
    // The longest hold the configuration allows, and a slow stand-in: the held publishes must wait
    // for the answer (or the hold's end), never go out on their own.
    iso = isolate({ RPC_COALESCE_MS: '100', RPC_TIMEOUT_MS: '3000' });
    conn = await amqplib.connect(iso.config.amqp.url);
    const ch = await conn.createChannel();
    const queue = rpcQueueName(iso.config.namespace, 'registry');
    await ch.assertQueue(queue, { durable: true });
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      const packet = JSON.parse(msg.content.toString()) as {
        pattern: string;
        id: string;
        data: { data?: { input?: { version?: string } } };
      };
      arrivals.push({ pattern: packet.pattern, version: packet.data.data?.input?.version, at: performance.now() - started });
      const reply = () => {
        // An error answer is enough here: the client counts the request as answered either way.
        const content = { id: packet.id, err: { code: ErrorCode.NOT_FOUND, message: 'stand-in' }, isDisposed: true };
        try {
          ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify(content)), {
            correlationId: msg.properties.correlationId as string,
          });
          ch.ack(msg);
        } catch {
          // the suite has ended and closed the channel
        }
      };
      if (packet.pattern === RpcPattern.REGISTRY_VERSION_PUBLISH) setTimeout(reply, answerAfterMs);
      else reply();
    });
    client = new RpcClient(iso.config);
    // Connected before the timings below (requests made while it connects may leave in any order).
    await client.send(RpcPattern.REGISTRY_HEALTH_CHECK, {}).catch(() => undefined);
  });

  afterAll(async () => {
    await client?.onApplicationShutdown();
    await conn?.close();
    await iso?.cleanup();
  });

  const publish = (version: string) =>
    client
      .send(RpcPattern.REGISTRY_VERSION_PUBLISH, {
        tool_id: '00000000-0000-4000-8000-000000000001',
        input: { version, config: { type: 'stdio', command: 'npx', args: [] } },
      })
      .catch((e: unknown) => e);

  async function together(): Promise<number> {
    const metrics = await metricsRegistry.getMetricsAsJSON();
    const m = metrics.find((x) => x.name === 'rpc_coalesced_requests_total');
    const v = m?.values.find((x) => x.labels.service === 'registry');
    return v?.value ?? 0;
  }

  it('holds publishes while one is awaiting its answer, then sends them together; other patterns go at once', async () => {
    answerAfterMs = 60;
    arrivals.length = 0;
    const before = await together();
    const first = publish('1.0.0');
    await sleep(15);
    const second = publish('1.0.1');
    await sleep(15);
    const read = client.send(RpcPattern.REGISTRY_TOOL_LIST, {}).catch((e: unknown) => e);
    const third = publish('1.0.2');
    expect(await read).toMatchObject({ code: ErrorCode.NOT_FOUND });
    const results = await Promise.all([first, second, third]);
    for (const r of results) expect(r).toMatchObject({ code: ErrorCode.NOT_FOUND });
    const [a, , b, c] = arrivals;
    // The read, sent after the second publish, overtook both held publishes.
    expect(arrivals.map((x) => x.version ?? x.pattern)).toEqual(['1.0.0', RpcPattern.REGISTRY_TOOL_LIST, '1.0.1', '1.0.2']);
    // Released by the first one's answer (60 ms after it arrived), not before; both in one go.
    expect(b.at - a.at).toBeGreaterThanOrEqual(55);
    expect(Math.abs(c.at - b.at)).toBeLessThan(20);
    expect((await together()) - before).toBe(2);
  });

  it('sends held publishes when the hold ends, even if the earlier one is still unanswered', async () => {
    answerAfterMs = 1000;
    arrivals.length = 0;
    const first = publish('2.0.0');
    await sleep(10);
    const heldAt = performance.now() - started;
    const second = publish('2.0.1');
    await sleep(300);
    // Sent at the end of its 100 ms hold, long before the first one's answer.
    expect(arrivals.map((x) => x.version)).toEqual(['2.0.0', '2.0.1']);
    expect(arrivals[1].at - heldAt).toBeGreaterThanOrEqual(95);
    expect(arrivals[1].at - heldAt).toBeLessThan(290);
    await Promise.all([first, second]);
  });

  it('sends a publish at once when none is awaiting an answer', async () => {
    answerAfterMs = 0;
    arrivals.length = 0;
    const sentAt = performance.now() - started;
    await publish('3.0.0');
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0].at - sentAt).toBeLessThan(90);
  });
});
