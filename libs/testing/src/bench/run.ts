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
import { ApiClient } from '../http-client';
import { isolate } from '../isolation';
import { freePort, REPO_ROOT, startPlatform } from '../platform';

interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
/** Scenarios run interleaved, this many rounds; the median round is reported (the box is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

interface Target {
  name: string;
  url: string;
  headers?: Record<string, string>;
}

async function once(t: Target, duration: number): Promise<Measured> {
  const r = await autocannon({ url: t.url, headers: t.headers ?? {}, connections: CONNECTIONS, duration, pipelining: 1 });
  return { name: t.name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

/** Warms every target up (JIT, pools, caches), then runs them interleaved; returns each one's median round by req/s. */
async function measureAll(targets: Target[]): Promise<Measured[]> {
  for (const t of targets) await once(t, 2);
  const rounds: Measured[][] = targets.map(() => []);
  for (let r = 0; r < ROUNDS; r++) for (const [i, t] of targets.entries()) rounds[i].push(await once(t, DURATION_S));
  return rounds.map((runs) => {
    const sorted = [...runs].sort((a, b) => a.rps - b.rps);
    const median = sorted[Math.floor(sorted.length / 2)];
    return { ...median, errors: runs.reduce((n, m) => n + m.errors, 0), non2xx: runs.reduce((n, m) => n + m.non2xx, 0) };
  });
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

function row(m: Measured, baseline?: Measured): string {
  const ratio = baseline ? (m.rps / baseline.rps).toFixed(2) : '1.00';
  return `| ${m.name.padEnd(44)} | ${m.rps.toFixed(0).padStart(8)} | ${String(m.p50).padStart(6)} | ${String(m.p99).padStart(6)} | ${ratio.padStart(5)} | ${String(m.errors + m.non2xx).padStart(6)} |`;
}

async function main(): Promise<void> {
  const iso = isolate({ RATE_LIMIT_PER_IP: '1000000000', RATE_LIMIT_PER_PRINCIPAL: '1000000000', LOG_LEVEL: 'warn' });
  const raw = await startReference('raw-fastify');
  const nest = await startReference('bare-nest');
  const platform = await startPlatform(iso.env, { only: ['gateway'] });
  const results: { scenario: string; baseline: Measured; subject: Measured; ratio: number; target: number }[] = [];
  try {
    const api = new ApiClient(platform.baseUrl);
    const reg = await api.post('/api/v1/auth/register', { username: 'bench', email: 'bench@example.com', password: 'load-test-secret-1' });
    if (reg.status !== 201) throw new Error(`register failed: ${reg.text}`);
    const login = await api.post('/api/v1/auth/login', { username: 'bench', password: 'load-test-secret-1' });
    const token = (login.body as { access_token: string }).access_token;

    process.stdout.write(
      `\nMCP Platform benchmarks — ${CONNECTIONS} connections, ${DURATION_S} s per run, median of ${ROUNDS} interleaved rounds, no pipelining, Node ${process.version}\n\n`,
    );
    process.stdout.write('| scenario                                     |    req/s | p50 ms | p99 ms | ratio | errors |\n');
    process.stdout.write('|----------------------------------------------|----------|--------|--------|-------|--------|\n');

    const [baseline, bareNest, me] = await measureAll([
      { name: 'raw Fastify hello-world (baseline)', url: raw.url },
      { name: 'bare Nest 12 + Fastify hello-world', url: nest.url },
      {
        name: 'GET /api/v1/auth/me (JWT) via gateway',
        url: `${platform.baseUrl}/api/v1/auth/me`,
        headers: { authorization: `Bearer ${token}` },
      },
    ]);
    for (const m of [baseline, bareNest, me]) process.stdout.write(row(m, baseline) + '\n');
    results.push({ scenario: 'auth-me', baseline, subject: me, ratio: me.rps / baseline.rps, target: 0.5 });
    process.stdout.write(
      `\nauth-me vs bare Nest: ${(me.rps / bareNest.rps).toFixed(2)}; bare Nest vs raw Fastify: ${(bareNest.rps / baseline.rps).toFixed(2)}\n`,
    );
    process.stdout.write('\n');
    for (const r of results) {
      const ok = r.ratio >= r.target && r.subject.errors + r.subject.non2xx === 0;
      process.stdout.write(`${ok ? 'PASS' : 'MISS'} ${r.scenario}: ratio ${r.ratio.toFixed(2)} (target ≥ ${r.target})\n`);
    }
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(
      join(REPO_ROOT, '.bench/results.json'),
      JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2),
    );
  } finally {
    await platform.stop();
    raw.child.kill();
    nest.child.kill();
    await iso.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
