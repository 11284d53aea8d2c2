import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { createRedis, JsonLogger } from '#common';
import { isolate, type TestIsolation } from '#testing';
import { AuthStateService, type UserState } from '../src/auth/auth-state.service';
import { gatewayDbOptions } from '../src/database/gateway-data-source';
import { RateLimiterService } from '../src/http/rate-limiter.service';
import { TurnStateService } from '../src/http/turn-state.service';

/**
 * Two gateway instances' authentication state against the real Redis: a change broadcast by one
 * applies to the other's very next request, even when that request is read before the broadcast
 * (the two arrive on different connections; here the other instance's subscriber is held back).
 */
describe('AuthStateService across instances', () => {
  let iso: TestIsolation;
  const connections: Redis[] = [];
  const instances: AuthStateService[] = [];
  let a: AuthStateService;
  let b: AuthStateService;
  let redis: Redis;

  const user = (id: string): UserState => ({
    id,
    username: id,
    email: `${id}@example.com`,
    role: 'maintainer',
    disabled: false,
    token_version: 0,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  });

  const instance = async (): Promise<AuthStateService> => {
    const conn = createRedis(iso.config);
    connections.push(conn);
    // Users are seeded in Redis: MySQL is never asked (an uninitialised DataSource would throw).
    const state = new AuthStateService(
      conn,
      new TurnStateService(conn),
      new DataSource(gatewayDbOptions(iso.config)),
      iso.config,
      new RateLimiterService(conn, iso.config),
      new JsonLogger('test', 'warn'),
    );
    await state.onModuleInit();
    instances.push(state);
    return state;
  };
  const subscriberOf = (s: AuthStateService) => Reflect.get(s, 'subscriber') as Redis;

  beforeAll(async () => {
    iso = isolate();
    redis = createRedis(iso.config);
    connections.push(redis);
    for (const id of ['u1', 'u2', 'u3']) await redis.set(`auth:user:${id}`, JSON.stringify(user(id)), 'EX', 300);
    a = await instance();
    b = await instance();
  });

  afterAll(async () => {
    for (const s of instances) await s.onApplicationShutdown();
    for (const c of connections) await c.quit();
    await iso.cleanup();
  });

  it("refuses a session revoked on B on A's next request, though A has not read the broadcast yet", async () => {
    expect((await a.load('u1', 's1')).sessionRevoked).toBe(false);
    expect(a.loadLocally('u1', 's1', [])).toBeDefined(); // A now answers for s1 from its own cache

    const held = subscriberOf(a).stream;
    held.pause(); // A's copy of the broadcast waits in its socket
    try {
      await b.revokeSessions(['s1']);
      // What A's cache alone would still say — the stale answer pub/sub alone allowed:
      expect(a.loadLocally('u1', 's1', [])).toBeDefined();
      // A request after the revocation returned: A syncs first, sees a broadcast it has not
      // applied, drops its caches and asks Redis.
      expect((await a.load('u1', 's1')).sessionRevoked).toBe(true);
    } finally {
      held.resume();
    }
  });

  it('keeps its caches across broadcasts it has applied', async () => {
    expect((await a.load('u2', 's2')).sessionRevoked).toBe(false);
    const delivered = new Promise<void>((ok) => subscriberOf(a).once('message', () => ok()));
    await b.revokeSessions(['s3']);
    await delivered;
    await a.synced();
    // Only s3 was invalidated, and A applied it: what it knew of u2 and s2 is still local.
    expect(a.loadLocally('u2', 's2', [])).toBeDefined();
  });

  it("applies a role change made on B to A's next request", async () => {
    expect((await a.load('u3')).user?.role).toBe('maintainer');
    const held = subscriberOf(a).stream;
    held.pause();
    try {
      // The new state where A looks next (UsersService deletes it and A would reload it from MySQL), then the broadcast.
      await redis.set('auth:user:u3', JSON.stringify({ ...user('u3'), role: 'viewer' }), 'EX', 300);
      await b.broadcast({ kind: 'user', id: 'u3' });
      expect((await a.load('u3')).user?.role).toBe('viewer');
    } finally {
      held.resume();
    }
  });

  it('never caches data read before a change after it: in Redis, nor in the local caches', async () => {
    await a.synced();
    const fill = a.capture();
    // A reads u4 from MySQL (stale from here on) while B commits a change of u4 and broadcasts it.
    await b.invalidateUser('u4');
    const delivered = new Promise<void>((ok) => subscriberOf(a).once('message', () => ok()));
    await a.storeIfCurrent(fill, 'auth:user:u4', JSON.stringify(user('u4')), 300);
    expect(await redis.get('auth:user:u4')).toBeNull();
    await delivered;
    expect(a.isCurrent(fill)).toBe(false);

    // Without a change in between, the fill is stored.
    await a.synced();
    const quiet = a.capture();
    await a.storeIfCurrent(quiet, 'auth:user:u4', JSON.stringify(user('u4')), 300);
    expect(JSON.parse((await redis.get('auth:user:u4'))!)).toMatchObject({ id: 'u4' });
    expect(a.isCurrent(quiet)).toBe(true);
    // And the change deletes the entry in the same step as it is numbered and published.
    await b.invalidateUser('u4');
    expect(await redis.get('auth:user:u4')).toBeNull();
  });
});
