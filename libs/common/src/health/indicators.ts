import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { DependencyHealth } from '#contracts';
import amqplib from 'amqplib';
import { withTimeout } from '../util/with-timeout';

/** Times a probe and reports up/down; a probe that does not settle within `timeoutMs` is down. */
export async function probe(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<DependencyHealth> {
  const start = performance.now();
  try {
    await withTimeout(fn(), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
    return { status: 'up', response_time_ms: round(performance.now() - start) };
  } catch (err) {
    return { status: 'down', response_time_ms: round(performance.now() - start), error: err instanceof Error ? err.message : String(err) };
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export const checkMysql = (ds: DataSource) => probe(() => ds.query('SELECT 1'));
export const checkRedis = (redis: Redis) => probe(() => redis.ping());

/** Opens and closes a connection: proves the broker accepts clients with our credentials now. */
export const checkRabbit = (url: string) =>
  probe(async () => {
    const conn = await amqplib.connect(url, { noDelay: true, timeout: 2000 });
    await conn.close();
  });
