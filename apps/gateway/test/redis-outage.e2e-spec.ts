import { spawn, type ChildProcess } from 'node:child_process';
import { ApiClient, freePort, isolate, startPlatform, type RunningPlatform, type TestIsolation } from '#testing';

/** A Redis server of this test's own, so that it can be stopped without touching the machine's. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ok, fail) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('Ready to accept connections') && ok());
    child.once('exit', (code) => fail(new Error(`redis-server exited with ${code}`)));
  });
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((ok) => {
    child.once('exit', () => ok());
    child.kill('SIGKILL');
  });
}

/**
 * Redis unreachable (killed, as a crash would): the gateway answers what needs it with a 503
 * naming Redis — not a 500 — stays up, reports it once in a while instead of on every reconnect
 * attempt, and serves again as soon as Redis is back.
 */
describe('gateway during a Redis outage (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let redis: ChildProcess;
  let redisPort: number;
  let admin: ApiClient;
  let api: ApiClient;
  let toolId: string;

  beforeAll(async () => {
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    iso = isolate({
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      BOOTSTRAP_ADMIN_USERNAME: 'outage-admin',
      BOOTSTRAP_ADMIN_EMAIL: 'outage-admin@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: 'redis-outage-secret-1',
    });
    platform = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    api = new ApiClient(platform.baseUrl);
    const login = await api.post('/api/v1/auth/login', { username: 'outage-admin', password: 'redis-outage-secret-1' });
    admin = api.withToken(login.body.access_token);
    const created = await admin.post('/api/v1/mcps', { name: 'outage-tool', visibility: 'public' });
    expect(created.status).toBe(201);
    toolId = created.body.id;
  }, 90_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
    if (redis) await stopRedis(redis);
  }, 60_000);

  it('serves cached reads while Redis is up', async () => {
    for (let i = 0; i < 3; i++) expect((await admin.get(`/api/v1/mcps/${toolId}`)).status).toBe(200);
  });

  it('answers 503 naming Redis while it is down, and stays up', async () => {
    await stopRedis(redis);
    // Until the gateway has noticed, it may still answer from its coherence lease (no change is
    // answered as done without Redis meanwhile: each needs it for its bump or broadcast); the lease ends with its pub/sub
    // connection, and at the latest LEASE_TTL_MS after its last renewal.
    await new Promise((r) => setTimeout(r, 3000));
    const r = await admin.get(`/api/v1/mcps/${toolId}`);
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { dependency: 'Redis' } });
    expect(r.body.error.message).toMatch(/cannot reach Redis/);
    expect(r.body.error.request_id).toEqual(expect.any(String));
    expect(r.headers.get('retry-after')).toBe('1');
    // Authentication, on the fast path and through Nest, does not trust local caches it cannot
    // check against Redis (they might miss a revocation): the same 503.
    for (const path of ['/api/v1/auth/me', '/api/v1/mcps?page_size=1']) {
      const refused = await admin.get(path);
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { dependency: 'Redis' } });
    }
    expect((await api.get('/health/live')).status).toBe(200);
    const ready = await api.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.redis.status).toBe('down');
  }, 30_000);

  it('reports the failing connection as warnings, not as unhandled error events', () => {
    expect(platform.logs.filter((l) => l.includes('[ioredis] Unhandled error event'))).toEqual([]);
    expect(platform.logs.some((l) => l.includes('Redis connection failing; retrying'))).toBe(true);
    expect(platform.logs.some((l) => l.includes('"unhandled error"'))).toBe(false);
  });

  it('serves again once Redis is back', async () => {
    redis = await startRedis(redisPort);
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await admin.get(`/api/v1/mcps/${toolId}`)).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  }, 30_000);
});
