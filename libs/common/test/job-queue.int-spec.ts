import { QueueEvents, type Job, type Worker } from 'bullmq';
import { QueueName } from '#contracts';
import { bullConnection, createWorker, DomainError, jobId, JobQueue, requestContext } from '#common';
import { isolate, type TestIsolation } from '#testing';

/** Real Redis: typed producers, validated payloads, request ids across the queue, dedupe and retry policy. */
describe('BullMQ jobs', () => {
  let iso: TestIsolation;
  let queue: JobQueue<typeof QueueName.GITHUB_SYNC>;
  let worker: Worker | undefined;
  let events: QueueEvents;

  beforeAll(async () => {
    iso = isolate();
    queue = new JobQueue(iso.config, QueueName.GITHUB_SYNC);
    events = new QueueEvents(QueueName.GITHUB_SYNC, { connection: bullConnection(iso.config), prefix: `${iso.config.namespace}:bull` });
    await events.waitUntilReady();
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });

  afterAll(async () => {
    await events?.close();
    await queue?.close();
    await iso?.cleanup();
  });

  it('rejects an invalid payload before queueing it, naming the field', async () => {
    await expect(queue.add('github.repository.sync', { connection_id: 42 } as never)).rejects.toThrow(DomainError);
    await expect(queue.add('github.repository.sync', { connection_id: 42 } as never)).rejects.toThrow(/job\.connection_id/);
  });

  it('runs the job in the request context it was queued from, once per job id', async () => {
    const seen: { id: string; requestId?: string }[] = [];
    worker = createWorker(iso.config, QueueName.GITHUB_SYNC, {
      'github.repository.sync': async (data) => {
        seen.push({ id: data.connection_id, requestId: requestContext.requestId() });
      },
    });
    const job = await requestContext.run({ requestId: 'req-job-1' }, () =>
      queue.add('github.repository.sync', { connection_id: 'c1' }, { jobId: jobId('sync', 'c1') }),
    );
    // Same identity while the first still exists: deduplicated.
    const again = await queue.add('github.repository.sync', { connection_id: 'c1' }, { jobId: jobId('sync', 'c1') });
    expect(again.id).toBe(job.id);
    await job.waitUntilFinished(events, 10_000);
    expect(seen).toEqual([{ id: 'c1', requestId: 'req-job-1' }]);
  });

  it('retries failures with backoff, and fails malformed jobs at once while keeping them', async () => {
    let calls = 0;
    worker = createWorker(iso.config, QueueName.GITHUB_SYNC, {
      'github.repository.sync': async () => {
        calls++;
        if (calls === 1) throw new Error('transient');
      },
    });
    const flaky = await queue.add('github.repository.sync', { connection_id: 'c2' });
    await flaky.waitUntilFinished(events, 15_000);
    expect(calls).toBe(2);

    // Bypass the producer's validation, as a buggy or old producer would.
    const bad: Job = await queue.queue.add('github.repository.sync', { meta: {}, data: { nope: true } });
    await expect(bad.waitUntilFinished(events, 10_000)).rejects.toThrow(/connection_id/);
    const failed = await queue.queue.getJob(bad.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(await failed?.isFailed()).toBe(true);
  }, 30_000);
});
