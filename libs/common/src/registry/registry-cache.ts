import type { Redis } from 'ioredis';

/**
 * Redis keys of the registry read cache (gateway). Every registry write bumps the generation after
 * its transaction committed; cached entries live under the generation they were read in, so an
 * entry read before a write can never be served after it — even if the reader stores it late.
 */
export const REGISTRY_CACHE_GENERATION_KEY = 'registry:cache-gen';
export const registryToolKey = (gen: string, toolId: string) => `registry:tool:${gen}:${toolId}`;
export const registryListKey = (gen: string, scope: string, queryHash: string) => `registry:list:${gen}:${scope}:${queryHash}`;

/**
 * Where changes of the state the gateways' local caches depend on are announced ("g <generation>"),
 * and where gateways holding a coherence lease acknowledge what they have applied (see the
 * gateway's TurnStateService). Channels are not key-prefixed by ioredis: the namespace is explicit.
 */
export const coherenceChannels = (namespace: string) => ({
  notices: `${namespace}:coherence`,
  acks: `${namespace}:coherence-acks`,
});

// The bump and its announcement in one step, so no gateway can see the new generation in Redis
// without the notice being on its way to it.
const BUMP_GENERATION = `
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], 'g ' .. n)
return n`;

type BumpCommand = { registryBumpGeneration(key: string, channel: string): Promise<number> };

/**
 * Defines the bump's script on a connection. Call when the connection's user is constructed: a
 * script defined after ioredis has built an auto-pipeline is missing from it, and the command then
 * fails inside the pipeline and crashes the process (seen: `pipeline[functionName] is not a function`,
 * then `results[i] is not iterable` thrown from ioredis's callback).
 */
export function defineRegistryBump(redis: Redis): void {
  if (!('registryBumpGeneration' in redis)) redis.defineCommand('registryBumpGeneration', { numberOfKeys: 1, lua: BUMP_GENERATION });
}

/** Bumps the registry cache generation (after a committed write) and announces it; returns the new generation. Needs defineRegistryBump on `redis`. */
export function bumpRegistryGeneration(redis: Redis, namespace: string): Promise<number> {
  return (redis as unknown as BumpCommand).registryBumpGeneration(REGISTRY_CACHE_GENERATION_KEY, coherenceChannels(namespace).notices);
}
