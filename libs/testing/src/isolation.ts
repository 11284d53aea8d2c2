import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { EventConsumer, SERVICE_NAMES, rpcQueueName } from '#contracts';
import { eventTopology, loadConfig, serverConnection, type AppConfig } from '#common';

/**
 * Every test run gets its own namespace: its own databases (prefix), RabbitMQ queues and
 * exchanges, Redis keys and BullMQ queues. Runs can repeat on one machine and never see each
 * other's data; `cleanup()` removes what the run created.
 */
export interface TestIsolation {
  id: string;
  env: Record<string, string>;
  config: AppConfig;
  cleanup(extraQueues?: string[]): Promise<void>;
}

export const TEST_JWT_SECRET = 'test-secret-for-the-test-suite-only-0123456789';

export function isolate(overrides: Record<string, string> = {}): TestIsolation {
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    NAMESPACE: id,
    MYSQL_DATABASE_PREFIX: `mcp_${id}_`,
    MYSQL_HOST: process.env.MYSQL_HOST ?? '127.0.0.1',
    MYSQL_PORT: process.env.MYSQL_PORT ?? '3306',
    MYSQL_USER: process.env.MYSQL_USER ?? 'root',
    MYSQL_PASSWORD: process.env.MYSQL_PASSWORD ?? '',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    AMQP_URL: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    JWT_SECRET: TEST_JWT_SECRET,
    MCP_SKIP_DOTENV: '1',
    // A real MongoDB when the run is given one; otherwise each platform start runs its own in-memory dev server.
    ...(process.env.MONGO_URL ? { MONGO_URL: process.env.MONGO_URL } : {}),
    ...overrides,
  };
  const config = loadConfig(env);
  return {
    id,
    env,
    config,
    cleanup: async (extraQueues = []) => {
      await Promise.allSettled([
        dropDatabases(config),
        dropMongoDatabases(config),
        deleteRedisKeys(config),
        deleteBrokerObjects(config, extraQueues),
      ]);
    },
  };
}

async function dropDatabases(config: AppConfig): Promise<void> {
  const conn = await serverConnection(config);
  try {
    const [rows] = await conn.query('SHOW DATABASES LIKE ?', [`${config.mysql.databasePrefix}%`]);
    for (const row of rows as Record<string, string>[]) {
      const name = Object.values(row)[0];
      if (name.startsWith(config.mysql.databasePrefix)) await conn.query(`DROP DATABASE \`${name}\``);
    }
  } finally {
    await conn.end();
  }
}

/** The run's MongoDB databases (named with the same prefix as its MySQL ones). */
async function dropMongoDatabases(config: AppConfig): Promise<void> {
  if (!config.mongoUrl) return;
  const client = await new mongoose.mongo.MongoClient(config.mongoUrl, { serverSelectionTimeoutMS: 3000 }).connect();
  try {
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    for (const { name } of databases) if (name.startsWith(config.mysql.databasePrefix)) await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}

async function deleteRedisKeys(config: AppConfig): Promise<void> {
  const redis = new Redis(config.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Whether a queue exists on the broker (a passive declare; the broker closes the channel with a 404 when it does not). */
export async function queueExists(conn: amqplib.ChannelModel, name: string): Promise<boolean> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.checkQueue(name);
    await ch.close();
    return true;
  } catch {
    return false;
  }
}

async function deleteBrokerObjects(config: AppConfig, extraQueues: string[]): Promise<void> {
  const conn = await amqplib.connect(config.amqp.url);
  try {
    const t = eventTopology(config.namespace);
    const consumers = Object.values(EventConsumer).flatMap((c) => {
      const q = eventTopology(config.namespace, c);
      return [q.queue!, q.deadLetterQueue!];
    });
    const names = [...SERVICE_NAMES.map((s) => rpcQueueName(config.namespace, s)), ...consumers, ...extraQueues];
    for (const q of names) {
      // A channel is closed by the broker on error, so use one per delete.
      const ch = await conn.createChannel();
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    const ch = await conn.createChannel();
    await ch.deleteExchange(t.exchange).catch(() => undefined);
    await ch.deleteExchange(t.deadLetterExchange).catch(() => undefined);
    await ch.close().catch(() => undefined);
  } finally {
    await conn.close();
  }
}
