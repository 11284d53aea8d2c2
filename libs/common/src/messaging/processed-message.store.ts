import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '../redis/redis.module';

export type ClaimResult = 'claimed' | 'done' | 'in-flight';

/**
 * Makes event consumers idempotent: a consumer claims an event id before handling it (SET NX),
 * marks it done afterwards (kept a week — far longer than any redelivery window), and releases
 * the claim when the handler failed so a retry can claim it again. Two deliveries of one event
 * arriving together cannot both run: the second sees the claim.
 */
@Injectable()
export class ProcessedMessageStore {
  static readonly DONE_TTL_S = 7 * 24 * 3600;
  /** A claim outlives a crashed consumer by at most this long; handlers must finish well within it. */
  static readonly CLAIM_TTL_S = 60;

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  private key(consumer: string, id: string) {
    return `processed:${consumer}:${id}`;
  }

  async claim(consumer: string, id: string): Promise<ClaimResult> {
    const key = this.key(consumer, id);
    if ((await this.redis.set(key, 'processing', 'EX', ProcessedMessageStore.CLAIM_TTL_S, 'NX')) === 'OK') return 'claimed';
    return (await this.redis.get(key)) === 'done' ? 'done' : 'in-flight';
  }

  async complete(consumer: string, id: string): Promise<void> {
    await this.redis.set(this.key(consumer, id), 'done', 'EX', ProcessedMessageStore.DONE_TTL_S);
  }

  async release(consumer: string, id: string): Promise<void> {
    await this.redis.del(this.key(consumer, id));
  }
}
