#!/usr/bin/env node
// Runs the whole platform as local processes (runtime shape 2 in ARCHITECTURE.md):
// builds if the sources changed, applies migrations, starts every service with readable,
// prefixed logs, and stops them all on Ctrl-C (or when one of them dies).
//
//   node deploy/local/start.mjs [--no-build] [--only gateway,registry] [--json-logs]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.chdir(root);
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const SERVICES = ['gateway', 'registry', 'knowledge', 'analysis-worker', 'github-sync', 'deployer'];
/** Services with their own MySQL schema: each has dist/apps/<name>/src/migrate.js. */
const MIGRATING = () => SERVICES.filter((s) => existsSync(join('dist', 'apps', s, 'src', 'migrate.js')));
const only = option('--only')
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const selected = only ? SERVICES.filter((s) => only.includes(s)) : SERVICES;
const jsonLogs = flag('--json-logs') || !process.stdout.isTTY;
const color = process.stdout.isTTY && !process.env.NO_COLOR;

function say(msg) {
  process.stdout.write(`${color ? '\x1b[1m' : ''}[platform]${color ? '\x1b[0m' : ''} ${msg}\n`);
}

// 1. A fresh checkout has no .env: create one from the example with a random JWT secret.
if (!existsSync('.env') && !process.env.MCP_SKIP_DOTENV) {
  copyFileSync('.env.example', '.env');
  const env = readFileSync('.env', 'utf8').replace(/^JWT_SECRET=.*$/m, `JWT_SECRET=${randomBytes(48).toString('base64url')}`);
  writeFileSync('.env', env, { mode: 0o600 });
  say('created .env from .env.example with a random JWT_SECRET (edit it to configure the platform)');
}

// The runner reads .env like the services do (real environment variables win), so a MONGO_URL
// set there is seen here too.
if (existsSync('.env') && !process.env.MCP_SKIP_DOTENV) process.loadEnvFile('.env');

// 2. Build when any source is newer than the last build.
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
const buildInfo = join('dist', '.tsbuildinfo');
const stale = !existsSync(buildInfo) || Math.max(newestMtime('apps'), newestMtime('libs')) > statSync(buildInfo).mtimeMs;
if (!flag('--no-build') && stale) {
  say('building (tsc)…');
  const r = spawnSync(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    say('build failed; fix the errors above');
    process.exit(r.status ?? 1);
  }
}

// 3. Migrations, before any service starts.
for (const service of MIGRATING()) {
  const r = spawnSync(process.execPath, [join('dist', 'apps', service, 'src', 'migrate.js')], { stdio: 'inherit' });
  if (r.status !== 0) {
    say(`migrations of ${service} failed; is MySQL/MariaDB reachable at the MYSQL_* settings in .env?`);
    process.exit(r.status ?? 1);
  }
}

// 4. No MONGO_URL: the in-memory MongoDB-compatible development server, on a free port.
const NEEDS_MONGO = ['knowledge'];
let mongoDev;
if (!process.env.MONGO_URL && selected.some((s) => NEEDS_MONGO.includes(s))) {
  mongoDev = spawn(
    process.execPath,
    [join('dist', 'libs', 'testing', 'src', 'mongo', 'main.js'), '--port', process.env.MONGO_DEV_PORT ?? '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise((ok, fail) => {
    createInterface({ input: mongoDev.stdout }).once('line', ok);
    mongoDev.once('exit', (code) => fail(new Error(`the MongoDB-compatible dev server exited (code ${code})`)));
  });
  process.env.MONGO_URL = `${url}/mcp`;
  say(
    `MONGO_URL is not set: using the in-memory MongoDB-compatible DEVELOPMENT server at ${url} (data is lost when it stops; set MONGO_URL for a real MongoDB)`,
  );
}

// 5. Start every service; pretty-print their JSON logs with a prefix per service.
const palette = [36, 32, 33, 35, 34, 31];
const width = Math.max(...selected.map((s) => s.length));
const children = new Map();
let stopping = false;

function prettify(service, line, idx) {
  const prefix = `${color ? `\x1b[${palette[idx % palette.length]}m` : ''}${service.padEnd(width)}${color ? '\x1b[0m' : ''} |`;
  if (jsonLogs) return `${prefix} ${line}`;
  try {
    const { time, level, service: _s, context, msg, request_id, stack, ...rest } = JSON.parse(line);
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    const rid = request_id ? ` (${request_id})` : '';
    const lvl = String(level ?? 'info')
      .toUpperCase()
      .padEnd(5);
    return `${prefix} ${String(time ?? '').slice(11, 23)} ${lvl} ${context ? `[${context}] ` : ''}${msg ?? ''}${extra}${rid}${stack ? `\n${stack}` : ''}`;
  } catch {
    return `${prefix} ${line}`;
  }
}

// The same Node.js flags as in the Docker images (deploy/node-flags.json says why).
const nodeFlags = JSON.parse(readFileSync(join(root, 'deploy', 'node-flags.json'), 'utf8')).flags;
selected.forEach((service, idx) => {
  const child = spawn(process.execPath, [...nodeFlags, join('dist', 'apps', service, 'src', 'main.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  children.set(service, child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(prettify(service, line, idx) + '\n'));
  }
  child.on('exit', (code, signal) => {
    children.delete(service);
    if (!stopping) {
      say(`${service} exited (${signal ?? `code ${code}`}); stopping the platform`);
      process.exitCode = 1;
      stop();
    } else if (children.size === 0) {
      say('all services stopped');
      process.exit();
    }
  });
});
say(`started ${selected.join(', ')}; gateway on http://localhost:${process.env.PORT ?? '3000'} (Ctrl-C stops everything)`);

mongoDev?.on('exit', (code, signal) => {
  if (!stopping) {
    say(`the MongoDB-compatible dev server exited (${signal ?? `code ${code}`}); stopping the platform`);
    process.exitCode = 1;
    stop();
  }
});
process.on('exit', () => mongoDev?.kill('SIGKILL'));

function stop() {
  if (stopping && children.size === 0) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(process.exitCode ?? 0);
  }, 10_000).unref();
  if (children.size === 0) process.exit();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
