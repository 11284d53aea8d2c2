import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { BoundCounter, coalesced, metricsRegistry, REDIS, REGISTRY_CACHE_GENERATION_KEY } from '#common';

/** Bumped (in the same script as the broadcast) by every change to authentication state; see AuthStateService. */
export const AUTH_EPOCH_KEY = 'auth:epoch';

/** The shared state every request's local caches are checked against, as Redis had it after the request arrived. */
export interface TurnSnapshot {
  /** The registry cache generation (RegistryCacheService). */
  registryGeneration: string;
  /** How many authentication changes were broadcast so far (AuthStateService). */
  authEpoch: number;
}

const reads = new BoundCounter({
  // The name predates the auth epoch, which is read with the generation since.
  name: 'registry_cache_generation_reads_total',
  help: 'Reads of the cache generation (with the auth epoch) from Redis; cache hits per read show how many requests shared one',
  registers: [metricsRegistry],
}).bind({});

/**
 * One Redis read per event-loop turn for the state that decides whether this gateway's local
 * caches may answer: the registry cache generation and the auth epoch. The read is sent after
 * every request of the turn arrived, so it sees every write that returned to any client before
 * those requests were made — on any gateway instance — and the requests share one round trip.
 */
@Injectable()
export class TurnStateService {
  readonly read = coalesced(async (): Promise<TurnSnapshot> => {
    reads.inc();
    const [generation, epoch] = await this.redis.mget(REGISTRY_CACHE_GENERATION_KEY, AUTH_EPOCH_KEY);
    return { registryGeneration: generation ?? '0', authEpoch: Number(epoch ?? 0) };
  }, 'io');

  constructor(@Inject(REDIS) private readonly redis: Redis) {}
}
