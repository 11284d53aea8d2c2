import jwt from 'jsonwebtoken';
import { connect, type Socket } from 'node:net';
import { ApiClient, isolate, startPlatform, TEST_JWT_SECRET, type RunningPlatform, type TestIsolation } from '#testing';

/**
 * The platform started as processes (all six services), spoken to over HTTP like a client.
 */
describe('gateway auth (e2e)', () => {
  let iso: TestIsolation;
  let platform: RunningPlatform;
  let api: ApiClient;
  const admin = { username: 'root-admin', email: 'root@example.com', password: 'admin-password-for-tests' };

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: admin.username,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
      BODY_LIMIT_BYTES: '65536',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
    });
    platform = await startPlatform(iso.env);
    api = new ApiClient(platform.baseUrl);
  }, 120_000);

  afterAll(async () => {
    // Nothing any test sent may have caused an unexpected (500) error in any service.
    const unexpected = platform?.logs.filter((l) => l.includes('"unhandled error') || l.includes('"level":"error"')) ?? [];
    await platform?.stop();
    await iso?.cleanup();
    expect(unexpected).toEqual([]);
  }, 60_000);

  const login = async (username: string, password: string) => {
    const r = await api.post('/api/v1/auth/login', { username, password });
    expect(r.status).toBe(200);
    return r.body as { access_token: string; refresh_token: string };
  };

  it('register → login → me → refresh (reuse kills the family) → logout', async () => {
    const reg = await api.post('/api/v1/auth/register', { username: 'Alice', email: 'alice@example.com', password: 'wonderland-secret-1' });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ username: 'alice', email: 'alice@example.com', role: 'viewer', disabled: false });
    expect(reg.text).not.toMatch(/password|hash/i);

    const dup = await api.post('/api/v1/auth/register', { username: 'alice', email: 'other@example.com', password: 'wonderland-secret-1' });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'CONFLICT', details: { field: 'username' } });

    // Email works as the login name too.
    const byEmail = await api.post('/api/v1/auth/login', { username: 'ALICE@example.com', password: 'wonderland-secret-1' });
    expect(byEmail.status).toBe(200);
    expect(byEmail.body).toMatchObject({ token_type: 'bearer', expires_in: 900 });

    const pair = await login('alice', 'wonderland-secret-1');
    const me = await api.withToken(pair.access_token).get('/api/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: 'alice', role: 'viewer' });

    const refreshed = await api.post('/api/v1/auth/refresh', { refresh_token: pair.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(pair.refresh_token);
    expect((await api.withToken(refreshed.body.access_token).get('/api/v1/auth/me')).status).toBe(200);

    // Reusing the rotated token is treated as theft: the whole family dies, including the new pair.
    const reuse = await api.post('/api/v1/auth/refresh', { refresh_token: pair.refresh_token });
    expect(reuse.status).toBe(401);
    expect(reuse.body.error.code).toBe('TOKEN_REUSED');
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: refreshed.body.refresh_token })).status).toBe(401);
    expect((await api.withToken(refreshed.body.access_token).get('/api/v1/auth/me')).status).toBe(401);
    // The other login (by email) is a different family and still works.
    expect((await api.withToken(byEmail.body.access_token).get('/api/v1/auth/me')).status).toBe(200);

    // Logout revokes the access token immediately and the refresh token of that login.
    const out = await api.withToken(byEmail.body.access_token).post('/api/v1/auth/logout', {});
    expect(out.status).toBe(204);
    expect((await api.withToken(byEmail.body.access_token).get('/api/v1/auth/me')).status).toBe(401);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: byEmail.body.refresh_token })).status).toBe(401);
  });

  it("GET /auth/me is answered before Nest for a known login, with the controller's body and headers", async () => {
    await api.post('/api/v1/auth/register', { username: 'fiona', email: 'fiona@example.com', password: 'fast-path-secret-1' });
    const pair = await login('fiona', 'fast-path-secret-1');
    const mine = api.withToken(pair.access_token);
    const fastCount = async () => {
      const m = /gateway_fast_path_responses_total\{route="\/api\/v1\/auth\/me"[^}]*\} (\d+)/.exec((await api.get('/metrics')).text);
      return m ? Number(m[1]) : 0;
    };
    // The token's first use goes through passport (the controller answers); later ones are known.
    const before = await fastCount();
    const first = await mine.get('/api/v1/auth/me', { 'x-request-id': 'me-first' });
    expect(await fastCount()).toBe(before);
    const fast = await mine.get('/api/v1/auth/me', { 'x-request-id': 'me-fast' });
    expect(await fastCount()).toBe(before + 1);
    expect(fast.status).toBe(200);
    expect(fast.text).toBe(first.text);
    expect(fast.body).toMatchObject({ username: 'fiona', role: 'viewer', disabled: false });
    expect(fast.headers.get('x-request-id')).toBe('me-fast');
    const headerNames = (r: { headers: Headers }) => [...r.headers.keys()].filter((k) => k !== 'date').sort();
    expect(headerNames(fast)).toEqual(headerNames(first));
    for (const h of ['content-type', 'cache-control', 'content-security-policy', 'x-content-type-options']) {
      expect(fast.headers.get(h)).toBe(first.headers.get(h));
    }
    expect((await api.get('/metrics')).text).toMatch(/http_requests_total\{[^}]*method="GET",route="\/api\/v1\/auth\/me",status="200"/);

    // An API key (read scope includes the profile) is answered there too, and refused once revoked.
    const key = (await mine.post('/api/v1/auth/api-keys', { name: 'me-key', scopes: ['read'] })).body;
    for (let i = 0; i < 2; i++) expect((await api.get('/api/v1/auth/me', { 'x-api-key': key.key })).body.username).toBe('fiona');
    expect((await mine.delete(`/api/v1/auth/api-keys/${key.id}`)).status).toBe(204);
    const revokedKey = await api.get('/api/v1/auth/me', { 'x-api-key': key.key, 'x-request-id': 'me-revoked-key' });
    expect(revokedKey.status).toBe(401);
    expect(revokedKey.body.error).toMatchObject({ code: 'INVALID_TOKEN', request_id: 'me-revoked-key' });

    // A logged-out token is refused with the guard's error body.
    expect((await mine.post('/api/v1/auth/logout', {})).status).toBe(204);
    const revoked = await mine.get('/api/v1/auth/me', { 'x-request-id': 'me-after-logout' });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error).toMatchObject({ code: 'INVALID_TOKEN', request_id: 'me-after-logout' });
    expect(revoked.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('on one keep-alive connection each request is authenticated by what it presents: switching tokens, an API key, expiry, logout', async () => {
    const passwords = { kate: 'spring-keepalive-pass-1', liam: 'autumn-keepalive-pass-2' };
    for (const [name, password] of Object.entries(passwords)) {
      expect((await api.post('/api/v1/auth/register', { username: name, email: `${name}@example.com`, password })).status).toBe(201);
    }
    const kate = await login('kate', passwords.kate);
    const liam = await login('liam', passwords.liam);
    const liamKey = (await api.withToken(liam.access_token).post('/api/v1/auth/api-keys', { name: 'k', scopes: ['read'] })).body
      .key as string;
    const conn = new OneConnection(platform.baseUrl);
    try {
      const me = async (headers: Record<string, string>) => {
        const r = await conn.get('/api/v1/auth/me', headers);
        return r.status === 200
          ? (r.body as { username: string }).username
          : `${r.status} ${(r.body as { error: { code: string } }).error.code}`;
      };
      const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
      // Three times each: the first use verifies the signature, the next ones are answered from
      // what this connection presented before — each must still be the caller's own.
      for (let i = 0; i < 3; i++) expect(await me(bearer(kate.access_token))).toBe('kate');
      for (let i = 0; i < 3; i++) expect(await me(bearer(liam.access_token))).toBe('liam');
      expect(await me(bearer(kate.access_token))).toBe('kate');
      expect(await me({ ...bearer(kate.access_token), 'x-api-key': liamKey })).toBe('liam');
      expect(await me(bearer(kate.access_token))).toBe('kate');
      expect(await me(bearer('not-a-token'))).toBe('401 INVALID_TOKEN');

      // A token that expires while the connection keeps presenting it.
      const claims = jwt.decode(kate.access_token) as Record<string, unknown>;
      const expiresAt = Math.floor(Date.now() / 1000) + 2;
      const shortLived = jwt.sign({ ...claims, exp: expiresAt }, TEST_JWT_SECRET, { algorithm: 'HS256' });
      for (let i = 0; i < 3; i++) expect(await me(bearer(shortLived))).toBe('kate');
      await new Promise((r) => setTimeout(r, expiresAt * 1000 + 200 - Date.now()));
      expect(await me(bearer(shortLived))).toBe('401 TOKEN_EXPIRED');

      // Logged out elsewhere: the same header on the same connection is refused at once.
      expect(await me(bearer(kate.access_token))).toBe('kate');
      expect((await api.withToken(kate.access_token).post('/api/v1/auth/logout', { refresh_token: kate.refresh_token })).status).toBe(204);
      expect(await me(bearer(kate.access_token))).toBe('401 INVALID_TOKEN');
      expect(await me(bearer(liam.access_token))).toBe('liam');
      expect(conn.connects).toBe(1);
    } finally {
      conn.close();
    }
  });

  it('API keys: create (shown once) → use (Bearer and X-API-Key) → scopes → list → revoke', async () => {
    const adminTokens = await login(admin.username, admin.password);
    const asAdmin = api.withToken(adminTokens.access_token);
    const created = await asAdmin.post('/api/v1/auth/api-keys', { name: 'ci', scopes: ['read'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'ci', scopes: ['read'], prefix: expect.stringMatching(/^[0-9a-f]{8}$/) });
    const key: string = created.body.key;
    expect(key.startsWith(`mcp_${created.body.prefix}_`)).toBe(true);

    expect((await api.get('/api/v1/auth/me', { 'x-api-key': key })).body).toMatchObject({ username: admin.username });
    expect((await api.withToken(key).get('/api/v1/auth/me')).status).toBe(200);
    // read scope: admin's role does not leak through a read-only key.
    const users = await api.withToken(key).get('/api/v1/users');
    expect(users.status).toBe(403);
    expect(users.body.error.message).toMatch(/scopes/);
    // A key cannot mint keys.
    expect((await api.withToken(key).post('/api/v1/auth/api-keys', { name: 'x', scopes: ['read'] })).status).toBe(403);

    const list = await asAdmin.get('/api/v1/auth/api-keys');
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.text).not.toContain(key);
    expect(list.body.items[0].last_used_at).not.toBeNull();

    const del = await asAdmin.delete(`/api/v1/auth/api-keys/${created.body.id}`);
    expect(del.status).toBe(204);
    const after = await api.withToken(key).get('/api/v1/auth/me');
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/API key is invalid, expired or revoked/);

    // Viewers cannot grant scopes above their role.
    const viewer = await login('alice', 'wonderland-secret-1');
    const tooMuch = await api.withToken(viewer.access_token).post('/api/v1/auth/api-keys', { name: 'x', scopes: ['write'] });
    expect(tooMuch.status).toBe(403);
    expect(tooMuch.body.error.details).toMatchObject({ field: 'scopes' });
    // Someone else's key is not found (no existence leak).
    const adminKey = await asAdmin.post('/api/v1/auth/api-keys', { name: 'second', scopes: ['admin'] });
    expect((await api.withToken(viewer.access_token).delete(`/api/v1/auth/api-keys/${adminKey.body.id}`)).status).toBe(404);
    expect((await api.withToken(adminKey.body.key).get('/api/v1/users')).status).toBe(200);
  });

  it('RBAC: viewers get 403 on admin routes; admins manage users; disable ends sessions at once', async () => {
    const viewer = await login('alice', 'wonderland-secret-1');
    const asViewer = api.withToken(viewer.access_token);
    for (const [method, path] of [
      ['GET', '/api/v1/users'],
      ['POST', '/api/v1/users'],
      ['GET', '/api/v1/audit'],
    ] as const) {
      const r = await asViewer.request(method, path, method === 'POST' ? { json: {} } : {});
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
      expect(r.body.error.code).toBe('FORBIDDEN');
    }

    const asAdmin = api.withToken((await login(admin.username, admin.password)).access_token);
    const bob = await asAdmin.post('/api/v1/users', {
      username: 'bob',
      email: 'bob@example.com',
      password: 'builder-secret-22',
      role: 'maintainer',
    });
    expect(bob.status).toBe(201);
    expect(bob.body.role).toBe('maintainer');
    const listed = await asAdmin.get('/api/v1/users?role=maintainer&page_size=10');
    expect(listed.body).toMatchObject({ total: 1, page: 1, page_size: 10, items: [{ username: 'bob' }] });

    const bobTokens = await login('bob', 'builder-secret-22');
    // A role change applies on the very next request (no stale role in the token).
    expect((await asAdmin.patch(`/api/v1/users/${bob.body.id}`, { role: 'viewer' })).body.role).toBe('viewer');
    expect((await api.withToken(bobTokens.access_token).get('/api/v1/auth/me')).body.role).toBe('viewer');
    expect((await asAdmin.patch(`/api/v1/users/${bob.body.id}`, { disabled: true })).body.disabled).toBe(true);
    expect((await api.withToken(bobTokens.access_token).get('/api/v1/auth/me')).status).toBe(401);
    expect((await api.post('/api/v1/auth/refresh', { refresh_token: bobTokens.refresh_token })).status).toBe(401);
    const disabledLogin = await api.post('/api/v1/auth/login', { username: 'bob', password: 'builder-secret-22' });
    expect(disabledLogin.status).toBe(403);

    const me = await asAdmin.get('/api/v1/auth/me');
    const selfDemote = await asAdmin.patch(`/api/v1/users/${me.body.id}`, { role: 'viewer' });
    expect(selfDemote.status).toBe(409);
    expect(selfDemote.body.error.message).toMatch(/last active admin/);

    const audit = await asAdmin.get(`/api/v1/audit?entity_id=${bob.body.id}`);
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['user.created', 'user.updated']));
    expect(audit.body.items[0].request_id).toBeTruthy();
  });

  it('password change revokes every session', async () => {
    await api.post('/api/v1/auth/register', { username: 'carol', email: 'carol@example.com', password: 'christmas-secret-3' });
    const a = await login('carol', 'christmas-secret-3');
    const b = await login('carol', 'christmas-secret-3');
    const wrong = await api
      .withToken(a.access_token)
      .post('/api/v1/auth/password', { current_password: 'nope', new_password: 'christmas-secret-5' });
    expect(wrong.status).toBe(401);
    const ok = await api
      .withToken(a.access_token)
      .post('/api/v1/auth/password', { current_password: 'christmas-secret-3', new_password: 'christmas-secret-4' });
    expect(ok.status).toBe(204);
    for (const t of [a, b]) {
      expect((await api.withToken(t.access_token).get('/api/v1/auth/me')).status).toBe(401);
      expect((await api.post('/api/v1/auth/refresh', { refresh_token: t.refresh_token })).status).toBe(401);
    }
    expect((await api.post('/api/v1/auth/login', { username: 'carol', password: 'christmas-secret-4' })).status).toBe(200);
  });

  describe('bad input gets a clear 4xx, never a 500', () => {
    const expectError = (r: { status: number; body: any; headers: Headers }, status: number, code: string, message?: RegExp) => {
      expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status, code });
      expect(r.body.error.request_id).toBe(r.headers.get('x-request-id'));
      if (message) expect(r.body.error.message).toMatch(message);
    };

    it('malformed JSON', async () => {
      const r = await api.request('POST', '/api/v1/auth/login', {
        body: '{"username": "x",',
        headers: { 'content-type': 'application/json' },
      });
      expectError(r, 400, 'MALFORMED_REQUEST', /^Request body is not valid JSON$/);
    });

    it('a body that is not JSON (a form, plain text, no Content-Type) is a 415 saying to send JSON, and is not read', async () => {
      const credentials = 'username=alice&password=wonderland-secret-1';
      // fetch sends a string as text/plain when no type is given, and a Buffer with no type at all.
      for (const [body, headers] of [
        [credentials, { 'content-type': 'application/x-www-form-urlencoded' }],
        [credentials, { 'content-type': 'text/plain' }],
        [Buffer.from(credentials), {}],
      ] as const) {
        const r = await api.request('POST', '/api/v1/auth/login', { body, headers });
        expectError(r, 415, 'UNSUPPORTED_MEDIA_TYPE', /^Unsupported Content-Type: send application\/json$/);
      }
      // JSON with a charset parameter is JSON.
      const ok = await api.request('POST', '/api/v1/auth/login', {
        body: JSON.stringify({ username: 'alice', password: 'wonderland-secret-1' }),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(ok.status).toBe(200);
    });

    it('an empty body sent as JSON is no body: a route without one works, a route with one names it', async () => {
      const json = { 'content-type': 'application/json' };
      const key = (await login('alice', 'wonderland-secret-1')).access_token;
      const created = await api.withToken(key).post('/api/v1/auth/api-keys', { name: 'empty-body', scopes: ['read'] });
      const del = await api.request('DELETE', `/api/v1/auth/api-keys/${created.body.id}`, {
        body: '',
        headers: { ...json, authorization: `Bearer ${key}` },
      });
      expect(del.status).toBe(204);
      expectError(
        await api.request('POST', '/api/v1/auth/login', { body: '', headers: json }),
        400,
        'VALIDATION_FAILED',
        /^Invalid body: /,
      );
      // Fastify's own parser still reads every other body, prototype-poisoning checks included.
      const poisoned = await api.request('POST', '/api/v1/auth/login', { body: '{"__proto__": {"admin": true}}', headers: json });
      expectError(poisoned, 400, 'MALFORMED_REQUEST', /^Request body is not valid JSON$/);
    });

    it('missing and extra fields, naming them', async () => {
      expectError(
        await api.post('/api/v1/auth/register', { username: 'dave', email: 'dave@example.com' }),
        400,
        'VALIDATION_FAILED',
        /password/,
      );
      const extra = await api.post('/api/v1/auth/register', {
        username: 'dave',
        email: 'dave@example.com',
        password: 'diving-secret-77',
        role: 'admin',
      });
      expectError(extra, 400, 'VALIDATION_FAILED', /Unrecognized key: "role"/);
      expectError(
        await api.post('/api/v1/auth/register', { username: 'd', email: 'not-an-email', password: 'short' }),
        400,
        'VALIDATION_FAILED',
        /username/,
      );
      expectError(await api.post('/api/v1/auth/login', {}), 400, 'VALIDATION_FAILED');
      expectError(await api.get('/api/v1/users/not-a-uuid', {}), 401, 'UNAUTHENTICATED');
    });

    it('oversized body', async () => {
      const r = await api.post('/api/v1/auth/register', { username: 'eve', email: 'eve@example.com', password: 'x'.repeat(100_000) });
      // The answer names the limit (BODY_LIMIT_BYTES of this run), so the client knows what to send.
      expectError(r, 413, 'PAYLOAD_TOO_LARGE', /^Request body is larger than this route's limit of 65536 bytes$/);
    });

    it('alg:none, expired, foreign-key and refresh-as-access tokens', async () => {
      const pair = await login('alice', 'wonderland-secret-1');
      const payload = pair.access_token.split('.')[1];
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
      expectError(await api.withToken(none).get('/api/v1/auth/me'), 401, 'INVALID_TOKEN', /algorithm/);

      const claims = jwt.decode(pair.access_token) as Record<string, unknown>;
      const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, TEST_JWT_SECRET, { algorithm: 'HS256' });
      expectError(await api.withToken(expired).get('/api/v1/auth/me'), 401, 'TOKEN_EXPIRED', /expired/);

      const foreign = jwt.sign(claims, 'some-other-secret-some-other-secret-123', { algorithm: 'HS256' });
      expectError(await api.withToken(foreign).get('/api/v1/auth/me'), 401, 'INVALID_TOKEN', /signature/);

      expectError(await api.withToken(pair.refresh_token).get('/api/v1/auth/me'), 401, 'INVALID_TOKEN', /malformed/);
      expectError(await api.post('/api/v1/auth/refresh', { refresh_token: pair.access_token }), 401, 'INVALID_TOKEN');
      expectError(await api.get('/api/v1/auth/me'), 401, 'UNAUTHENTICATED', /Authorization/);
      expectError(await api.get('/api/v1/auth/me', { authorization: 'Basic abc' }), 401, 'UNAUTHENTICATED', /Bearer/);
    });

    it('unknown route and invalid path parameter', async () => {
      expectError(await api.get('/api/v1/nope'), 404, 'NOT_FOUND');
      const asAdmin = api.withToken((await login(admin.username, admin.password)).access_token);
      expectError(await asAdmin.get('/api/v1/users/not-a-uuid'), 400, 'VALIDATION_FAILED', /user_id must be a UUID/);
      expectError(await asAdmin.get('/api/v1/users?page_size=1000'), 400, 'VALIDATION_FAILED', /page_size/);
    });

    it('same answer for unknown user and wrong password, then lock-out per account', async () => {
      const unknown = await api.post('/api/v1/auth/login', { username: 'nobody', password: 'whatever-password' });
      const wrong = await api.post('/api/v1/auth/login', { username: 'alice', password: 'wrong-password!!' });
      expect(unknown.status).toBe(401);
      expect(wrong.status).toBe(401);
      expect(unknown.body.error.message).toBe(wrong.body.error.message);
      await api.post('/api/v1/auth/login', { username: 'alice', password: 'wrong-password!!' });
      await api.post('/api/v1/auth/login', { username: 'alice', password: 'wrong-password!!' });
      // Locked now, even with the right password.
      const locked = await api.post('/api/v1/auth/login', { username: 'alice', password: 'wonderland-secret-1' });
      expectError(locked, 429, 'RATE_LIMITED', /failed login attempts/);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  });

  it('health, metrics, OpenAPI and security headers', async () => {
    const health = await api.get('/health');
    expect(health.status).toBe(200);
    for (const dep of ['mysql', 'redis', 'rabbitmq', 'registry', 'knowledge', 'analysis-worker', 'github-sync', 'deployer']) {
      expect(health.body.checks[dep]).toMatchObject({ status: 'up', response_time_ms: expect.any(Number) });
    }
    const metrics = await api.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/http_requests_total\{[^}]*method="POST",route="\/api\/v1\/auth\/login",status="200"/);
    expect(metrics.text).toMatch(/http_request_duration_seconds_bucket\{/);

    const doc = await api.get('/api/docs-json');
    expect(doc.status).toBe(200);
    const paths = Object.keys(doc.body.paths);
    for (const p of [
      '/api/v1/auth/register',
      '/api/v1/auth/login',
      '/api/v1/auth/refresh',
      '/api/v1/auth/logout',
      '/api/v1/auth/me',
      '/api/v1/auth/api-keys',
      '/api/v1/auth/api-keys/{key_id}',
      '/api/v1/users',
      '/api/v1/users/{user_id}',
      '/health',
      '/metrics',
    ]) {
      expect(paths).toContain(p);
    }
    expect(doc.body.paths['/api/v1/auth/register'].post.requestBody.content['application/json'].schema.required).toEqual([
      'username',
      'email',
      'password',
    ]);
    const ui = await api.get('/api/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toMatch(/swagger/i);
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    expect(health.headers.get('x-request-id')).toBeTruthy();
    // A caller's request id is kept (and echoed) so a client can correlate.
    expect((await api.get('/health/live', { 'x-request-id': 'client-req-42' })).headers.get('x-request-id')).toBe('client-req-42');
  });
});

/** HTTP/1.1 requests one after another on a single keep-alive connection (fetch may spread them over several). */
class OneConnection {
  private readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private pending?: { resolve: (r: { status: number; body: unknown }) => void; reject: (err: Error) => void };
  connects = 0;

  constructor(private readonly baseUrl: string) {
    const url = new URL(baseUrl);
    this.socket = connect({ host: url.hostname, port: Number(url.port) }, () => this.connects++);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('close', () => this.pending?.reject(new Error('the server closed the connection')));
    this.socket.on('error', (err) => this.pending?.reject(err));
  }

  get(path: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const host = new URL(this.baseUrl).host;
    const lines = Object.entries({ host, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ status: Number(head.slice(9, 12)), body: body ? (JSON.parse(body) as unknown) : undefined });
  }

  close(): void {
    this.socket.destroy();
  }
}
