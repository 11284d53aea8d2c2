import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ErrorCode } from '#contracts';
import { APP_CONFIG, DomainError, REDIS, type AppConfig } from '#common';

/**
 * Brute-force protection for login: failures are counted per account name and per client IP;
 * past the limit, further attempts are refused for the lock-out period without checking the
 * password. The account counter is cleared by a successful login.
 */
@Injectable()
export class LoginThrottleService {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private keys(account: string, ip: string) {
    return [`login-fail:account:${account.toLowerCase()}`, `login-fail:ip:${ip}`] as const;
  }

  async assertAllowed(account: string, ip: string): Promise<void> {
    const [a, i] = this.keys(account, ip);
    const [accountFails, ipFails] = await this.redis.mget(a, i);
    const { loginMaxFailuresPerAccount, loginMaxFailuresPerIp } = this.config.auth;
    const blockedKey =
      Number(accountFails ?? 0) >= loginMaxFailuresPerAccount ? a : Number(ipFails ?? 0) >= loginMaxFailuresPerIp ? i : undefined;
    if (blockedKey) {
      const ttl = Math.max(1, await this.redis.ttl(blockedKey));
      throw new DomainError(ErrorCode.RATE_LIMITED, `Too many failed login attempts; try again in ${ttl} s`, { retry_after_s: ttl });
    }
  }

  async recordFailure(account: string, ip: string): Promise<void> {
    const pipe = this.redis.pipeline();
    for (const key of this.keys(account, ip)) pipe.incr(key).expire(key, this.config.auth.loginLockoutS);
    await pipe.exec();
  }

  async recordSuccess(account: string): Promise<void> {
    await this.redis.del(this.keys(account, '')[0]);
  }
}
