import { databaseName, serverConnection } from '#common';
import { ApiClient, isolate, startPlatform, type RunningPlatform, type TestIsolation } from '#testing';

/** RabbitMQ unreachable: the gateway still starts and serves what does not need the broker, says so in /health, and keeps its events. */
describe('gateway during a broker outage (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let api: ApiClient;

  beforeAll(async () => {
    iso = isolate({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    platform = await startPlatform(iso.env, { only: ['gateway'], waitFor: 'live' });
    api = new ApiClient(platform.baseUrl);
  }, 60_000);

  afterAll(async () => {
    await platform?.stop();
    await iso?.cleanup();
  }, 60_000);

  it('reports the broker down and keeps serving authentication', async () => {
    const ready = await api.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.rabbitmq).toMatchObject({ status: 'down', error: expect.stringMatching(/ECONNREFUSED/) });
    expect(ready.body.checks.mysql.status).toBe('up');

    expect(
      (await api.post('/api/v1/auth/register', { username: 'offline', email: 'offline@example.com', password: 'no-broker-secret-1' }))
        .status,
    ).toBe(201);
    const login = await api.post('/api/v1/auth/login', { username: 'offline', password: 'no-broker-secret-1' });
    expect(login.status).toBe(200);
    expect((await api.withToken(login.body.access_token).get('/api/v1/auth/me')).status).toBe(200);
  });

  it('keeps the user.created event in the outbox until the broker is back', async () => {
    const conn = await serverConnection(iso.config);
    try {
      const [rows] = await conn.query(`SELECT routing_key, published_at, attempts FROM \`${databaseName(iso.config, 'gateway')}\`.outbox`);
      expect(rows).toEqual([expect.objectContaining({ routing_key: 'user.created', published_at: null })]);
    } finally {
      await conn.end();
    }
  });

  it('answers a clear 503 for live events, which need the broker', async () => {
    const login = await api.post('/api/v1/auth/login', { username: 'offline', password: 'no-broker-secret-1' });
    const r = await api.withToken(login.body.access_token).get('/events');
    expect(r.status).toBe(503);
    expect(r.body.error.message).toBe('Cannot listen for events right now: Error: RabbitMQ is not reachable');
  }, 20_000);

  it('answers a clear 503/504 for routes that need a back-end service', async () => {
    const login = await api.post('/api/v1/auth/login', { username: 'offline', password: 'no-broker-secret-1' });
    const r = await api.withToken(login.body.access_token).get('/api/v1/mcps');
    expect([503, 504]).toContain(r.status);
    expect(r.body.error.code).toMatch(/SERVICE_(UNAVAILABLE|TIMEOUT)/);
    expect(r.body.error.message).toMatch(/registry service/);
  }, 20_000);
});
