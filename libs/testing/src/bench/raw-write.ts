/**
 * Baseline for the write benchmarks: the platform's version publish built by hand from the same
 * parts, with nothing of the platform's own (no Nest, no TypeORM, no grouping or coalescing), so
 * the bench can tell what of a write's latency is the machine's and what is the platform's.
 *
 * Same processes and hops as a publish through the gateway: an HTTP front (Fastify, HS256 bearer
 * token checked, JSON body) sends the request over RabbitMQ (durable queue, manual ack, direct
 * reply-to, no publisher confirms) to a worker, which in MariaDB locks and reads the tool row
 * (`BEGIN` + `SELECT … FOR UPDATE`, one round trip), then inserts the version, updates the tool,
 * inserts the history row and the outbox row and commits (one round trip), then bumps a Redis
 * counter and publishes it (one Lua script), replies and acks. The worker relays the outbox every
 * 25 ms to a topic exchange on a confirm channel (persistent), consumed by the front, as the
 * platform's events are. Same rows, same indexes.
 *
 * This file is the two processes (`node raw-write.js front|worker <namespace> [port]`, settings in
 * the environment); raw-write-setup.ts creates the database and starts them.
 */
import amqp from 'amqplib';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import semver from 'semver';
import { rawWriteNames as names } from './raw-write-setup';

function verifyToken(header: string | undefined, secret: string): string | undefined {
  const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
  const parts = token?.split('.');
  if (!parts || parts.length !== 3) return undefined;
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as { sub?: string; exp?: number };
  return claims.exp && claims.exp * 1000 > Date.now() ? claims.sub : undefined;
}

async function front(port: number, amqpUrl: string, namespace: string, redisUrl: string, secret: string): Promise<void> {
  const { queue, exchange, eventQueue, channel } = names(namespace);
  const conn = await amqp.connect(amqpUrl, { noDelay: true });
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  const waiting = new Map<string, (body: { status: number; json: unknown }) => void>();
  await ch.consume(
    'amq.rabbitmq.reply-to',
    (msg) => {
      if (!msg) return;
      waiting.get(msg.properties.correlationId as string)?.(JSON.parse(msg.content.toString()) as { status: number; json: unknown });
      waiting.delete(msg.properties.correlationId as string);
    },
    { noAck: true },
  );
  // The events, as a service consuming them would (acked one by one).
  // The exchange goes with its last binding (the queue is deleted by the run's cleanup).
  await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: true });
  await ch.assertQueue(eventQueue, { durable: true });
  await ch.bindQueue(eventQueue, exchange, 'tool.#');
  await ch.consume(eventQueue, (msg) => msg && ch.ack(msg), { noAck: false });
  // The cache generation announcements, as the gateway follows them.
  let generation = 0;
  const sub = new Redis(redisUrl);
  await sub.subscribe(channel);
  sub.on('message', (_c: string, m: string) => (generation = Math.max(generation, Number(m.slice(2)))));

  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 });
  app.post<{ Params: { id: string }; Body: { version?: unknown; config?: unknown } }>('/tools/:id/versions', async (req, reply) => {
    const user = verifyToken(req.headers.authorization, secret);
    if (!user) return reply.code(401).send({ error: 'unauthorized' });
    if (typeof req.body?.version !== 'string' || typeof req.body.config !== 'object') return reply.code(400).send({ error: 'bad body' });
    const correlationId = randomUUID();
    const answer = new Promise<{ status: number; json: unknown }>((ok) => waiting.set(correlationId, ok));
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ id: req.params.id, user, body: req.body })), {
      replyTo: 'amq.rabbitmq.reply-to',
      correlationId,
      expiration: '10000',
      persistent: false,
    });
    const { status, json } = await answer;
    return reply.code(status).send(json);
  });
  await app.listen({ port, host: '127.0.0.1' });
  process.stdout.write(`listening http://127.0.0.1:${port} (generation ${generation})\n`);
}

const BUMP = `local n = redis.call('INCR', KEYS[1]) redis.call('PUBLISH', ARGV[1], 'g ' .. n) return n`;

