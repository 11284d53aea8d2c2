import type { Redis } from 'ioredis';
import { createRedis, DomainError } from '#common';
import { isolate, type TestIsolation } from '#testing';
import { RateLimiterService } from '../src/http/rate-limiter.service';

/** The limiter against the real Redis: blocks reserved there, spent locally, never over the limit. */
describe('RateLimiterService', () => {
  let iso: TestIsolation;
  let redis: Redis;
  let limiter: RateLimiterService;
  const count = async (key: string) => Number((await redis.get(`ratelimit:${key}`)) ?? 0);

  beforeAll(() => {
    // A limit of 100 per window: blocks of 2.
    iso = isolate({ RATE_LIMIT_PER_IP: '100', RATE_LIMIT_PER_PRINCIPAL: '6' });
    redis = createRedis(iso.config);
    limiter = new RateLimiterService(redis, iso.config);
  });

  afterAll(async () => {
    await redis.quit();
    await iso.cleanup();
  });

  it('counts locally only from a block it holds, and counts nothing when it needs Redis', async () => {
    const ip = limiter.ip('10.0.0.1');
    expect(limiter.hitLocally([ip])).toBe(false);
    expect(await count(ip.key)).toBe(0);
    await limiter.hit(ip); // reserves a block of 2 in Redis and spends one
    expect(await count(ip.key)).toBe(2);
    expect(limiter.hitLocally([ip])).toBe(true); // the second of the block
    expect(limiter.hitLocally([ip])).toBe(false); // spent: the next one needs Redis
    await limiter.hit(ip);
    expect(await count(ip.key)).toBe(4);
  });

  it('counts several limits together or not at all', async () => {
    const ip = limiter.ip('10.0.0.2');
    const user = limiter.principal('user:u2');
    await limiter.hit(ip); // ip holds one more; the user has no block
    expect(limiter.hitLocally([ip, user])).toBe(false);
    // The ip's remaining request was not spent by the refused local attempt.
    expect(limiter.hitLocally([ip])).toBe(true);
  });

  it('refuses locally, with the time left, once a limit is used up, and never admits more than the limit', async () => {
    const user = limiter.principal('user:u3'); // limit 6, blocks of 1
    let admitted = 0;
    let refusal: unknown;
    for (let i = 0; i < 10; i++) {
      try {
        if (!limiter.hitLocally([user])) await limiter.hit(user);
        admitted++;
      } catch (err) {
        refusal = err;
      }
    }
    expect(admitted).toBe(6);
    expect(refusal).toBeInstanceOf(DomainError);
    expect((refusal as DomainError).details).toMatchObject({ limit: 6, window_s: iso.config.rateLimit.windowS });
    expect(() => limiter.hitLocally([user])).toThrow(/Too many requests/);
  });

  it('lets concurrent requests share a block being reserved instead of each reserving one', async () => {
    // 64 requests in flight when a window starts (or a lease ran out), as under load: with the
    // limit of 100 (blocks of 2) they must all be admitted, from 32 blocks, not 64 blocks at once.
    const ip = limiter.ip('10.0.0.4');
    const outcomes = await Promise.allSettled(Array.from({ length: 64 }, () => limiter.hit(ip)));
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(await count(ip.key)).toBe(64);
  });

  it('spends one block for a burst smaller than the block, whatever the concurrency', async () => {
    // The bench's limits (10⁹, blocks of 2·10⁷): 64 concurrent requests used to reserve 64 blocks,
    // more than the whole limit, and every request after them was refused for the rest of the window.
    const big = isolate({ RATE_LIMIT_PER_IP: '1000000000', RATE_LIMIT_PER_PRINCIPAL: '1000000000' });
    const bigLimiter = new RateLimiterService(redis, big.config);
    const user = bigLimiter.principal('user:burst');
    const outcomes = await Promise.allSettled(Array.from({ length: 64 }, () => bigLimiter.hit(user)));
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(await count(user.key)).toBe(RateLimiterService.blockSize(1_000_000_000));
    expect(bigLimiter.hitLocally([user])).toBe(true);
  });
});
