import amqplib from 'amqplib';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { eventTopology } from '#common';
import { ApiClient, isolate, SseClient, startPlatform, until, type RunningPlatform, type SseEvent, type TestIsolation } from '#testing';

/**
 * Live events (GET /events) as clients read them, from two gateways (A with the registry, B
 * without) on one MySQL/Redis/RabbitMQ: each caller gets the changes to the tools they may see,
 * in commit order, on whichever gateway they are connected to.
 */
describe('live events (e2e)', () => {
  let iso: TestIsolation;
  let a: RunningPlatform;
  let b: RunningPlatform;
  const admin = { username: 'boss', password: 'events-admin-secret-1' };
  const PASSWORD = 'long-enough-secret-1';
  const MAX_STREAMS = 3;
  const ids: Record<string, string> = {};
  /** Opened at the start: its access token (30 s) runs out during the suite. */
  let expiring: SseClient;
  const open: SseClient[] = [];

  const login = async (username: string, password = PASSWORD, base = a.baseUrl) => {
    const r = await new ApiClient(base).post('/api/v1/auth/login', { username, password });
    expect(r.status).toBe(200);
    return r.body.access_token as string;
  };
  const as = async (username: string, base = a.baseUrl) =>
    new ApiClient(base).withToken(await login(username, username === admin.username ? admin.password : PASSWORD, base));
  const stream = async (base: string, headers: Record<string, string>, query = '') => {
    const s = await SseClient.open(`${base}/events${query}`, headers);
    open.push(s);
    return s;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** "key name" of each tool event a stream got, for the tools given (by name). */
  const seen = (s: SseClient, names: string[]) =>
    s.events
      .filter((e) => e.event.startsWith('tool.') && names.includes(e.data.payload.name))
      .map((e) => `${e.event} ${e.data.payload.name}`);
  const isEvent = (key: string, name: string) => (e: SseEvent) => e.event === key && e.data?.payload?.name === name;

  beforeAll(async () => {
    iso = isolate({
      BOOTSTRAP_ADMIN_USERNAME: admin.username,
      BOOTSTRAP_ADMIN_EMAIL: 'boss@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
      ACCESS_TOKEN_TTL_S: '30',
      SSE_HEARTBEAT_MS: '1000',
      SSE_MAX_STREAMS_PER_USER: String(MAX_STREAMS),
    });
    a = await startPlatform(iso.env, { only: ['gateway', 'registry'] });
    b = await startPlatform(iso.env, { only: ['gateway'] });
    const boss = await as(admin.username);
    for (const [username, role] of [
      ['olivia', 'maintainer'],
      ['oscar', 'maintainer'],
      ['vera', 'viewer'],
      ['mia', 'maintainer'],
      ['nina', 'maintainer'],
    ]) {
      const r = await boss.post('/api/v1/users', { username, email: `${username}@example.com`, password: PASSWORD, role });
      expect(r.status).toBe(201);
      ids[username] = r.body.id;
    }
    expiring = await stream(b.baseUrl, bearer(await login('vera')));
  }, 120_000);

  afterAll(async () => {
    for (const s of open) s.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await iso?.cleanup();
  }, 60_000);

  it('streams each caller the changes to the tools they may see, in commit order, from either gateway', async () => {
    const [boss, olivia, oscar] = [await as(admin.username), await as('olivia'), await as('oscar')];
    const sBoss = await stream(a.baseUrl, bearer(await login(admin.username, admin.password)));
    const sOlivia = await stream(b.baseUrl, bearer(await login('olivia')));
    const sOscar = await stream(a.baseUrl, bearer(await login('oscar')));
    const sVera = await stream(b.baseUrl, bearer(await login('vera')));
    for (const s of [sBoss, sOlivia, sOscar, sVera]) {
      expect(s.status).toBe(200);
      expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(s.headers.get('cache-control')).toBe('no-store');
      expect(s.headers.get('x-request-id')).toBeTruthy();
      expect((await s.waitFor((e) => e.event === 'ready', 'ready')).data).toEqual({ resumed: null, heartbeat_ms: 1000 });
    }

    const priv = (await olivia.post('/api/v1/mcps', { name: 'live-private', visibility: 'private' })).body;
    const pub = (await olivia.post('/api/v1/mcps', { name: 'live-public', visibility: 'public' })).body;
    const config = { type: 'stdio', command: 'npx', args: ['-y', 'srv@1.0.0'] };
    expect((await olivia.post(`/api/v1/mcps/${priv.id}/versions`, { version: '1.0.0', config })).status).toBe(201);
    expect((await olivia.post(`/api/v1/mcps/${pub.id}/versions`, { version: '1.0.0', config })).status).toBe(201);
    expect((await olivia.put(`/api/v1/mcps/${pub.id}`, { description: 'now described' })).status).toBe(200);
    expect((await olivia.post(`/api/v1/mcps/${pub.id}/versions/1.0.0/yank`, { reason: 'broken' })).status).toBe(200);

    const names = ['live-private', 'live-public'];
    const all = [
      'tool.created live-private',
      'tool.created live-public',
      'tool.version.published live-private',
      'tool.version.published live-public',
      'tool.updated live-public',
      'tool.version.yanked live-public',
      'tool.latest.changed live-public',
    ];
    const publicOnly = all.filter((k) => k.endsWith('live-public'));
    for (const s of [sBoss, sOlivia, sOscar, sVera]) await s.waitFor(isEvent('tool.latest.changed', 'live-public'), 'last event');
    // The owner and admins see the private tool's events; everyone else only the public one's.
    expect(seen(sBoss, names)).toEqual(all);
    expect(seen(sOlivia, names)).toEqual(all);
    expect(seen(sOscar, names)).toEqual(publicOnly);
    expect(seen(sVera, names)).toEqual(publicOnly);
    // Each event carries its id (what Last-Event-ID resumes after) and the registry's payload.
    const created = sOlivia.events.find(isEvent('tool.created', 'live-private'))!;
    expect(created.id).toBe(created.data.id);
    expect(created.data).toMatchObject({
      key: 'tool.created',
      payload: { tool_id: priv.id, owner_id: ids.olivia, visibility: 'private' },
    });
    expect(created.data.occurred_at).toEqual(expect.any(String));
    expect(created.data).not.toHaveProperty('request_id');

    // Handed to Oscar: Olivia hears that (it leaves her view), then the private tool's events are his alone.
    expect((await olivia.post(`/api/v1/mcps/${priv.id}/transfer`, { owner: 'oscar' })).status).toBe(200);
    expect((await oscar.post(`/api/v1/mcps/${priv.id}/versions`, { version: '1.0.1', config })).status).toBe(201);
    expect((await oscar.delete(`/api/v1/mcps/${priv.id}`)).status).toBe(200);
    // A last change to the public tool: once each stream has it, it has had everything before it.
    expect((await boss.put(`/api/v1/mcps/${pub.id}`, { description: 'marker' })).status).toBe(200);
    for (const s of [sBoss, sOlivia, sOscar, sVera])
      await until(() => seen(s, names).filter((k) => k === 'tool.updated live-public').length === 2, 'the marker');
    const after = [
      'tool.updated live-private',
      'tool.version.published live-private',
      'tool.deleted live-private',
      'tool.updated live-public',
    ];
    expect(seen(sOscar, names).slice(publicOnly.length)).toEqual(after);
    expect(seen(sBoss, names).slice(all.length)).toEqual(after);
    expect(seen(sOlivia, names).slice(all.length)).toEqual(['tool.updated live-private', 'tool.updated live-public']);
    expect(seen(sVera, names).slice(publicOnly.length)).toEqual(['tool.updated live-public']);
    expect(sOscar.events.find(isEvent('tool.updated', 'live-private'))!.data.payload).toEqual({
      tool_id: priv.id,
      name: 'live-private',
      owner_id: ids.oscar,
      visibility: 'private',
      fields: ['owner_id'],
      previous: { owner_id: ids.olivia, visibility: 'private' },
    });
    for (const s of [sBoss, sOlivia, sOscar, sVera]) s.close();
  }, 60_000);

  it('tells whoever could see a tool that it left their view, and nothing while it is out of it', async () => {
    const olivia = await as('olivia');
    const sVera = await stream(a.baseUrl, bearer(await login('vera')));
    await sVera.waitFor((e) => e.event === 'ready', 'ready');
    const tool = (await olivia.post('/api/v1/mcps', { name: 'going-private', visibility: 'public' })).body;
    expect((await olivia.put(`/api/v1/mcps/${tool.id}`, { visibility: 'private' })).status).toBe(200);
    const config = { type: 'stdio', command: 'npx', args: ['-y', 'srv@1.0.0'] };
    expect((await olivia.post(`/api/v1/mcps/${tool.id}/versions`, { version: '1.0.0', config })).status).toBe(201);
    expect((await olivia.put(`/api/v1/mcps/${tool.id}`, { visibility: 'public' })).status).toBe(200);
    await until(() => seen(sVera, ['going-private']).length === 3, 'three events');
    // Created; made private (she could see it before); not the private publish; public again.
    expect(seen(sVera, ['going-private'])).toEqual([
      'tool.created going-private',
      'tool.updated going-private',
      'tool.updated going-private',
    ]);
    expect(sVera.named('tool.updated').map((e) => [e.data.payload.visibility, e.data.payload.previous?.visibility])).toEqual([
      ['private', 'public'],
      ['public', 'private'],
    ]);
    sVera.close();
  }, 30_000);

  it('shows an event written before events named who may see them as its tool is now', async () => {
    const olivia = await as('olivia');
    const tool = (await olivia.post('/api/v1/mcps', { name: 'older-event', visibility: 'private' })).body;
    const sOlivia = await stream(a.baseUrl, bearer(await login('olivia')));
    const sVera = await stream(a.baseUrl, bearer(await login('vera')));
    for (const s of [sOlivia, sVera]) await s.waitFor((e) => e.event === 'ready', 'ready');
    // As a registry of the day before wrote it: no owner_id, no visibility.
    const conn = await amqplib.connect(iso.config.amqp.url);
    const ch = await conn.createConfirmChannel();
    const old = {
      id: randomUUID(),
      key: 'tool.updated',
      occurred_at: new Date().toISOString(),
      payload: { tool_id: tool.id, name: 'older-event', fields: ['description'] },
    };
    ch.publish(eventTopology(iso.config.namespace).exchange, 'tool.updated', Buffer.from(JSON.stringify(old)), { persistent: true });
    await ch.waitForConfirms();
    await conn.close();
    await sOlivia.waitFor((e) => e.id === old.id, 'the older event, for its owner');
    // A public change after it: once Vera has that, she has had everything before it.
    expect((await olivia.put(`/api/v1/mcps/${tool.id}`, { visibility: 'public' })).status).toBe(200);
    await sVera.waitFor((e) => e.event === 'tool.updated' && e.data.payload.name === 'older-event', 'the public change');
    expect(sVera.events.some((e) => e.id === old.id)).toBe(false);
    for (const s of [sOlivia, sVera]) s.close();
  }, 30_000);

  it('filters by tool, resumes after Last-Event-ID, and says reset when it cannot', async () => {
    const olivia = await as('olivia');
    const token = await login('olivia');
    const one = (await olivia.post('/api/v1/mcps', { name: 'resume-one', visibility: 'public' })).body;
    const two = (await olivia.post('/api/v1/mcps', { name: 'resume-two', visibility: 'public' })).body;
    const onlyOne = await stream(a.baseUrl, bearer(token), `?tool_id=${one.id}`);
    const full = await stream(a.baseUrl, bearer(token));
    await full.waitFor((e) => e.event === 'ready', 'ready');
    await onlyOne.waitFor((e) => e.event === 'ready', 'ready');
    expect((await olivia.put(`/api/v1/mcps/${two.id}`, { description: 'c1' })).status).toBe(200);
    const c1 = await full.waitFor(isEvent('tool.updated', 'resume-two'), 'c1');
    full.close();
    // Missed while disconnected.
    expect((await olivia.put(`/api/v1/mcps/${one.id}`, { description: 'c2' })).status).toBe(200);
    expect((await olivia.put(`/api/v1/mcps/${two.id}`, { description: 'c3' })).status).toBe(200);
    await onlyOne.waitFor(isEvent('tool.updated', 'resume-one'), 'c2 on the filtered stream');

    const resumes: { headers: Record<string, string>; query: string }[] = [
      { headers: { 'last-event-id': c1.id! }, query: '' },
      { headers: {}, query: `?last_event_id=${c1.id}` },
    ];
    for (const resume of resumes) {
      const again = await stream(a.baseUrl, { ...bearer(token), ...resume.headers }, resume.query);
      expect((await again.waitFor((e) => e.event === 'ready', 'ready')).data.resumed).toBe(true);
      await again.waitFor((e) => e.event === 'tool.updated' && e.data.payload.name === 'resume-two' && e.id !== c1.id, 'c3 replayed');
      expect(seen(again, ['resume-one', 'resume-two'])).toEqual(['tool.updated resume-one', 'tool.updated resume-two']);
      again.close();
    }
    // The filtered stream got its tool's events only (its creation too, when relayed after the stream opened).
    expect(seen(onlyOne, ['resume-one', 'resume-two']).filter((k) => k !== 'tool.created resume-one')).toEqual(['tool.updated resume-one']);
    // An id this gateway does not know: told to re-read, then live.
    const lost = await stream(a.baseUrl, { ...bearer(token), 'last-event-id': 'not-an-event' });
    await lost.waitFor((e) => e.event === 'reset', 'reset');
    expect(lost.named().map((e) => e.event)).toEqual(['ready', 'reset']);
    expect(lost.named('ready')[0].data.resumed).toBe(false);
    expect(lost.named('reset')[0].data.reason).toMatch(/re-read/);
    expect((await olivia.put(`/api/v1/mcps/${one.id}`, { description: 'c4' })).status).toBe(200);
    await lost.waitFor(isEvent('tool.updated', 'resume-one'), 'live after reset');
    for (const s of [onlyOne, lost]) s.close();
  }, 30_000);

  it('ends a stream when its login ends, its key is revoked or its user disabled, on any gateway, saying why', async () => {
    const boss = await as(admin.username);
    const miaToken = await login('mia');
    const mia = new ApiClient(a.baseUrl).withToken(miaToken);
    const key = (await mia.post('/api/v1/auth/api-keys', { name: 'watcher', scopes: ['read'] })).body;
    const byLogin = await stream(b.baseUrl, bearer(miaToken));
    const byKey = await stream(b.baseUrl, { 'x-api-key': key.key });
    const nina = await stream(a.baseUrl, bearer(await login('nina', PASSWORD, b.baseUrl)));
    for (const s of [byLogin, byKey, nina]) await s.waitFor((e) => e.event === 'ready', 'ready');

    expect((await mia.post('/api/v1/auth/logout')).status).toBe(204);
    const ended = await byLogin.waitFor((e) => e.event === 'end', 'end after logout');
    expect(ended.data.reason).toMatch(/revoked/);
    await until(() => byLogin.ended, 'stream closed');
    // The key outlives the login that made it, until it is revoked.
    expect(byKey.ended).toBe(false);
    const other = await as('mia');
    expect((await other.delete(`/api/v1/auth/api-keys/${key.id}`)).status).toBe(204);
    expect((await byKey.waitFor((e) => e.event === 'end', 'end after revocation')).data.reason).toMatch(/API key/i);
    expect((await boss.patch(`/api/v1/users/${ids.nina}`, { disabled: true })).status).toBe(200);
    expect((await nina.waitFor((e) => e.event === 'end', 'end after disabling')).data.reason).toMatch(/revoked|disabled/);
    await until(() => byKey.ended && nina.ended, 'streams closed');
  }, 30_000);

  it("follows a role change: an admin made maintainer stops getting other people's private tools' events", async () => {
    const boss = await as(admin.username);
    const deputy = (
      await boss.post('/api/v1/users', { username: 'deputy', email: 'deputy@example.com', password: PASSWORD, role: 'admin' })
    ).body;
    const s = await stream(b.baseUrl, bearer(await login('deputy')));
    await s.waitFor((e) => e.event === 'ready', 'ready');
    const olivia = await as('olivia');
    const secret = (await olivia.post('/api/v1/mcps', { name: 'role-private', visibility: 'private' })).body;
    await s.waitFor(isEvent('tool.created', 'role-private'), 'seen as an admin');
    expect((await boss.patch(`/api/v1/users/${deputy.id}`, { role: 'maintainer' })).status).toBe(200);
    // The demotion reaches gateway B (the auth broadcast) and its stream checks again: wait for it by a marker.
    await until(
      async () => {
        await olivia.put(`/api/v1/mcps/${secret.id}`, { description: `after ${Date.now()}` });
        const pub = (await olivia.post('/api/v1/mcps', { name: `role-marker-${Date.now()}`, visibility: 'public' })).body;
        await s.waitFor((e) => e.data?.payload?.tool_id === pub.id, 'marker');
        const updates = s.events.filter(isEvent('tool.updated', 'role-private')).length;
        // A further private change: not delivered any more.
        await olivia.put(`/api/v1/mcps/${secret.id}`, { description: `hidden ${Date.now()}` });
        const marker = (await olivia.post('/api/v1/mcps', { name: `role-marker-${Date.now()}-2`, visibility: 'public' })).body;
        await s.waitFor((e) => e.data?.payload?.tool_id === marker.id, 'second marker');
        return s.events.filter(isEvent('tool.updated', 'role-private')).length === updates;
      },
      'private events stop after the demotion',
      10_000,
      100,
    );
    expect(s.ended).toBe(false);
    s.close();
  }, 30_000);

  it('refuses what it may not: no credentials, a bad query, more streams than allowed', async () => {
    const anon = await stream(a.baseUrl, {});
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('UNAUTHENTICATED');
    const token = await login('oscar');
    const bad = await stream(a.baseUrl, bearer(token), '?tool_id=abc');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/tool_id: a tool id, or up to 50 separated by commas/);
    expect((await stream(a.baseUrl, bearer(token), '?topic=all')).status).toBe(400);
    const mine: SseClient[] = [];
    for (let i = 0; i < MAX_STREAMS; i++) {
      const s = await stream(a.baseUrl, bearer(token));
      expect(s.status).toBe(200);
      mine.push(s);
    }
    const tooMany = await stream(a.baseUrl, bearer(token));
    expect(tooMany.status).toBe(429);
    expect(tooMany.body.error.message).toBe(`At most ${MAX_STREAMS} live event streams per user on one gateway; close one first`);
    // Another gateway counts its own.
    expect((await stream(b.baseUrl, bearer(token))).status).toBe(200);
    mine[0].close();
    await until(
      async () => (await SseClient.open(`${a.baseUrl}/events`, bearer(token)).then((s) => (open.push(s), s.status))) === 200,
      'a free slot',
    );
    for (const s of mine) s.close();
  }, 30_000);

  it('tells its streams to reset when its feed from the broker was interrupted, then goes on', async () => {
    const olivia = await as('olivia');
    const s = await stream(a.baseUrl, bearer(await login('olivia')));
    await s.waitFor((e) => e.event === 'ready', 'ready');
    // The broker drops every connection (as on a restart): the gateway's feed comes back on its own.
    execFileSync('rabbitmqctl', ['close_all_connections', 'e2e: the broker drops its connections'], { stdio: 'ignore' });
    const reset = await s.waitFor((e) => e.event === 'reset', 'reset', 15_000);
    expect(reset.data.reason).toBe('the event feed was interrupted; re-read what you show');
    // A create whose answer was lost in the reconnect may have landed: then the retry is a 409.
    await until(
      async () => [201, 409].includes((await olivia.post('/api/v1/mcps', { name: 'after-reconnect' })).status),
      'registry back',
      15_000,
    );
    await s.waitFor(isEvent('tool.created', 'after-reconnect'), 'live again', 15_000);
    s.close();
  }, 45_000);

  it('keeps an idle stream open with comments, and ends it when its access token expires', async () => {
    await until(() => expiring.comments >= 2, 'two keep-alive comments', 5000);
    const end = await expiring.waitFor((e) => e.event === 'end', 'end at expiry', 40_000);
    expect(end.data.reason).toBe('your access token expired; refresh it and reconnect with Last-Event-ID');
  }, 45_000);

  it('ends its streams when the gateway shuts down, so that the shutdown is not held up', async () => {
    const s = await stream(b.baseUrl, bearer(await login('oscar', PASSWORD, b.baseUrl)));
    await s.waitFor((e) => e.event === 'ready', 'ready');
    await b.stop();
    expect((await s.waitFor((e) => e.event === 'end', 'end at shutdown')).data.reason).toBe('the gateway is shutting down; reconnect');
  }, 30_000);
});
