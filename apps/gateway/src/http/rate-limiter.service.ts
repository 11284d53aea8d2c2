import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, LocalCache, REDIS, type AppConfig } from '#common';

// Reserves a block of requests per key in the current fixed window: INCRBY, set the expiry when
// the window starts; returns the new count and the ms left in the window for each key.
const RESERVE = `
local out = {}
for i, key in ipairs(KEYS) do
  local c = redis.call('INCRBY', key, ARGV[i + 1])
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = c
  out[#out + 1] = ttl
end
return out`;

export interface Limit {
  key: string;
  limit: number;
}

interface Lease {
  remaining: number;
  windowEnd: number;
  /** Set when the window's limit is used up: refuse locally until the window ends. */
  exhausted: boolean;
}

type ReserveCommand = { rateLimitReserve(numKeys: number, ...args: string[]): Promise<number[]> };

/**
 * Fixed-window rate limits shared by every gateway instance through Redis. To keep Redis off the
 * hot path, an instance reserves a block of requests (1/50 of the limit, at least 1) per key and
 * spends it locally, going back to Redis only when the block is used up. Counting is exact in
 * Redis, so the limit is never exceeded; an instance may leave part of its last block unused, so
 * a client can get up to (block − 1) × instances fewer requests than the limit in a window.
 */
@Injectable()
export class RateLimiterService {
  private readonly leases: LocalCache<Lease>;
  /**
   * Reservations under way, by key. Requests that need a block for a key while one is being
   * reserved wait for it and draw from it, instead of each reserving a block of their own: at a
   * window start (or whenever a lease ran out) every concurrent request used to reserve one, and
   * 64 requests in flight reserved 64 blocks — with blocks of 1/50 of the limit, the whole window
   * was spent at once and every later request was refused (seen: a bench run at 10,000 req/s
   * turned into 429s until the window ended, with limits of 10⁹).
   */
  private readonly reserving = new Map<string, Promise<unknown>>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    if (!('rateLimitReserve' in redis)) redis.defineCommand('rateLimitReserve', { lua: RESERVE });
    this.leases = new LocalCache<Lease>(config.rateLimit.windowS * 1000, 100_000);
  }

  static blockSize(limit: number): number {
    return Math.max(1, Math.floor(limit / 50));
  }

  /**
   * Counts one request against each limit from the blocks this instance holds, if it holds a live
   * block with room for every one of them: returns true, or throws RATE_LIMITED (429) if a limit's
   * block says it is used up. Returns false, having counted nothing, when a limit needs Redis (no
   * block, or an expired or spent one): `hit` does all of it then. Synchronous, because almost
   * every request is decided here and the hot paths avoid a promise per step.
   */
  hitLocally(limits: readonly Limit[]): boolean {
    const now = Date.now();
    // The leases are held from the check to the count: a second lookup could find one expired.
    const held: Lease[] = [];
    for (const l of limits) {
      const lease = this.leases.get(l.key);
      if (!lease || lease.windowEnd <= now) return false;
      if (lease.exhausted) throw this.limited(l, lease.windowEnd - now);
      if (lease.remaining <= 0) return false;
      held.push(lease);
    }
    for (const lease of held) lease.remaining--;
    return true;
  }

  /** Counts one request against each limit; throws RATE_LIMITED (429) if any is used up. */
  async hit(...limits: Limit[]): Promise<void> {
    for (;;) {
      if (this.hitLocally(limits)) return;
      const underWay = limits.flatMap((l) => this.reserving.get(l.key) ?? []);
      if (!underWay.length) break;
      // Share the block being reserved; if it is used up by the time it arrives, the first request
      // to find so reserves the next one and the others wait for that (at most block − 1 unused).
      await Promise.allSettled(underWay);
    }
    const now = Date.now();
    const toReserve: Limit[] = [];
    for (const l of limits) {
      const lease = this.leases.get(l.key);
      if (lease && lease.windowEnd > now) {
        if (lease.exhausted) throw this.limited(l, lease.windowEnd - now);
        if (lease.remaining > 0) {
          lease.remaining--;
          continue;
        }
      }
      toReserve.push(l);
    }
    if (!toReserve.length) return;
    const windowMs = this.config.rateLimit.windowS * 1000;
    const blocks = toReserve.map((l) => RateLimiterService.blockSize(l.limit));
    const reservation = (this.redis as unknown as ReserveCommand).rateLimitReserve(
      toReserve.length,
      ...toReserve.map((l) => `ratelimit:${l.key}`),
      String(windowMs),
      ...blocks.map(String),
    );
    for (const l of toReserve) this.reserving.set(l.key, reservation);
    let out: number[];
    try {
      out = await reservation;
    } finally {
      for (const l of toReserve) if (this.reserving.get(l.key) === reservation) this.reserving.delete(l.key);
    }
    let error: DomainError | undefined;
    toReserve.forEach((l, i) => {
      const count = out[2 * i];
      const ttl = out[2 * i + 1];
      const before = count - blocks[i];
      const granted = Math.min(blocks[i], l.limit - before);
      const windowEnd = Date.now() + ttl;
      if (granted <= 0) {
        this.leases.set(l.key, { remaining: 0, windowEnd, exhausted: true }, ttl);
        error ??= this.limited(l, ttl);
      } else {
        // One of the granted requests is this one.
        this.leases.set(l.key, { remaining: granted - 1, windowEnd, exhausted: false }, ttl);
      }
    });
    if (error) throw error;
  }

  private limited(l: Limit, msLeft: number): DomainError {
    const retry = Math.max(1, Math.ceil(msLeft / 1000));
    return new DomainError(ErrorCode.RATE_LIMITED, `Too many requests; retry in ${retry} s`, {
      retry_after_s: retry,
      limit: l.limit,
      window_s: this.config.rateLimit.windowS,
    });
  }

  ip(ip: string): Limit {
    return { key: `ip:${ip}`, limit: this.config.rateLimit.perIp };
  }
  principal(id: string): Limit {
    return { key: id, limit: this.config.rateLimit.perPrincipal };
  }
}
