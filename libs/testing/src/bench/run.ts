/**
 * `npm run bench`: each scenario runs side by side with a raw Fastify hello-world measured in the
 * same run on the same machine, and is reported as a ratio to it (absolute numbers vary between
 * machines; the ratio is what the targets are set on). Load is generated with autocannon, no
 * pipelining. Results are printed and written to .bench/results.json.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT, startPlatform } from '../platform';
import { mcpReadmes } from '../corpus';
import { paced, percentile, warnWithoutGeneratorFlags, type PacedOptions, type PacedResult } from './paced';
import { benchIsolation, benchTools } from './fixtures';
import { cpuTimes, settle, type SettleOptions, type SettleResult } from './settle';
import { startRawWrite, type RawWrite } from './raw-write-setup';
import { describeReclaim, kdamondCpuMs, reclaimMonitors } from './host';
import { serverConnection } from '#common';

/** Knowledge corpus size (≥ 1,000 documents): the reference READMEs, each published many times with its own title and tags. */
const KNOWLEDGE_DOCS = Number(process.env.BENCH_KNOWLEDGE_DOCS ?? 1050);
const SEARCH_QUERIES = [
  'read-only SQL queries against a database',
  'take a screenshot of a web page',
  'create a pull request',
  'geocode an address',
  'post a message to a channel',
  'knowledge graph entities and relations',
  'list directory contents',
  'redis key value store',
  'web search api',
  'step by step problem solving',
  'merge request gitlab project',
  'search files in google drive',
  'environment variables for the api key',
  'docker configuration for claude desktop',
  'retrieve context from a knowledge base',
];

interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Why requests failed, with counts (non-2xx statuses, socket errors); empty when none did. */
  failures?: Record<string, number>;
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
/** Scenarios run interleaved, this many rounds; the median round is reported (the box is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
/** Seconds each paced run holds its rate before counting (paced's default). */
const RAMP_S = 1;

interface Target {
  name: string;
  url: string;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
  /** Builds each request's path and body (e.g. a fresh version number); called per request. */
  request?: () => { path?: string; body: string };
}

function headersOf(t: Target): Record<string, string> {
  return { ...(t.request ? { 'content-type': 'application/json' } : {}), ...t.headers };
}

async function once(
  t: Target,
  duration: number,
  overallRate?: number,
  opts: { amount?: number; connections?: number } = {},
): Promise<Measured> {
  const r = await autocannon({
    url: t.url,
    method: t.method ?? 'GET',
    headers: headersOf(t),
    connections: opts.connections ?? CONNECTIONS,
    ...(opts.amount ? { amount: opts.amount } : { duration }),
    pipelining: 1,
    ...(overallRate ? { overallRate } : {}),
    // autocannon calls setupRequest per request (with the connection's context) only from `requests`.
    ...(t.request
      ? {
          requests: [
            {
              method: t.method ?? 'GET',
              setupRequest: (req: Record<string, unknown>) => {
                const { path, body } = t.request!();
                return { ...req, ...(path ? { path } : {}), body };
              },
            },
          ],
        }
      : {}),
  } as autocannon.Options);
  const failures: Record<string, number> = {};
  for (const [status, { count = 0 }] of Object.entries(r.statusCodeStats ?? {}))
    if (count && !status.startsWith('2')) failures[`status ${status}`] = count;
  if (r.errors) failures['socket errors'] = r.errors;
  if (r.timeouts) failures.timeouts = r.timeouts;
  return {
    name: t.name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    failures,
  };
}

/**
 * Latency at a fixed, evenly paced rate (see paced.ts for why not autocannon's overallRate). One
 * run's p99 swings widely on this shared 2-core box (the same scenario gave 12–33 ms in
 * consecutive runs), so each target runs ROUNDS times, interleaved with the others, each run after
 * a one-second pause, and the percentiles are taken over all the runs' requests together (never
 * a chosen run). A short run at the rate warms each target up first.
 */
