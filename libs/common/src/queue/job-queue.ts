import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { JobSchemas, type JobName, type JobPayload, type QueueName } from '#contracts';
import type { AppConfig } from '../config/config';
import { parseOrThrow } from '../errors/zod-error';
import { requestContext } from '../logging/request-context';
import { bullConnection, DEFAULT_JOB_OPTIONS } from './queue-defaults';

/** What is stored in Redis for a job: the validated payload and the request that caused it. */
export interface JobEnvelope<T = unknown> {
  meta: { request_id?: string };
  data: T;
}

const prefix = (config: AppConfig) => `${config.namespace}:bull`;

/**
 * A job id from the identity of the work (e.g. `jobId('sync', connectionId)`), so queueing the same
 * work twice while the first job exists is a no-op. BullMQ forbids ':' in custom ids.
 */
export function jobId(...parts: string[]): string {
  return parts.map((p) => p.replace(/:/g, '_')).join('.');
}

/**
 * A typed producer for one queue: job names and payloads come from the contracts, payloads are
 * validated before they are queued, and the current request id travels with the job.
 */
export class JobQueue<Q extends QueueName> {
  readonly queue: Queue;

  constructor(
    config: AppConfig,
    readonly name: Q,
  ) {
    this.queue = new Queue(name, { connection: bullConnection(config), prefix: prefix(config), defaultJobOptions: DEFAULT_JOB_OPTIONS });
  }

  /** Queues a job. Give `jobId` derived from the work's identity so the same work is queued once. */
  async add<N extends JobName<Q>>(
    name: N,
    payload: JobPayload<Q, N>,
    opts: Pick<JobsOptions, 'jobId' | 'delay' | 'priority'> = {},
  ): Promise<Job> {
    const schema = (JobSchemas[this.name] as Record<string, Parameters<typeof parseOrThrow>[0]>)[name];
    const data = parseOrThrow(schema, payload, 'job') as JobPayload<Q, N>;
    const envelope: JobEnvelope<JobPayload<Q, N>> = { meta: { request_id: requestContext.requestId() }, data };
    return this.queue.add(name, envelope, opts);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** One handler per job name of the queue: the compiler refuses a worker that misses one. */
export type JobHandlers<Q extends QueueName> = {
  [N in JobName<Q>]: (data: JobPayload<Q, N>, job: Job) => Promise<unknown>;
};

/**
 * A worker for one queue. Each job runs in the request context it was queued from (logs carry
 * the original request id). A job whose name has no handler or whose payload does not validate
 * fails at once without retries (retrying cannot fix it) and stays in the failed set.
 */
export function createWorker<Q extends QueueName>(
  config: AppConfig,
  name: Q,
  handlers: JobHandlers<Q>,
  opts: { concurrency?: number } = {},
): Worker {
  return new Worker(
    name,
    async (job: Job<JobEnvelope>) => {
      const jobName = job.name as JobName<Q>;
      const handler = handlers[jobName] as ((data: unknown, job: Job) => Promise<unknown>) | undefined;
      const schema = (JobSchemas[name] as Record<string, Parameters<typeof parseOrThrow>[0] | undefined>)[jobName];
      if (!handler || !schema) throw new UnrecoverableError(`queue ${name} has no handler for job '${job.name}'`);
      let data: unknown;
      try {
        data = parseOrThrow(schema, job.data?.data, 'job');
      } catch (err) {
        throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
      }
      const requestId = job.data?.meta?.request_id ?? `job:${name}:${job.id}`;
      return requestContext.run({ requestId }, () => handler(data, job));
    },
    { connection: bullConnection(config), prefix: prefix(config), concurrency: opts.concurrency ?? 10 },
  );
}
