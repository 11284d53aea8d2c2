/**
 * `npm run bench:ab -- --a DIR --b DIR`: an A/B comparison of two built checkouts of the platform
 * on this machine, for deciding whether a change is faster.
 *
 * One `npm run bench` run varies by ±30 % on this shared 2-core VM (its speed drifts within
 * minutes), so comparing two runs made one after the other compares two moments, not two builds.
 * Here both platforms run at once (each in its own namespace), idle but for the one under load,
 * and the same scenarios alternate between them round by round (A B, then B A, …) with pooled
 * percentiles. CPU per request is the services' on-CPU time, and separately the shared stores'
 * (MariaDB, RabbitMQ, Redis) during that side's runs, from the scheduler
 * (/proc/PID/task/TID/schedstat, every thread), which is exact, where the kernel's per-process
 * tick counts (/proc/PID/stat) are samples and overstate short bursts at low rates.
 *
 * Scenarios: `cached`, `me`, `write` at maximum rate (autocannon, 32 connections), or `NAME@RATE`
 * at a fixed rate (paced.ts), e.g. `cached@12000,write@500`.
 */
import autocannon from 'autocannon';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type TestIsolation } from '../isolation';
import { startPlatform, type RunningPlatform } from '../platform';
import { benchIsolation, benchTools } from './fixtures';
import { paced, percentile, warnWithoutGeneratorFlags } from './paced';

interface Target {
  url: string;
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  request?: () => { path?: string; body: string };
}

interface Side {
  name: 'A' | 'B';
  root: string;
  iso: TestIsolation;
  platform: RunningPlatform;
  pids: number[];
  targets: Record<'cached' | 'me' | 'write', Target>;
}

interface Run {
  rps: number;
  samples: Float64Array;
  failed: number;
  cpuUsPerRequest: number;
  /** The shared stores' (MariaDB, RabbitMQ, Redis) on-CPU time per request during this run: only one side is under load at a time. */
  storesUsPerRequest: number;
}

