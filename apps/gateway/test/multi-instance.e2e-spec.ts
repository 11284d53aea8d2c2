import { ApiClient, isolate, startPlatform, until, type RunningPlatform, type TestIsolation } from '#testing';

/**
 * Two gateway instances on one MySQL/Redis, as `--scale gateway=2` would run them. Each keeps
 * short-lived local caches of authentication state; a change made through one instance must apply
 * on the other at once, and rate limits are shared.
 */
describe('two gateway instances (e2e)', () => {
  let iso: TestIsolation;
  let a: RunningPlatform;
  let b: RunningPlatform;
  let apiA: ApiClient;
  let apiB: ApiClient;
  const admin = { username: 'ops', email: 'ops@example.com', password: 'operations-secret-9' };
  const PER_PRINCIPAL = 30;

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: admin.username,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
      RATE_LIMIT_PER_PRINCIPAL: String(PER_PRINCIPAL),
    });
    a = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    b = await startPlatform(iso.env, { only: ['gateway'] });
    apiA = new ApiClient(a.baseUrl);
    apiB = new ApiClient(b.baseUrl);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await iso?.cleanup();
  }, 60_000);

  const login = async (api: ApiClient, username: string, password: string) => {
    const r = await api.post('/api/v1/auth/login', { username, password });
    expect(r.status).toBe(200);
    return r.body as { access_token: string; refresh_token: string };
  };

  it('applies role changes, disabling, logout and key revocation made on one instance at once on the other', async () => {
    const adminToken = (await login(apiA, admin.username, admin.password)).access_token;
    const user = await apiA
      .withToken(adminToken)
      .post('/api/v1/users', { username: 'mallory', email: 'm@example.com', password: 'replicated-secret-1', role: 'maintainer' });
    expect(user.status).toBe(201);

    const session1 = await login(apiA, 'mallory', 'replicated-secret-1');
    const session2 = await login(apiB, 'mallory', 'replicated-secret-1');
    // Warm both instances' caches.
    expect((await apiB.withToken(session1.access_token).get('/api/v1/auth/me')).body.role).toBe('maintainer');
    expect((await apiA.withToken(session2.access_token).get('/api/v1/auth/me')).status).toBe(200);
    const key = (await apiB.withToken(session2.access_token).post('/api/v1/auth/api-keys', { name: 'k', scopes: ['read'] })).body;
    expect((await apiA.get('/api/v1/auth/me', { 'x-api-key': key.key })).status).toBe(200);

    // Role change on A → B sees it on the next request.
    await apiA.withToken(adminToken).patch(`/api/v1/users/${user.body.id}`, { role: 'viewer' });
    expect((await apiB.withToken(session1.access_token).get('/api/v1/auth/me')).body.role).toBe('viewer');

    // Logout on B → the token stops working on A.
    expect((await apiB.withToken(session1.access_token).post('/api/v1/auth/logout', {})).status).toBe(204);
    expect((await apiA.withToken(session1.access_token).get('/api/v1/auth/me')).status).toBe(401);

    // Key revoked on B → refused on A.
    expect((await apiB.withToken(session2.access_token).delete(`/api/v1/auth/api-keys/${key.id}`)).status).toBe(204);
    expect((await apiA.get('/api/v1/auth/me', { 'x-api-key': key.key })).status).toBe(401);

    // Disabled on B → the other session is refused on A.
    await apiB.withToken(adminToken).patch(`/api/v1/users/${user.body.id}`, { disabled: true });
    expect((await apiA.withToken(session2.access_token).get('/api/v1/auth/me')).status).toBe(401);
  });

  it('answers a tool read on one instance with a change that returned on the other (both answer from their coherence leases)', async () => {
    const adminToken = (await login(apiA, admin.username, admin.password)).access_token;
    const created = await apiA
      .withToken(adminToken)
      .post('/api/v1/users', { username: 'wendy', email: 'w@example.com', password: 'coherent-secret-3', role: 'maintainer' });
    expect(created.status).toBe(201);
    const token = (await login(apiA, 'wendy', 'coherent-secret-3')).access_token;
    const tool = (await apiA.withToken(token).post('/api/v1/mcps', { name: 'two-sided', description: 'v0' })).body as { id: string };
    // B caches the tool (its first read may still see the creation in flight elsewhere: any 200 will do).
    expect((await apiB.withToken(token).get(`/api/v1/mcps/${tool.id}`)).status).toBe(200);
    // A lease answers JOIN_WAIT_MS (1.5 s) after its gateway registered it: both must be answering from theirs.
    for (const api of [apiA, apiB])
      await until(async () => (await leases(api, adminToken)) === 1, 'the gateway answers from its lease', 5000, 50);
    for (let k = 1; k <= 10; k++) {
      expect((await apiA.withToken(token).put(`/api/v1/mcps/${tool.id}`, { description: `v${k}` })).status).toBe(200);
      // Sent right after the change returned on A: B must not answer with what it had cached.
      expect((await apiB.withToken(token).get(`/api/v1/mcps/${tool.id}`)).body.description).toBe(`v${k}`);
    }
    for (const api of [apiA, apiB]) expect(await leases(api, adminToken)).toBe(1);
  });

  const leases = async (api: ApiClient, token: string) =>
    Number(/^gateway_coherence_leases(?:\{[^}]*\})? (\d+)/m.exec((await api.withToken(token).get('/metrics')).text)?.[1]);

  it('shares the per-user rate limit across instances and answers 429 with Retry-After', async () => {
    await apiA.post('/api/v1/auth/register', { username: 'busy', email: 'busy@example.com', password: 'hammering-secret-2' });
    const token = (await login(apiA, 'busy', 'hammering-secret-2')).access_token;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < PER_PRINCIPAL + 10; i++) {
      const r = await (i % 2 ? apiA : apiB).withToken(token).get('/api/v1/auth/me');
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        expect(r.body.error.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(PER_PRINCIPAL);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Another user is not affected.
    expect((await apiB.withToken((await login(apiB, admin.username, admin.password)).access_token).get('/api/v1/auth/me')).status).toBe(
      200,
    );
  });
});
