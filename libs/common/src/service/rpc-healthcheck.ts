/**
 * Container health check for a back-end service (they have no HTTP port): sends the service's
 * health RPC over RabbitMQ and exits 0 only if the service answers "up" within 3 s.
 *
 *   node dist/libs/common/src/service/rpc-healthcheck.js <service>
 */
import amqplib from 'amqplib';
import { randomUUID } from 'node:crypto';
import { HEALTH_PATTERN_BY_SERVICE, rpcQueueName, SERVICE_NAMES, type ServiceName } from '#contracts';
import { loadConfig } from '../config/config';

async function main(): Promise<number> {
  const service = process.argv[2] as ServiceName;
  if (!SERVICE_NAMES.includes(service)) {
    process.stderr.write(`usage: rpc-healthcheck <${SERVICE_NAMES.join('|')}>\n`);
    return 2;
  }
  const config = loadConfig();
  const conn = await amqplib.connect(config.amqp.url, { noDelay: true, timeout: 2000 });
  try {
    const ch = await conn.createChannel();
    const id = randomUUID();
    const answer = new Promise<{ response?: { status?: string }; err?: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 3000 ms')), 3000);
      void ch.consume(
        'amq.rabbitmq.reply-to',
        (msg) => {
          if (msg?.properties.correlationId !== id) return;
          clearTimeout(timer);
          resolve(JSON.parse(msg.content.toString('utf8')) as { response?: { status?: string }; err?: unknown });
        },
        { noAck: true },
      );
    });
    // The packet format of @nestjs/microservices' RMQ transport.
    const packet = { id, pattern: HEALTH_PATTERN_BY_SERVICE[service], data: { meta: { request_id: `healthcheck-${id}` }, data: {} } };
    ch.sendToQueue(rpcQueueName(config.namespace, service), Buffer.from(JSON.stringify(packet)), {
      replyTo: 'amq.rabbitmq.reply-to',
      correlationId: id,
      expiration: '3000',
    });
    const reply = await answer;
    if (reply.response?.status === 'up') return 0;
    process.stderr.write(`${service} is not healthy: ${JSON.stringify(reply.err ?? reply.response)}\n`);
    return 1;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`health check failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
