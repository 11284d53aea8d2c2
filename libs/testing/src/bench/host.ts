/**
 * What of the machine shapes the latency tails, printed beside the bench's figures.
 *
 * Found here (2026-12-02): the VMs this bench runs on reclaim memory with DAMON — a kernel thread
 * (`kdamond.N`) samples the accessed bits of physical memory every 500 ms and pages out regions
 * cold for a minute. Each sampling pass took 10–15 ms of one of the two CPUs, every ~545 ms. In a
 * timeline of paced writes at 200/s the slow requests (over 20 ms) came in clusters, and 14 of
 * the 24 clusters (68 of the 115 slow requests) began within 60 ms before a pass, 12 of them
 * within 15 ms; RPC reads had their clusters at the same ~545 ms period; cached reads (no hop) and
 * each store alone (MariaDB, RabbitMQ, Redis probes) had none. The bench reports the thread's CPU
 * so that a p99 can be read against it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReclaimMonitor {
  /** `kdamonds/<n>` */
  id: string;
  state: string;
  /** What is monitored: `paddr` (physical memory), `vaddr`/`fvaddr` (processes). */
  operations: string[];
  /** Sampling interval, ms. */
  sampleMs: number[];
  /** What the schemes do with what they find (`pageout`, `lru_prio`, …). */
  actions: string[];
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const list = (path: string): string[] => {
  try {
    return readdirSync(path).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
};

/** The DAMON monitors configured on this machine (none when the kernel has no DAMON sysfs). */
export function reclaimMonitors(root = '/sys/kernel/mm/damon/admin'): ReclaimMonitor[] {
  return list(join(root, 'kdamonds')).map((n) => {
    const dir = join(root, 'kdamonds', n);
    const contexts = list(join(dir, 'contexts')).map((c) => join(dir, 'contexts', c));
    return {
      id: `kdamonds/${n}`,
      state: read(join(dir, 'state')) ?? 'unknown',
      operations: contexts.map((c) => read(join(c, 'operations')) ?? '?'),
      sampleMs: contexts.map((c) => Number(read(join(c, 'monitoring_attrs', 'intervals', 'sample_us')) ?? NaN) / 1000),
      actions: contexts.flatMap((c) => list(join(c, 'schemes')).map((s) => read(join(c, 'schemes', s, 'action')) ?? '?')),
    };
  });
}

/** On-CPU milliseconds of the kernel's DAMON threads so far (0 when there are none). */
export function kdamondCpuMs(proc = '/proc'): number {
  let ns = 0;
  for (const pid of list(proc)) {
    if (!read(join(proc, pid, 'comm'))?.startsWith('kdamond')) continue;
    ns += Number(read(join(proc, pid, 'schedstat'))?.split(' ')[0] ?? 0);
  }
  return ns / 1e6;
}

/** One line for the bench's report: which monitors run, how often they sample, what they do. */
export function describeReclaim(monitors: ReclaimMonitor[]): string {
  const on = monitors.filter((m) => m.state === 'on');
  if (!on.length) return 'no DAMON memory monitor running';
  return on
    .map((m) => `${m.id} (${m.operations.join('/')}, sampling every ${m.sampleMs.join('/')} ms, ${m.actions.join('/') || 'no scheme'})`)
    .join('; ');
}