async function worker(amqpUrl: string, namespace: string, mysqlUrl: string, redisUrl: string): Promise<void> {
  const { queue, exchange, generationKey, channel } = names(namespace);
  const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 10, multipleStatements: true, timezone: 'Z' });
  const redis = new Redis(redisUrl);
  const conn = await amqp.connect(amqpUrl, { noDelay: true });
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  await ch.prefetch(50);
  await ch.consume(
    queue,
    (msg) => {
      if (!msg) return;
      const { id, user, body } = JSON.parse(msg.content.toString()) as {
        id: string;
        user: string;
        body: { version: string; config: unknown };
      };
      publish(pool, id, user, body).then(
        async (result) => {
          await redis.eval(BUMP, 1, generationKey, channel);
          ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify(result)), {
            correlationId: msg.properties.correlationId as string,
          });
          ch.ack(msg);
        },
        (err: unknown) => {
          ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify({ status: 500, json: { error: String(err) } })), {
            correlationId: msg.properties.correlationId as string,
          });
          ch.ack(msg);
        },
      );
    },
    { noAck: false },
  );

  // The outbox relay: pending rows to the exchange (persistent, confirmed), then marked sent.
  const confirm = await conn.createConfirmChannel();
  await confirm.assertExchange(exchange, 'topic', { durable: false, autoDelete: true });
  const relay = async (): Promise<void> => {
    const [rows] = await pool.execute<mysql.RowDataPacket[]>(
      'SELECT id, routing_key, payload FROM outbox WHERE published_at IS NULL ORDER BY created_at LIMIT 100',
    );
    if (rows.length) {
      for (const r of rows)
        confirm.publish(exchange, r.routing_key as string, Buffer.from(JSON.stringify(r.payload)), { persistent: true });
      await confirm.waitForConfirms();
      await pool.query('UPDATE outbox SET published_at = ? WHERE id IN (?)', [new Date(), rows.map((r) => r.id as string)]);
    }
    setTimeout(() => void relay(), 25);
  };
  void relay();
  process.stdout.write('worker ready\n');
}

/** Lock + read in one round trip, every write and COMMIT in a second. */
async function publish(
  pool: mysql.Pool,
  id: string,
  user: string,
  body: { version: string; config: unknown },
): Promise<{ status: number; json: unknown }> {
  const version = semver.valid(body.version);
  if (!version) return { status: 400, json: { error: 'version is not semver' } };
  const conn = await pool.getConnection();
  try {
    const [results] = await conn.query<mysql.RowDataPacket[][]>(
      'BEGIN; SELECT name, pinned_version, highest_version FROM tools WHERE id = ? FOR UPDATE',
      [id],
    );
    const tool = results[1][0];
    if (!tool) {
      await conn.query('ROLLBACK');
      return { status: 404, json: { error: 'no such tool' } };
    }
    const highest = tool.highest_version as string | null;
    if (highest && !semver.gt(version, highest)) {
      await conn.query('ROLLBACK');
      return { status: 409, json: { error: `version must be higher than ${highest}` } };
    }
    const now = new Date();
    const sha256 = createHash('sha256').update(JSON.stringify(body.config)).digest('hex');
    const latest = (tool.pinned_version as string | null) ?? version;
    await conn.query(
      `INSERT INTO tool_versions (id, tool_id, version, changelog, config, manifest, sha256, published_by, published_at) VALUES (?, ?, ?, '', ?, NULL, ?, ?, ?);
       UPDATE tools SET latest_version = ?, highest_version = ?, updated_at = ? WHERE id = ?;
       INSERT INTO tool_history (id, tool_id, action, actor_id, at, diff) VALUES (?, ?, 'version.published', ?, ?, ?);
       INSERT INTO outbox (id, routing_key, payload, created_at) VALUES (?, 'tool.version.published', ?, ?);
       COMMIT`,
      [
        randomUUID(),
        id,
        version,
        JSON.stringify(body.config),
        sha256,
        user,
        now,
        latest,
        version,
        now,
        id,
        randomUUID(),
        id,
        user,
        now,
        JSON.stringify({ version, sha256 }),
        randomUUID(),
        JSON.stringify({ tool_id: id, name: tool.name as string, version, sha256 }),
        now,
      ],
    );
    return { status: 201, json: { tool_id: id, version, sha256, is_latest: latest === version } };
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

function main(): void {
  const [role, namespace, port] = process.argv.slice(2);
  const env = (name: string) => process.env[name] ?? '';
  const started =
    role === 'front'
      ? front(Number(port), env('RAW_WRITE_AMQP_URL'), namespace, env('RAW_WRITE_REDIS_URL'), env('RAW_WRITE_SECRET'))
      : role === 'worker'
        ? worker(env('RAW_WRITE_AMQP_URL'), namespace, env('RAW_WRITE_MYSQL_URL'), env('RAW_WRITE_REDIS_URL'))
        : Promise.reject(new Error(`unknown role ${role}: front | worker`));
  started.catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}

main();
