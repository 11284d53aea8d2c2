import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { JsonLogger, migrateDatabase } from '#common';
import { isolate, type TestIsolation } from '#testing';
import { gatewayDbOptions } from '../src/database/gateway-data-source';
import { createGateway } from '../src/gateway.app';

/** CORS as browsers see it: allowed origins get the headers (preflights included), everyone else none. */
describe('gateway CORS', () => {
  let iso: TestIsolation;
  const apps: NestFastifyApplication[] = [];
  const ALLOWED = 'https://console.example.com';

  const start = async (corsOrigins: string[]) => {
    const config = { ...iso.config, http: { ...iso.config.http, corsOrigins } };
    const app = await createGateway(config, new JsonLogger('gateway', 'error', () => undefined), { serveDocs: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    return (await app.getUrl()).replace('[::1]', '127.0.0.1');
  };
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/api/v1/mcps`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization,content-type,if-match,idempotency-key',
      },
    });

  beforeAll(async () => {
    iso = isolate();
    await migrateDatabase(gatewayDbOptions(iso.config), iso.config);
  }, 30_000);

  // One gateway at a time: two in one process would share their RPC reply queue.
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  afterAll(async () => {
    await iso?.cleanup();
  });

  it('answers allowed origins with CORS headers, and preflights before authentication', async () => {
    const url = await start([ALLOWED]);
    const pre = await preflight(url, ALLOWED);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/if-match/);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/idempotency-key/);
    const get = await fetch(`${url}/api/v1/mcps`, { headers: { origin: ALLOWED } });
    expect(get.status).toBe(401);
    expect(get.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    // Conditional requests need the tag, support the request id, retries the replay flag and Retry-After.
    expect(get.headers.get('access-control-expose-headers')).toBe('ETag, X-Request-Id, Idempotent-Replayed, Retry-After');

    const foreign = await fetch(`${url}/api/v1/mcps`, { headers: { origin: 'https://evil.example.com' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(url, 'https://evil.example.com')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends no CORS headers at all when no origin is allowed', async () => {
    const url = await start([]);
    const pre = await preflight(url, ALLOWED);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-methods')).toBeNull();
    const get = await fetch(`${url}/api/v1/mcps`, { headers: { origin: ALLOWED } });
    expect(get.status).toBe(401);
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
    expect(get.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