/** On-CPU milliseconds of every thread of these processes, from the scheduler's own accounting. */
function cpuMs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`))
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the process (or thread) has exited
    }
  }
  return ns / 1e6;
}

/** Processes whose command line (and, when asked, working directory) pass `matches`; ones that exit or cannot be read are skipped. */
function pidsWhere(matches: (cmdline: string, cwd: () => string) => boolean): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return matches(readFileSync(`/proc/${p}/cmdline`, 'utf8'), () => readlinkSync(`/proc/${p}/cwd`));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The platform's service processes started from `root` (their working directory). */
const servicePids = (root: string) => pidsWhere((cmdline, cwd) => cmdline.includes('dist/apps/') && cwd() === root);

/** The local store and broker processes both sides share (MariaDB, RabbitMQ's Erlang VM, Redis). */
const stores = pidsWhere((cmdline) => /mariadbd|mysqld|beam\.smp|redis-server/.test(cmdline));

async function setUp(name: 'A' | 'B', root: string): Promise<Side> {
  const iso = benchIsolation();
  const platform = await startPlatform(iso.env, { only: ['gateway', 'registry', 'knowledge'], root });
  const { auth, readToolId, writeToolIds, nextPublish } = await benchTools(platform.baseUrl, 128, 'ab');
  return {
    name,
    root,
    iso,
    platform,
    pids: servicePids(root),
    targets: {
      cached: { url: `${platform.baseUrl}/api/v1/mcps/${readToolId}`, headers: auth },
      me: { url: `${platform.baseUrl}/api/v1/auth/me`, headers: auth },
      write: {
        url: `${platform.baseUrl}/api/v1/mcps/${writeToolIds[0]}/versions`,
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        request: nextPublish,
      },
    },
  };
}

async function runOnce(side: Side, scenario: string, durationS: number): Promise<Run> {
  const [kind, rate] = scenario.split('@');
  const target = side.targets[kind as keyof Side['targets']];
  if (!target) throw new Error(`unknown scenario '${scenario}': use cached, me or write, optionally @RATE`);
  const before = cpuMs(side.pids);
  const storesBefore = cpuMs(stores);
  if (rate) {
    const r = await paced({ ...target, rate: Number(rate), durationS });
    return {
      rps: r.rps,
      samples: r.samples,
      failed: r.errors + r.non2xx,
      cpuUsPerRequest: ((cpuMs(side.pids) - before) * 1000) / r.samples.length,
      storesUsPerRequest: ((cpuMs(stores) - storesBefore) * 1000) / r.samples.length,
    };
  }
  const request = target.request;
  const r = await autocannon({
    url: target.url,
    method: target.method ?? 'GET',
    headers: target.headers,
    connections: 32,
    duration: durationS,
    ...(request
      ? { requests: [{ method: target.method, setupRequest: (req: Record<string, unknown>) => ({ ...req, ...request() }) }] }
      : {}),
  } as autocannon.Options);
  return {
    rps: r.requests.average,
    samples: new Float64Array(0),
    failed: r.errors + r.timeouts + r.non2xx,
    cpuUsPerRequest: ((cpuMs(side.pids) - before) * 1000) / Math.max(1, r.requests.total),
    storesUsPerRequest: ((cpuMs(stores) - storesBefore) * 1000) / Math.max(1, r.requests.total),
  };
}

function report(scenario: string, side: Side, runs: Run[]): string {
  const n = runs.reduce((s, r) => s + r.samples.length, 0);
  const pooled = new Float64Array(n);
  let at = 0;
  for (const r of runs) {
    pooled.set(r.samples, at);
    at += r.samples.length;
  }
  pooled.sort();
  const mean = (f: (r: Run) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const latency = n ? ` p50 ${percentile(pooled, 0.5)} p99 ${percentile(pooled, 0.99)} ms` : '';
  const perRun = runs.map((r) => (r.samples.length ? percentile(r.samples, 0.99) : Math.round(r.rps))).join(' ');
  return `${scenario.padEnd(16)} ${side.name}: ${mean((r) => r.rps)
    .toFixed(0)
    .padStart(
      7,
    )} req/s${latency}, ${mean((r) => r.cpuUsPerRequest).toFixed(0)} µs CPU/request (services) + ${mean((r) => r.storesUsPerRequest).toFixed(0)} µs (stores), ${runs.reduce((s, r) => s + r.failed, 0)} failed; per run [${perRun}]`;
}

async function main(): Promise<void> {
  warnWithoutGeneratorFlags('bench:ab');
  const { values } = parseArgs({
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      scenarios: { type: 'string', default: 'cached,cached@10000,write@500' },
      rounds: { type: 'string', default: '4' },
      duration: { type: 'string', default: '5' },
    },
  });
  if (!values.a || !values.b)
    throw new Error('usage: bench:ab -- --a DIR --b DIR [--scenarios cached,write@500] [--rounds 4] [--duration 5]');
  const scenarios = values.scenarios.split(',');
  const rounds = Number(values.rounds);
  const duration = Number(values.duration);
  const sides: Side[] = [];
  try {
    sides.push(await setUp('A', resolve(values.a)));
    sides.push(await setUp('B', resolve(values.b)));
    for (const s of scenarios) for (const side of sides) await runOnce(side, s, 2); // warm-up
    const runs = new Map(scenarios.map((s) => [s, { A: [] as Run[], B: [] as Run[] }]));
    for (let round = 0; round < rounds; round++)
      for (const s of scenarios)
        for (const side of round % 2 ? [...sides].reverse() : sides) {
          await new Promise((r) => setTimeout(r, 1000));
          runs.get(s)![side.name].push(await runOnce(side, s, duration));
        }
    for (const s of scenarios) for (const side of sides) process.stdout.write(report(s, side, runs.get(s)![side.name]) + '\n');
  } finally {
    for (const side of sides) {
      await side.platform.stop();
      await side.iso.cleanup();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ab failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
