import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** The repository root (tests run from it; the compiled platform is in dist/). */
export const REPO_ROOT = resolve(process.cwd());

/**
 * The kernel's ephemeral port range: the ports it hands to sockets bound to port 0 and to
 * outgoing connections. Read once per process (a sysctl, not something a test changes).
 */
const ephemeralPorts = ((): { low: number; high: number } => {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low > 0 && high >= low) return { low, high };
  } catch {
    // not Linux: the IANA range, which most other systems use
  }
  return { low: 49152, high: 65535 };
})();

/** The Node.js flags every service runs with (deploy/node-flags.json, which says why), for tests that start a service themselves. */
export function serviceNodeFlags(): string[] {
  return (JSON.parse(readFileSync(resolve(REPO_ROOT, 'deploy/node-flags.json'), 'utf8')) as { flags: string[] }).flags;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

/** Ports this process handed out, never handed out twice. */
const handedOut = new Set<number>();
const LOWEST = 10_000;

/**
 * A free port for a server that another process will start (the gateway, a service's metrics, a
 * baseline). Taken below the kernel's ephemeral range: a port found there is free only until the
 * kernel hands it to the next socket bound to port 0 or to an outgoing connection, and before the
 * server meant to have it listened, start.mjs's MongoDB-compatible dev server (bound to port 0)
 * was given the gateway's port, which then failed with EADDRINUSE. Below that range only
 * something asking for the port by number can take it.
 */
export async function freePort(): Promise<number> {
  const { low, high } = ephemeralPorts;
  // The widest stretch outside the ephemeral range and above the well-known services' ports.
  const [from, to] = low - LOWEST >= 65535 - high ? [LOWEST, low - 1] : [high + 1, 65535];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`freePort: no free port found in ${from}-${to} after 100 tries`);
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
