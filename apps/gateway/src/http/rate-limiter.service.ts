import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, REDIS, type AppConfig } from '#common';

// For each key: INCR, set the expiry on the first hit; returns count and ms left per key, atomically.
const FIXED_WINDOW = `
local out = {}
for i, key in ipairs(KEYS) do
  local c = redis.call('INCR', key)
  if c == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  out[#out + 1] = c
  out[#out + 1] = redis.call('PTTL', key)
end
return out`;

export interface Limit {
  key: string;
  limit: number;
}

/**
 * Fixed-window rate limits in Redis, shared by every gateway instance. Windows are keyed by the
 * limited identity (IP, user, API key), so one noisy client cannot starve the others. Several
 * limits are checked in one round trip.
 */
@Injectable()
export class RateLimiterService {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async hit(...limits: Limit[]): Promise<void> {
    const windowS = this.config.rateLimit.windowS;
    const keys = limits.map((l) => `ratelimit:${l.key}`);
    const out = (await this.redis.eval(FIXED_WINDOW, keys.length, ...keys, String(windowS * 1000))) as number[];
    limits.forEach((l, i) => {
      const count = out[2 * i];
      if (count > l.limit) {
        const retry = Math.max(1, Math.ceil(out[2 * i + 1] / 1000));
        throw new DomainError(ErrorCode.RATE_LIMITED, `Too many requests; retry in ${retry} s`, {
          retry_after_s: retry,
          limit: l.limit,
          window_s: windowS,
        });
      }
    });
  }

  ip(ip: string): Limit {
    return { key: `ip:${ip}`, limit: this.config.rateLimit.perIp };
  }
  principal(id: string): Limit {
    return { key: id, limit: this.config.rateLimit.perPrincipal };
  }
}
