import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** The repository root (tests run from it; the compiled platform is in dist/). */
export const REPO_ROOT = resolve(process.cwd());

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

export interface RunningPlatform {
  baseUrl: string;
  port: number;
  logs: string[];
  /** Stops every process (SIGINT to the runner, like Ctrl-C) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the built platform exactly as `npm start` does (deploy/local/start.mjs, without the
 * build step), with the given environment, and waits until GET /health answers 200.
 */
export async function startPlatform(
  env: Record<string, string>,
  opts: {
    only?: string[];
    timeoutMs?: number;
    /** Which health endpoint must answer 200: default /health, or /health/ready when `only` is given. */
    waitFor?: 'health' | 'ready' | 'live';
    /** The built checkout to start (default: this one); bench:ab starts two. */
    root?: string;
  } = {},
): Promise<RunningPlatform> {
  const port = await freePort();
  const args = ['deploy/local/start.mjs', '--no-build', '--json-logs'];
  if (opts.only) args.push('--only', opts.only.join(','));
  const child = spawn(process.execPath, args, {
    cwd: opts.root ?? REPO_ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (b: Buffer) => logs.push(...b.toString('utf8').split('\n').filter(Boolean));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const baseUrl = `http://127.0.0.1:${port}`;
  const platform: RunningPlatform = { baseUrl, port, logs, stop: () => stopChild(child) };

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const healthPath = opts.waitFor
    ? { health: '/health', ready: '/health/ready', live: '/health/live' }[opts.waitFor]
    : opts.only
      ? '/health/ready'
      : '/health';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`platform exited during start-up:\n${logs.slice(-40).join('\n')}`);
    try {
      const r = await fetch(baseUrl + healthPath);
      if (r.status === 200) return platform;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await platform.stop();
      throw new Error(`platform did not become healthy within ${opts.timeoutMs ?? 60_000} ms:\n${logs.slice(-40).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      ok();
    });
    child.kill('SIGINT');
  });
}
