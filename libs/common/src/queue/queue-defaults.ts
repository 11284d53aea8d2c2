import type { ConnectionOptions, DefaultJobOptions } from 'bullmq';
import type { AppConfig } from '../config/config';

/**
 * Retry policy for every BullMQ queue, in one place. Failed jobs are kept (removeOnFail: false)
 * so nothing that failed disappears without a trace; completed ones are trimmed. Note that a
 * jobId only dedupes while the job still exists, and a job can run twice (stalled lock): effects
 * must be idempotent in the database.
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: false,
};

export function bullConnection(config: AppConfig): ConnectionOptions {
  const url = new URL(config.redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username || undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    // BullMQ workers block on Redis; they must not give up after a few retries.
    maxRetriesPerRequest: null,
  };
}
