import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '../redis/redis.module';

/**
 * Remembers which event ids a consumer has handled, so a redelivered event is not applied twice.
 * Kept in Redis for a week — far longer than any redelivery window.
 */
@Injectable()
export class ProcessedMessageStore {
  static readonly TTL_S = 7 * 24 * 3600;
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async has(consumer: string, id: string): Promise<boolean> {
    return (await this.redis.exists(`processed:${consumer}:${id}`)) === 1;
  }
  async mark(consumer: string, id: string): Promise<void> {
    await this.redis.set(`processed:${consumer}:${id}`, '1', 'EX', ProcessedMessageStore.TTL_S);
  }
}