async function atRateAll(
  targets: { target: Target; name: string }[],
  rate: number,
): Promise<(Measured & { maxLagMs: number; cpuMsPerRequest: number; perRun: { p99: number; maxLagMs: number }[] })[]> {
  const options = (t: Target, durationS: number): PacedOptions => ({
    url: t.url,
    rate,
    durationS,
    method: t.method,
    headers: headersOf(t),
    request: t.request,
    rampS: RAMP_S,
  });
  const pause = () => new Promise((r) => setTimeout(r, 1000));
  for (const { target } of targets) await paced(options(target, 1));
  const runs: PacedResult[][] = targets.map(() => []);
  // Machine-wide CPU (every process, the generator too) while each target ran, for CPU per request.
  const busyJiffies = targets.map(() => 0);
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, { target }] of targets.entries()) {
      await pause();
      const before = cpuTimes();
      runs[i].push(await paced(options(target, DURATION_S)));
      busyJiffies[i] += cpuTimes().busy - before.busy;
    }
  return targets.map(({ name }, i) => {
    const all = new Float64Array(runs[i].reduce((n, run) => n + run.samples.length, 0));
    let at = 0;
    for (const run of runs[i]) {
      all.set(run.samples, at);
      at += run.samples.length;
    }
    all.sort();
    return {
      name: `${name} (paced, ${ROUNDS} × ${DURATION_S} s pooled)`,
      rps: runs[i].reduce((n, run) => n + run.rps, 0) / runs[i].length,
      p50: percentile(all, 0.5),
      p99: percentile(all, 0.99),
      errors: runs[i].reduce((n, run) => n + run.errors, 0),
      non2xx: runs[i].reduce((n, run) => n + run.non2xx, 0),
      maxLagMs: Math.max(...runs[i].map((run) => run.maxLagMs)),
      // A pooled p99 hides whether one run met a stall of the host or every run was slow.
      perRun: runs[i].map((run) => ({ p99: run.p99, maxLagMs: run.maxLagMs })),
      // /proc/stat counts in USER_HZ (100 per second on Linux); the ramp's requests are sent too.
      cpuMsPerRequest: (busyJiffies[i] * 10) / (ROUNDS * rate * (DURATION_S + RAMP_S)),
      failures: mergeCounts(runs[i].map((run) => run.failures)),
    };
  });
}

function mergeCounts(all: Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const counts of all) for (const [k, n] of Object.entries(counts)) merged[k] = (merged[k] ?? 0) + n;
  return merged;
}

/** Warms every target up (JIT, pools, caches), then runs them interleaved; returns each one's median round by req/s. */
async function measureAll(targets: Target[]): Promise<Measured[]> {
  for (const t of targets) await once(t, 2);
  const rounds: Measured[][] = targets.map(() => []);
  for (let r = 0; r < ROUNDS; r++) for (const [i, t] of targets.entries()) rounds[i].push(await once(t, DURATION_S));
  return rounds.map((runs) => {
    const sorted = [...runs].sort((a, b) => a.rps - b.rps);
    const median = sorted[Math.floor(sorted.length / 2)];
    return {
      ...median,
      errors: runs.reduce((n, m) => n + m.errors, 0),
      non2xx: runs.reduce((n, m) => n + m.non2xx, 0),
      failures: mergeCounts(runs.map((m) => m.failures ?? {})),
    };
  });
}

/** Starts a clock on the kernel's DAMON threads; calling the result gives their CPU ms per second since. */
function reclaimClock(): () => number {
  const cpu = kdamondCpuMs();
  const at = performance.now();
  return () => ((kdamondCpuMs() - cpu) * 1000) / (performance.now() - at);
}

/** Starts one of the reference servers (raw-fastify, bare-nest) in its own process. */
async function startReference(name: 'raw-fastify' | 'bare-nest'): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(REPO_ROOT, `dist/libs/testing/src/bench/${name}.js`), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ok, fail) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('listening') && ok());
    child.once('exit', (code) => fail(new Error(`${name} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/hello`, child };
}

const NAME_WIDTH = 70;

/** Each run's p99 of a paced scenario, with how far the load generator fell behind in it. */
function perRunLine(label: string, m: { perRun: { p99: number; maxLagMs: number }[] }): string {
  return `${label}: p99 per run ${m.perRun.map((r) => `${r.p99} ms (generator behind ≤ ${r.maxLagMs} ms)`).join(', ')}`;
}

/** Set once any scenario reported a failed request: the platform's log is then worth reading. */
let errorsSeen = false;

function row(m: Measured, baseline?: Measured): string {
  if (m.errors + m.non2xx > 0) {
    errorsSeen = true;
    if (m.failures && Object.keys(m.failures).length)
      process.stderr.write(`${m.name}: failed requests by reason: ${JSON.stringify(m.failures)}\n`);
  }
  const ratio = baseline ? (m.rps / baseline.rps).toFixed(2) : '1.00';
  return `| ${m.name.padEnd(NAME_WIDTH)} | ${m.rps.toFixed(0).padStart(8)} | ${String(m.p50).padStart(6)} | ${String(m.p99).padStart(6)} | ${ratio.padStart(5)} | ${String(m.errors + m.non2xx).padStart(6)} |`;
}

interface Check {
  scenario: string;
  value: number;
  target: string;
  ok: boolean;
}

async function main(): Promise<void> {
  warnWithoutGeneratorFlags('bench');
  const iso = benchIsolation();
  const raw = await startReference('raw-fastify');
  const nest = await startReference('bare-nest');
  const platform = await startPlatform(iso.env, { only: ['gateway', 'registry', 'knowledge'] });
  const checks: Check[] = [];
  const mysql = await serverConnection(iso.config);
  let rawWrite: RawWrite | undefined;
  // Before each group of scenarios: wait for a quiet machine (see settle.ts), and record the wait.
  const settles: (SettleResult & { before: string })[] = [];
  const quiet = async (before: string, opts?: SettleOptions) => void settles.push({ before, ...(await settle(mysql, opts)) });
  try {
    const { auth, readToolId, writeToolIds, nextPublish } = await benchTools(platform.baseUrl, CONNECTIONS * 4);
    // The write scenarios' baseline: the same publish built by hand from the same parts (raw-write.ts).
    rawWrite = await startRawWrite(iso.config, mysql, CONNECTIONS * 4);
    const publish: Target = {
      name: 'POST version (write)',
      url: `${platform.baseUrl}/api/v1/mcps/${writeToolIds[0]}/versions`,
      method: 'POST',
      headers: auth,
      request: nextPublish,
    };
    const rawPublish: Target = {
      name: 'hand-built write pipeline (baseline, same parts)',
      url: rawWrite.url,
      method: 'POST',
      headers: rawWrite.auth,
      request: rawWrite.nextPublish,
    };

    process.stdout.write(
      `\nMCP Platform benchmarks — ${CONNECTIONS} connections, ${DURATION_S} s per run, median of ${ROUNDS} interleaved rounds (paced: ${ROUNDS} runs pooled), no pipelining, Node ${process.version}\n\n`,
    );
    process.stdout.write(`| ${'scenario'.padEnd(NAME_WIDTH)} |    req/s | p50 ms | p99 ms | ratio | errors |\n`);
    process.stdout.write(`|${'-'.repeat(NAME_WIDTH + 2)}|----------|--------|--------|-------|--------|\n`);

    // Reads first, then knowledge, then registry writes: each write run leaves work behind (outbox
    // relaying, cache invalidations, InnoDB page flushing) that would load the machine during the
    // runs after it; each group also starts on a quiet machine.
    await quiet('reads');
    const [baseline, bareNest, me, cached, uncached] = await measureAll([
      { name: 'raw Fastify hello-world (baseline)', url: raw.url },
      { name: 'bare Nest 12 + Fastify hello-world', url: nest.url },
      { name: 'GET /api/v1/auth/me (JWT)', url: `${platform.baseUrl}/api/v1/auth/me`, headers: auth },
      { name: 'GET /api/v1/mcps/{id} (cached)', url: `${platform.baseUrl}/api/v1/mcps/${readToolId}`, headers: auth },
      { name: 'GET …/versions/{v} (uncached, RPC)', url: `${platform.baseUrl}/api/v1/mcps/${readToolId}/versions/1.0.0`, headers: auth },
    ]);
    for (const m of [baseline, bareNest, me, cached, uncached]) process.stdout.write(row(m, baseline) + '\n');
    // Latency at a fixed load: cached reads at half their max throughput, next to raw Fastify at the same rate.
    const half = Math.round(cached.rps / 2);
    await quiet('cached reads at ½ max');
    const reclaimAtHalf = reclaimClock();
    const [baselineAtHalf, cachedAtHalf] = await atRateAll(
      [
        { target: { name: 'raw Fastify', url: raw.url }, name: `raw Fastify at ${half}/s` },
        {
          target: { name: 'GET /api/v1/mcps/{id} (cached)', url: `${platform.baseUrl}/api/v1/mcps/${readToolId}`, headers: auth },
          name: `GET /api/v1/mcps/{id} at ½ max = ${half}/s`,
        },
      ],
      half,
    );
    const reclaimMsPerSecondAtHalf = reclaimAtHalf();
    process.stdout.write(row(baselineAtHalf, baseline) + '\n');
    process.stdout.write(row(cachedAtHalf, baseline) + '\n');
    const halfRuns = [perRunLine('raw Fastify at ½ max', baselineAtHalf), perRunLine('cached GET at ½ max', cachedAtHalf)];
    // Knowledge: ingest a corpus of ≥ 1,000 documents through the gateway, then search it.
    const readmes = [...mcpReadmes().entries()];
    let docNo = 0;
    const ingest: Target = {
      name: `POST knowledge document ×${KNOWLEDGE_DOCS} (docs/s)`,
      url: `${platform.baseUrl}/api/v1/knowledge/documents`,
      method: 'POST',
      headers: auth,
      request: () => {
        const i = docNo++;
        const [name, body] = readmes[i % readmes.length];
        return {
          body: JSON.stringify({
            title: `${name} edition ${i}`,
            body: `${body}\n\n## Maintainers\n\nMaintained by team ${i % 37} since release ${i}.`,
            tags: ['bench', `team-${i % 37}`],
            visibility: i % 5 === 0 ? 'private' : 'public',
          }),
        };
      },
    };
    await quiet('knowledge');
    const ingested = await once(ingest, 0, undefined, { amount: KNOWLEDGE_DOCS, connections: 8 });
    process.stdout.write(row(ingested, baseline) + '\n');
    let queryNo = 0;
    const [searched] = await measureAll([
      {
        name: `POST knowledge search (${KNOWLEDGE_DOCS} docs, text)`,
        url: `${platform.baseUrl}/api/v1/knowledge/search`,
        method: 'POST',
        headers: auth,
        request: () => ({ body: JSON.stringify({ query: SEARCH_QUERIES[queryNo++ % SEARCH_QUERIES.length], page_size: 10 }) }),
      },
    ]);
    process.stdout.write(row(searched, baseline) + '\n');
    const [searchedLight] = await atRateAll(
      [
        {
          target: {
            name: 'POST knowledge search',
            url: `${platform.baseUrl}/api/v1/knowledge/search`,
            method: 'POST',
            headers: auth,
            request: () => ({ body: JSON.stringify({ query: SEARCH_QUERIES[queryNo++ % SEARCH_QUERIES.length], page_size: 10 }) }),
          },
          name: 'POST knowledge search at 50/s',
        },
      ],
      50,
    );
    process.stdout.write(row(searchedLight, baseline) + '\n');
    process.stdout.write(
      `\nknowledge (MongoDB: ${process.env.MONGO_URL ? 'MONGO_URL' : 'in-memory dev server'}): ingest ${ingested.rps.toFixed(0)} docs/s; ` +
        `search p50/p99 ${searched.p50}/${searched.p99} ms at saturation, ${searchedLight.p50}/${searchedLight.p99} ms at 50/s\n`,
    );

    await quiet('writes', { maxCheckpointFraction: 0.25 });
    const [writes, rawWrites] = await measureAll([publish, rawPublish]);
    process.stdout.write(row(writes, baseline) + '\n');
    process.stdout.write(row(rawWrites, baseline) + '\n');
    await quiet('writes at 500/s', { maxCheckpointFraction: 0.25 });
    const reclaimAt500 = reclaimClock();
    const [writesAt500, rawWritesAt500] = await atRateAll(
      [
        { target: publish, name: 'POST version at 500/s' },
        { target: rawPublish, name: 'hand-built write pipeline at 500/s (baseline)' },
      ],
      500,
    );
    const reclaimMsPerSecondAt500 = reclaimAt500();
    process.stdout.write(row(writesAt500, baseline) + '\n');
    process.stdout.write(row(rawWritesAt500, baseline) + '\n');
    // What of a write's latency is the machine's: the same parts, wired by hand, at the same rate.
    process.stdout.write(
      `\nwrites vs the hand-built pipeline: max ${writes.rps.toFixed(0)} vs ${rawWrites.rps.toFixed(0)}/s (${(writes.rps / rawWrites.rps).toFixed(2)}); ` +
        `at 500/s p50 ${writesAt500.p50} vs ${rawWritesAt500.p50} ms, p99 ${writesAt500.p99} vs ${rawWritesAt500.p99} ms (${(writesAt500.p99 / rawWritesAt500.p99).toFixed(2)}), ` +
        `machine CPU per write ${writesAt500.cpuMsPerRequest.toFixed(2)} vs ${rawWritesAt500.cpuMsPerRequest.toFixed(2)} ms\n`,
    );
    for (const line of [
      ...halfRuns,
      perRunLine('POST version at 500/s', writesAt500),
      perRunLine('hand-built pipeline at 500/s', rawWritesAt500),
    ])
      process.stdout.write(line + '\n');
    // Most latency stalls traced here fell on a pass of the host's memory reclaim (see host.ts): read the p99s against it.
    const reclaim = describeReclaim(reclaimMonitors());
    process.stdout.write(
      `host memory reclaim: ${reclaim}; its CPU ${reclaimMsPerSecondAtHalf.toFixed(1)} ms/s during the ½-max reads, ${reclaimMsPerSecondAt500.toFixed(1)} ms/s during the 500/s writes\n`,
    );

    const clean = (m: Measured) => m.errors + m.non2xx === 0;
    checks.push(
      {
        scenario: 'auth-me ratio to raw Fastify',
        value: me.rps / baseline.rps,
        target: '≥ 0.5',
        ok: me.rps / baseline.rps >= 0.5 && clean(me),
      },
      {
        scenario: 'cached GET tool ratio to raw Fastify',
        value: cached.rps / baseline.rps,
        target: '≥ 0.5',
        ok: cached.rps / baseline.rps >= 0.5 && clean(cached),
      },
      {
        scenario: 'cached GET tool p99 at ½ max (ms)',
        value: cachedAtHalf.p99,
        target: '≤ 5',
        ok: cachedAtHalf.p99 <= 5 && clean(cachedAtHalf),
      },
      { scenario: 'POST version writes/s', value: writes.rps, target: '≥ 1000', ok: writes.rps >= 1000 && clean(writes) },
      {
        scenario: 'POST version p99 at 500/s (ms)',
        value: writesAt500.p99,
        target: '≤ 20',
        ok: writesAt500.p99 <= 20 && clean(writesAt500),
      },
    );
    process.stdout.write(
      `\nauth-me vs bare Nest: ${(me.rps / bareNest.rps).toFixed(2)}; cached GET vs bare Nest: ${(cached.rps / bareNest.rps).toFixed(2)}; bare Nest vs raw Fastify: ${(bareNest.rps / baseline.rps).toFixed(2)}\n\n`,
    );
    process.stdout.write(
      `settled before: ${settles
        .map(
          (q) =>
            `${q.before} ${(q.waitedMs / 1000).toFixed(0)} s${q.settled ? '' : ' (gave up)'} (cpu ${(q.busy * 100).toFixed(0)} %${q.checkpointFraction === undefined ? '' : `, redo ${(q.checkpointFraction * 100).toFixed(0)} %`})`,
        )
        .join('; ')}\n\n`,
    );
    for (const c of checks) process.stdout.write(`${c.ok ? 'PASS' : 'MISS'} ${c.scenario}: ${c.value.toFixed(2)} (target ${c.target})\n`);
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(
      join(REPO_ROOT, '.bench/results.json'),
      JSON.stringify(
        {
          at: new Date().toISOString(),
          node: process.version,
          measured: {
            baseline,
            bareNest,
            me,
            cached,
            uncached,
            writes,
            rawWrites,
            baselineAtHalf,
            cachedAtHalf,
            writesAt500,
            rawWritesAt500,
            ingested,
            searched,
            searchedLight,
          },
          checks,
          settles,
          host: { reclaim, reclaimMsPerSecondAtHalf, reclaimMsPerSecondAt500 },
        },
        null,
        2,
      ),
    );
  } finally {
    // The platform's own log, to find out why a scenario had errors (a crash, a refusal); its last
    // lines are printed when the run stopped early or a scenario had failed requests.
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(join(REPO_ROOT, '.bench/platform.log'), platform.logs.join('\n') + '\n');
    if (checks.length === 0 || errorsSeen)
      process.stderr.write('\nplatform log: .bench/platform.log (last lines below)\n' + platform.logs.slice(-20).join('\n') + '\n');
    await mysql.end();
    await platform.stop();
    raw.child.kill();
    nest.child.kill();
    rawWrite?.stop();
    await iso.cleanup(rawWrite?.queues);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
